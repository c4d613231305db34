"""A local Label Studio server for an annotation session or a test, on loopback only.

Label Studio lives in its own venv (it pins an older numpy than the pipeline), so the server
is a subprocess of that venv's ``label-studio`` program: users are created with
``label-studio init`` (legacy API tokens, which 1.23 disables by default), the server answers
on 127.0.0.1 with a private data directory, and version checks, analytics and Sentry are off
so nothing leaves the machine. The whole process group is stopped on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import PipelineError


@dataclass(frozen=True)
class User:
    email: str
    password: str
    token: str


@dataclass(frozen=True)
class Server:
    url: str
    tokens: dict[str, str]  # role -> legacy API token
    root: Path
    log: Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def server_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",
        "COLLECT_ANALYTICS": "false",
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }


@contextmanager
def label_studio(binary: Path, root: Path, users: dict[str, User], timeout: float = 120) -> Iterator[Server]:
    """Start Label Studio with ``users`` (role -> User; the first is the owner) under ``root``."""
    if not binary.exists():
        raise PipelineError(f"{binary}: no label-studio program (run `make labelstudio-venv`)")
    root.mkdir(parents=True, exist_ok=True)
    env = server_env(root / "data")
    log_path = root / "server.log"
    for user in users.values():  # the first creates the database and the organisation
        with log_path.open("a") as log:
            init = subprocess.run(
                [str(binary), "init", "-q", "--username", user.email, "--password", user.password,
                 "--user-token", user.token, "--enable-legacy-api-token"],
                env=env, stdout=log, stderr=subprocess.STDOUT, timeout=300,
            )  # fmt: skip
        if init.returncode != 0:
            raise PipelineError(f"label-studio init failed: {log_path.read_text()[-3000:]}")
    port = free_port()
    with log_path.open("a") as log:
        server = subprocess.Popen(
            [str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops everything it started
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise PipelineError(f"Label Studio exited: {log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PipelineError(f"Label Studio did not answer /health: {log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield Server(url=url, tokens={role: u.token for role, u in users.items()}, root=root, log=log_path)
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
