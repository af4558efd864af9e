"""``passgate serve``'s HTTP protocol: one write per response, nothing held back.

The transport wrapper is checked against a recording transport in a real event loop; the
protocol itself against a ``passgate serve`` process over a raw socket (keep-alive,
pipelined requests, a closing connection).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from passgate.web.protocol import OneWritePerTurn
from tests.processes import free_port, server_env
from tests.test_serve import Server

pytestmark = pytest.mark.anyio


class RecordingTransport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.closing = False

    def write(self, data: bytes) -> None:
        assert not self.closing, "written after close"
        self.calls.append(("write", data))

    def close(self) -> None:
        self.closing = True
        self.calls.append(("close", b""))

    def abort(self) -> None:
        self.closing = True
        self.calls.append(("abort", b""))

    def write_eof(self) -> None:
        self.calls.append(("eof", b""))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 1234) if name == "peername" else default


def wrap(transport: RecordingTransport) -> OneWritePerTurn:
    return OneWritePerTurn(transport, asyncio.get_running_loop())  # type: ignore[arg-type]


async def test_writes_of_one_turn_leave_as_one_write_at_its_end() -> None:
    transport = RecordingTransport()
    wrapped = wrap(transport)
    wrapped.write(b"HTTP/1.1 200 OK\r\n\r\n")
    wrapped.write(bytearray(b"body"))
    assert transport.calls == []
    assert wrapped.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\n\r\nbody")
    await asyncio.sleep(0)
    assert transport.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody")]
    wrapped.write(b"next")
    await asyncio.sleep(0)
    assert transport.calls[-1] == ("write", b"next")
    assert len(transport.calls) == 2


async def test_closing_writes_what_is_held_first() -> None:
    transport = RecordingTransport()
    wrapped = wrap(transport)
    wrapped.writelines([b"a", b"", memoryview(b"b")])
    wrapped.close()
    assert transport.calls == [("write", b"ab"), ("close", b"")]
    await asyncio.sleep(0)  # the end-of-turn flush finds nothing left
    assert transport.calls == [("write", b"ab"), ("close", b"")]


async def test_write_eof_writes_what_is_held_first() -> None:
    transport = RecordingTransport()
    wrapped = wrap(transport)
    wrapped.write(b"last")
    wrapped.write_eof()
    assert transport.calls == [("write", b"last"), ("eof", b"")]


async def test_abort_drops_what_is_held_and_nothing_is_written_after() -> None:
    transport = RecordingTransport()
    wrapped = wrap(transport)
    wrapped.write(b"never sent")
    wrapped.abort()
    await asyncio.sleep(0)
    assert transport.calls == [("abort", b"")]


async def test_a_transport_closed_underneath_gets_no_write() -> None:
    transport = RecordingTransport()
    wrapped = wrap(transport)
    wrapped.write(b"too late")
    transport.closing = True  # the peer went away during the turn
    await asyncio.sleep(0)
    assert transport.calls == []
    assert wrapped.is_closing()


async def test_everything_else_reaches_the_real_transport() -> None:
    wrapped = wrap(RecordingTransport())
    assert wrapped.get_extra_info("peername") == ("127.0.0.1", 1234)


# -- a real server -------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    server = Server(server_env(tmp_path / "data"), tmp_path, "serve", "--port", str(port))
    try:
        server.wait_until_healthy(f"http://127.0.0.1:{port}/")
        yield port
    finally:
        server.kill()


REQUEST = (
    b"POST /oauth/token HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 18\r\n\r\n"
    b"grant_type=urn:nop"
)


def read_response(sock: socket.socket, buffer: bytearray) -> tuple[bytes, bytes]:
    """One response (status line and headers, body) from ``sock``; the rest stays in
    ``buffer``."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    length = int(
        next(
            line.split(b":", 1)[1]
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
    )
    while len(rest) < length:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        rest += chunk
    buffer[:] = rest[length:]
    return head, rest[:length]


@pytest.mark.slow
def test_keep_alive_and_pipelined_requests_get_whole_answers(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        buffer = bytearray()
        sock.sendall(REQUEST)
        head, body = read_response(sock, buffer)
        assert head.startswith(b"HTTP/1.1 400 ")
        assert b'"unsupported_grant_type"' in body
        sock.sendall(REQUEST * 3)  # pipelined: answered in order, each whole
        for _ in range(3):
            head, body = read_response(sock, buffer)
            assert head.startswith(b"HTTP/1.1 400 ")
            assert body.startswith(b"{")
            assert body.endswith(b"}")
        assert buffer == b""


@pytest.mark.slow
def test_a_response_that_closes_the_connection_is_written_before_the_close(served: int) -> None:
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        sock.sendall(REQUEST.replace(b"Host: x\r\n", b"Host: x\r\nConnection: close\r\n"))
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 ")
    assert b"connection: close" in head.lower()
    assert b'"unsupported_grant_type"' in body


@pytest.mark.slow
def test_each_answer_arrives_in_one_piece(served: int) -> None:
    """Status line, headers and body leave in one write: the client's first read, made
    before the answer exists, returns all of it (two writes would let it see the headers
    alone)."""
    with socket.create_connection(("127.0.0.1", served), timeout=10) as sock:
        for _ in range(20):
            sock.sendall(REQUEST)
            first = sock.recv(65536)
            head, _, body = first.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 400 "), first
            assert body.startswith(b"{"), first
            assert body.endswith(b"}"), first
