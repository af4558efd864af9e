"""A paced HTTP/1.1 load generator: ``rate`` POSTs per second over keep-alive connections.

wrk sends as fast as it can; this sends at a fixed rate, for "legitimate logins during a
flood of N refused requests per second". Run as a separate process.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit


async def _connection(
    host: str, port: int, request: bytes, interval: float, deadline: float, counts: dict[int, int]
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    next_at = time.monotonic()
    try:
        while time.monotonic() < deadline:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            counts[status] = counts.get(status, 0) + 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
    finally:
        writer.close()


async def _flood(
    url: str, body: bytes, headers: dict[str, str], rate: float, seconds: float, connections: int
) -> dict[int, int]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"POST /oauth/token HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "Content-Type: application/x-www-form-urlencoded\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    head += f"Content-Length: {len(body)}\r\n\r\n"
    request = head.encode() + body
    counts: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    interval = connections / rate
    await asyncio.gather(
        *(_connection(host, port, request, interval, deadline, counts) for _ in range(connections))
    )
    return counts


def flood(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    rate: float,
    seconds: float,
    connections: int = 25,
) -> dict[int, int]:
    """Send ``rate`` requests per second for ``seconds``; return the count per status."""
    return asyncio.run(_flood(url, body, headers, rate, seconds, connections))
