"""``/metrics`` on a port of its own (``PASSGATE_METRICS_PORT``), served by the process
that runs ``passgate serve`` (it reads every worker's values from the server's directory),
in a thread beside uvicorn's. ``PASSGATE_METRICS_TOKEN`` applies here too."""

from __future__ import annotations

import hmac
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["MetricsListener", "bearer_matches"]


class MetricsListener:
    def __init__(self, host: str, port: int, directory: str, *, token: str | None) -> None:
        self.directory = directory
        self.token = token
        listener = self

        class Handler(BaseHTTPRequestHandler):
            server_version = "passgate"
            sys_version = ""

            def do_GET(self) -> None:
                listener.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        server_class = type("Server", (ThreadingHTTPServer,), {"address_family": _family(host)})
        self._server: ThreadingHTTPServer = server_class((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="passgate-metrics", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        from passgate.observability.metrics import CONTENT_TYPE, exposition_of

        if handler.path.split("?", 1)[0] != "/metrics":
            self._send(handler, 404, b"404 Not Found: the metrics are at /metrics\n")
            return
        if self.token is not None and not bearer_matches(
            handler.headers.get("authorization"), self.token
        ):
            self._send(
                handler,
                401,
                b"401 Unauthorized: send Authorization: Bearer <PASSGATE_METRICS_TOKEN>\n",
                ("WWW-Authenticate", 'Bearer realm="metrics"'),
            )
            return
        self._send(handler, 200, exposition_of(self.directory), content_type=CONTENT_TYPE)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        *headers: tuple[str, str],
        content_type: str = "text/plain; charset=utf-8",
    ) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.send_header("Cache-Control", "no-store")
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)


def _family(host: str) -> int:
    import socket

    return socket.AF_INET6 if ":" in host else socket.AF_INET


def bearer_matches(authorization: str | None, token: str) -> bool:
    """``Authorization: Bearer <token>``, compared in constant time."""
    if not authorization:
        return False
    scheme, _, presented = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())
