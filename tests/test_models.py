"""Model kinds on the shared interface, the CLI commands around them, and real MLflow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from pipeline.data import corpus
from pipeline.models import LexiconModel, TfidfModel, load_model
from tests.conftest import REPO, run_cli

METRIC_KEYS = [
    "message.per_label.secrecy.precision",
    "message.per_label.secrecy.recall",
    "message.per_label.secrecy.f1",
    "message.per_label.secrecy.support",
    "message.per_label.secrecy.pr_auc",
    "message.macro_f1",
    "message.core_macro_f1",
    "message.micro_f1",
    "conversation.precision",
    "conversation.recall",
    "conversation.f1",
    "conversation.f0_5",
    "conversation.f2",
    "conversation.roc_auc",
    "conversation.pr_auc",
    "conversation.support",
    "early.latency_f1",
    "early.median_alert_message",
]


@pytest.fixture(scope="module")
def data(baseline_data):
    """A small synthetic corpus split three ways, written as files (conftest.py: one per session)."""
    return baseline_data


@pytest.fixture(scope="module")
def mlflow_env(baseline_mlflow_env):
    """The real MLflow sqlite store the baselines were logged to (conftest.py)."""
    return baseline_mlflow_env


@pytest.fixture(scope="module")
def trained(baseline_models):
    """lexicon and tfidf trained by the CLI with params.yaml on ``data``, once per session (conftest.py)."""
    return baseline_models


def _get(metrics: dict, dotted: str):
    value = metrics
    for part in dotted.split("."):
        value = value[part]
    return value


def test_model_directory_describes_itself(trained, schema):
    for kind in ("lexicon", "tfidf"):
        info = json.loads((trained / kind / "model.json").read_text(encoding="utf-8"))
        assert info["kind"] == kind and info["schema_version"] == schema.version
        assert info["label_ids"] == schema.label_ids and set(info["thresholds"]) == set(schema.label_ids)
        assert info["risk"]["config"]["method"] == "topk_mean" and 0 <= info["risk"]["threshold"] <= 1  # params.yaml
        assert json.loads((trained / f"{kind}.mlflow.json").read_text())["model_uri"].startswith("runs:/")


def test_save_and_load_give_the_same_predictions(trained, data):
    conversations = corpus.read_conversations(data["test"])[:15]
    for kind in ("lexicon", "tfidf"):
        model = load_model(trained / kind)
        again = load_model(trained / kind)
        for a, b in zip(model.predict(conversations), again.predict(conversations), strict=True):
            assert np.array_equal(a.probabilities, b.probabilities) and a.alert == b.alert
            assert a.risk.shape == (len(a.probabilities),)


def test_tfidf_uses_context_and_learns(data, schema):
    train, valid = corpus.read_conversations(data["train"]), corpus.read_conversations(data["valid"])
    model = TfidfModel(schema.label_ids, {"context_messages": 2, "max_train_messages": 3000}, seed=0).fit(train, valid)
    probe = corpus.Conversation(
        conversation_id="p",
        messages=[
            corpus.Message(author="a", text="hi"),
            corpus.Message(author="a", text="keep this between us, delete the chat"),
        ],
    )
    probabilities = model.message_probabilities([probe])[0]
    assert probabilities[1, schema.label_ids.index("secrecy")] > probabilities[0, schema.label_ids.index("secrecy")]
    same_seed = TfidfModel(schema.label_ids, {"max_train_messages": 3000}, seed=0).fit(train, valid)
    assert np.allclose(model.thresholds_, same_seed.thresholds_)  # deterministic


def test_lexicon_cues_come_from_the_schema(schema):
    model = LexiconModel(schema.label_ids)
    assert model.cues == {label.id: label.cues for label in schema.labels}


def test_evaluate_writes_every_contract_key(trained, data, mlflow_env, tmp_path):
    out = tmp_path / "metrics.json"
    result = run_cli(
        "evaluate",
        "--model",
        trained / "tfidf",
        "--data",
        data["test"],
        "--out",
        out,
        "--plots",
        tmp_path / "plots",
        "--bootstrap",
        "50",
        env=mlflow_env,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(out.read_text(encoding="utf-8"))
    for key in METRIC_KEYS:
        _get(metrics, key)  # present (a KeyError fails the test)
    assert 0 <= metrics["message"]["macro_f1"] <= 1
    low, high = metrics["intervals"]["conversation.f0_5"]
    assert low <= metrics["conversation"]["f0_5"] <= high
    assert sorted(p.name for p in (tmp_path / "plots").iterdir()) == [
        "confusion.json",
        "confusion.png",
        "pr_curves.json",
        "pr_curves.png",
        "risk_over_time.json",
        "risk_over_time.png",
    ]
    confusion = json.loads((tmp_path / "plots" / "confusion.json").read_text(encoding="utf-8"))["rows"]
    true_positives = sum(r["messages"] for r in confusion if r["outcome"] == "true positive")
    assert true_positives == sum(round(v["support"] * v["recall"]) for v in metrics["message"]["per_label"].values())
    assert (tmp_path / "metrics.predictions.json").exists()


def test_score_writes_the_conversation_format(trained, data, tmp_path):
    """Scores go under one meta key, ``grooming_risk``: the input's own meta keys (even ones named
    like the scores) come out unchanged."""
    original = corpus.read_conversations(data["test"])
    users = [
        c.model_copy(
            update={
                "meta": {**(c.meta or {}), "risk": "reviewed", "first_alert": "team notes"},
                "messages": [m.model_copy(update={"meta": {**(m.meta or {}), "scores": [1, 2]}}) for m in c.messages],
            }
        )
        for c in original
    ]
    source = tmp_path / "with-meta.jsonl"
    corpus.write_conversations(source, users)
    out = tmp_path / "scored.jsonl"
    result = run_cli("score", "--model", trained / "tfidf", "--data", source, "--out", out)
    assert result.returncode == 0, result.stderr
    scored = corpus.read_conversations(out)
    assert [c.conversation_id for c in scored] == [c.conversation_id for c in original]
    first = scored[0]
    assert {k: v for k, v in first.meta.items() if k != "grooming_risk"} == users[0].meta
    assert all({k: v for k, v in m.meta.items() if k != "grooming_risk"} == u.meta
               for m, u in zip(first.messages, users[0].messages, strict=True))  # fmt: skip
    risk = first.meta["grooming_risk"]
    assert len(risk["risk"]) == len(first.messages) and risk["model"] == "tfidf"
    assert risk["first_alert"] is None or 0 <= risk["first_alert"] < len(first.messages)
    assert len(first.messages[0].meta["grooming_risk"]["scores"]) == 10
    assert all(
        set(m.meta["grooming_risk"]["predicted_labels"]) <= set(m.meta["grooming_risk"]["scores"])
        for m in first.messages
    )
    assert [m.labels for m in first.messages] == [m.labels for m in original[0].messages]  # gold kept


def test_compare_two_models_paired(trained, data, mlflow_env, tmp_path):
    for kind in ("lexicon", "tfidf"):
        assert (
            run_cli(
                "evaluate",
                "--model",
                trained / kind,
                "--data",
                data["test"],
                "--out",
                tmp_path / f"{kind}.json",
                "--bootstrap",
                "20",
                "--no-track",
            ).returncode
            == 0
        )
    result = run_cli(
        "compare",
        tmp_path / "lexicon.predictions.json",
        tmp_path / "tfidf.predictions.json",
        "--samples",
        "100",
        "--out",
        tmp_path / "cmp.json",
    )
    assert result.returncode == 0, result.stderr
    assert "| conversation.f0_5 |" in result.stdout
    comparison = json.loads((tmp_path / "cmp.json").read_text())
    row = comparison["metrics"]["message.macro_f1"]
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    bad = run_cli("compare", tmp_path / "lexicon.predictions.json", data["test"])
    assert bad.returncode == 1 and "expected a predictions file" in bad.stderr


def test_mlflow_runs_models_and_leaderboard(trained, data, mlflow_env, tmp_path):
    import mlflow

    mlflow.set_tracking_uri(mlflow_env["MLFLOW_TRACKING_URI"])
    uri = json.loads((trained / "tfidf.mlflow.json").read_text())["model_uri"]
    # the logged pyfunc answers a message table
    frame = corpus.to_message_frame(corpus.read_conversations(data["test"])[:3])
    answer = mlflow.pyfunc.load_model(uri).predict(frame[["conversation_id", "message_index", "author", "text"]])
    assert len(answer) == len(frame) and {"risk", "alert", "p_secrecy"} <= set(answer.columns)
    # evaluate straight from the MLflow URI
    out = tmp_path / "from_uri.json"
    result = run_cli(
        "evaluate",
        "--model",
        uri,
        "--data",
        data["test"],
        "--out",
        out,
        "--bootstrap",
        "20",
        "--dataset",
        "test",
        env=mlflow_env,
    )
    assert result.returncode == 0, result.stderr
    runs = mlflow.search_runs(experiment_names=["grooming-risk"], output_format="list")
    stages = {r.data.tags.get("stage") for r in runs}
    assert {"train", "evaluate"} <= stages
    train_run = next(r for r in runs if r.data.tags.get("stage") == "train" and r.data.tags.get("model") == "tfidf")
    assert train_run.data.params["model"] == "tfidf" and "params.C" in train_run.data.params
    assert {i.dataset.name for i in train_run.inputs.dataset_inputs} == {"train", "valid"}
    assert train_run.data.tags.get("git.commit")
    # Artifacts go to the store the tracking URI names (mlartifacts/ beside its database).
    store = Path(mlflow_env["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///")).parent
    assert train_run.info.artifact_uri.startswith((store / "mlartifacts").as_uri())
    board = run_cli("leaderboard", "--from-mlflow", "--out", tmp_path / "leaderboard.md", env=mlflow_env)
    assert board.returncode == 0, board.stderr
    assert "| tfidf | test |" in board.stdout and "[" in board.stdout  # intervals shown
    assert (tmp_path / "leaderboard.md").read_text() == board.stdout.rstrip("\n") + "\n"


def test_the_leaderboard_reads_only_the_metrics_files(tmp_path):
    """The default leaderboard is built from metrics/<model>/<dataset>.json (what DVC tracks): an
    MLflow store is never read, so a hand-run evaluation elsewhere cannot change it."""
    metrics = tmp_path / "metrics"
    figures = {
        "message": {"macro_f1": 0.5, "core_macro_f1": 0.4},
        "conversation": {"f0_5": 0.9, "f1": 0.8, "roc_auc": 0.95},
        "early": {"latency_f1": 0.7, "median_alert_message": 6},
        "intervals": {"message.macro_f1": [0.45, 0.55]},
        "dataset": {"name": "test"},
    }
    (metrics / "tfidf").mkdir(parents=True)
    (metrics / "tfidf" / "test.json").write_text(json.dumps(figures))
    (metrics / "tfidf" / "test.predictions.json").write_text("{}")  # not a metrics file
    env = {**os.environ, "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}  # nothing listens: must not be used
    board = run_cli("leaderboard", "--metrics", metrics, "--out", tmp_path / "board.md", env=env)
    assert board.returncode == 0, board.stderr
    row = next(line for line in board.stdout.splitlines() if line.startswith("| tfidf | test |"))
    assert "| 0.500 [0.450, 0.550] | 0.400 | 0.900 | 0.800 | 0.950 | 0.700 | 6 |" in row
    assert "`" + (metrics / "tfidf" / "test.json").as_posix() + "`" in row
    (metrics / "tfidf" / "test.json").write_text("{not json")
    bad = run_cli("leaderboard", "--metrics", metrics, env=env)
    assert bad.returncode == 1 and "test.json: expected a metrics file written by evaluate" in bad.stderr


def test_unknown_model_reference_is_a_clear_error(data, tmp_path):
    result = run_cli("evaluate", "--model", tmp_path / "nope", "--data", data["test"], "--out", tmp_path / "m.json")
    assert result.returncode == 1 and "no such model directory or MLflow model URI" in result.stderr


def test_tfidf_model_files_are_byte_identical_across_runs(data, tmp_path):
    """Same data, params and seed give the same saved model, whatever the hash seed (DVC sees no change)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from pipeline.data import corpus\n"
        "from pipeline.models.tfidf import TfidfModel\n"
        "from pipeline.schema import load_schema\n"
        "train, valid = (corpus.read_conversations(p) for p in sys.argv[1:3])\n"
        "TfidfModel(load_schema().label_ids, {'max_features': 5000}, seed=0).fit(train, valid).save(sys.argv[3])\n"
    )
    for hash_seed in ("1", "2"):
        subprocess.run(
            [sys.executable, "-c", script, data["train"], data["valid"], tmp_path / hash_seed],
            check=True,
            env={**os.environ, "PYTHONHASHSEED": hash_seed},
            cwd=REPO,
        )
    names = sorted(p.name for p in (tmp_path / "1").iterdir())
    assert names == ["model.json", "tfidf.json", "tfidf.safetensors"]
    for name in names:
        assert (tmp_path / "1" / name).read_bytes() == (tmp_path / "2" / name).read_bytes(), name
