"""Where a login's time goes, thread by thread, under the token benchmark's load.

    python bench/login_threads.py [--seconds 15] [--floor]

Serves passgate (or, with ``--floor``, ``bench/bare_app.py``'s floor login) on one worker,
loads it with wrk like ``bench_token.py`` does, and prints for each busy thread of the
server its share of the run spent running, waiting for a core and sleeping (blocked on
the GIL, a lock or a queue), read from ``/proc/<pid>/task/<tid>/schedstat``, with its CPU
and context switches per login; then the machine's idle and steal time from
``/proc/stat``. The hashing threads are the two that run most: what they spend not
running is hashing capacity lost to the other threads (waiting) or to nothing (sleeping
while a core idles). Compare a run with ``--floor`` taken right after it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _harness import lua_post, serve, wrk
from setup_tenant import build

#: Fields of /proc/stat's cpu line, in order.
_CPU_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _threads(pid: int) -> dict[str, tuple[float, float, int]]:
    """Running and waiting seconds and context switches, by thread id."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            running, waiting, _ = (int(v) for v in (task / "schedstat").read_text().split())
            status = dict(
                line.split(":\t", 1)
                for line in (task / "status").read_text().splitlines()
                if ":\t" in line
            )
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        switches = int(status["voluntary_ctxt_switches"]) + int(
            status["nonvoluntary_ctxt_switches"]
        )
        found[task.name] = (running / 1e9, waiting / 1e9, switches)
    return found


def _cpu_times() -> list[int]:
    with open("/proc/stat") as stat:
        return [int(value) for value in stat.readline().split()[1 : 1 + len(_CPU_FIELDS)]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--floor", action="store_true")
    args = parser.parse_args()
    bench_dir = Path(__file__).resolve().parent
    with tempfile.TemporaryDirectory() as tmp:
        tenant = build(Path(tmp), users=200)
        if args.floor:
            bodies = tenant.floor_bodies()
            path, env, app = "/floor/token", {"PYTHONPATH": str(bench_dir)}, "bare_app.py"
        else:
            bodies = tenant.login_bodies()
            path, env, app = "/oauth/token", {"PASSGATE_DATA_DIR": tmp}, ""
        script = lua_post(path, bodies, forwarded_random=True)
        with serve(env, workers=1, app=str(bench_dir / app) if app else None) as server:
            wrk(server.url, script, connections=8, duration=3)  # warm-up
            pid = server.process.pid
            before, cpu_before, started = _threads(pid), _cpu_times(), time.perf_counter()
            result = wrk(server.url, script, connections=8, duration=args.seconds)
            after, cpu_after = _threads(pid), _cpu_times()
            elapsed = time.perf_counter() - started
    logins = max(result.requests - result.non_2xx, 1)
    print(
        f"{'floor' if args.floor else 'passgate'}: {logins / elapsed:.1f} logins/s "
        f"({result.non_2xx} non-2xx of {result.requests}) over {elapsed:.1f}s"
    )
    total_cpu = 0.0
    for tid, (running, waiting, switches) in sorted(after.items()):
        run0, wait0, switches0 = before.get(tid, (0.0, 0.0, 0))
        ran, waited = running - run0, waiting - wait0
        slept = elapsed - ran - waited
        total_cpu += ran
        if ran / elapsed < 0.005:
            continue
        print(
            f"  thread {tid}: running {100 * ran / elapsed:5.1f}%, waiting for a core "
            f"{100 * waited / elapsed:4.1f}%, sleeping {100 * slept / elapsed:5.1f}%"
            f"; per login {1000 * ran / logins:6.2f} ms CPU, "
            f"{(switches - switches0) / logins:4.1f} context switches"
        )
    print(f"  all threads: {1000 * total_cpu / logins:.2f} ms CPU per login")
    spent = [b - a for a, b in zip(cpu_before, cpu_after, strict=True)]
    shares = ", ".join(
        f"{name} {100 * value / sum(spent):.1f}%"
        for name, value in zip(_CPU_FIELDS, spent, strict=True)
    )
    print(f"machine: {shares}")


if __name__ == "__main__":
    main()
