"""Data-parallel transformer training under a launcher: `torchrun` with 2 CPU processes (gloo).

Each process takes its shard of every global batch and DistributedDataParallel averages the
gradients; the global batch, the steps and the learning-rate schedule are one process's. So the
loss of every step, and the trained model, must be the single-process run's, up to the order of
floating-point sums. The tiny encoder has dropout off, since two processes draw different dropout
masks than one. The batch size, 7, is odd: the two shards of a batch differ in size (4 and 3).

Only rank 0 writes the model and logs to MLflow. The 2-process run here is also a resumed one:
a first launch is interrupted after step 15 (tests/data/interrupted_train.py), and the real
`grooming-risk train` under `torchrun` picks up its checkpoint.
"""

from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from pipeline.data import corpus
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from tests.conftest import BIN, REPO, run_cli, write_tiny_encoder

# Per-step losses of 2 processes against 1: measured within 2e-7 relative; the bound leaves room for
# other CPUs' summation orders, and is still far below a real difference (a wrong loss scale
# or a shard trained twice moves the first steps' losses by 1e-2 or more).
RTOL = 1e-4
STEPS_PER_EPOCH = 13  # 90 messages in batches of 7
STOP_AFTER = 15


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("distributed")
    encoder = write_tiny_encoder(root / "tiny-bert", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    splits = split_corpus(list(synthesize(SynthConfig(conversations=60), seed=8)), "conversation", 0.25, 0.25, seed=2)
    files = {}
    for name, conversations in splits.items():
        files[name] = root / f"{name}.jsonl"
        corpus.write_conversations(files[name], conversations)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}", "OMP_NUM_THREADS": "1"}
    return root, encoder, files, env


OVERRIDES = {
    "epochs": 2,
    "batch_size": 7,
    "max_train_samples": 90,
    "max_valid_conversations": 8,
    "learning_rate": 1e-3,
    "checkpoint_every": 5,
}


def _overrides(setup, checkpoints) -> list[str]:
    return [f"{k}={v}" for k, v in {**OVERRIDES, "model": setup[1], "checkpoint_dir": checkpoints}.items()]


def _train_args(setup, out, checkpoints, *extra: str) -> list[str]:
    files = setup[2]
    args = ["train", "--model", "transformer", "--train", files["train"], "--valid", files["valid"], "--out", out]
    args += ["--params", REPO / "params.yaml", *extra]
    for override in _overrides(setup, checkpoints):
        args += ["--param", override]
    return [str(a) for a in args]


def _single_process(setup, checkpoints):
    """The reference: the same settings as the command's, trained in this process."""
    from pipeline.experiments.train import build_model, training_settings
    from pipeline.schema import load_schema

    schema = load_schema()
    chosen = training_settings("transformer", REPO / "params.yaml", _overrides(setup, checkpoints))
    model = build_model("transformer", schema.label_ids, chosen.model, chosen.risk, chosen.seed, schema.version)
    read = corpus.read_conversations
    return model.fit(read(setup[2]["train"]), read(setup[2]["valid"]))


def _losses(env, run_id: str) -> list[float]:
    from mlflow import MlflowClient

    client = MlflowClient(env["MLFLOW_TRACKING_URI"])
    history = sorted(client.get_metric_history(run_id, "train_loss_step"), key=lambda m: m.step)
    return [m.value for m in history]


def _run_id(out) -> str:
    return json.loads(out.with_name(f"{out.name}.mlflow.json").read_text())["run_id"]


def _torchrun(*args: str, env) -> subprocess.CompletedProcess:
    command = [str(BIN / "torchrun"), "--standalone", "--nproc-per-node", "2", *args]
    return subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_two_processes_resumed_under_torchrun_train_the_single_process_model(setup):
    """The reference trains in this process; then torchrun runs 2 processes, interrupted after
    step 15 (untracked) and resumed from the checkpoint by `grooming-risk train` under torchrun.
    The resumed run's loss curve (all 26 steps, logged to MLflow) and its trained model equal the
    reference's within RTOL; rank 0 alone printed, saved and logged, one MLflow run."""
    from mlflow import MlflowClient

    from pipeline.models import load_model

    root, _, files, env = setup
    reference = _single_process(setup, root / "checkpoints-single")
    expected = reference.step_losses_
    assert len(expected) == 2 * STEPS_PER_EPOCH

    out, checkpoints = root / "parallel" / "transformer", root / "checkpoints-parallel"
    driver = REPO / "tests" / "data" / "interrupted_train.py"
    stopped = _torchrun(str(driver), str(STOP_AFTER), *_train_args(setup, out, checkpoints, "--no-track"), env=env)
    assert stopped.returncode != 0 and not out.exists()
    assert [p.name for p in checkpoints.glob("*/last.pt")] == ["last.pt"]  # rank 0's, once

    resumed = _torchrun("--no-python", str(BIN / "grooming-risk"), *_train_args(setup, out, checkpoints), env=env)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert resumed.stdout.count("wrote ") == 1  # rank 0 only
    assert "resuming from" in resumed.stderr and "2 processes (data parallel)" in resumed.stderr
    assert not any(checkpoints.glob("*/last.pt"))  # deleted once trained

    losses = _losses(env, _run_id(out))
    np.testing.assert_allclose(losses, expected, rtol=RTOL)
    # Each epoch's mean loss counts the whole epoch, also the one resumed half-way through
    trained = json.loads((out / "model.json").read_text())["training"]
    for got, want in zip(trained, reference.history_, strict=True):
        np.testing.assert_allclose(got["train_loss"], want["train_loss"], rtol=RTOL)
    test = corpus.read_conversations(files["test"])
    np.testing.assert_allclose(
        np.vstack(load_model(out).message_probabilities(test)),
        np.vstack(reference.message_probabilities(test)),
        atol=1e-4,
    )
    runs = MlflowClient(env["MLFLOW_TRACKING_URI"]).search_runs(
        [r.experiment_id for r in MlflowClient(env["MLFLOW_TRACKING_URI"]).search_experiments()]
    )
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"  # one run for 2 processes: rank 0's


def test_a_kind_that_trains_in_one_process_is_refused_under_a_launcher(setup, tmp_path):
    """tfidf under torchrun would be trained twice over: refused with the reason, nothing written."""
    _, _, files, env = setup
    out = tmp_path / "tfidf"
    launched = {**env, "WORLD_SIZE": "2", "RANK": "0"}
    result = run_cli("train", "--model", "tfidf", "--train", files["train"], "--valid", files["valid"],
                     "--out", out, "--no-track", env=launched)  # fmt: skip
    assert result.returncode == 1
    assert "only transformer trains data-parallel" in result.stderr and "WORLD_SIZE=2" in result.stderr
    assert not out.exists()
