"""Benchmark of ``passgate users import``: users per second and peak memory.

Writes a file of N pre-hashed users (Auth0's bulk-import JSON array, or JSON lines with
``--lines``) in a mix of the formats people bring: bcrypt (``$2b$``/``$2y$``), Django
PBKDF2, Werkzeug PBKDF2 and Auth0's salted SHA-256 ``custom_password_hash``, some with a
username and metadata. Then runs the real command (``passgate users import FILE --json``)
in a child process against a fresh database and prints its wall time, users per second,
CPU seconds (the child's user + system: the machine may be busy, this is what the import
itself cost) and peak RSS (the command's processes together: it reads a large file in a
child process of its own). Targets: >= 20,000 users/s, <= 500 MiB.

    python bench/bench_user_import.py                          # 1,000,000 users, SQLite
    python bench/bench_user_import.py --users 100000 --lines
    python bench/bench_user_import.py --postgres postgresql://postgres@127.0.0.1:5432/test

With ``--postgres`` the import goes to a fresh schema of that database (dropped after);
the database server's own CPU is not in the child's CPU seconds.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
PASSGATE = str(Path(sys.executable).with_name("passgate"))
_B64 = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def _bcrypt(prefix: str) -> str:
    tail = "".join(secrets.choice(_B64) for _ in range(53))
    return f"{prefix}10${tail}"


def _user(i: int) -> dict[str, object]:
    user: dict[str, object] = {"email": f"user{i}@bench.example", "email_verified": i % 3 == 0}
    kind = i % 4
    if kind == 0:
        user["password_hash"] = _bcrypt("$2b$" if i % 8 else "$2y$")
    elif kind == 1:
        digest = base64.b64encode(os.urandom(32)).decode()
        user["password_hash"] = f"pbkdf2_sha256$870000${secrets.token_hex(8)}${digest}"
    elif kind == 2:
        user["password_hash"] = (
            f"pbkdf2:sha256:600000${secrets.token_hex(8)}${os.urandom(32).hex()}"
        )
    else:
        user["custom_password_hash"] = {
            "algorithm": "sha256",
            "hash": {"value": os.urandom(32).hex(), "encoding": "hex"},
            "salt": {"value": secrets.token_hex(8), "position": "prefix"},
        }
    if i % 2:
        user["username"] = f"user_{i}"
        user["given_name"] = "Ada"
        user["user_metadata"] = {"plan": "gold", "seats": i % 50}
    return user


def write_file(path: Path, count: int, *, lines: bool) -> None:
    with path.open("w", encoding="utf-8") as out:
        if not lines:
            out.write("[\n")
        for i in range(count):
            text = json.dumps(_user(i), separators=(",", ":"))
            if lines:
                out.write(text + "\n")
            else:
                out.write(text + (",\n" if i + 1 < count else "\n"))
        if not lines:
            out.write("]\n")


def _postgres_schema(base: str) -> tuple[str, str]:
    import sqlalchemy as sa

    schema = f"bench_import_{os.getpid()}"
    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as db:
        db.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}options={quote(f'-csearch_path={schema}')}", schema


def _drop_schema(base: str, schema: str) -> None:
    import sqlalchemy as sa

    engine = sa.create_engine(base.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as db:
        db.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


class _TreeRss(threading.Thread):
    """Samples the resident memory of a process and all its descendants (Linux /proc);
    ``peak_kib`` is the largest sum seen."""

    EVERY_S = 0.05

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self._pid = pid
        self._done = threading.Event()
        self.peak_kib = 0

    def stop(self) -> None:
        self._done.set()
        self.join()

    def run(self) -> None:
        while not self._done.wait(self.EVERY_S):
            self.peak_kib = max(self.peak_kib, sum(_rss_kib(pid) for pid in _tree(self._pid)))


def _tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                todo += [int(child) for child in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(users: int, lines: bool, postgres: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="passgate-bench-import-") as tmp:
        folder = Path(tmp)
        path = folder / ("users.jsonl" if lines else "users.json")
        started = time.perf_counter()
        write_file(path, users, lines=lines)
        size = path.stat().st_size
        print(
            f"file: {users:,} users, {size / 2**20:,.1f} MiB, written in "
            f"{time.perf_counter() - started:,.1f} s"
        )
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("PASSGATE_")},
            "PASSGATE_DATA_DIR": str(folder / "data"),
            "PASSGATE_KEY_ENCRYPTION_KEY": base64.urlsafe_b64encode(os.urandom(32))
            .decode()
            .rstrip("="),
        }
        schema = None
        if postgres:
            env["PASSGATE_DATABASE_URL"], schema = _postgres_schema(postgres)
        try:
            subprocess.run([PASSGATE, "migrate"], env=env, check=True, capture_output=True)
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            process = subprocess.Popen(
                [PASSGATE, "users", "import", str(path), "--json"],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            sampler = _TreeRss(process.pid)
            sampler.start()
            stdout, stderr = process.communicate()
            wall = time.perf_counter() - started
            sampler.stop()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
        finally:
            if postgres and schema:
                _drop_schema(postgres, schema)
        if done.returncode not in (0, 1):
            sys.exit(f"the import failed ({done.returncode}): {done.stderr[-2000:]}")
        summary = json.loads(done.stdout)["summary"]
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        largest_mib = after.ru_maxrss / 1024  # KiB on Linux: the largest child so far
        peak_mib = max(sampler.peak_kib / 1024, largest_mib)
        backend = "PostgreSQL" if postgres else "SQLite"
        print(f"import ({backend}, {'JSON lines' if lines else 'JSON array'}): {summary}")
        print(f"  wall {wall:,.1f} s   {summary['inserted'] / wall:,.0f} users/s (wall)")
        print(f"  cpu  {cpu:,.1f} s   {summary['inserted'] / cpu:,.0f} users/s of CPU time")
        print(
            f"  peak RSS {peak_mib:,.0f} MiB, the command's processes together (sampled every "
            f"{_TreeRss.EVERY_S * 1000:.0f} ms; the largest one alone: {largest_mib:,.0f} MiB)"
        )
        print(
            f"  targets: >= 20,000 users/s, <= 500 MiB -> "
            f"{'met' if summary['inserted'] / wall >= 20_000 and peak_mib <= 500 else 'NOT met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--lines", action="store_true", help="JSON lines instead of an array")
    parser.add_argument("--postgres", default=None, help="a PostgreSQL URL (a fresh schema)")
    args = parser.parse_args()
    run(args.users, args.lines, args.postgres)


if __name__ == "__main__":
    main()
