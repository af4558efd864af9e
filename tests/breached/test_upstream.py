"""The upstream range client: k-anonymity, padding, caching, timeouts, policies."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from passgate.breached.checker import BreachedChecker
from passgate.breached.errors import BreachedUpstreamUnavailable
from passgate.breached.importer import import_corpus
from passgate.breached.upstream import RangeClient, parse_range_body
from passgate.errors import ServiceUnavailable
from passgate.testing import ManualClock
from passgate.web.errors import error_status
from tests.breached.helpers import (
    free_port,
    hash_lines,
    range_server,
    sha1_digest,
    sha1_hex,
    write_lines,
)

CORPUS = {"password": 3_861_493, "hunter2": 17, "letmein": 2}


class Recorder:
    """A fake upstream answering from a dict; records requests, can be switched off."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []
        self.up = True

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.up:
            raise httpx.ConnectError("connection refused", request=request)
        prefix = request.url.path.rsplit("/", 1)[1]
        return httpx.Response(200, text=self.answers.get(prefix, ""))


def _fake(passwords: dict[str, int], padding: list[str] | None = None) -> Recorder:
    answers: dict[str, str] = {}
    for password, count in passwords.items():
        digest = sha1_hex(password)
        answers[digest[:5]] = answers.get(digest[:5], "") + f"{digest[5:]}:{count}\r\n"
    for line in padding or []:
        answers[line[:5]] = answers.get(line[:5], "") + f"{line[5:]}\r\n"
    return Recorder(answers)


def _client(recorder: Recorder, clock: ManualClock | None = None, **options: object) -> RangeClient:
    return RangeClient(
        "https://upstream.test/range",
        transport=httpx.MockTransport(recorder),
        clock=clock or ManualClock(1000.0),
        **options,  # type: ignore[arg-type]
    )


def test_only_the_prefix_leaves_and_padding_is_asked_for() -> None:
    recorder = _fake({"password": 5})
    with _client(recorder) as client:
        assert client.count(sha1_digest("password")) == 5
    (request,) = recorder.requests
    assert request.url.path == f"/range/{sha1_hex('password')[:5]}"
    assert request.url.query == b""
    assert request.headers["add-padding"] == "true"
    assert request.method == "GET"


def test_count_zero_padding_lines_are_not_breaches() -> None:
    digest = sha1_hex("password")
    recorder = _fake({}, padding=[f"{digest}:0"])
    with _client(recorder) as client:
        assert client.count(sha1_digest("password")) is None


def test_answers_are_cached_per_prefix_until_the_ttl() -> None:
    clock = ManualClock(1000.0)
    recorder = _fake({"password": 5})
    with _client(recorder, clock, cache_ttl=60) as client:
        assert client.count(sha1_digest("password")) == 5
        recorder.up = False
        clock.advance(59)
        assert client.count(sha1_digest("password")) == 5
        twin = bytes.fromhex(sha1_hex("password")[:5] + "0" * 35)
        assert client.count(twin) is None  # same prefix: answered from the cache
        assert len(recorder.requests) == 1
        clock.advance(2)
        assert client.count(sha1_digest("password")) is None  # expired; upstream down
        assert len(recorder.requests) == 2


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    recorder = _fake(CORPUS)
    with _client(recorder, cache_size=2) as client:
        for password in ["password", "hunter2", "password", "letmein"]:
            client.count(sha1_digest(password))
        assert len(client.cache) == 2
        assert len(recorder.requests) == 3
        client.count(sha1_digest("password"))
        assert len(recorder.requests) == 3  # kept: recently used
        client.count(sha1_digest("hunter2"))
        assert len(recorder.requests) == 4  # evicted


def test_unavailable_policies() -> None:
    recorder = _fake(CORPUS)
    recorder.up = False
    with _client(recorder, on_unavailable="allow") as client:
        assert client.count(sha1_digest("password")) is None
    with (
        _client(recorder, on_unavailable="refuse") as client,
        pytest.raises(BreachedUpstreamUnavailable) as caught,
    ):
        client.count(sha1_digest("password"))
    assert isinstance(caught.value, ServiceUnavailable)
    assert error_status(caught.value) == 503


def test_a_dead_upstream_is_not_retried_on_every_login() -> None:
    clock = ManualClock(1000.0)
    recorder = _fake(CORPUS)
    recorder.up = False
    with _client(recorder, clock, retry_after=10, on_unavailable="refuse") as client:
        for password in ["password", "hunter2", "letmein"]:
            with pytest.raises(BreachedUpstreamUnavailable):
                client.count(sha1_digest(password))
        assert len(recorder.requests) == 1
        recorder.up = True
        clock.advance(11)
        assert client.count(sha1_digest("hunter2")) == 17


def test_bad_answers_count_as_unavailable() -> None:
    with (
        RangeClient(
            "https://upstream.test/range/",
            transport=httpx.MockTransport(lambda request: httpx.Response(500)),
            on_unavailable="refuse",
        ) as client,
        pytest.raises(BreachedUpstreamUnavailable, match="status 500"),
    ):
        client.count(sha1_digest("x"))
    with pytest.raises(ValueError, match="line 2"):
        parse_range_body("0018A45C4D1DEF81644B54AB7F969B88D65:1\r\nnot a line\r\n")


@pytest.fixture(scope="module")
def upstream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    directory = tmp_path_factory.mktemp("upstream")
    source = write_lines(directory / "h.txt", hash_lines(CORPUS))
    import_corpus([source], directory / "upstream.idx", with_range=True)
    with range_server(directory / "upstream.idx") as (url, _):
        yield url


@pytest.mark.slow
def test_checker_asks_a_second_process_serving_the_range_endpoint(upstream_url: str) -> None:
    with RangeClient(upstream_url, timeout=5) as upstream:
        checker = BreachedChecker(None, upstream=upstream)
        assert checker.check("password").count == 3_861_493
        assert checker.check("password").source == "upstream"
        assert checker.is_breached("hunter2")
        assert not checker.is_breached("a password nobody ever leaked 8f3k2")
        assert not BreachedChecker(None, upstream=upstream, min_count=3).is_breached("letmein")


@pytest.mark.slow
def test_cached_answers_survive_the_upstream_going_away(tmp_path: Path) -> None:
    source = write_lines(tmp_path / "h.txt", hash_lines(CORPUS))
    import_corpus([source], tmp_path / "u.idx", with_range=True)
    clock = ManualClock(0.0)
    with range_server(tmp_path / "u.idx") as (url, process):
        client = RangeClient(url, timeout=5, clock=clock, on_unavailable="refuse")
        checker = BreachedChecker(None, upstream=client)
        assert checker.is_breached("password")
        process.kill()
        process.wait()
    try:
        assert checker.is_breached("password")  # from the cache
        with pytest.raises(BreachedUpstreamUnavailable):
            checker.is_breached("hunter2")  # not cached: refused
        client.on_unavailable = "allow"
        clock.advance(60)
        assert not checker.is_breached("hunter2")  # let through
    finally:
        client.close()


@pytest.mark.slow
def test_unreachable_upstream_follows_the_policy() -> None:
    url = f"http://127.0.0.1:{free_port()}/range/"  # nothing listens there
    with (
        RangeClient(url, on_unavailable="refuse") as client,
        pytest.raises(BreachedUpstreamUnavailable, match="ConnectError"),
    ):
        BreachedChecker(None, upstream=client).is_breached("password")
    with RangeClient(url, on_unavailable="allow") as client:
        assert not BreachedChecker(None, upstream=client).is_breached("password")


@pytest.mark.slow
def test_a_silent_upstream_times_out() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # accepts connections, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/range/"
        with RangeClient(url, timeout=0.3, on_unavailable="refuse") as client:
            started = time.monotonic()
            with pytest.raises(BreachedUpstreamUnavailable, match="Timeout"):
                client.count(sha1_digest("password"))
            assert time.monotonic() - started < 3
