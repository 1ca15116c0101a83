"""One rule for attaching to an endpoint: a drharness world answers health; anything else is used as found."""

from __future__ import annotations

import http.server
import threading

import pytest

from drharness.errors import WorldError
from drharness.attach import attach
from drharness.target import LIVE_POLL_INTERVAL_S, OFFLINE_POLL_INTERVAL_S, AwsTarget, OfflineTarget


class _NotAWorld(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def plain_endpoint():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotAWorld)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_an_endpoint_that_is_not_a_world_is_used_as_found_without_faults(plain_endpoint):
    attached = attach(plain_endpoint, "111122223333")
    assert not attached.is_world and attached.world is None
    assert (attached.target.endpoint_url, attached.target.account_id) == (plain_endpoint, "111122223333")
    with pytest.raises(WorldError, match="not a drharness world"):
        attach(plain_endpoint, "111122223333", require_world=True)


def test_an_endpoint_nothing_answers_at_is_refused():
    with pytest.raises(WorldError, match="no offline world answers"):
        attach("http://127.0.0.1:9", "111122223333")


def test_the_target_says_how_fast_to_poll():
    assert OfflineTarget("http://127.0.0.1:1").poll_interval_s == OFFLINE_POLL_INTERVAL_S
    assert AwsTarget.poll_interval_s == LIVE_POLL_INTERVAL_S > OFFLINE_POLL_INTERVAL_S
