"""boto3 against a 2-region cluster with the calls `terraform apply` of an aws_dynamodb_table with
a replica block makes and waits for (hashicorp/terraform-provider-aws internal/service/dynamodb):
CreateTable with a GSI, a stream and tags; wait for ACTIVE and WarmThroughput ACTIVE on the table
and the index; UpdateContinuousBackups; the replica; PITR in the replica's region; the refresh
(DescribeContinuousBackups and ListTagsOfResource in every region, KMS DescribeKey
alias/aws/dynamodb); and DynamoDB's refusal to disable a global table's stream.
"""
import json
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import EAST, WEST, run_gtsim as gtsim
from test_endpoint import client_for, error_code, message, wait_for


@pytest.fixture(scope="module")
def east(cluster):
    return client_for(cluster, EAST)


@pytest.fixture(scope="module")
def west(cluster):
    return client_for(cluster, WEST)


def raw(cluster, region, target, body, version="1.0"):
    """One JSON-protocol call without an SDK (this boto3's model may predate WarmThroughput and
    drop it; KMS has its own client)."""
    url = gtsim(cluster, "endpoint", "--region", region).stdout.strip()
    req = urllib.request.Request(url.rstrip("/") + "/", data=json.dumps(body).encode(), method="POST")
    req.add_header("Content-Type", f"application/x-amz-json-{version}")
    req.add_header("X-Amz-Target", target)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def kms_describe_key(cluster, region, key_id):
    return raw(cluster, region, "TrentService.DescribeKey", {"KeyId": key_id}, version="1.1")


def test_terraform_apply_and_refresh_of_a_table_with_a_replica(cluster, east, west):
    east.create_table(
        TableName="tf-table", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"},
                              {"AttributeName": "g", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{"IndexName": "byG", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        Tags=[{"Key": "Name", "Value": "tf-table"}])

    def warm():
        t = raw(cluster, EAST, "DynamoDB_20120810.DescribeTable", {"TableName": "tf-table"})["Table"]
        ok = (t["TableStatus"] == "ACTIVE" and t.get("WarmThroughput", {}).get("Status") == "ACTIVE"
              and all(g.get("WarmThroughput", {}).get("Status") == "ACTIVE"
                      for g in t["GlobalSecondaryIndexes"]))
        return t if ok else None
    assert wait_for(warm), east.describe_table(TableName="tf-table")["Table"]
    east.update_time_to_live(TableName="tf-table",
                             TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    east.update_continuous_backups(TableName="tf-table",
                                   PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})

    east.update_table(TableName="tf-table", ReplicaUpdates=[{"Create": {"RegionName": WEST}}])

    def replica_active():
        r = east.describe_table(TableName="tf-table")["Table"].get("Replicas", [])
        return r == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE"}]
    assert wait_for(replica_active), east.describe_table(TableName="tf-table")["Table"]
    assert wait_for(lambda: west.describe_table(TableName="tf-table")["Table"]["TableStatus"] == "ACTIVE")

    # PITR is per replica: the new replica starts without it, and gets it in its own region.
    pitr = lambda c: c.describe_continuous_backups(TableName="tf-table")[
        "ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]
    assert pitr(east) == "ENABLED"
    assert pitr(west) == "DISABLED"
    west.update_continuous_backups(TableName="tf-table",
                                   PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    assert pitr(west) == "ENABLED"
    raw(cluster, WEST, "DynamoDB_20120810.UpdateTable",
        {"TableName": "tf-table", "DeletionProtectionEnabled": False})

    # Refresh. Tags belong to one replica and are never copied (AWS's rule): each ARN names its
    # region and has its own tags.
    east_arn = east.describe_table(TableName="tf-table")["Table"]["TableArn"]
    west_arn = west.describe_table(TableName="tf-table")["Table"]["TableArn"]
    assert ":us-east-1:" in east_arn and ":us-west-2:" in west_arn
    assert east.list_tags_of_resource(ResourceArn=east_arn)["Tags"] == [{"Key": "Name", "Value": "tf-table"}]
    assert west.list_tags_of_resource(ResourceArn=west_arn)["Tags"] == []
    west.tag_resource(ResourceArn=west_arn, Tags=[{"Key": "Name", "Value": "tf-table"}])
    assert west.list_tags_of_resource(ResourceArn=west_arn)["Tags"] == [{"Key": "Name", "Value": "tf-table"}]
    with pytest.raises(ClientError) as other:
        east.list_tags_of_resource(ResourceArn=west_arn)
    assert error_code(other) == "ResourceNotFoundException"
    keys = {r: kms_describe_key(cluster, r, "alias/aws/dynamodb")["KeyMetadata"] for r in (EAST, WEST)}
    for r, k in keys.items():
        assert k["KeyManager"] == "AWS" and k["KeyState"] == "Enabled" and k["Enabled"] is True
        assert k["Arn"].startswith(f"arn:aws:kms:{r}:000000000000:key/")
    assert keys[EAST]["KeyId"] != keys[WEST]["KeyId"]
    assert kms_describe_key(cluster, EAST, "alias/aws/dynamodb")["KeyMetadata"]["KeyId"] == keys[EAST]["KeyId"]

    # A global table's stream cannot be disabled (DynamoDB's message).
    with pytest.raises(ClientError) as e:
        east.update_table(TableName="tf-table", StreamSpecification={"StreamEnabled": False})
    assert error_code(e) == "ValidationException"
    assert message(e) == ("One or more parameter values were invalid: Disabling Stream is not "
                          "allowed for a Global Table replica.")

    # Destroy: the replica, then the table.
    east.update_table(TableName="tf-table", ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert wait_for(lambda: "Replicas" not in east.describe_table(TableName="tf-table")["Table"])
    east.delete_table(TableName="tf-table")


def raw_error(cluster, region, target, body):
    """The (type, message) of a call that must fail with HTTP 400."""
    try:
        raw(cluster, region, target, body)
    except urllib.error.HTTPError as e:
        assert e.code == 400
        err = json.loads(e.read())
        return err["__type"].split("#")[-1], err["message"]
    raise AssertionError(f"{target} {body} did not fail")


def ddb(op):
    return f"DynamoDB_20120810.{op}"


def test_warm_and_on_demand_throughput_travel_with_the_table_definition(cluster, east, west):
    """WarmThroughput and OnDemandThroughput are table settings every replica shares (AWS's
    "always synchronized" class): set in one region, they reach the other's DescribeTable."""
    raw(cluster, EAST, ddb("CreateTable"), {
        "TableName": "tf-warm", "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"},
                                 {"AttributeName": "g", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"IndexName": "byG",
                                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                                    "Projection": {"ProjectionType": "ALL"}}],
        "WarmThroughput": {"ReadUnitsPerSecond": 13000, "WriteUnitsPerSecond": 4500}})
    east.update_table(TableName="tf-warm", ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    assert wait_for(lambda: east.describe_table(TableName="tf-warm")["Table"].get("Replicas", [])
                    == [{"RegionName": WEST, "ReplicaStatus": "ACTIVE"}])
    describe = lambda r: raw(cluster, r, ddb("DescribeTable"), {"TableName": "tf-warm"})["Table"]
    assert describe(WEST)["WarmThroughput"] == {"ReadUnitsPerSecond": 13000,
                                                "WriteUnitsPerSecond": 4500, "Status": "ACTIVE"}

    raw(cluster, EAST, ddb("UpdateTable"), {
        "TableName": "tf-warm", "WarmThroughput": {"WriteUnitsPerSecond": 9000},
        "GlobalSecondaryIndexUpdates": [{"Update": {
            "IndexName": "byG", "WarmThroughput": {"ReadUnitsPerSecond": 20000}}}]})
    def west_warm():
        t = describe(WEST)
        return (t["WarmThroughput"]["WriteUnitsPerSecond"] == 9000 and
                t["GlobalSecondaryIndexes"][0]["WarmThroughput"]["ReadUnitsPerSecond"] == 20000)
    assert wait_for(west_warm), describe(WEST)
    # Raised only, in any region.
    kind, text = raw_error(cluster, WEST, ddb("UpdateTable"), {
        "TableName": "tf-warm", "WarmThroughput": {"WriteUnitsPerSecond": 8000}})
    assert kind == "ValidationException"
    assert text.startswith("One or more parameter values were invalid: WarmThroughput can only be "
                           "increased")

    raw(cluster, WEST, ddb("UpdateTable"), {
        "TableName": "tf-warm", "OnDemandThroughput": {"MaxWriteRequestUnits": 300}})
    assert wait_for(lambda: describe(EAST)["OnDemandThroughput"] ==
                    {"MaxReadRequestUnits": -1, "MaxWriteRequestUnits": 300}), describe(EAST)
    kind, text = raw_error(cluster, EAST, ddb("UpdateTable"), {
        "TableName": "tf-warm", "OnDemandThroughput": {"MaxReadRequestUnits": -2}})
    assert (kind, text) == ("ValidationException",
                            "One or more parameter values were invalid: Requested "
                            "MaxReadRequestUnits for OnDemandThroughput for table is outside of "
                            "valid range")

    east.update_table(TableName="tf-warm", ReplicaUpdates=[{"Delete": {"RegionName": WEST}}])
    assert wait_for(lambda: "Replicas" not in east.describe_table(TableName="tf-warm")["Table"])
    east.delete_table(TableName="tf-warm")


def test_reenabling_a_regional_tables_stream_makes_a_new_stream(cluster, east):
    streams = boto3.client(
        "dynamodbstreams", endpoint_url=east.meta.endpoint_url, region_name=EAST,
        aws_access_key_id="gtsim", aws_secret_access_key="gtsim")
    east.create_table(TableName="tf-stream", BillingMode="PAY_PER_REQUEST",
                      KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                      StreamSpecification={"StreamEnabled": True, "StreamViewType": "KEYS_ONLY"})
    first = east.describe_table(TableName="tf-stream")["Table"]
    east.put_item(TableName="tf-stream", Item={"id": {"S": "one"}})
    east.update_table(TableName="tf-stream", StreamSpecification={"StreamEnabled": False})
    east.update_table(TableName="tf-stream",
                      StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"})
    second = east.describe_table(TableName="tf-stream")["Table"]
    assert second["LatestStreamArn"] != first["LatestStreamArn"]
    assert second["LatestStreamLabel"] != first["LatestStreamLabel"]
    east.put_item(TableName="tf-stream", Item={"id": {"S": "two"}})

    listed = streams.list_streams(TableName="tf-stream")["Streams"]
    assert [s["StreamArn"] for s in listed] == [first["LatestStreamArn"], second["LatestStreamArn"]]
    assert [s["StreamLabel"] for s in listed] == [first["LatestStreamLabel"],
                                                  second["LatestStreamLabel"]]

    def keys(arn):
        d = streams.describe_stream(StreamArn=arn)["StreamDescription"]
        it = streams.get_shard_iterator(StreamArn=arn, ShardId=d["Shards"][0]["ShardId"],
                                        ShardIteratorType="TRIM_HORIZON")["ShardIterator"]
        return d["StreamStatus"], [r["dynamodb"]["Keys"]["id"]["S"]
                                   for r in streams.get_records(ShardIterator=it)["Records"]]
    assert keys(first["LatestStreamArn"]) == ("DISABLED", ["one"])
    assert keys(second["LatestStreamArn"]) == ("ENABLED", ["two"])
    east.delete_table(TableName="tf-stream")


def test_local_indexes_item_collection_metrics_and_cli_describe_table(cluster, east):
    east.create_table(
        TableName="tf-lsi", BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                   {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                              {"AttributeName": "sk", "AttributeType": "S"},
                              {"AttributeName": "alt", "AttributeType": "N"}],
        LocalSecondaryIndexes=[{"IndexName": "byAlt",
                                "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"},
                                              {"AttributeName": "alt", "KeyType": "RANGE"}],
                                "Projection": {"ProjectionType": "KEYS_ONLY"}}],
        GlobalSecondaryIndexes=[{"IndexName": "byAltGlobal",
                                 "KeySchema": [{"AttributeName": "alt", "KeyType": "HASH"},
                                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    # ReturnItemCollectionMetrics SIZE: this table has a local index, so boto3 gets them.
    put = east.put_item(TableName="tf-lsi",
                        Item={"pk": {"S": "p"}, "sk": {"S": "1"}, "alt": {"N": "7"}},
                        ReturnItemCollectionMetrics="SIZE")
    assert put["ItemCollectionMetrics"] == {"ItemCollectionKey": {"pk": {"S": "p"}},
                                            "SizeEstimateRangeGB": [0.0, 1.0]}
    batch = east.batch_write_item(
        RequestItems={"tf-lsi": [{"PutRequest": {"Item": {"pk": {"S": "q"}, "sk": {"S": "1"}}}}]},
        ReturnItemCollectionMetrics="SIZE")
    assert batch["ItemCollectionMetrics"] == {"tf-lsi": [
        {"ItemCollectionKey": {"pk": {"S": "q"}}, "SizeEstimateRangeGB": [0.0, 1.0]}]}
    out = gtsim(cluster, "describe-table", "--region", EAST, "--table", "tf-lsi").stdout
    t = json.loads(out)["Table"]
    assert [g["IndexName"] for g in t["GlobalSecondaryIndexes"]] == ["byAltGlobal"]
    assert [l["IndexName"] for l in t["LocalSecondaryIndexes"]] == ["byAlt"]
    assert t["LocalSecondaryIndexes"][0]["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "alt", "KeyType": "RANGE"}]
    assert "IndexStatus" not in t["LocalSecondaryIndexes"][0]
    names = [a["AttributeName"] for a in t["AttributeDefinitions"]]
    assert sorted(names) == ["alt", "pk", "sk"]  # each once
    # The CLI names the same stream as the endpoint.
    assert t["LatestStreamArn"] == east.describe_table(TableName="tf-lsi")["Table"]["LatestStreamArn"]
    # It prints exactly the endpoint's DescribeTable (one renderer, region/ddb_describe.cc).
    assert t == raw(cluster, EAST, "DynamoDB_20120810.DescribeTable", {"TableName": "tf-lsi"})["Table"]
    # Each index's ItemCount / IndexSizeBytes: p/1 has alt (in both indexes), q/1 has not.
    assert t["ItemCount"] == 2
    for index in (t["LocalSecondaryIndexes"][0], t["GlobalSecondaryIndexes"][0]):
        assert index["ItemCount"] == 1
        assert 0 < index["IndexSizeBytes"] < t["TableSizeBytes"]
    east.delete_table(TableName="tf-lsi")


def test_terraform_s3_backend_state_lock(east):
    """The S3 backend's DynamoDB calls (hashicorp/terraform internal/backend/remote-state/s3,
    client.go): Lock is a PutItem of {LockID: "<bucket>/<key>", Info} with
    attribute_not_exists(LockID); Put stores the state's MD5 as {LockID: "<bucket>/<key>-md5",
    Digest}; Get reads it back with a ConsistentRead GetItem (ProjectionExpression "LockID,
    Digest"); Unlock reads the lock's Info (ConsistentRead, "LockID, Info"), checks the lock ID,
    and deletes the lock item (client.go deletes it unconditionally; the variant with a condition
    on Info, which careful lockers use, is replayed too)."""
    east.create_table(TableName="tf-locks", BillingMode="PAY_PER_REQUEST",
                      KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}])
    path = "state-bucket/env/prod/terraform.tfstate"
    info = lambda lock_id: json.dumps({"ID": lock_id, "Operation": "OperationTypeApply",
                                       "Who": "me@host", "Version": "1.9.0", "Path": path})

    def lock(lock_id):
        east.put_item(TableName="tf-locks",
                      Item={"LockID": {"S": path}, "Info": {"S": info(lock_id)}},
                      ConditionExpression="attribute_not_exists(LockID)")

    def lock_info():
        item = east.get_item(TableName="tf-locks", Key={"LockID": {"S": path}},
                             ProjectionExpression="LockID, Info", ConsistentRead=True).get("Item")
        return json.loads(item["Info"]["S"]) if item else None

    lock("11111111-aaaa")
    # A second locker is refused, and learns who holds the lock.
    with pytest.raises(ClientError) as held:
        lock("22222222-bbbb")
    assert error_code(held) == "ConditionalCheckFailedException"
    assert message(held) == "The conditional request failed"
    assert lock_info()["ID"] == "11111111-aaaa"

    # Put: the state's digest next to the lock; Get: read back consistently.
    digest = "9e107d9d372bb6826bd81d3542a419d6"
    east.put_item(TableName="tf-locks",
                  Item={"LockID": {"S": path + "-md5"}, "Digest": {"S": digest}})
    got = east.get_item(TableName="tf-locks", Key={"LockID": {"S": path + "-md5"}},
                        ProjectionExpression="LockID, Digest", ConsistentRead=True)["Item"]
    assert got == {"LockID": {"S": path + "-md5"}, "Digest": {"S": digest}}

    # Unlock with a condition on Info: a stale holder's Info does not match and deletes nothing.
    with pytest.raises(ClientError) as stale:
        east.delete_item(TableName="tf-locks", Key={"LockID": {"S": path}},
                         ConditionExpression="Info = :info",
                         ExpressionAttributeValues={":info": {"S": info("22222222-bbbb")}})
    assert error_code(stale) == "ConditionalCheckFailedException"
    assert lock_info()["ID"] == "11111111-aaaa"
    east.delete_item(TableName="tf-locks", Key={"LockID": {"S": path}},
                     ConditionExpression="Info = :info",
                     ExpressionAttributeValues={":info": {"S": info("11111111-aaaa")}})
    assert lock_info() is None

    # client.go's own Unlock: read Info, compare the ID, DeleteItem without a condition. The next
    # locker then gets the lock; the digest item stays for the next Get.
    lock("22222222-bbbb")
    assert lock_info()["ID"] == "22222222-bbbb"
    east.delete_item(TableName="tf-locks", Key={"LockID": {"S": path}})
    assert lock_info() is None
    assert "Item" in east.get_item(TableName="tf-locks", Key={"LockID": {"S": path + "-md5"}},
                                   ConsistentRead=True)
    east.delete_table(TableName="tf-locks")
