"""The world's HTTP server: cheroot, an HTTP/1.1 server with keep-alive and a thread pool.

moto's own server (werkzeug's development server) closes every connection after one answer, so every
request pays a TCP handshake on both sides; SDK clients keep their connections open, as against AWS.
cheroot (CherryPy's maintained WSGI server) keeps them, and gives the application two things the world
needs in its environ: the path as sent (`RAW_URI`, as moto reads it), the connection's socket (to drop a request without an answer, as an unreachable
region does) and each header's own spelling (S3 metadata names may hold underscores, which WSGI folds
into dashes; moto reads the spelling from the same environ key its own server sets).
"""

from __future__ import annotations

import threading
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from cheroot import wsgi

SOCKET_KEY = "drharness.socket"
# moto's key for header names as sent (moto.moto_server.werkzeug_app.PRESERVED_HEADER_NAMES_ENVIRON_KEY).
PRESERVED_HEADER_NAMES = "moto.preserved_header_names"
THREADS = 16  # requests served at once; more connections than that wait for a free thread

WsgiApp = Callable[..., Iterable[bytes]]


class _Gateway(wsgi.Gateway_10):
    def get_environ(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environ()
        environ[SOCKET_KEY] = self.req.conn.socket
        raw = environ["REQUEST_URI"]
        environ["RAW_URI"] = raw  # the path as sent, before decoding: moto reads S3 keys from it
        # Decoded whole, `%2F` too, as werkzeug decodes it (cheroot keeps `%2F`); WSGI's latin-1 text of UTF-8.
        environ["PATH_INFO"] = urllib.parse.unquote(raw.split("?", 1)[0], errors="surrogateescape").encode(
            "utf-8", "surrogateescape").decode("latin-1")
        names: dict[str, str] = {}
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.req.inheaders.items()]
        dashed = {name.upper().replace("-", "_") for name, _ in headers if "_" not in name}
        for name, value in headers:
            key = name.upper().replace("-", "_")
            # As moto's own server: only S3 metadata keeps its underscores, and never over a dashed header.
            if "_" in name and name.lower().startswith("x-amz-meta-") and key not in dashed:
                names.setdefault("HTTP_" + key, name)
                environ["HTTP_" + key] = value
        environ[PRESERVED_HEADER_NAMES] = names
        return environ


class HttpServer:
    """`app` served on 127.0.0.1:`port` (0: a free one) by a background thread until `stop()`."""

    def __init__(self, app: WsgiApp, port: int) -> None:
        self._server = wsgi.Server(("127.0.0.1", port), app, numthreads=THREADS, server_name="drharness-world",
                                   shutdown_timeout=1, accepted_queue_timeout=1)
        self._server.gateway = _Gateway
        # How often the accept loop looks up (and notices a stop): cheroot's 0.5 s made every stop take half a second.
        self._server.expiration_interval = 0.02
        self._ready = threading.Event()
        self._error: BaseException | None = None
        # prepare() starts cheroot's worker threads, which take their daemon flag from the thread that makes
        # them: made from this daemon thread, they never hold the interpreter open after an unstopped world.
        self._thread = threading.Thread(target=self._run, name="drharness-world", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            self._server.prepare()  # binds: an OSError here is the caller's to report
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that started the server
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._server.serve()

    @property
    def port(self) -> int:
        return int(self._server.bind_addr[1])

    def stop(self) -> None:
        self._server.stop()
        self._thread.join(timeout=5)
