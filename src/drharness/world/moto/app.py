"""moto's WSGI application and a request handler that logs nothing, for the world's server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moto import backends
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    create_backend_app,
)

from drharness.world.moto import cloudformation

# moto's dispatcher lists its own package directory (os.listdir and an isdir per service) on every
# request to tell a service name from a host; the list cannot change while the process runs.
_MOTO_MODULES = frozenset(backends.list_of_moto_modules())


class _Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, with its host lookup made once (the rest of it, and what it answers, as moto's)."""

    def get_backend_for_host(self, host: str | None) -> Any:
        if host is None or host == "moto_api" or host in _MOTO_MODULES:
            return host
        for backend, pattern in self.backend_url_patterns:
            if pattern.match(f"http://{host}"):
                return backend
        return None


def moto_app() -> Callable[..., Iterable[bytes]]:
    """moto's server application, dispatching each request to the service it names."""
    cloudformation.install()
    return _Dispatcher(create_backend_app)
