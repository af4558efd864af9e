"""What the Prometheus metrics cost: two servers, metrics on and off, in one run.

    python bench/bench_metrics.py [--workers 2] [--rounds 8] [--round-seconds 5]

Both servers share one tenant (SQLite, many users, a trusted client; end users' IPs
forwarded). Rounds alternate which server goes first; each run is wrk with 8 connections
for ``--round-seconds``. Printed per server, as medians over the rounds:

- successful password logins per second, and the server's CPU milliseconds per login
  (its processes' user + system time over the run, divided by the logins);
- the same for a flood of refusals answered before any hashing (a wrong client secret,
  64 connections): the cheapest request passgate answers, where a fixed per-request cost
  shows most;

and the cost of metrics: (off - on) / off for the rates, (on - off) / off for CPU per
request (target < 3 % for logins). Log level is ``warning`` on both (no access lines): the
access log is its own cost, the same with or without metrics.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlencode

import httpx

from _harness import Server, lua_post, serve, server_cpu_seconds, wrk
from setup_tenant import PASSWORD, build


class Run(NamedTuple):
    ok_per_s: float
    cpu_ms: float


def run(
    server: Server, bodies: list[str], *, connections: int, seconds: float, successes: bool
) -> Run:
    """One wrk run; the rate and CPU per request of the successes (or of every answer)."""
    used = server_cpu_seconds(server.process.pid)
    result = wrk(
        server.url,
        lua_post("/oauth/token", bodies, forwarded_random=True),
        connections=connections,
        duration=seconds,
    )
    cpu = server_cpu_seconds(server.process.pid) - used
    counted = max(result.requests - result.non_2xx if successes else result.requests, 1)
    return Run(result.requests_per_s * counted / max(result.requests, 1), 1000 * cpu / counted)


def cost(off: float, on: float, *, higher_is_better: bool) -> str:
    change = (off - on) / off if higher_is_better else (on - off) / off
    return f"{100 * change:+.2f} %"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--round-seconds", type=float, default=5.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tenant = build(Path(tmp), users=args.users)
        logins = tenant.login_bodies()
        refused = [
            urlencode(
                {
                    "grant_type": "password",
                    "username": tenant.users[0],
                    "password": PASSWORD,
                    "client_id": tenant.client_id,
                    "client_secret": "not-the-secret",
                }
            )
        ]
        base = {"PASSGATE_DATA_DIR": tmp}
        with (
            serve({**base, "PASSGATE_METRICS": "off"}, workers=args.workers) as off,
            serve({**base, "PASSGATE_METRICS": "on"}, workers=args.workers) as on,
        ):
            servers = {"off": off, "on": on}
            for server in servers.values():  # warm-up, not counted
                run(server, logins, connections=8, seconds=2, successes=True)
            results: dict[tuple[str, str], list[Run]] = {}
            for number in range(args.rounds):
                order = ["off", "on"] if number % 2 == 0 else ["on", "off"]
                for kind, bodies, connections in (("login", logins, 8), ("refused", refused, 64)):
                    for name in order:
                        measured = run(
                            servers[name],
                            bodies,
                            connections=connections,
                            seconds=args.round_seconds,
                            successes=kind == "login",
                        )
                        results.setdefault((kind, name), []).append(measured)
                        time.sleep(0.5)
            scraped = httpx.get(on.url + "/metrics", timeout=10).text
            counted = sum(
                float(line.rsplit(" ", 1)[1])
                for line in scraped.splitlines()
                if line.startswith("passgate_events_total{") and 'type="sepft"' in line
            )

    print(f"workers={args.workers} rounds={args.rounds} round={args.round_seconds}s")
    for kind, label in (("login", "successful logins"), ("refused", "refused (wrong secret)")):
        rate = {n: statistics.median(r.ok_per_s for r in results[(kind, n)]) for n in ("off", "on")}
        cpu = {n: statistics.median(r.cpu_ms for r in results[(kind, n)]) for n in ("off", "on")}
        print(f"{label}:")
        for name in ("off", "on"):
            print(f"  metrics {name:>3}: {rate[name]:9.1f} /s   {cpu[name]:7.3f} ms CPU each")
        print(
            f"  cost of metrics: throughput {cost(rate['off'], rate['on'], higher_is_better=True)}"
            f", CPU per request {cost(cpu['off'], cpu['on'], higher_is_better=False)}"
        )
    print(f"(the metrics server counted {counted:.0f} sepft events across its workers)")


if __name__ == "__main__":
    main()
