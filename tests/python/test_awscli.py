"""The AWS CLI (Debian's awscli 2.x, /usr/bin/aws) against gtsim's DynamoDB-compatible endpoint
of a real 2-region cluster: dummy credentials from the environment, --endpoint-url on 127.0.0.1,
no config files, no pager. A missing /usr/bin/aws is an error, not a skip (tools/setup.sh
installs it)."""
import json
import os
import subprocess

import pytest

from conftest import EAST, run_gtsim

AWS = "/usr/bin/aws"


@pytest.fixture(scope="module")
def aws(cluster, tmp_path_factory):
    assert os.path.exists(AWS), "Debian's awscli is missing: run tools/setup.sh"
    url = run_gtsim(cluster, "endpoint", "--region", EAST).stdout.strip()
    home = tmp_path_factory.mktemp("aws-home")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="gtsim", AWS_SECRET_ACCESS_KEY="gtsim",
               AWS_DEFAULT_REGION=EAST, AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=str(home / "config"),
               AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials"), HOME=str(home))

    def run(service, *args, check=True):
        r = subprocess.run([AWS, service, *args, "--endpoint-url", url, "--output", "json"],
                           env=env, capture_output=True, text=True, timeout=120)
        if check:
            assert r.returncode == 0, r.stderr
            return json.loads(r.stdout) if r.stdout.strip() else {}
        return r

    return run


def test_cli_tables_items_batches_and_transactions(aws, tmp_path):
    t = aws("dynamodb", "create-table", "--table-name", "cli-demo",
            "--key-schema", "AttributeName=id,KeyType=HASH",
            "--attribute-definitions", "AttributeName=id,AttributeType=S",
            "--billing-mode", "PAY_PER_REQUEST")
    assert t["TableDescription"]["TableStatus"] == "ACTIVE"
    aws("dynamodb", "wait", "table-exists", "--table-name", "cli-demo")

    items = tmp_path / "items.json"
    items.write_text(json.dumps({"cli-demo": [
        {"PutRequest": {"Item": {"id": {"S": f"i{n}"}, "n": {"N": str(n)}}}} for n in range(12)]}))
    r = aws("dynamodb", "batch-write-item", "--request-items", f"file://{items}")
    assert r["UnprocessedItems"] == {}

    got = aws("dynamodb", "get-item", "--table-name", "cli-demo", "--key", '{"id":{"S":"i3"}}')
    assert got["Item"]["n"] == {"N": "3"}
    # The CLI follows LastEvaluatedKey itself: pages of 5 still give every item.
    scan = aws("dynamodb", "scan", "--table-name", "cli-demo", "--page-size", "5")
    assert scan["Count"] == 12

    upd = aws("dynamodb", "update-item", "--table-name", "cli-demo", "--key", '{"id":{"S":"i3"}}',
              "--update-expression", "SET n = n + :one",
              "--expression-attribute-values", '{":one":{"N":"1"}}', "--return-values", "ALL_NEW")
    assert upd["Attributes"]["n"] == {"N": "4"}

    failed = aws("dynamodb", "put-item", "--table-name", "cli-demo", "--item", '{"id":{"S":"i3"}}',
                 "--condition-expression", "attribute_not_exists(id)", check=False)
    assert failed.returncode != 0
    assert "ConditionalCheckFailedException" in failed.stderr

    aws("dynamodb", "transact-write-items", "--transact-items", json.dumps([
        {"Delete": {"TableName": "cli-demo", "Key": {"id": {"S": "i0"}}}},
        {"Put": {"TableName": "cli-demo", "Item": {"id": {"S": "new"}}}}]))
    cancelled = aws("dynamodb", "transact-write-items", "--transact-items", json.dumps([
        {"ConditionCheck": {"TableName": "cli-demo", "Key": {"id": {"S": "i0"}},
                            "ConditionExpression": "attribute_exists(id)"}},
        {"Put": {"TableName": "cli-demo", "Item": {"id": {"S": "never"}}}}]), check=False)
    assert cancelled.returncode != 0
    assert "TransactionCanceledException" in cancelled.stderr
    assert "[ConditionalCheckFailed, None]" in cancelled.stderr
    keys = aws("dynamodb", "batch-get-item", "--request-items", json.dumps(
        {"cli-demo": {"Keys": [{"id": {"S": k}} for k in ("i0", "new", "never")]}}))
    assert [i["id"]["S"] for i in keys["Responses"]["cli-demo"]] == ["new"]

    bad = aws("dynamodb", "describe-table", "--table-name", "missing-table", check=False)
    assert bad.returncode != 0 and "ResourceNotFoundException" in bad.stderr


def test_cli_streams(aws):
    aws("dynamodb", "create-table", "--table-name", "cli-stream",
        "--key-schema", "AttributeName=id,KeyType=HASH",
        "--attribute-definitions", "AttributeName=id,AttributeType=S",
        "--billing-mode", "PAY_PER_REQUEST")
    aws("dynamodb", "put-item", "--table-name", "cli-stream", "--item", '{"id":{"S":"a"}}')
    arn = aws("dynamodbstreams", "list-streams", "--table-name", "cli-stream")["Streams"][0][
        "StreamArn"]
    shard = aws("dynamodbstreams", "describe-stream", "--stream-arn", arn)[
        "StreamDescription"]["Shards"][0]["ShardId"]
    it = aws("dynamodbstreams", "get-shard-iterator", "--stream-arn", arn, "--shard-id", shard,
             "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]
    records = aws("dynamodbstreams", "get-records", "--shard-iterator", it)["Records"]
    assert [r["eventName"] for r in records] == ["INSERT"]
    assert records[0]["dynamodb"]["Keys"] == {"id": {"S": "a"}}
