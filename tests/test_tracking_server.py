"""The pipeline against a real MLflow tracking server on loopback (the "bigger machine" setup:
MLFLOW_TRACKING_URI=http://...): runs, metrics and the model go to the server, artifacts to the
server's artifact store, and models load back by URI."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from pipeline.data import corpus
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from tests.conftest import BIN, REPO, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def tracking_server(tmp_path):
    port = _free_port()
    root = tmp_path / "server"
    root.mkdir()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    process = subprocess.Popen(
        [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'server.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the MLflow server did not start") from None
                time.sleep(0.5)
        yield url, root
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


@pytest.mark.slow
def test_training_and_evaluation_log_to_a_tracking_server(tracking_server, tmp_path):
    url, root = tracking_server
    conversations = list(synthesize(SynthConfig(conversations=40), seed=8))
    splits = split_corpus(conversations, "conversation", valid=0.25, test=0.25, seed=2)
    for name, convs in splits.items():
        corpus.write_conversations(tmp_path / f"{name}.jsonl", convs)
    env = {**os.environ, "MLFLOW_TRACKING_URI": url}
    started = time.time()

    out = tmp_path / "models" / "lexicon"
    args = ["train", "--model", "lexicon", "--train", tmp_path / "train.jsonl", "--valid", tmp_path / "valid.jsonl"]
    result = run_cli(*args, "--out", out, env=env)
    assert result.returncode == 0, result.stderr
    reference = json.loads(out.with_name("lexicon.mlflow.json").read_text())

    # Evaluate from the model URI served by the server, not from the local directory.
    metrics = tmp_path / "metrics.json"
    result = run_cli(
        "evaluate", "--model", reference["model_uri"], "--data", tmp_path / "test.jsonl", "--out", metrics, env=env
    )
    assert result.returncode == 0, result.stderr
    result = run_cli("leaderboard", "--from-mlflow", "--out", tmp_path / "leaderboard.md", env=env)
    assert result.returncode == 0, result.stderr
    assert "| lexicon | test |" in (tmp_path / "leaderboard.md").read_text()

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("grooming-risk")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, proxied
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["stage"] for r in runs) == ["evaluate", "train"]
    evaluated = next(r for r in runs if r.data.tags["stage"] == "evaluate")
    assert evaluated.data.metrics["conversation.f0_5"] == pytest.approx(
        json.loads(metrics.read_text())["conversation"]["f0_5"]
    )
    # The model's files went through the server into its artifact store, not into the repository.
    assert list((root / "artifacts").rglob("MLmodel"))
    local = REPO / "mlartifacts"
    assert not [p for p in local.rglob("MLmodel") if p.stat().st_mtime >= started] if local.exists() else True
