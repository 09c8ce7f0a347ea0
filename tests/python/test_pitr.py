"""Point-in-time recovery through boto3 against a 2-region cluster of real gtsim-region processes
(the `cluster` fixture of conftest.py): RestoreTableToPointInTime of a global table's replica at
several times - local and replicated writes, overwrites, deletes - each restored table compared
item by item with what the replica held then; RestoreSummary; the restored table is regional;
DynamoDB's errors; and `gtsim restore` on the command line.
"""
import time

import boto3  # noqa: E402  (ImportError fails the suite on purpose)
import botocore.config
import pytest
from botocore.exceptions import ClientError

from conftest import EAST, WEST, run_gtsim as gtsim


def client_for(env, region):
    url = gtsim(env, "endpoint", "--region", region).stdout.strip()
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


def wait_for(what, check, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def contents(ddb, table):
    items, kwargs = {}, {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kwargs)
        for item in page["Items"]:
            items[item["pk"]["S"]] = item
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def put(ddb, pk, v):
    ddb.put_item(TableName="pitr", Item={"pk": {"S": pk}, "v": {"S": v}})


@pytest.fixture(scope="module")
def pitr_table(east, west):
    east.create_table(TableName="pitr", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                      AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                      BillingMode="PAY_PER_REQUEST")
    east.update_table(TableName="pitr", ReplicaUpdates=[{"Create": {"RegionName": WEST}}])
    wait_for("the replica", lambda: east.describe_table(TableName="pitr")["Table"]["TableStatus"]
             == "ACTIVE")
    east.update_continuous_backups(
        TableName="pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    return "pitr"


def test_restore_at_several_times_is_exact(east, west, pitr_table):
    snapshots = []

    def snap():
        # boto3 sends RestoreDateTime in whole seconds (as DynamoDB restores to the second): the
        # state at the next whole second, with no write before it is read.
        at = int(time.time()) + 1
        time.sleep(at - time.time() + 0.05)
        snapshots.append((at, contents(east, "pitr")))

    snap()
    put(east, "a", "1")
    put(east, "b", "1")
    snap()
    put(east, "a", "2")
    east.delete_item(TableName="pitr", Key={"pk": {"S": "b"}})
    snap()
    put(west, "w", "west")  # replicated into us-east-1
    put(west, "a", "west")
    wait_for("replication", lambda: contents(east, "pitr").get("w") is not None and
             contents(east, "pitr")["a"]["v"]["S"] == "west")
    snap()
    west.delete_item(TableName="pitr", Key={"pk": {"S": "w"}})
    wait_for("replication", lambda: "w" not in contents(east, "pitr"))
    snap()

    backups = east.describe_continuous_backups(TableName="pitr")["ContinuousBackupsDescription"]
    window = backups["PointInTimeRecoveryDescription"]
    assert window["PointInTimeRecoveryStatus"] == "ENABLED"
    for i, (at, expected) in enumerate(snapshots):
        target = f"pitr-r{i}"
        resp = east.restore_table_to_point_in_time(
            SourceTableName="pitr", TargetTableName=target, RestoreDateTime=at)
        d = resp["TableDescription"]
        assert d["TableName"] == target
        summary = d["RestoreSummary"]
        assert summary["SourceTableArn"].endswith(f":{EAST}:000000000000:table/pitr")
        assert abs(summary["RestoreDateTime"].timestamp() - at) < 0.01
        assert d["TableStatus"] in ("CREATING", "ACTIVE")
        wait_for("the restore", lambda: east.describe_table(TableName=target)["Table"]
                 ["TableStatus"] == "ACTIVE")
        t = east.describe_table(TableName=target)["Table"]
        assert t["RestoreSummary"]["RestoreInProgress"] is False
        assert "Replicas" not in t  # regional
        assert contents(east, target) == expected, f"restore {i}"
    # The restored tables never reach us-west-2.
    time.sleep(0.5)
    assert not [n for n in west.list_tables()["TableNames"] if n.startswith("pitr-r")]


def test_restore_latest_and_by_arn(east, pitr_table):
    put(east, "latest", "x")
    arn = east.describe_table(TableName="pitr")["Table"]["TableArn"]
    east.restore_table_to_point_in_time(SourceTableArn=arn, TargetTableName="pitr-latest",
                                        UseLatestRestorableTime=True)
    wait_for("the restore", lambda: east.describe_table(TableName="pitr-latest")["Table"]
             ["TableStatus"] == "ACTIVE")
    assert contents(east, "pitr-latest") == contents(east, "pitr")


def error(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def test_restore_errors(east, west, pitr_table):
    now = time.time()
    with pytest.raises(ClientError) as e:
        east.restore_table_to_point_in_time(SourceTableName="nope", TargetTableName="pitr-x",
                                            RestoreDateTime=now)
    assert error(e) == ("TableNotFoundException", "Table not found: nope")
    with pytest.raises(ClientError) as e:
        east.restore_table_to_point_in_time(SourceTableName="pitr", TargetTableName="pitr",
                                            RestoreDateTime=now)
    assert error(e) == ("TableAlreadyExistsException", "Table already exists: pitr")
    # PITR is per replica: on in us-east-1 only.
    with pytest.raises(ClientError) as e:
        west.restore_table_to_point_in_time(SourceTableName="pitr", TargetTableName="pitr-x",
                                            RestoreDateTime=now)
    assert error(e) == ("PointInTimeRecoveryUnavailableException",
                        "Point in time recovery has not yet been enabled for this source table.")
    for at in (now - 3600, time.time() + 3600):
        with pytest.raises(ClientError) as e:
            east.restore_table_to_point_in_time(SourceTableName="pitr", TargetTableName="pitr-x",
                                                RestoreDateTime=at)
        assert error(e) == ("InvalidRestoreTimeException",
                            "RestoreDateTime must be between EarliestRestorableDateTime and "
                            "LatestRestorableDateTime.")
    with pytest.raises(ClientError) as e:
        east.restore_table_to_point_in_time(SourceTableName="pitr", TargetTableName="pitr-x",
                                            RestoreDateTime=now, UseLatestRestorableTime=True)
    assert error(e)[0] == "ValidationException"
    with pytest.raises(ClientError) as e:
        east.restore_table_to_point_in_time(SourceTableName="pitr", TargetTableName="pitr-x")
    assert error(e)[0] == "ValidationException"
    # None of them made a table.
    assert "pitr-x" not in east.list_tables()["TableNames"]


def test_cli_restore(cluster, east, pitr_table):
    put(east, "cli", "before")
    time.sleep(0.05)
    at = time.time()
    time.sleep(0.05)
    put(east, "cli", "after")
    out = gtsim(cluster, "restore", "--region", EAST, "--table", "pitr", "--target", "pitr-cli",
                "--time", f"{at:.6f}")
    assert "ACTIVE" in out.stdout
    assert contents(east, "pitr-cli")["cli"]["v"]["S"] == "before"
    iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at * 1e6) % 1000000:06d}Z"
    gtsim(cluster, "restore", "--region", EAST, "--table", "pitr", "--target", "pitr-cli2",
          "--time", iso)
    assert contents(east, "pitr-cli2")["cli"]["v"]["S"] == "before"
    gtsim(cluster, "restore", "--region", EAST, "--table", "pitr", "--target", "pitr-cli3",
          "--latest")
    assert contents(east, "pitr-cli3")["cli"]["v"]["S"] == "after"
    bad = gtsim(cluster, "restore", "--region", EAST, "--table", "pitr", "--target", "pitr-cli4",
                check=False)
    assert bad.returncode == 2 and "--time" in bad.stderr
    bad = gtsim(cluster, "restore", "--region", WEST, "--table", "pitr", "--target", "pitr-cli4",
                "--latest", check=False)
    assert bad.returncode == 1 and "point-in-time recovery is not enabled" in bad.stderr
    assert "--latest" in gtsim(cluster, "restore", "--help").stdout
