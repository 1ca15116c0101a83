"""moto's WSGI application and a request handler that logs nothing, for the world's server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app


class QuietHandler(MotoRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # one line per call drowns the output
        return None


def moto_app() -> Callable[..., Iterable[bytes]]:
    """moto's server application, dispatching each request to the service it names."""
    return DomainDispatcherApplication(create_backend_app)
