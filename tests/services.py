"""Real servers on loopback for the tests: an S3-compatible store (moto's server mode) and a
throwaway PostgreSQL cluster. Each starts in its own process group in a temporary folder and is
stopped, with everything it started, when its ``with`` block ends."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import BIN

# moto accepts any credentials; these only keep boto3, DVC and MLflow from looking for real ones.
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(ready, process: subprocess.Popen, what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start (exit status {process.poll()})")
        time.sleep(0.3)


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # it answered
    except OSError:
        return False


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return answer.status == 200
    except OSError:
        return False


@contextlib.contextmanager
def server_process(
    command: list[str], ready_url: str, what: str, *, env: dict, cwd: Path, log: Path | None = None
) -> Iterator[subprocess.Popen]:
    """``command`` in a process group of its own (a server and its workers stop together), once
    ``ready_url`` answers 200; its output goes to ``log`` (shown if it does not start)."""
    output = log.open("w") if log is not None else subprocess.DEVNULL
    process = subprocess.Popen(
        command, stdout=output, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    try:
        try:
            _wait(lambda: http_ok(ready_url), process, what)
        except RuntimeError as exc:
            tail = log.read_text(encoding="utf-8", errors="replace")[-3000:] if log is not None else ""
            raise RuntimeError(f"{exc}\n{tail}") from None
        yield process
    finally:
        if process.poll() is None:
            _stop(process)
        if log is not None:
            output.close()


@contextlib.contextmanager
def s3_server() -> Iterator[str]:
    """``moto_server`` on a free loopback port; yields its endpoint URL (buckets are created by
    the caller, with boto3 or a plain PUT)."""
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        env={**os.environ, **S3_CREDENTIALS},
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: _answers(endpoint), process, "moto_server")
        yield endpoint
    finally:
        _stop(process)


def make_bucket(endpoint: str, name: str) -> None:
    import boto3

    boto3.client("s3", endpoint_url=endpoint, **_boto_credentials()).create_bucket(Bucket=name)


def bucket_keys(endpoint: str, name: str) -> list[str]:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, **_boto_credentials())
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=name)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": S3_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": S3_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": S3_CREDENTIALS["AWS_DEFAULT_REGION"],
    }


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A throwaway PostgreSQL cluster (``initdb`` + ``postgres`` from the machine's packages) on a
    free loopback port, with a database ``mlflow``; yields its SQLAlchemy URL. PostgreSQL refuses
    to run as root: under root the cluster belongs to the ``postgres`` user, in a folder of its own
    outside the root-only pytest temp tree."""
    initdb = shutil.which("initdb")
    if initdb is None:
        raise RuntimeError("PostgreSQL's initdb is not on PATH: install the postgresql server package")
    bindir = Path(initdb).resolve().parent
    as_root = os.geteuid() == 0
    owner = pwd.getpwnam("postgres") if as_root else None
    root = Path(tempfile.mkdtemp(prefix="grooming-risk-pg-"))
    if owner is not None:
        os.chown(root, owner.pw_uid, owner.pw_gid)

    def as_owner(args: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *args] if owner is not None else args

    data, port = root / "data", free_port()
    initialise = [str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=trust", "-E", "UTF8"]
    subprocess.run(as_owner(initialise), check=True, capture_output=True)
    serve = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(root)]
    process = subprocess.Popen(
        as_owner(serve), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:

        def accepting() -> bool:
            probe = subprocess.run(
                [str(bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)], capture_output=True
            )
            return probe.returncode == 0

        _wait(accepting, process, "postgres")
        subprocess.run(
            [str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "mlflow", "mlflow"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql+psycopg2://mlflow@127.0.0.1:{port}/mlflow"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        _stop(process, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(root, ignore_errors=True)
