"""Auth0's official Node.js SDK (the npm package ``auth0``, pinned in tests/node) against a
real ``passgate serve`` over https.

A scenario is a script ``tests/node/<name>.mjs`` (see tests/node/harness.mjs). The tests
run it with :meth:`NodeSdk.run` against an :class:`HttpsPassgate` (both come from fixtures
in tests/conftest.py: ``node_sdk`` and ``https_passgate``): the script gets the server's
domain, a JSON input and the test CA through its environment, and prints one JSON document.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.certificates import ServerCertificate
from tests.processes import cli, free_port
from tests.test_serve import Server

__all__ = ["NODE_DIR", "HttpsPassgate", "NodeSdk", "node_missing", "start_https_passgate"]

NODE_DIR = Path(__file__).resolve().parent / "node"
#: The oldest Node.js the pinned SDK supports (its package.json "engines").
OLDEST_NODE = (20, 19)
SCRIPT_SECONDS = 60


def node_missing() -> str | None:
    """Why the Node SDK tests cannot run on this machine, or None when they can."""
    node = shutil.which("node")
    if node is None:
        return "node is not on PATH (install Node.js 20.19+ with npm, then ./scripts/bootstrap)"
    version = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    ).stdout.strip()
    found = re.match(r"v(\d+)\.(\d+)", version)
    if found is None or (int(found[1]), int(found[2])) < OLDEST_NODE:
        return f"node {version or '?'} is older than 20.19, which the auth0 SDK needs"
    wanted = json.loads((NODE_DIR / "package.json").read_text(encoding="utf-8"))["dependencies"]
    for package in wanted:
        if not (NODE_DIR / "node_modules" / package / "package.json").is_file():
            return f"{package} is not installed: run ./scripts/bootstrap (npm ci in tests/node)"
    return None


@dataclasses.dataclass(frozen=True)
class HttpsPassgate:
    """A ``passgate serve`` answering https with a test CA's certificate."""

    env: dict[str, str]
    port: int
    server: Server

    @property
    def domain(self) -> str:
        """What an SDK takes as an Auth0 tenant's domain: it adds ``https://`` itself."""
        return f"127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """The issuer this server's first start fixed."""
        return f"https://{self.domain}/"

    def cli(self, *args: str, input: str | None = None) -> Any:
        """A ``passgate … --json`` command on the server's database; its JSON output."""
        return cli(self.env, *args, input=input)


def start_https_passgate(
    env: dict[str, str], certificate: ServerCertificate, logs: Path, *args: str
) -> HttpsPassgate:
    """Start ``passgate serve`` over https (``args`` added, e.g. ``--workers 2``) and wait
    until it answers; the caller stops it (``server.kill()``)."""
    port = free_port()
    logs.mkdir(parents=True, exist_ok=True)
    server = Server(
        env, logs, "serve", "--port", str(port),
        "--tls-cert", str(certificate.cert), "--tls-key", str(certificate.key), *args,
    )  # fmt: skip
    started = HttpsPassgate(env=env, port=port, server=server)
    try:
        server.wait_until_healthy(started.base_url, verify=certificate.client_context())
    except BaseException:
        server.kill()
        raise
    return started


@dataclasses.dataclass(frozen=True)
class NodeSdk:
    """Runs SDK scenario scripts that trust the test CA (``NODE_EXTRA_CA_CERTS``)."""

    ca_cert: Path

    def run(self, script: str, domain: str, **inputs: Any) -> Any:
        """``node tests/node/<script>`` against ``domain`` with ``inputs`` (JSON values) as
        ``SCENARIO_INPUT``; the JSON document it printed. Fails the test when the script
        fails (its stderr in the message)."""
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("PASSGATE_", "NODE_", "AUTH0_"))
        }
        env.update(
            NODE_EXTRA_CA_CERTS=str(self.ca_cert),
            AUTH0_DOMAIN=domain,
            SCENARIO_INPUT=json.dumps(inputs),
        )
        done = subprocess.run(
            ["node", str(NODE_DIR / script)],
            cwd=NODE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=SCRIPT_SECONDS,
            check=False,
        )
        assert done.returncode == 0, f"node {script} exited with {done.returncode}:\n{done.stderr}"
        return json.loads(done.stdout)
