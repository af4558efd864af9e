"""A tiny reverse proxy for the example: it forwards every request to the app and appends
the address of the client it saw to ``X-Forwarded-For``, as nginx's
``proxy_add_x_forwarded_for`` does. Standard library only.

Every browser of a demo (or a test) runs on one machine, so all of them would arrive
from 127.0.0.1. To let users "arrive from different IPs", the proxy can pretend it saw
another client address: ``--client-ip`` (one address for every request), or
``--client-ip-header NAME`` (the address a request names in that header, which the proxy
removes before forwarding). Never run a real proxy with those options.

    python -m shop.proxy --port 8080 --upstream http://127.0.0.1:5000
"""

from __future__ import annotations

import argparse
import http.client
import ipaddress
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)


class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        upstream: str,
        client_ip: str | None = None,
        client_ip_header: str | None = None,
    ) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname:
            raise ValueError("--upstream must be an http:// URL")
        self.upstream_host = parsed.hostname
        self.upstream_port = parsed.port or 80
        self.client_ip = client_ip
        self.client_ip_header = client_ip_header.lower() if client_ip_header else None
        super().__init__(address, ProxyHandler)


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: ProxyServer

    def _seen_client(self) -> str:
        """The client address this proxy reports: its TCP peer, unless simulating."""
        server = self.server
        if server.client_ip_header:
            named = self.headers.get(server.client_ip_header, "").strip()
            if named:
                return str(ipaddress.ip_address(named))
        return server.client_ip or self.client_address[0]

    def _forward(self) -> None:
        try:
            seen = self._seen_client()
        except ValueError:
            self.send_error(400, "Bad simulated client address")
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers: list[tuple[str, str]] = []
        forwarded_for: list[str] = []
        for name, value in self.headers.items():
            lower = name.lower()
            if lower in HOP_BY_HOP or lower == "content-length":
                continue
            if lower == self.server.client_ip_header:
                continue
            if lower == "x-forwarded-for":
                forwarded_for.append(value)
                continue
            headers.append((name, value))
        forwarded_for.append(seen)
        headers.append(("X-Forwarded-For", ", ".join(forwarded_for)))
        headers.append(("Content-Length", str(len(body))))
        upstream = http.client.HTTPConnection(
            self.server.upstream_host, self.server.upstream_port, timeout=60
        )
        try:
            upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                upstream.putheader(name, value)
            upstream.endheaders(body)
            answer = upstream.getresponse()
            payload = answer.read()
        except OSError:
            self.send_error(502, "The app did not answer")
            return
        finally:
            upstream.close()
        self.send_response_only(answer.status, answer.reason)
        for name, value in answer.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--upstream", default="http://127.0.0.1:5000")
    parser.add_argument("--client-ip", help="demo only: report this client address")
    parser.add_argument(
        "--client-ip-header", help="demo/test only: report the address a request names here"
    )
    options = parser.parse_args(argv)
    if options.client_ip:
        ipaddress.ip_address(options.client_ip)
    server = ProxyServer(
        (options.host, options.port),
        options.upstream,
        client_ip=options.client_ip,
        client_ip_header=options.client_ip_header,
    )
    print(f"proxy: http://{options.host}:{options.port}/ -> {options.upstream}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
