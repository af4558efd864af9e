"""A log stream receiver for tests: a real HTTP server in its own process.

``python -m tests.streams.receiver PORT RECORD`` serves ``POST`` on every path and appends
one JSON line per request to ``RECORD``: ``{"path", "headers", "body"}`` (the body as
text), flushed before it answers 200. While a file ``RECORD.fail`` holds a status code,
every request is answered with that code instead (and recorded as ``refused``); while
``RECORD.slow`` holds a number of seconds, each answer waits that long first.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

_lock = threading.Lock()


def _serve(port: int, record: Path) -> None:
    fail = record.with_name(record.name + ".fail")
    slow = record.with_name(record.name + ".slow")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length).decode("utf-8")
            refused = int(fail.read_text()) if fail.exists() else None
            if slow.exists():
                time.sleep(float(slow.read_text()))
            entry = {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": body,
                "refused": refused,
            }
            with _lock, record.open("a", encoding="utf-8") as out:
                out.write(json.dumps(entry) + "\n")
                out.flush()
            self.send_response(refused or 200)
            self.send_header("content-length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), Path(sys.argv[2]))
