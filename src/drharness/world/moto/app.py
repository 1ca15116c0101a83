"""moto's WSGI application and a request handler that logs nothing, for the world's server."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from moto import backends
from moto.moto_server.werkzeug_app import (
    HTTP_METHODS,
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


# Services botocore now sends as REST (every operation at a path of its own) that moto's server still routes
# at "/" alone, as the JSON protocol they had: botocore 1.44.9 moved Athena to restJson1. moto's responses
# match the operation on botocore's model of the request (method and path), so only its URL map lags.
_ROOT_ONLY_REST = frozenset({"athena"})


def _backend_app(service: Any) -> Any:
    """moto's application for `service`, taking every path where botocore sends the service as REST."""
    app = create_backend_app(service)
    if service in _ROOT_ONLY_REST and [rule.rule for rule in app.url_map.iter_rules()] == ["/"]:
        endpoint = next(iter(app.view_functions))
        app.add_url_rule("/<path:rest_path>", endpoint=f"{endpoint}.rest", methods=HTTP_METHODS,
                         view_func=app.view_functions[endpoint], strict_slashes=False)
    return app


def moto_app() -> Callable[..., Iterable[bytes]]:
    """moto's server application, dispatching each request to the service it names."""
    cloudformation.install()
    return _Dispatcher(_backend_app)
