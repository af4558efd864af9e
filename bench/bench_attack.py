"""Attack floods against ``passgate serve`` on this machine (issue #3 targets).

    python bench/bench_attack.py [--duration 10]

All in one run, on the same machine:
- the successful-login rate (many users, forwarded end-user IPs);
- refused requests per second for a blocked (identifier, IP) pair and for a throttled IP,
  against the successful-login rate (target >= 50x) and against a bare Starlette app that
  answers the same POST with a fixed 429 under the same uvicorn settings and HTTP protocol
  (target >= 25%);
- the successful-login rate while a paced flood of 1,000 refused requests per second (wrk
  with a per-request delay) hits the server, against the rate without it (target >= 80%).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import httpx

from _harness import WrkResult, lua_post, serve, wrk
from setup_tenant import AUDIENCE, PASSWORD, Tenant, build

BLOCKED_IP = "198.51.100.7"
THROTTLED_IP = "198.51.100.8"
FORM = {"content-type": "application/x-www-form-urlencoded"}
FLOOD_CONNECTIONS = 32


def _login(tenant: Tenant, user: str, password: str) -> str:
    return urlencode(
        {
            "grant_type": "password",
            "username": user,
            "password": password,
            "client_id": tenant.client_id,
            "client_secret": tenant.client_secret,
            "audience": AUDIENCE,
        }
    )


def _post(url: str, body: str, ip: str) -> httpx.Response:
    return httpx.post(
        url + "/oauth/token", content=body, headers={**FORM, "auth0-forwarded-for": ip}
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--flood-rate", type=float, default=1000.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    duration = args.duration

    with tempfile.TemporaryDirectory() as tmp:
        tenant = build(Path(tmp), users=300)
        logins = [_login(tenant, user, PASSWORD) for user in tenant.users]
        legit_script = lua_post("/oauth/token", logins, forwarded_random=True)
        wrong_pair = _login(tenant, tenant.users[0], "wrong password")
        with serve({"PASSGATE_DATA_DIR": tmp}, workers=args.workers) as server:
            wrk(server.url, legit_script, connections=8, duration=10)  # warm-up, not counted
            alone = [wrk(server.url, legit_script, connections=8, duration=duration)]

            for _ in range(10):
                assert _post(server.url, wrong_pair, BLOCKED_IP).status_code == 403
            assert _post(server.url, wrong_pair, BLOCKED_IP).status_code == 429
            blocked = wrk(
                server.url,
                lua_post("/oauth/token", [wrong_pair], {"auth0-forwarded-for": BLOCKED_IP}),
                connections=64,
                duration=duration,
            )

            wrong_many = [_login(tenant, user, "wrong") for user in tenant.users[1:101]]
            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(lambda b: _post(server.url, b, THROTTLED_IP), wrong_many))
            assert all(r.status_code == 403 for r in codes), {r.status_code for r in codes}
            tripped = _post(server.url, _login(tenant, tenant.users[200], "x"), THROTTLED_IP)
            assert tripped.status_code == 429, tripped.text
            throttled = wrk(
                server.url,
                lua_post(
                    "/oauth/token",
                    [_login(tenant, u, "x") for u in tenant.users[200:]],
                    {"auth0-forwarded-for": THROTTLED_IP},
                ),
                connections=64,
                duration=duration,
            )

            # The paced flood: wrk with a delay per request (a C client: the load
            # generator should not eat the CPU the server needs), run beside the logins.
            def paced_script(delay_ms: float) -> str:
                headers = {"auth0-forwarded-for": BLOCKED_IP}
                return lua_post("/oauth/token", [wrong_pair], headers, delay_ms=delay_ms)

            def flood_beside_logins(script: str, seconds: float) -> tuple[WrkResult, WrkResult]:
                """(the flood, the logins) of one run: the flood starts a second before the
                logins and ends a second after them."""
                with ThreadPoolExecutor(1) as background:
                    flood_run = background.submit(
                        wrk, server.url, script, connections=FLOOD_CONNECTIONS, duration=seconds + 2
                    )
                    time.sleep(1)
                    logins = wrk(server.url, legit_script, connections=8, duration=seconds)
                    return flood_run.result(), logins

            # Calibrate the delay: each request takes its delay plus a round trip and wrk's
            # timer slack, both longer while logins run. A rehearsal run (not counted) under
            # the measured conditions gives them; the delay is then aimed a little above
            # the rate, so that the flood is not lighter than asked (each round prints its
            # rate).
            per_request_ms = FLOOD_CONNECTIONS * 1000 / (1.03 * args.flood_rate)
            rehearsal, _ = flood_beside_logins(paced_script(per_request_ms), 5)
            slack_ms = FLOOD_CONNECTIONS * 1000 / rehearsal.requests_per_s - per_request_ms
            paced = paced_script(max(0.0, per_request_ms - max(0.0, slack_ms)))
            # The machine is shared and noisy: runs with and without the flood alternate,
            # each flooded run compared with the mean of the runs right before and after.
            during = []
            floods = []
            for _ in range(args.rounds):
                flood, logins = flood_beside_logins(paced, duration)
                floods.append(flood)
                during.append(logins)
                alone.append(wrk(server.url, legit_script, connections=8, duration=duration))

        bench_dir = Path(__file__).resolve().parent
        bare_app = str(bench_dir / "bare_app.py")
        with serve({"PYTHONPATH": str(bench_dir)}, workers=args.workers, app=bare_app) as bare:
            bare_result = wrk(
                bare.url,
                lua_post("/oauth/token", [wrong_pair], {"auth0-forwarded-for": BLOCKED_IP}),
                connections=64,
                duration=duration,
            )

    def ok(result: object) -> float:
        r = result  # WrkResult
        return r.requests_per_s * (1 - r.non_2xx / max(r.requests, 1))  # type: ignore[attr-defined]

    login_rate = sum(ok(result) for result in alone) / len(alone)
    print(f"duration per run: {duration}s, server workers: {args.workers}")
    print(
        f"successful logins alone: {login_rate:.1f}/s (mean of "
        + ", ".join(f"{ok(result):.1f}" for result in alone)
        + ")"
    )
    for name, result in (("blocked pair", blocked), ("throttled IP", throttled)):
        refused_share = result.non_2xx / max(result.requests, 1)
        print(
            f"{name} flood: {result.requests_per_s:.0f} refused/s ({100 * refused_share:.1f}% "
            f"non-2xx) = {result.requests_per_s / login_rate:.0f}x the login rate (target >= 50x)"
            f", {100 * result.requests_per_s / bare_result.requests_per_s:.0f}% of bare Starlette"
            " (target >= 25%)"
        )
    print(f"bare Starlette fixed 429: {bare_result.requests_per_s:.0f}/s")
    flooded_sum = quiet_sum = 0.0
    for number, result in enumerate(during):
        quiet = (ok(alone[number]) + ok(alone[number + 1])) / 2
        flooded_sum += ok(result)
        quiet_sum += quiet
        flood = floods[number]
        print(
            f"  round {number + 1}: {ok(result):.1f} logins/s during a flood of "
            f"{flood.requests_per_s:.0f} req/s ({flood.non_2xx} of {flood.requests} refused), "
            f"{quiet:.1f}/s without it (runs before and after) = {100 * ok(result) / quiet:.0f}%"
        )
    print(
        f"successful logins during the flood: {flooded_sum / len(during):.1f}/s = "
        f"{100 * flooded_sum / quiet_sum:.0f}% of the rate without it over all rounds "
        "(target >= 80%)"
    )


if __name__ == "__main__":
    main()
