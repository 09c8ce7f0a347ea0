"""boto3 against gtsim's DynamoDB-compatible endpoint: a 2-region cluster of real gtsim-region
processes (the `cluster` fixture of conftest.py), one boto3 client per region with endpoint_url
from `gtsim endpoint`, dummy credentials.

Needs Debian's python3-boto3 and python3-pytest. A missing boto3 is an error, not a skip.
"""
import time

import boto3  # noqa: E402  (ImportError fails the suite on purpose)
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import EAST, WEST, run_gtsim as gtsim


def client_for(env, region):
    url = gtsim(env, "endpoint", "--region", region).stdout.strip()
    assert url.startswith("http://127.0.0.1:")
    return boto3.client(
        "dynamodb", endpoint_url=url, region_name=region, aws_access_key_id="gtsim",
        aws_secret_access_key="gtsim",
        config=botocore.config.Config(retries={"max_attempts": 1}))


@pytest.fixture(scope="module")
def east(cluster):
    return client_for(cluster, EAST)


@pytest.fixture(scope="module")
def west(cluster):
    return client_for(cluster, WEST)


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def make_table(ddb, name, range_key=True):
    key_schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "pk", "AttributeType": "S"}]
    if range_key:
        key_schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "sk", "AttributeType": "N"})
    return ddb.create_table(TableName=name, KeySchema=key_schema, AttributeDefinitions=attrs,
                            BillingMode="PAY_PER_REQUEST")


def test_endpoint_cli(cluster):
    bad = gtsim(cluster, "endpoint", "--region", "nowhere-1", check=False)
    assert bad.returncode == 2
    assert "unknown region" in bad.stderr


def test_tables(east, west):
    resp = make_table(east, "tables-demo")
    assert resp["TableDescription"]["TableStatus"] == "ACTIVE"
    east.get_waiter("table_exists").wait(TableName="tables-demo")
    desc = east.describe_table(TableName="tables-demo")["Table"]
    assert [k["KeyType"] for k in desc["KeySchema"]] == ["HASH", "RANGE"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert "tables-demo" in east.list_tables()["TableNames"]
    # A table created through the endpoint is regional: the other region does not have it.
    with pytest.raises(ClientError) as e:
        west.describe_table(TableName="tables-demo")
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        make_table(east, "tables-demo")
    assert error_code(e) == "ResourceInUseException"
    with pytest.raises(ClientError) as e:
        make_table(east, "bad name!")
    assert error_code(e) == "ValidationException"
    east.delete_table(TableName="tables-demo")
    with pytest.raises(east.exceptions.ResourceNotFoundException):
        east.describe_table(TableName="tables-demo")


def test_list_tables_pagination(east):
    for n in ("page-a", "page-b", "page-c"):
        make_table(east, n, range_key=False)
    names = []
    for page in east.get_paginator("list_tables").paginate(PaginationConfig={"PageSize": 2}):
        names += page["TableNames"]
    assert [n for n in names if n.startswith("page-")] == ["page-a", "page-b", "page-c"]


def test_items_and_conditions(east):
    make_table(east, "items")
    east.put_item(TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"},
                                           "status": {"S": "new"}, "n": {"N": "1.50"}})
    item = east.get_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                         ConsistentRead=True)["Item"]
    assert item["status"] == {"S": "new"} and item["n"] == {"N": "1.5"}
    assert "Item" not in east.get_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "2"}})

    # (Debian's botocore predates ReturnValuesOnConditionCheckFailure; the C++ suite covers it.)
    with pytest.raises(east.exceptions.ConditionalCheckFailedException):
        east.put_item(TableName="items", Item={"pk": {"S": "a"}, "sk": {"N": "1"}},
                      ConditionExpression="attribute_not_exists(pk)")

    upd = east.update_item(
        TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
        UpdateExpression="SET #s = :s, n = n + :inc ADD tags :t REMOVE gone",
        ConditionExpression="#s = :old",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": {"S": "paid"}, ":old": {"S": "new"},
                                   ":inc": {"N": "2"}, ":t": {"SS": ["x", "y"]}},
        ReturnValues="ALL_NEW")["Attributes"]
    assert upd["status"] == {"S": "paid"} and upd["n"] == {"N": "3.5"}
    assert sorted(upd["tags"]["SS"]) == ["x", "y"]
    old = east.update_item(
        TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
        UpdateExpression="SET n = :z", ExpressionAttributeValues={":z": {"N": "0"}},
        ReturnValues="UPDATED_OLD")["Attributes"]
    assert old == {"n": {"N": "3.5"}}

    with pytest.raises(ClientError) as e:
        east.update_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                         UpdateExpression="SET a = :a",
                         ExpressionAttributeValues={":a": {"N": "1"}, ":unused": {"N": "2"}})
    assert error_code(e) == "ValidationException"
    assert "unused in expressions" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        east.update_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                         UpdateExpression="SET pk = :a", ExpressionAttributeValues={":a": {"S": "b"}})
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        east.put_item(TableName="items", Item={"pk": {"S": "a"}})
    assert error_code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        east.get_item(TableName="nothing-here", Key={"pk": {"S": "a"}})
    assert error_code(e) == "ResourceNotFoundException"

    deleted = east.delete_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                               ConditionExpression="attribute_exists(pk)",
                               ReturnValues="ALL_OLD")["Attributes"]
    assert deleted["status"] == {"S": "paid"}
    with pytest.raises(east.exceptions.ConditionalCheckFailedException):
        east.delete_item(TableName="items", Key={"pk": {"S": "a"}, "sk": {"N": "1"}},
                         ConditionExpression="attribute_exists(pk)")


def test_query_and_scan(east):
    make_table(east, "events")
    for i in range(25):
        east.put_item(TableName="events", Item={"pk": {"S": "dev1" if i < 20 else "dev2"},
                                                "sk": {"N": str(i)}, "even": {"BOOL": i % 2 == 0}})
    r = east.query(TableName="events", KeyConditionExpression="pk = :p AND sk >= :lo",
                   FilterExpression="even = :t", ProjectionExpression="sk",
                   ExpressionAttributeValues={":p": {"S": "dev1"}, ":lo": {"N": "10"},
                                              ":t": {"BOOL": True}})
    assert [it["sk"]["N"] for it in r["Items"]] == ["10", "12", "14", "16", "18"]
    assert r["ScannedCount"] == 10
    r = east.query(TableName="events", KeyConditionExpression="pk = :p",
                   ExpressionAttributeValues={":p": {"S": "dev1"}}, ScanIndexForward=False,
                   Limit=3)
    assert [it["sk"]["N"] for it in r["Items"]] == ["19", "18", "17"]
    assert r["LastEvaluatedKey"] == {"pk": {"S": "dev1"}, "sk": {"N": "17"}}
    pages = east.get_paginator("query").paginate(
        TableName="events", KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": {"S": "dev1"}}, PaginationConfig={"PageSize": 6})
    assert sum(p["Count"] for p in pages) == 20
    r = east.query(TableName="events", KeyConditionExpression="pk = :p", Select="COUNT",
                   ExpressionAttributeValues={":p": {"S": "dev2"}})
    assert r["Count"] == 5 and "Items" not in r

    pages = east.get_paginator("scan").paginate(TableName="events",
                                                PaginationConfig={"PageSize": 7})
    assert sum(p["Count"] for p in pages) == 25
    seen = set()
    for seg in range(4):
        for p in east.get_paginator("scan").paginate(TableName="events", Segment=seg,
                                                     TotalSegments=4):
            seen |= {(i["pk"]["S"], i["sk"]["N"]) for i in p["Items"]}
    assert len(seen) == 25
    r = east.scan(TableName="events", FilterExpression="sk BETWEEN :a AND :b",
                  ExpressionAttributeValues={":a": {"N": "3"}, ":b": {"N": "5"}})
    assert r["Count"] == 3
    with pytest.raises(ClientError) as e:
        east.query(TableName="events", KeyConditionExpression="sk = :s",
                   ExpressionAttributeValues={":s": {"N": "1"}})
    assert error_code(e) == "ValidationException"


def test_batch(east):
    make_table(east, "batch-demo", range_key=False)
    r = east.batch_write_item(RequestItems={"batch-demo": [
        {"PutRequest": {"Item": {"pk": {"S": f"k{i}"}, "v": {"N": str(i)}}}} for i in range(25)]})
    assert r["UnprocessedItems"] == {}
    east.batch_write_item(RequestItems={"batch-demo": [
        {"DeleteRequest": {"Key": {"pk": {"S": "k0"}}}}]})
    r = east.batch_get_item(RequestItems={"batch-demo": {
        "Keys": [{"pk": {"S": f"k{i}"}} for i in range(5)], "ProjectionExpression": "v"}})
    assert sorted(int(i["v"]["N"]) for i in r["Responses"]["batch-demo"]) == [1, 2, 3, 4]
    assert r["UnprocessedKeys"] == {}
    with pytest.raises(ClientError) as e:
        east.batch_write_item(RequestItems={"batch-demo": [
            {"PutRequest": {"Item": {"pk": {"S": f"x{i}"}}}} for i in range(26)]})
    assert error_code(e) == "ValidationException"


def error_message(excinfo):
    return excinfo.value.response["Error"]["Message"]


def test_batch_limits_and_errors(east):
    make_table(east, "batch-limits", range_key=False)
    with pytest.raises(ClientError) as e:
        east.batch_write_item(RequestItems={"batch-limits": [
            {"DeleteRequest": {"Key": {"pk": {"S": "same"}}}},
            {"PutRequest": {"Item": {"pk": {"S": "same"}}}}]})
    assert error_code(e) == "ValidationException"
    assert error_message(e) == "Provided list of item keys contains duplicates"
    with pytest.raises(ClientError) as e:
        east.batch_get_item(RequestItems={"batch-limits": {
            "Keys": [{"pk": {"S": "k"}}, {"pk": {"S": "k"}}]}})
    assert error_message(e) == "Provided list of item keys contains duplicates"
    with pytest.raises(ClientError) as e:
        east.batch_get_item(RequestItems={"batch-limits": {
            "Keys": [{"pk": {"S": f"k{i}"}} for i in range(101)]}})
    assert error_code(e) == "ValidationException"
    for item in ({"pk": {"N": "5"}}, {"other": {"S": "x"}}):  # mistyped or missing key
        with pytest.raises(ClientError) as e:
            east.batch_write_item(RequestItems={"batch-limits": [{"PutRequest": {"Item": item}}]})
        assert error_message(e) == "The provided key element does not match the schema"
    with pytest.raises(ClientError) as e:
        east.batch_write_item(RequestItems={"nowhere-table": [
            {"PutRequest": {"Item": {"pk": {"S": "x"}}}}]})
    assert error_code(e) == "ResourceNotFoundException"
    # A rejected batch writes nothing, even its valid items.
    with pytest.raises(ClientError) as e:
        east.batch_write_item(RequestItems={"batch-limits": [
            {"PutRequest": {"Item": {"pk": {"S": "fine"}}}},
            {"PutRequest": {"Item": {"pk": {"S": ""}}}}]})
    assert "cannot contain an empty string value. Key: pk" in error_message(e)
    assert "Item" not in east.get_item(TableName="batch-limits", Key={"pk": {"S": "fine"}})
    # Every answer carries the unprocessed maps (empty here: an on-demand table, a small answer).
    r = east.batch_get_item(RequestItems={"batch-limits": {"Keys": [{"pk": {"S": "none"}}]}})
    assert r["Responses"] == {"batch-limits": []} and r["UnprocessedKeys"] == {}


def test_item_limits_use_dynamodbs_messages(east):
    make_table(east, "limits-demo", range_key=False)
    cases = [
        ({"pk": {"S": "a"}, "big": {"S": "x" * (401 * 1024)}},
         "Item size has exceeded the maximum allowed size"),
        ({"pk": {"S": "h" * 2049}},
         "One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
         "size limit of 2048 bytes"),
        ({"pk": {"S": "a"}, "n": {"N": "12x"}},
         "A value provided cannot be converted into a number"),
        ({"pk": {"S": "a"}, "n": {"N": "1" * 39}},
         "Attempting to store more than 38 significant digits in a Number"),
        ({"pk": {"S": "a"}, "s": {"SS": []}},
         "One or more parameter values were invalid: An string set  may not be empty"),
    ]
    for item, message in cases:
        with pytest.raises(ClientError) as e:
            east.put_item(TableName="limits-demo", Item=item)
        assert error_code(e) == "ValidationException"
        assert error_message(e) == message
    east.put_item(TableName="limits-demo", Item={"pk": {"S": "a"}, "empty": {"S": ""}})
    assert east.get_item(TableName="limits-demo", Key={"pk": {"S": "a"}})["Item"]["empty"] == {
        "S": ""}


def test_transactions(east):
    make_table(east, "bank", range_key=False)
    east.put_item(TableName="bank", Item={"pk": {"S": "alice"}, "balance": {"N": "100"}})
    east.put_item(TableName="bank", Item={"pk": {"S": "bob"}, "balance": {"N": "0"}})

    def transfer(amount, token=None):
        v = {":a": {"N": str(amount)}}
        args = dict(TransactItems=[
            {"Update": {"TableName": "bank", "Key": {"pk": {"S": "alice"}},
                        "UpdateExpression": "SET balance = balance - :a",
                        "ConditionExpression": "balance >= :a",
                        "ExpressionAttributeValues": v}},
            {"Update": {"TableName": "bank", "Key": {"pk": {"S": "bob"}},
                        "UpdateExpression": "SET balance = balance + :a",
                        "ExpressionAttributeValues": v}},
            {"ConditionCheck": {"TableName": "bank", "Key": {"pk": {"S": "frozen"}},
                                "ConditionExpression": "attribute_not_exists(pk)"}}])
        if token:
            args["ClientRequestToken"] = token
        return east.transact_write_items(**args)

    transfer(30, token="t-1")
    transfer(30, token="t-1")  # retried with the same token: applied once
    with pytest.raises(ClientError) as e:
        transfer(31, token="t-1")
    assert error_code(e) == "IdempotentParameterMismatchException"
    with pytest.raises(ClientError) as e:
        transfer(500)
    assert error_code(e) == "TransactionCanceledException"
    assert error_message(e) == ("Transaction cancelled, please refer cancellation reasons for "
                                "specific reasons [ConditionalCheckFailed, None, None]")
    reasons = e.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "None", "None"]

    got = east.transact_get_items(TransactItems=[
        {"Get": {"TableName": "bank", "Key": {"pk": {"S": "alice"}}}},
        {"Get": {"TableName": "bank", "Key": {"pk": {"S": "bob"}},
                 "ProjectionExpression": "balance"}},
        {"Get": {"TableName": "bank", "Key": {"pk": {"S": "nobody"}}}}])["Responses"]
    assert got[0]["Item"]["balance"] == {"N": "70"}
    assert got[1]["Item"] == {"balance": {"N": "30"}}
    assert "Item" not in got[2]

    with pytest.raises(ClientError) as e:
        east.transact_write_items(TransactItems=[
            {"Put": {"TableName": "bank", "Item": {"pk": {"S": "carol"}}}},
            {"Delete": {"TableName": "bank", "Key": {"pk": {"S": "carol"}}}}])
    assert error_code(e) == "ValidationException"
    assert error_message(e) == "Transaction request cannot include multiple operations on one item"
    assert "Item" not in east.get_item(TableName="bank", Key={"pk": {"S": "carol"}})


def streams_client(env, region):
    url = gtsim(env, "endpoint", "--region", region).stdout.strip()
    return boto3.client(
        "dynamodbstreams", endpoint_url=url, region_name=region, aws_access_key_id="gtsim",
        aws_secret_access_key="gtsim",
        config=botocore.config.Config(retries={"max_attempts": 1}))


def read_stream(streams, arn, iterator_type="TRIM_HORIZON"):
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard,
                                    ShardIteratorType=iterator_type)["ShardIterator"]
    records = []
    while True:
        page = streams.get_records(ShardIterator=it, Limit=2)
        records += page["Records"]
        if not page["Records"]:
            return records
        it = page["NextShardIterator"]


def test_streams(cluster, east):
    streams = streams_client(cluster, EAST)
    arn = make_table(east, "stream-demo", range_key=False)["TableDescription"]["LatestStreamArn"]
    assert east.describe_table(TableName="stream-demo")["Table"]["StreamSpecification"] == {
        "StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert arn in [s["StreamArn"] for s in
                   streams.list_streams(TableName="stream-demo")["Streams"]]
    east.put_item(TableName="stream-demo", Item={"pk": {"S": "a"}, "v": {"N": "1"}})
    east.update_item(TableName="stream-demo", Key={"pk": {"S": "a"}},
                     UpdateExpression="SET v = :v", ExpressionAttributeValues={":v": {"N": "2"}})
    east.delete_item(TableName="stream-demo", Key={"pk": {"S": "a"}})
    records = read_stream(streams, arn)
    assert [r["eventName"] for r in records] == ["INSERT", "MODIFY", "REMOVE"]
    assert records[1]["dynamodb"]["OldImage"]["v"] == {"N": "1"}
    assert records[1]["dynamodb"]["NewImage"]["v"] == {"N": "2"}
    assert records[2]["dynamodb"]["Keys"] == {"pk": {"S": "a"}}
    seqs = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert seqs == sorted(seqs)
    assert read_stream(streams, arn, "LATEST") == []
    with pytest.raises(ClientError) as e:
        streams.describe_stream(StreamArn=arn.replace("stream-demo", "no-such-table"))
    assert error_code(e) == "ResourceNotFoundException"
    with pytest.raises(ClientError) as e:
        streams.get_records(ShardIterator="not-an-iterator")
    assert error_code(e) == "ValidationException"


def test_replicated_writes_appear_in_the_receiving_regions_stream(cluster, east, west):
    gtsim(cluster, "create-table", "--region", EAST, "--table", "stream-global", "--hash-key",
          "id:S", "--replicas", f"{EAST},{WEST}")
    east.put_item(TableName="stream-global", Item={"id": {"S": "r1"}, "from": {"S": "east"}})
    streams = streams_client(cluster, WEST)
    deadline = time.time() + 15
    records = []
    while time.time() < deadline and not records:
        try:
            arn = west.describe_table(TableName="stream-global")["Table"]["LatestStreamArn"]
            records = read_stream(streams, arn)
        except ClientError:
            pass  # the table may still be on its way to this region
        if not records:
            time.sleep(0.05)
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["awsRegion"] == WEST
    assert records[0]["dynamodb"]["NewImage"]["from"] == {"S": "east"}


def test_unsupported_operation_is_a_clear_error(east):
    with pytest.raises(ClientError) as e:
        east.describe_limits()
    assert error_code(e) == "ValidationException"
    assert "not supported yet by gtsim" in e.value.response["Error"]["Message"]


def wait_for(fn, timeout=60):
    """Polls fn until it returns something truthy (or the timeout passes); returns that."""
    deadline = time.time() + timeout
    value = None
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.1)
    return value


def message(excinfo):
    return excinfo.value.response["Error"]["Message"]


def test_replica_updates_make_a_regional_table_global(east, west):
    make_table(east, "made-global", range_key=False)
    for i in range(25):
        east.put_item(TableName="made-global", Item={"pk": {"S": f"k{i}"}, "v": {"N": str(i)}})
    with pytest.raises(ClientError) as e:
        east.update_table(TableName="made-global", ReplicaUpdates=[{"Create": {"RegionName": EAST}}])
    assert error_code(e) == "ValidationException"
    assert message(e).startswith("Cannot add, delete, or update the local region through "
                                 "ReplicaUpdates")
    desc = east.update_table(TableName="made-global",
                             ReplicaUpdates=[{"Create": {"RegionName": WEST}}])["TableDescription"]
    assert desc["GlobalTableVersion"] == "2019.11.21"
    assert [r["RegionName"] for r in desc["Replicas"]] == [WEST]

    def active_in(client, other):
        try:
            t = client.describe_table(TableName="made-global")["Table"]
        except ClientError:
            return None  # the table is still on its way to this region
        ok = t["TableStatus"] == "ACTIVE" and t.get("Replicas") == [
            {"RegionName": other, "ReplicaStatus": "ACTIVE"}]
        return t if ok else None

    west_desc = wait_for(lambda: active_in(west, EAST))
    assert west_desc, west.describe_table(TableName="made-global")["Table"]
    assert west_desc["GlobalTableVersion"] == "2019.11.21"
    assert wait_for(lambda: active_in(east, WEST))
    items = west.scan(TableName="made-global")["Items"]
    assert sorted(int(i["v"]["N"]) for i in items) == list(range(25))
    # Writes now replicate both ways.
    west.put_item(TableName="made-global", Item={"pk": {"S": "from-west"}})
    assert wait_for(lambda: east.get_item(TableName="made-global",
                                          Key={"pk": {"S": "from-west"}}).get("Item"))

    # ReplicaUpdates Delete: the table is regional again, and gone from the other region.
    east.update_table(TableName="made-global", ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])

    def gone_from_west():
        try:
            west.describe_table(TableName="made-global")
            return False
        except ClientError as e:
            return e.response["Error"]["Code"] == "ResourceNotFoundException"

    assert wait_for(gone_from_west)

    def regional_again():
        t = east.describe_table(TableName="made-global")["Table"]
        return t["TableStatus"] == "ACTIVE" and "Replicas" not in t

    assert wait_for(regional_again)


def test_replica_updates_update_sets_another_replicas_settings(cluster, east, west):
    gtsim(cluster, "create-table", "--region", EAST, "--table", "override-demo", "--hash-key",
          "pk:S", "--replicas", f"{EAST},{WEST}")
    west.put_item(TableName="override-demo", Item={"pk": {"S": "k"}})
    for bad, expected in [
            ({"RegionName": WEST}, "changes nothing"),
            ({"RegionName": EAST, "TableClassOverride": "STANDARD_INFREQUENT_ACCESS"},
             "Cannot add, delete, or update the local region"),
            ({"RegionName": WEST, "ProvisionedThroughputOverride": {"ReadCapacityUnits": 5}},
             "PROVISIONED tables only"),
            ({"RegionName": WEST, "TableClassOverride": "COLD"}, "tableClassOverride")]:
        with pytest.raises(ClientError) as e:
            east.update_table(TableName="override-demo", ReplicaUpdates=[{"Update": bad}])
        assert error_code(e) == "ValidationException"
        assert expected in message(e)
    with pytest.raises(ClientError) as e:
        east.update_table(TableName="override-demo", BillingMode="PAY_PER_REQUEST",
                          ReplicaUpdates=[{"Update": {"RegionName": WEST,
                                                      "TableClassOverride": "STANDARD"}}])
    assert error_code(e) == "ValidationException"
    assert "cannot be combined" in message(e)

    # A table class and a KMS key for west's replica, set in east; they reach west with the
    # table definition. (ProvisionedThroughputOverride is refused above: a gtsim global table
    # is always PAY_PER_REQUEST, as it has no write autoscaling.)
    east.update_table(TableName="override-demo", SSESpecification={"Enabled": True,
                                                                   "SSEType": "KMS"})
    desc = east.update_table(TableName="override-demo", ReplicaUpdates=[{"Update": {
        "RegionName": WEST, "KMSMasterKeyId": "alias/west-key",
        "TableClassOverride": "STANDARD_INFREQUENT_ACCESS"}}])["TableDescription"]
    replica = desc["Replicas"][0]
    assert replica["RegionName"] == WEST
    assert replica["KMSMasterKeyId"] == "alias/west-key"
    assert replica["ReplicaTableClassSummary"] == {"TableClass": "STANDARD_INFREQUENT_ACCESS"}
    assert "TableClassSummary" not in desc  # east's own replica is unchanged

    def west_has_its_settings():
        t = west.describe_table(TableName="override-demo")["Table"]
        return (t.get("TableClassSummary") == {"TableClass": "STANDARD_INFREQUENT_ACCESS"} and
                t.get("SSEDescription", {}).get("KMSMasterKeyArn", "").endswith(
                    f"{WEST}:000000000000:alias/west-key"))

    assert wait_for(west_has_its_settings), west.describe_table(TableName="override-demo")
    assert "Item" in west.get_item(TableName="override-demo", Key={"pk": {"S": "k"}})


def test_gsi_created_by_update_table(east):
    make_table(east, "gsi-demo")
    for i, (cat, color) in enumerate([("a", "red"), ("a", "blue"), ("b", "green")]):
        east.put_item(TableName="gsi-demo", Item={"pk": {"S": "p"}, "sk": {"N": str(i)},
                                                  "cat": {"S": cat}, "color": {"S": color},
                                                  "size": {"N": "1"}})
    with pytest.raises(ClientError) as e:
        east.query(TableName="gsi-demo", IndexName="by-cat", KeyConditionExpression="cat = :c",
                   ExpressionAttributeValues={":c": {"S": "a"}})
    assert error_code(e) == "ValidationException"
    assert message(e) == "The table does not have the specified index: by-cat"
    east.update_table(
        TableName="gsi-demo",
        AttributeDefinitions=[{"AttributeName": "cat", "AttributeType": "S"}],
        GlobalSecondaryIndexUpdates=[{"Create": {
            "IndexName": "by-cat",
            "KeySchema": [{"AttributeName": "cat", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["color"]}}}])

    def index_active():
        t = east.describe_table(TableName="gsi-demo")["Table"]
        gsis = t.get("GlobalSecondaryIndexes", [])
        return gsis if gsis and gsis[0]["IndexStatus"] == "ACTIVE" else None

    gsis = wait_for(index_active)
    assert gsis and gsis[0]["IndexName"] == "by-cat"
    assert gsis[0]["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["color"]}
    items = east.query(TableName="gsi-demo", IndexName="by-cat", KeyConditionExpression="cat = :c",
                       ExpressionAttributeValues={":c": {"S": "a"}})["Items"]
    assert sorted(i["color"]["S"] for i in items) == ["blue", "red"]
    assert all("size" not in i and i["pk"] == {"S": "p"} for i in items)
    scanned = east.scan(TableName="gsi-demo", IndexName="by-cat")["Items"]
    assert sorted(i["color"]["S"] for i in scanned) == ["blue", "green", "red"]
    assert all("size" not in i for i in scanned)


def test_provisioned_tables_are_throttled(east):
    east.create_table(TableName="prov-demo",
                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                      ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    t = east.describe_table(TableName="prov-demo")["Table"]
    assert t["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert t["ProvisionedThroughput"]["WriteCapacityUnits"] == 1
    with pytest.raises(east.exceptions.ProvisionedThroughputExceededException):
        for i in range(500):
            east.put_item(TableName="prov-demo", Item={"pk": {"S": f"k{i}"}})
    with pytest.raises(ClientError) as e:
        east.update_table(TableName="prov-demo", ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert error_code(e) == "ValidationException"
    assert message(e) == "Table write capacity should either be Pay-Per-Request or AutoScaled."
    with pytest.raises(ClientError) as e:
        east.update_table(TableName="prov-demo", BillingMode="PAY_PER_REQUEST",
                          ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 1})
    assert error_code(e) == "ValidationException"
    east.update_table(TableName="prov-demo", BillingMode="PAY_PER_REQUEST")
    for i in range(50):
        east.put_item(TableName="prov-demo", Item={"pk": {"S": f"ondemand{i}"}})


def test_time_to_live(cluster, east):
    arn = make_table(east, "ttl-demo", range_key=False)["TableDescription"]["LatestStreamArn"]
    desc = east.describe_time_to_live(TableName="ttl-demo")["TimeToLiveDescription"]
    assert desc == {"TimeToLiveStatus": "DISABLED"}
    spec = {"Enabled": True, "AttributeName": "expires"}
    assert east.update_time_to_live(TableName="ttl-demo", TimeToLiveSpecification=spec)[
        "TimeToLiveSpecification"] == spec
    desc = east.describe_time_to_live(TableName="ttl-demo")["TimeToLiveDescription"]
    assert desc == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}
    with pytest.raises(ClientError) as e:
        east.update_time_to_live(TableName="ttl-demo", TimeToLiveSpecification=spec)
    assert error_code(e) == "ValidationException"
    assert message(e) == "TimeToLive is already enabled"
    # An item whose expiry time has passed is deleted by the region's TTL sweep.
    east.put_item(TableName="ttl-demo", Item={"pk": {"S": "old"}, "expires": {"N": "1"}})
    east.put_item(TableName="ttl-demo", Item={"pk": {"S": "new"}, "expires": {"N": "99999999999"}})
    assert wait_for(lambda: "Item" not in east.get_item(TableName="ttl-demo",
                                                        Key={"pk": {"S": "old"}}))
    assert "Item" in east.get_item(TableName="ttl-demo", Key={"pk": {"S": "new"}})
    # In this region's stream the expiry is a REMOVE made by the service, as DynamoDB marks it.
    removes = [r for r in read_stream(streams_client(cluster, EAST), arn)
               if r["eventName"] == "REMOVE"]
    assert [r["dynamodb"]["Keys"] for r in removes] == [{"pk": {"S": "old"}}]
    assert removes[0]["userIdentity"] == {"PrincipalId": "dynamodb.amazonaws.com", "Type": "Service"}
    east.update_time_to_live(TableName="ttl-demo",
                             TimeToLiveSpecification={"Enabled": False, "AttributeName": "expires"})
    desc = east.describe_time_to_live(TableName="ttl-demo")["TimeToLiveDescription"]
    assert desc["TimeToLiveStatus"] == "DISABLED"


def test_global_table_replicates_between_endpoints(cluster, east, west):
    # A global table created with the gtsim CLI (see test_replica_updates_... for UpdateTable).
    gtsim(cluster, "create-table", "--region", EAST, "--table", "global-demo", "--hash-key",
          "id:S", "--replicas", f"{EAST},{WEST}")
    desc = east.describe_table(TableName="global-demo")["Table"]
    assert desc["Replicas"] == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE"}]
    east.put_item(TableName="global-demo", Item={"id": {"S": "0123456789"}, "v": {"S": "east"}})
    deadline = time.time() + 15
    item = None
    while time.time() < deadline:
        try:
            item = west.get_item(TableName="global-demo", Key={"id": {"S": "0123456789"}}).get("Item")
        except ClientError:
            item = None  # the table itself may still be on its way
        if item:
            break
        time.sleep(0.05)
    assert item == {"id": {"S": "0123456789"}, "v": {"S": "east"}}


def test_lock_race_both_regions_win_then_lww_keeps_one(cluster, east, west):
    # The Terraform-state-lock lesson: a conditional put is checked against the local replica
    # only, so inside the replication window both regions grant the same lock; afterwards
    # last-writer-wins silently keeps one holder, the same in both regions.
    gtsim(cluster, "create-table", "--region", EAST, "--table", "locks", "--hash-key", "LockID:S",
          "--replicas", f"{EAST},{WEST}")
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            west.describe_table(TableName="locks")
            break
        except ClientError:
            time.sleep(0.05)
    gtsim(cluster, "partition", EAST, WEST)
    try:
        for client, owner in ((east, "east"), (west, "west")):
            client.put_item(TableName="locks", Item={"LockID": {"S": "state"},
                                                     "owner": {"S": owner}},
                            ConditionExpression="attribute_not_exists(LockID)")
        # Each region now believes its own writer holds the lock.
        key = {"LockID": {"S": "state"}}
        assert east.get_item(TableName="locks", Key=key)["Item"]["owner"] == {"S": "east"}
        assert west.get_item(TableName="locks", Key=key)["Item"]["owner"] == {"S": "west"}
    finally:
        gtsim(cluster, "heal")
    deadline = time.time() + 15
    holders = None
    while time.time() < deadline:
        holders = [c.get_item(TableName="locks", Key=key, ConsistentRead=True)["Item"]["owner"]
                   for c in (east, west)]
        if holders[0] == holders[1]:
            break
        time.sleep(0.05)
    assert holders[0] == holders[1], holders
    # The later write (west's) wins under LWW.
    assert holders[0] == {"S": "west"}


def wait_index_active(ddb, table):
    def active():
        gsis = ddb.describe_table(TableName=table)["Table"].get("GlobalSecondaryIndexes", [])
        return gsis and all(g["IndexStatus"] == "ACTIVE" for g in gsis)
    assert wait_for(active)


def test_index_query_pages_with_limit_and_last_evaluated_key(east):
    east.create_table(
        TableName="gsi-pages",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "N"},
                              {"AttributeName": "cat", "AttributeType": "S"},
                              {"AttributeName": "rank", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
        GlobalSecondaryIndexes=[{
            "IndexName": "by-cat-rank",
            "KeySchema": [{"AttributeName": "cat", "KeyType": "HASH"},
                          {"AttributeName": "rank", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "ALL"}}])
    # 23 items of cat "a" with only 4 distinct ranks (ties split by the table key), 2 of "b".
    for i in range(25):
        east.put_item(TableName="gsi-pages", Item={
            "pk": {"S": f"p{i % 3}"}, "sk": {"N": str(i)}, "cat": {"S": "a" if i < 23 else "b"},
            "rank": {"N": str(i % 4)}})
    wait_index_active(east, "gsi-pages")
    query = dict(TableName="gsi-pages", IndexName="by-cat-rank",
                 KeyConditionExpression="cat = :c", ExpressionAttributeValues={":c": {"S": "a"}})

    def keys(items):
        return [(i["rank"]["N"], i["pk"]["S"], i["sk"]["N"]) for i in items]

    everything = keys(east.query(**query)["Items"])
    assert len(everything) == 23
    assert [k[0] for k in everything] == sorted(k[0] for k in everything)
    for forward in (True, False):
        got, pages, start = [], 0, None
        while True:
            page = east.query(**query, Limit=4, ScanIndexForward=forward,
                              **({"ExclusiveStartKey": start} if start else {}))
            pages += 1
            assert page["Count"] <= 4
            got += keys(page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
            # As DynamoDB: the index's key attributes and the table's primary key.
            assert set(start) == {"cat", "rank", "pk", "sk"}
        assert got == (everything if forward else everything[::-1])
        assert pages == 6
    # boto3's paginator follows the same keys.
    paged = [i for p in east.get_paginator("query").paginate(**query, Limit=5)
             for i in p["Items"]]
    assert keys(paged) == everything
    # A start key without the index's keys is not this index's position.
    with pytest.raises(ClientError) as e:
        east.query(**query, ExclusiveStartKey={"pk": {"S": "p0"}, "sk": {"N": "0"}})
    assert error_code(e) == "ValidationException"
    assert message(e) == ("The provided starting key is invalid: The provided key element does "
                          "not match the schema")
    # A start key that the key condition excludes.
    with pytest.raises(ClientError) as e:
        east.query(TableName="gsi-pages", IndexName="by-cat-rank",
                   KeyConditionExpression="cat = :c AND #r > :r",
                   ExpressionAttributeNames={"#r": "rank"},
                   ExpressionAttributeValues={":c": {"S": "a"}, ":r": {"N": "1"}},
                   ExclusiveStartKey={"cat": {"S": "a"}, "rank": {"N": "0"}, "pk": {"S": "p0"},
                                      "sk": {"N": "0"}})
    assert message(e) == "The provided starting key does not match the range key predicate"
    with pytest.raises(ClientError) as e:
        east.query(TableName="gsi-pages", KeyConditionExpression="pk = :p AND sk > :s",
                   ExpressionAttributeValues={":p": {"S": "p0"}, ":s": {"N": "5"}},
                   ExclusiveStartKey={"pk": {"S": "p0"}, "sk": {"N": "3"}})
    assert message(e) == "The provided starting key does not match the range key predicate"


def test_reads_beyond_provisioned_read_capacity_are_throttled(east):
    # botocore's retries are off in these clients (max_attempts 1): the throttle is seen as is.
    east.create_table(TableName="rcu-demo",
                      KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                      ProvisionedThroughput={"ReadCapacityUnits": 1, "WriteCapacityUnits": 50})
    for i in range(10):
        east.put_item(TableName="rcu-demo", Item={"pk": {"S": f"k{i}"}})
    key = {"pk": {"S": "k0"}}
    with pytest.raises(east.exceptions.ProvisionedThroughputExceededException) as e:
        for _ in range(500):
            east.get_item(TableName="rcu-demo", Key=key, ConsistentRead=True)
    assert message(e) == ("The level of configured provisioned throughput for the table was "
                          "exceeded. Consider increasing your provisioning level with the "
                          "UpdateTable API.")
    for op in (lambda: east.scan(TableName="rcu-demo"),
               lambda: east.query(TableName="rcu-demo", KeyConditionExpression="pk = :k",
                                  ExpressionAttributeValues={":k": key["pk"]})):
        with pytest.raises(east.exceptions.ProvisionedThroughputExceededException):
            for _ in range(500):
                op()
    # BatchGetItem: 10 strongly consistent reads on RCU 1 cannot all be paid for; the keys
    # beyond the capacity come back in UnprocessedKeys (or, when not one fits, the call is
    # throttled as a whole).
    keys = [{"pk": {"S": f"k{i}"}} for i in range(10)]
    answer = None
    for _ in range(100):
        try:
            answer = east.batch_get_item(
                RequestItems={"rcu-demo": {"Keys": keys, "ConsistentRead": True}})
            break
        except east.exceptions.ProvisionedThroughputExceededException:
            time.sleep(0.2)
    assert answer is not None
    left = answer["UnprocessedKeys"]["rcu-demo"]["Keys"]
    got = answer["Responses"]["rcu-demo"]
    assert len(left) >= 8
    assert sorted(i["pk"]["S"] for i in got + left) == sorted(k["pk"]["S"] for k in keys)
    assert answer["UnprocessedKeys"]["rcu-demo"]["ConsistentRead"] is True
    # On demand again: no read limit.
    east.update_table(TableName="rcu-demo", BillingMode="PAY_PER_REQUEST")
    for _ in range(50):
        east.get_item(TableName="rcu-demo", Key=key, ConsistentRead=True)
    assert east.batch_get_item(
        RequestItems={"rcu-demo": {"Keys": keys}})["UnprocessedKeys"] == {}


def test_size_and_count_limits_use_dynamodbs_messages(east):
    make_table(east, "size-limits", range_key=False)
    big = "x" * (390 * 1024)
    items = [{"Put": {"TableName": "size-limits",
                      "Item": {"pk": {"S": f"t{i}"}, "v": {"S": big}}}} for i in range(11)]
    with pytest.raises(ClientError) as e:  # 11 x 390 KB > 4 MB
        east.transact_write_items(TransactItems=items)
    assert error_code(e) == "ValidationException"
    assert "4 MB" in message(e)
    assert "Item" not in east.get_item(TableName="size-limits", Key={"pk": {"S": "t0"}})
    east.transact_write_items(TransactItems=items[:10])  # 3.9 MB fits
    with pytest.raises(ClientError) as e:
        east.transact_write_items(TransactItems=[
            {"Put": {"TableName": "size-limits", "Item": {"pk": {"S": f"n{i}"}}}}
            for i in range(101)])
    assert message(e) == ("1 validation error detected: Value at 'TransactItems' failed to "
                          "satisfy constraint: Member must have length less than or equal to 100")
    # An item operation on a table that does not exist: DynamoDB does not name the table.
    with pytest.raises(east.exceptions.ResourceNotFoundException) as e:
        east.get_item(TableName="no-such-table", Key={"pk": {"S": "x"}})
    assert message(e) == "Requested resource not found"
    with pytest.raises(east.exceptions.ResourceNotFoundException) as e:
        east.describe_table(TableName="no-such-table")
    assert message(e) == "Requested resource not found: Table: no-such-table not found"
