"""The pipeline against a shared MLflow tracking server on loopback, as a team runs one: runs and
metrics in PostgreSQL, artifacts in an S3-compatible bucket (moto), clients pointed at it by
MLFLOW_TRACKING_URI=http://... Models load back by URI, and two processes logging at once lose
nothing."""

from __future__ import annotations

import json
import os
import subprocess
import time

import pytest

from pipeline.data import corpus
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from tests.conftest import BIN, REPO, run_cli
from tests.services import (
    S3_CREDENTIALS,
    bucket_keys,
    free_port,
    make_bucket,
    postgres_server,
    s3_server,
    server_process,
)

BUCKET = "mlflow-artifacts"


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """`mlflow server` as a team would run it: runs in PostgreSQL, artifacts in an S3 bucket
    (moto's server), the server proxying artifacts so that clients need no S3 credentials."""
    root = tmp_path_factory.mktemp("server")
    with postgres_server() as database, s3_server() as endpoint:
        make_bucket(endpoint, BUCKET)
        port = free_port()
        env = {
            **os.environ,
            **S3_CREDENTIALS,
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        command = [
            str(BIN / "mlflow"), "server",
            "--backend-store-uri", database,
            "--artifacts-destination", f"s3://{BUCKET}/mlartifacts",
            "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        ]  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        with server_process(command, f"{url}/health", "the MLflow server", env=env, cwd=root):
            yield url, endpoint


@pytest.mark.slow
def test_training_evaluation_and_benchmark_log_to_a_shared_tracking_server(tracking_server, tmp_path):
    url, endpoint = tracking_server
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
    params = tmp_path / "params.yaml"
    params.write_text(
        json.dumps({"benchmark": {"suite": "mine", "suites": {"mine": [{"name": "test", "path": "test.jsonl"}]}}}),
        encoding="utf-8",
    )
    result = run_cli(
        "benchmark", "--model", reference["model_uri"], "--params", params, "--out-dir", tmp_path / "bench", env=env
    )
    assert result.returncode == 0, result.stderr

    import mlflow

    client = mlflow.MlflowClient(tracking_uri=url)
    experiment = client.get_experiment_by_name("grooming-risk")
    assert experiment.artifact_location.startswith("mlflow-artifacts:")  # the server's store, proxied
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.data.tags["stage"] for r in runs) == ["evaluate", "evaluate", "train"]  # + the benchmark's
    evaluated = next(r for r in runs if r.data.tags["stage"] == "evaluate" and "suite" not in r.data.tags)
    assert evaluated.data.metrics["conversation.f0_5"] == pytest.approx(
        json.loads(metrics.read_text())["conversation"]["f0_5"]
    )
    # The model's files went through the server into its bucket, not into the repository.
    keys = bucket_keys(endpoint, BUCKET)
    assert any(key.endswith("/MLmodel") for key in keys) and any(key.endswith("metrics.json") for key in keys)
    local = REPO / "mlartifacts"
    assert not [p for p in local.rglob("MLmodel") if p.stat().st_mtime >= started] if local.exists() else True


LOGGER = """
import sys, mlflow
mlflow.set_tracking_uri(sys.argv[1])
mlflow.set_experiment("concurrent")
with mlflow.start_run(run_name=sys.argv[2]):
    for step in range(40):
        mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        mlflow.log_metric(f"m{step}", step)
"""


@pytest.mark.slow
def test_two_processes_logging_at_once_lose_no_metric(tracking_server):
    url, _ = tracking_server
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=url)
    client.create_experiment("concurrent")  # as a team's server has it: two first creations at once race
    writers = [
        subprocess.Popen([str(BIN / "python"), "-c", LOGGER, url, name], stderr=subprocess.PIPE, text=True)
        for name in ("writer-a", "writer-b")
    ]
    for writer in writers:
        assert writer.wait(timeout=300) == 0, writer.stderr.read()
    experiment = client.get_experiment_by_name("concurrent")
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    assert set(runs) == {"writer-a", "writer-b"}
    for run in runs.values():
        assert {f"m{step}" for step in range(40)} <= set(run.data.metrics)
        history = client.get_metric_history(run.info.run_id, "loss")
        assert sorted(m.step for m in history) == list(range(40))
