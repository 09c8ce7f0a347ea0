"""boto3 against gtsim's endpoint with DynamoDB's legacy parameters, as the Java SDK v1
DynamoDBMapper sends them: save with optimistic locking (UpdateItem with Expected on the version
attribute + AttributeUpdates), load, versioned delete, query with KeyConditions and QueryFilter,
scan with ScanFilter - and DynamoDB's refusal to mix legacy and expression parameters.
"""
import pytest
from botocore.exceptions import ClientError

from test_endpoint import client_for, error_code, make_table
from conftest import EAST


@pytest.fixture(scope="module")
def east(cluster):
    return client_for(cluster, EAST)


def mapper_save(ddb, table, pk, sk, version, fields):
    """DynamoDBMapper.save of a versioned object whose in-memory version is `version` (None for
    a new object): the new version is version + 1, on condition that the stored one is still
    `version` (or that there is none)."""
    if version is None:
        expected = {"version": {"Exists": False}}
        new_version = 1
    else:
        expected = {"version": {"Value": {"N": str(version)}, "Exists": True}}
        new_version = version + 1
    updates = {name: {"Value": value, "Action": "PUT"} for name, value in fields.items()}
    updates["version"] = {"Value": {"N": str(new_version)}, "Action": "PUT"}
    return ddb.update_item(TableName=table, Key={"pk": {"S": pk}, "sk": {"N": str(sk)}},
                           AttributeUpdates=updates, Expected=expected, ReturnValues="ALL_NEW")


def test_dynamodbmapper_optimistic_locking(east):
    make_table(east, "legacy-mapper")
    saved = mapper_save(east, "legacy-mapper", "user", 1, None, {"name": {"S": "Ada"}})
    assert saved["Attributes"]["version"] == {"N": "1"}

    # Two clients load version 1; the first save wins, the second is refused.
    loaded = east.get_item(TableName="legacy-mapper", Key={"pk": {"S": "user"}, "sk": {"N": "1"}},
                           ConsistentRead=True)["Item"]
    assert loaded["version"] == {"N": "1"}
    mapper_save(east, "legacy-mapper", "user", 1, 1, {"name": {"S": "Ada L."}})
    with pytest.raises(ClientError) as stale:
        mapper_save(east, "legacy-mapper", "user", 1, 1, {"name": {"S": "Ada Lovelace"}})
    assert error_code(stale) == "ConditionalCheckFailedException"
    # Saving a new object over an existing key is refused too (Exists false).
    with pytest.raises(ClientError) as exists:
        mapper_save(east, "legacy-mapper", "user", 1, None, {"name": {"S": "Other"}})
    assert error_code(exists) == "ConditionalCheckFailedException"

    item = east.get_item(TableName="legacy-mapper", Key={"pk": {"S": "user"}, "sk": {"N": "1"}},
                         AttributesToGet=["name", "version"])["Item"]
    assert item == {"name": {"S": "Ada L."}, "version": {"N": "2"}}

    # A versioned delete: refused with a stale version, done with the current one.
    key = {"pk": {"S": "user"}, "sk": {"N": "1"}}
    with pytest.raises(ClientError) as stale_delete:
        east.delete_item(TableName="legacy-mapper", Key=key,
                         Expected={"version": {"Value": {"N": "1"}, "Exists": True}})
    assert error_code(stale_delete) == "ConditionalCheckFailedException"
    east.delete_item(TableName="legacy-mapper", Key=key,
                     Expected={"version": {"Value": {"N": "2"}, "Exists": True}})
    assert "Item" not in east.get_item(TableName="legacy-mapper", Key=key)


def test_legacy_query_scan_and_mixing(east):
    make_table(east, "legacy-reads")
    for sk in range(1, 7):
        mapper_save(east, "legacy-reads", "p", sk, None, {"even": {"BOOL": sk % 2 == 0}})
    q = east.query(TableName="legacy-reads",
                   KeyConditions={
                       "pk": {"ComparisonOperator": "EQ", "AttributeValueList": [{"S": "p"}]},
                       "sk": {"ComparisonOperator": "BETWEEN",
                              "AttributeValueList": [{"N": "2"}, {"N": "5"}]}},
                   QueryFilter={"even": {"ComparisonOperator": "EQ",
                                         "AttributeValueList": [{"BOOL": True}]}},
                   AttributesToGet=["sk"], ScanIndexForward=False)
    assert [i["sk"]["N"] for i in q["Items"]] == ["4", "2"]
    assert q["ScannedCount"] == 4

    s = east.scan(TableName="legacy-reads",
                  ScanFilter={"sk": {"ComparisonOperator": "IN",
                                     "AttributeValueList": [{"N": "1"}, {"N": "6"}]},
                              "even": {"ComparisonOperator": "EQ",
                                       "AttributeValueList": [{"BOOL": True}]}},
                  ConditionalOperator="OR", Select="COUNT")
    assert s["Count"] == 4  # 1, 2, 4, 6

    with pytest.raises(ClientError) as mixed:
        east.update_item(TableName="legacy-reads", Key={"pk": {"S": "p"}, "sk": {"N": "1"}},
                         AttributeUpdates={"x": {"Value": {"S": "v"}}},
                         UpdateExpression="SET y = :y",
                         ExpressionAttributeValues={":y": {"S": "w"}})
    assert error_code(mixed) == "ValidationException"
    assert mixed.value.response["Error"]["Message"] == (
        "Can not use both expression and non-expression parameters in the same request: "
        "Non-expression parameters: {AttributeUpdates} Expression parameters: "
        "{UpdateExpression}")
