"""`drharness world clock advance`: move a running world's clock from outside, in-process."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from drharness.cli import main
from drharness.cli.world import CLOCK_LINE, NO_ENDPOINT, world_app
from drharness.timefmt import parse_iso

DAY = 86400.0


@pytest.fixture(autouse=True)
def _no_endpoint_from_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("DRHARNESS_ENDPOINT", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """Run the `drharness` entry point in-process; (exit code, stdout, stderr)."""
    try:
        main(list(argv))
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def not_a_world() -> Iterator[str]:
    """An HTTP server on loopback that answers 404 to everything, as a plain web server would."""

    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_advance_moves_the_world_clock_and_prints_the_new_world_time(world) -> None:
    before = world.now()
    result = CliRunner().invoke(world_app, ["clock", "advance", str(DAY), "--endpoint", world.endpoint])
    assert result.exit_code == 0, result.output
    assert world.clock_offset_seconds == DAY
    line = result.output.strip()
    prefix, _, rest = CLOCK_LINE.partition("{now}")
    assert line.startswith(prefix) and line.endswith(rest.format(moved="24 h"))
    printed = parse_iso(line[len(prefix):-len(rest.format(moved="24 h"))])
    assert printed is not None and before + DAY <= printed.timestamp() <= world.now()


def test_advance_publishes_what_came_due(world, target, monkeypatch) -> None:
    s3 = target.client("s3", "us-east-1")
    for bucket in ("clock-src", "clock-dst"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_inventory_configuration(Bucket="clock-src", Id="daily", InventoryConfiguration={
        "Id": "daily", "IsEnabled": True, "IncludedObjectVersions": "Current", "Schedule": {"Frequency": "Daily"},
        "Destination": {"S3BucketDestination": {"Bucket": "arn:aws:s3:::clock-dst", "Format": "CSV"}}})
    monkeypatch.setenv("DRHARNESS_ENDPOINT", world.endpoint)
    assert CliRunner().invoke(world_app, ["clock", "advance", "0"]).exit_code == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="clock-dst").get("Contents", [])]
    assert sum(k.endswith("manifest.checksum") for k in keys) == 1


def test_negative_seconds_are_refused_before_the_world_is_asked(world, capsys) -> None:
    code, _, err = run(capsys, "world", "clock", "advance", "--endpoint", world.endpoint, "--", "-5")
    assert code == 2 and "-5" in err and ">=0" in err
    assert world.clock_offset_seconds == 0


def test_an_endpoint_where_no_world_answers_fails_in_one_line(capsys) -> None:
    code, _, err = run(capsys, "world", "clock", "advance", "60", "--endpoint", "http://127.0.0.1:9")
    assert code == 2
    assert err.startswith("drharness: error: no offline world answers at http://127.0.0.1:9")


def test_an_endpoint_that_is_no_drharness_world_is_told_so(capsys, not_a_world) -> None:
    code, _, err = run(capsys, "world", "clock", "advance", "60", "--endpoint", not_a_world)
    assert code == 2
    assert "it is not a drharness world" in err and err.count("\n") == 1


def test_without_an_endpoint_it_says_where_to_give_one(capsys) -> None:
    code, _, err = run(capsys, "world", "clock", "advance", "60")
    assert code == 2 and err == f"drharness: error: {NO_ENDPOINT}\n"
