"""One command for the demo: set up a passgate tenant in a data directory (first run
only), then run ``passgate serve``, the shop and its reverse proxy together until Ctrl-C.

    PYTHONPATH=examples python -m shop.demo [--data-dir shop-demo]

Your browser connects from 127.0.0.1, which the shop rightly refuses to forward (a
loopback address is the sign of a proxy it forgot to trust), so the demo proxy reports
every browser at ``--client-ip`` (a documentation address) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

API = "https://shop.example/api"


def _passgate(env: dict[str, str], *args: str) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "passgate", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found: dict[str, str] = json.loads(done.stdout)
    return found


def _wait(url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (a loopback http URL)
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"demo: {url} did not answer within 60 seconds")


def _stop(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    signal.signal(signal.SIGTERM, _stop)  # stop the three processes on `kill` too
    parser = argparse.ArgumentParser(description="Run passgate, the shop and its proxy.")
    parser.add_argument("--data-dir", type=Path, default=Path("shop-demo"))
    parser.add_argument("--passgate-port", type=int, default=8000)
    parser.add_argument("--app-port", type=int, default=5000)
    parser.add_argument("--proxy-port", type=int, default=8080)
    parser.add_argument("--client-ip", default="203.0.113.10")
    options = parser.parse_args(argv)
    data = options.data_dir.resolve()
    passgate = f"http://127.0.0.1:{options.passgate_port}/"
    env = {key: value for key, value in os.environ.items() if not key.startswith("PASSGATE_")}
    env.update(PASSGATE_DATA_DIR=str(data), PASSGATE_PUBLIC_URL=passgate.rstrip("/"))
    settings = data / "shop-client.json"
    if not settings.exists():
        data.mkdir(parents=True, exist_ok=True)
        _passgate(env, "apis", "create", "--identifier", API, "--allow-offline-access")
        client = _passgate(
            env,
            "clients",
            "create",
            "--name",
            "Example shop",
            "--grant",
            "password",
            "--grant",
            "refresh_token",
            "--trust-ip-header",
        )
        settings.write_text(
            json.dumps({key: client[key] for key in ("client_id", "client_secret")})
        )
        settings.chmod(0o600)
    client = json.loads(settings.read_text())
    shop_env = dict(os.environ)
    shop_env.update(
        PYTHONPATH=str(Path(__file__).resolve().parents[1]),
        SHOP_PASSGATE_URL=passgate,
        SHOP_CLIENT_ID=client["client_id"],
        SHOP_CLIENT_SECRET=client["client_secret"],
        SHOP_TRUSTED_PROXIES="127.0.0.1/32",
        SHOP_AUDIENCE=API,
    )
    app = f"http://127.0.0.1:{options.app_port}"
    commands = [
        ([sys.executable, "-m", "passgate", "serve", "--port", str(options.passgate_port)], env),
        ([sys.executable, "-m", "shop.app", "--port", str(options.app_port)], shop_env),
        (
            [
                sys.executable,
                "-m",
                "shop.proxy",
                "--port",
                str(options.proxy_port),
                "--upstream",
                app,
                "--client-ip",
                options.client_ip,
            ],
            shop_env,
        ),
    ]
    processes = []
    try:
        for command, process_env in commands:
            processes.append(subprocess.Popen(command, env=process_env))
        _wait(passgate + "health")
        _wait(app + "/")
        _wait(f"http://127.0.0.1:{options.proxy_port}/")
        print(
            f"\ndemo: open http://127.0.0.1:{options.proxy_port}/ (you arrive as "
            f"{options.client_ip}); emails land in {data / 'outbox'}; "
            f"PASSGATE_DATA_DIR={data} passgate logs shows each login's ip and client_ip. "
            "Ctrl-C stops.\n",
            flush=True,
        )
        while all(process.poll() is None for process in processes):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=15)


if __name__ == "__main__":
    main()
