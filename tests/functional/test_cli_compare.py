"""`drharness compare` against the offline world: exit 0 when equal, 1 when the sides differ, 2 on error."""

from __future__ import annotations

import socket
from collections.abc import Iterator
import pytest

from drharness.cli import main
from drharness.cli.compare import BAD_LOCATION, MIXED_STORES, NO_SUCH_BUCKET
from drharness.instruments.consistency.dynamodb import NO_SUCH_TABLE
from drharness.target import OfflineTarget
from drharness.world.server import World

EAST, WEST = "us-east-1", "us-west-2"


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with World(seed=11) as w:
        target = OfflineTarget(w.endpoint)
        east, west = target.client("s3", EAST), target.client("s3", WEST)
        east.create_bucket(Bucket="cli-source")
        for name in ("cli-same", "cli-diverged"):
            west.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": WEST})
        for i in range(40):
            key, body = f"data/{i % 2}/obj-{i:03d}", f"body-{i}".encode()
            east.put_object(Bucket="cli-source", Key=key, Body=body)
            west.put_object(Bucket="cli-same", Key=key, Body=body)
            if i != 7:
                west.put_object(Bucket="cli-diverged", Key=key, Body=body if i != 8 else b"changed")
        for region in (EAST, WEST):
            target.client("dynamodb", region).create_table(
                TableName="cli-table", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
        for i in range(30):
            item = {"pk": {"S": f"k{i}"}, "n": {"N": "1"}}
            target.client("dynamodb", EAST).put_item(TableName="cli-table", Item=item)
            if i != 4:  # the replica lacks k4 and writes 1 as 1.0, which is no difference
                target.client("dynamodb", WEST).put_item(TableName="cli-table", Item={**item, "n": {"N": "1.0"}})
        yield w


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(["compare", *args])
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


def test_equal_buckets_exit_0(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["s3://cli-source", "s3://cli-same", "--endpoint", world.endpoint], capsys)
    assert code == 0
    assert "EQUAL" in out and "(us-east-1)" in out and "(us-west-2)" in out


def test_diverged_buckets_exit_1_and_list_the_differences(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["s3://cli-source/data/", "s3://cli-diverged/data/", "--endpoint", world.endpoint,
                        "--page-size", "5", "--max-listed", "3"], capsys)
    assert code == 1
    assert "1/obj-007" in out and "0/obj-008" in out and "DIFFERENT: 2 divergent keys" in out


def test_given_regions_skip_the_lookup(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, _ = run(["s3://cli-source/data/1/", "s3://cli-same/data/1/", "--endpoint", world.endpoint,
                      "--source-region", EAST, "--replica-region", WEST], capsys)
    assert code == 0


def test_tables_compare_through_the_endpoint_variable(world: World, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", world.endpoint)
    code, out, _ = run([f"dynamodb://{EAST}/cli-table", f"dynamodb://{WEST}/cli-table"], capsys)
    assert code == 1 and 'pk="k4"' in out
    code, _, _ = run([f"dynamodb://{WEST}/cli-table", f"dynamodb://{WEST}/cli-table"], capsys)
    assert code == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["s3:/cli-source", "s3://cli-same"], BAD_LOCATION.format(role="SOURCE", text="s3:/cli-source")),
        (["s3://cli-source", "dynamodb://nowhere"], BAD_LOCATION.format(role="REPLICA", text="dynamodb://nowhere")),
        (["s3://cli-source", f"dynamodb://{EAST}/cli-table"],
         MIXED_STORES.format(source="s3://cli-source", replica=f"dynamodb://{EAST}/cli-table")),
        (["s3://cli-source", "s3://absent-bucket"],
         NO_SUCH_BUCKET.format(bucket="absent-bucket", role="REPLICA", text="s3://absent-bucket")),
        ([f"dynamodb://{EAST}/absent", f"dynamodb://{WEST}/cli-table"],
         NO_SUCH_TABLE.format(table="absent", label=f"dynamodb://{EAST}/absent")),
    ],
    ids=["bad-scheme", "bad-table-url", "mixed", "missing-bucket", "missing-table"],
)
def test_errors_exit_2_with_one_line(world: World, capsys: pytest.CaptureFixture[str], args: list[str],
                                     message: str) -> None:
    code, out, err = run([*args, "--endpoint", world.endpoint], capsys)
    assert code == 2 and out == ""
    assert err == f"drharness: error: {message}\n"


def test_unreachable_endpoint_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again before the call: nothing listens there
    code, _, err = run(["s3://a-bucket", "s3://b-bucket", "--endpoint", f"http://127.0.0.1:{port}",
                        "--source-region", EAST, "--replica-region", WEST], capsys)
    assert code == 2 and err.count("\n") == 1 and "cannot reach S3" in err


@pytest.mark.parametrize(("args", "said"), [
    (["--method", "inventory", "dynamodb://us-east-1/tab1", "dynamodb://us-west-2/tab1"], "--method inventory compares S3"),
    (["--method", "export", "s3://bkt-a", "s3://bkt-b"], "--method export compares DynamoDB"),
    (["--method", "export", "dynamodb://us-east-1/tab1", "dynamodb://us-west-2/tab1"], "--export-to"),
    (["--method", "listing", "--engine", "athena", "s3://bkt-a", "s3://bkt-b"], "--engine athena runs the inventory"),
    (["--method", "inventory", "--engine", "athena", "s3://bkt-a", "s3://bkt-b"], "needs --athena-output"),
    (["--method", "sample", "s3://bkt-a", "s3://bkt-b"], "is not one of listing, inventory, export"),
])
def test_an_at_rest_compare_with_contradictory_options_is_refused(args, said, world: World,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run([*args, "--endpoint", world.endpoint], capsys)
    assert code == 2 and said in err
