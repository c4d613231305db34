"""The benchmark command, and external MLflow pyfunc models evaluated like the project's own."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline.core.errors import PipelineError
from pipeline.data import corpus
from pipeline.data.split import split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from pipeline.evaluation.metrics import evaluate_predictions
from pipeline.models.base import ConversationPrediction, label_matrix, subsample_conversations
from pipeline.models.external import ExternalModel, message_table
from pipeline.models.risk import best_threshold
from tests.conftest import REPO, run_cli

SEED = 7
BOOTSTRAP = 30
SAMPLE = 30  # evaluate.max_conversations of the test params: a seeded sample of test (40 conversations)
PLOT_FILES = [f"{name}.{ext}" for name in ("confusion", "pr_curves", "risk_over_time") for ext in ("png", "json")]

# A keyword model written as MLflow "models from code": innocuous cue words per label, a score
# graded by text length so that curves are not flat, and an extra column that must be ignored.
KEYWORD_MODEL = """
import mlflow
import pandas as pd

LABELS = {labels!r}
KEYWORDS = {{
    "trust_building": ["tell me anything", "always here"],
    "gifts": ["gift", "present", "robux"],
    "isolation": ["don't get you", "only one"],
    "secrecy": ["between us", "secret", "don't tell"],
    "risk_assessment": ["alone", "parents home"],
    "media_request": ["selfie", "photo", "pic"],
    "meeting_request": ["meet", "hang out"],
}}
ONLY = {only!r}


class KeywordModel(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        rows = []
        for text in model_input["text"].astype(str):
            lower = text.lower()
            rows.append(
                {{
                    f"p_{{label}}": min(0.9, 0.05 + 0.4 * sum(k in lower for k in KEYWORDS.get(label, [])))
                    + (len(text) % 10) / 1000
                    for label in LABELS
                    if ONLY is None or label in ONLY
                }}
            )
        out = pd.DataFrame(rows)
        out.insert(0, "explanation", "keywords")
        return out


mlflow.models.set_model(KeywordModel())
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-data")
    conversations = list(synthesize(SynthConfig(conversations=160), seed=21))
    splits = split_corpus(conversations, "conversation", valid=0.25, test=0.25, seed=1)
    paths = {}
    for name, convs in splits.items():
        paths[name] = root / "data" / f"{name}.jsonl"
        corpus.write_conversations(paths[name], convs)
    return paths


@pytest.fixture(scope="module")
def mlflow_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench-mlflow")
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


@pytest.fixture(scope="module")
def params_file(data):
    """A params file of its own: a two-data-set suite (one path relative to the file)."""
    path = data["test"].parent.parent / "params.yaml"
    params = {
        "base": {"seed": SEED},
        "evaluate": {"bootstrap": BOOTSTRAP, "max_conversations": SAMPLE},
        "benchmark": {
            "suite": "small",
            "out_dir": "reports",
            "suites": {
                "small": [
                    {"name": "test", "path": "data/test.jsonl"},
                    {"name": "handwritten", "path": str(REPO / "data" / "handwritten" / "dev.jsonl")},
                ],
                "broken": [{"name": "nowhere", "path": "data/missing.jsonl"}],
            },
        },
    }
    path.write_text(yaml.safe_dump(params), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def lexicon_dir(baseline_models):
    """A lexicon model directory, trained once per session (conftest.py)."""
    return baseline_models / "lexicon"


def _log_keyword_model(env: dict, root: Path, name: str, label_ids: list[str], only: list[str] | None) -> str:
    """Log (and register) the keyword model in the test's store; its ``models:/`` URI."""
    import mlflow

    source = root / f"{name}.py"
    source.write_text(KEYWORD_MODEL.format(labels=label_ids, only=only), encoding="utf-8")
    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    experiment = mlflow.get_experiment_by_name("external-models")
    experiment_id = (
        experiment.experiment_id
        if experiment
        else mlflow.create_experiment("external-models", artifact_location=(root / "artifacts").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment_id):
        mlflow.pyfunc.log_model(
            name="model", python_model=str(source), pip_requirements=["mlflow", "pandas"], registered_model_name=name
        )
    return f"models:/{name}/1"


@pytest.fixture(scope="module")
def keyword_uri(mlflow_env, schema, tmp_path_factory):
    return _log_keyword_model(mlflow_env, tmp_path_factory.mktemp("kw"), "keyword-baseline", schema.label_ids, None)


def _direct_probabilities(uri: str, env: dict, conversations) -> list[np.ndarray]:
    """The external model's probabilities, straight from MLflow (no project adapter)."""
    import mlflow

    mlflow.set_tracking_uri(env["MLFLOW_TRACKING_URI"])
    frame = pd.DataFrame(
        [
            {"conversation_id": c.conversation_id, "message_index": i, "author": m.author, "text": m.text}
            for c in conversations
            for i, m in enumerate(c.messages)
        ]
    )
    answer = mlflow.pyfunc.load_model(uri).predict(frame)
    columns = [c for c in answer.columns if c.startswith("p_")]
    values = answer[columns].to_numpy(dtype=float)
    out, start = [], 0
    for conversation in conversations:
        out.append(values[start : start + len(conversation.messages)])
        start += len(conversation.messages)
    return out


def _direct_predictions(conversations, probabilities, thresholds, risk_threshold):
    """Predictions computed by hand: label thresholds, running max risk, first crossing."""
    out = []
    for conversation, p in zip(conversations, probabilities, strict=True):
        risk = np.maximum.accumulate(p.max(axis=1))
        hits = np.flatnonzero(risk >= risk_threshold)
        out.append(
            ConversationPrediction(
                conversation.conversation_id, p, p >= thresholds, risk, int(hits[0]) if len(hits) else None
            )
        )
    return out


def test_benchmark_reports_models_side_by_side(
    data, params_file, lexicon_dir, keyword_uri, mlflow_env, schema, tmp_path
):
    out = tmp_path / "reports"
    result = run_cli(
        "benchmark", "--model", lexicon_dir, "--model", keyword_uri, "--params", params_file, "--out-dir", out,
        env=mlflow_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "keyword-baseline-1 on handwritten:" in result.stdout
    suite_dir = out / "benchmark" / "small"
    for model in ("lexicon", "keyword-baseline-1"):
        for dataset in ("test", "handwritten"):
            files = sorted(p.name for p in (suite_dir / model / dataset).iterdir())
            assert files == sorted(["metrics.json", "metrics.predictions.json", *PLOT_FILES])

    # the Markdown report: one table per data set with every model, intervals, plots side by side
    markdown = (out / "benchmark.md").read_text(encoding="utf-8")
    assert "## test" in markdown and "## handwritten" in markdown
    rows = [line.split(" | ")[0] for line in markdown.splitlines()]
    assert rows.count("| lexicon") == 3 and rows.count("| keyword-baseline-1") == 3  # the models, then 2 tables
    assert "| plot | lexicon | keyword-baseline-1 |" in markdown
    assert "](benchmark/small/keyword-baseline-1/handwritten/risk_over_time.png)" in markdown
    assert f"{SAMPLE} conversations evaluated" in markdown  # evaluate.max_conversations: a seeded sample
    # the HTML report is self-contained
    page = (out / "benchmark.html").read_text(encoding="utf-8")
    assert page.count('src="data:image/png;base64,') == 2 * 2 * 3
    assert "http://" not in page and "https://" not in page and "<script" not in page and "<link" not in page
    summary = json.loads((suite_dir / "summary.json").read_text())
    assert [m["name"] for m in summary["models"]] == ["lexicon", "keyword-baseline-1"]
    assert summary["models"][1]["external"] and summary["models"][1]["thresholds"] == "0.5 (default)"

    # the external model's metrics are those computed by hand from its own probabilities
    metrics = json.loads((suite_dir / "keyword-baseline-1" / "test" / "metrics.json").read_text())
    conversations = subsample_conversations(corpus.read_conversations(data["test"]), SAMPLE, SEED)
    probabilities = _direct_probabilities(keyword_uri, mlflow_env, conversations)
    predictions = _direct_predictions(conversations, probabilities, np.full(len(schema.label_ids), 0.5), 0.5)
    expected = evaluate_predictions(conversations, predictions, schema.label_ids, 0.5, bootstrap=BOOTSTRAP, seed=SEED)
    for key in ("message", "conversation", "early", "intervals", "data"):
        assert metrics[key] == expected[key], key
    assert metrics["conversation"]["threshold"] == 0.5

    # each evaluation is an MLflow run, tagged with the suite
    import mlflow

    mlflow.set_tracking_uri(mlflow_env["MLFLOW_TRACKING_URI"])
    runs = mlflow.search_runs(
        experiment_names=["grooming-risk"], filter_string="tags.suite = 'small'", output_format="list"
    )
    assert sorted((r.data.tags["model"], r.data.tags["dataset"]) for r in runs) == sorted(
        (m, d) for m in ("lexicon", "keyword-baseline-1") for d in ("test", "handwritten")
    )
    assert all(r.data.tags["stage"] == "evaluate" for r in runs)


def test_calibrate_tunes_external_thresholds(data, params_file, keyword_uri, mlflow_env, schema, tmp_path):
    out = tmp_path / "reports"
    result = run_cli(
        "benchmark", "--model", keyword_uri, "--params", params_file, "--out-dir", out, "--calibrate", data["valid"],
        "--max-conversations", "0", "--no-track", env=mlflow_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    summary = json.loads((out / "benchmark" / "small" / "summary.json").read_text())
    model = summary["models"][0]
    assert model["thresholds"] == "calibrated" and summary["settings"]["max_conversations"] == 0
    # the thresholds Model.tune finds, computed by hand on the calibration file
    valid = corpus.read_conversations(data["valid"])
    probabilities = _direct_probabilities(keyword_uri, mlflow_env, valid)
    gold = [label_matrix(c, schema.label_ids) for c in valid]
    p = np.vstack([pr[g[:, 0] >= 0] for pr, g in zip(probabilities, gold, strict=True)])
    y = np.vstack([g[g[:, 0] >= 0] for g in gold])
    thresholds = np.array([best_threshold(y[:, j], p[:, j]) for j in range(len(schema.label_ids))])
    assert model["label_thresholds"] == dict(zip(schema.label_ids, thresholds.round(6).tolist(), strict=True))
    final = np.array([pr.max(axis=1).max() for pr in probabilities])
    risk_threshold = best_threshold(np.array([c.label for c in valid]), final)
    assert model["risk_threshold"] == round(risk_threshold, 6)
    # and the test metrics use them (all 40 conversations: --max-conversations 0)
    test = corpus.read_conversations(data["test"])
    predictions = _direct_predictions(
        test, _direct_probabilities(keyword_uri, mlflow_env, test), thresholds, risk_threshold
    )
    expected = evaluate_predictions(test, predictions, schema.label_ids, risk_threshold, bootstrap=BOOTSTRAP, seed=SEED)
    metrics = json.loads((out / "benchmark" / "small" / "keyword-baseline-1" / "test" / "metrics.json").read_text())
    assert metrics["message"] == expected["message"] and metrics["conversation"] == expected["conversation"]


def test_bad_input_is_a_clear_error_and_writes_nothing(
    data, params_file, lexicon_dir, mlflow_env, schema, tmp_path_factory, tmp_path
):
    broken_uri = _log_keyword_model(
        mlflow_env, tmp_path_factory.mktemp("kw-broken"), "keyword-broken", schema.label_ids, ["secrecy", "gifts"]
    )
    out = tmp_path / "reports"
    common = ["--params", params_file, "--out-dir", out, "--no-track"]
    cases = [
        (["--model", lexicon_dir, "--suite", "nope"], ["unknown benchmark suite 'nope'", "small"]),
        (["--model", lexicon_dir, "--suite", "broken"], ["missing data file", "missing.jsonl"]),
        (["--model", lexicon_dir, "--model", tmp_path / "no-such-model"], ["no such model directory"]),
        (["--model", "runs:/0123456789abcdef/model"], ["cannot load the MLflow model"]),
        (["--model", lexicon_dir, "--model", broken_uri], ["lack the columns", "p_trust_building", "p_deception"]),
        (["--model", lexicon_dir, "--calibrate", tmp_path / "none.jsonl"], ["no such calibration file"]),
    ]
    for args, messages in cases:
        result = run_cli("benchmark", *args, *common, env=mlflow_env)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        for message in messages:
            assert message in result.stderr, (args, result.stderr)
        assert not out.exists(), args


# ------------------------------------------------------------- the adapter itself


def test_a_suite_folder_an_earlier_benchmark_did_not_write_is_refused_unless_forced(
    params_file, lexicon_dir, mlflow_env, tmp_path
):
    out = tmp_path / "reports"
    suite_dir = out / "benchmark" / "small"
    suite_dir.mkdir(parents=True)
    (suite_dir / "notes.txt").write_text("the user's own file\n", encoding="utf-8")
    common = ["--model", lexicon_dir, "--params", params_file, "--out-dir", out, "--no-track", "--bootstrap", "0"]
    refused = run_cli("benchmark", *common, env=mlflow_env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "did not write (it has no summary.json)" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in out.rglob("*")) == ["benchmark", "notes.txt", "small"]
    forced = run_cli("benchmark", *common, "--force", env=mlflow_env)
    assert forced.returncode == 0, forced.stderr
    assert (suite_dir / "summary.json").is_file() and not (suite_dir / "notes.txt").exists()
    again = run_cli("benchmark", *common, env=mlflow_env)  # its own earlier output: replaced
    assert again.returncode == 0, again.stderr


def _conversations():
    return [
        corpus.Conversation(
            conversation_id="a",
            label=1,
            language="en",
            messages=[
                corpus.Message(author="x", text="hi, how was the game?", labels=[]),
                corpus.Message(author="x", text="this stays between us", labels=["secrecy"]),
            ],
        ),
        corpus.Conversation(
            conversation_id="b",
            label=0,
            messages=[corpus.Message(author="y", text="see you at practice", time="2026-01-05T16:00:00", labels=[])],
        ),
    ]


def _answer(label_ids, frame, value=0.2):
    table = {f"p_{label}": [value] * len(frame) for label in label_ids}
    return pd.DataFrame({"conversation_id": frame["conversation_id"], "message_index": frame["message_index"], **table})


def test_external_model_input_and_defaults(schema):
    seen = []

    def predict(frame):
        seen.append(frame.copy())
        answer = _answer(schema.label_ids, frame)
        answer.loc[1, "p_secrecy"] = 0.8
        return answer.assign(extra="ignored")

    model = ExternalModel(predict, schema.label_ids, name="plain")
    predictions = model.predict(_conversations())
    frame = seen[0]
    assert list(frame.columns) == ["conversation_id", "message_index", "author", "text", "timestamp", "language"]
    assert frame["message_index"].tolist() == [0, 1, 0] and "labels" not in frame  # no gold labels leak
    assert model.thresholds_.tolist() == [0.5] * len(schema.label_ids) and model.risk_.threshold_ == 0.5
    assert predictions[0].alert == 1 and predictions[1].alert is None
    assert predictions[0].predicted[1, schema.label_ids.index("secrecy")]
    only_text = message_table(_conversations()[:1])
    assert list(only_text.columns) == ["conversation_id", "message_index", "author", "text", "language"]


def test_external_model_rows_keyed_by_message_are_put_in_order(schema):
    def predict(frame):
        answer = _answer(schema.label_ids, frame)
        answer["p_gifts"] = [0.1, 0.2, 0.3]
        return answer.iloc[::-1]

    probabilities = ExternalModel(predict, schema.label_ids).message_probabilities(_conversations())
    gifts = schema.label_ids.index("gifts")
    assert probabilities[0][:, gifts].tolist() == [0.1, 0.2] and probabilities[1][:, gifts].tolist() == [0.3]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (lambda labels, frame: _answer(labels[:-2], frame), "lack the columns p_meeting_request, p_deception"),
        (lambda labels, frame: _answer(labels, frame, value=1.5), "outside [0, 1]"),
        (lambda labels, frame: _answer(labels, frame, value=float("nan")), "outside [0, 1]"),
        (lambda labels, frame: _answer(labels, frame).iloc[:2], "2 prediction rows for 3 input messages"),
        (lambda labels, frame: np.zeros((len(frame), len(labels))), "predict returned ndarray"),
        (lambda labels, frame: _answer(labels, frame).assign(p_gifts="high"), "non-numeric"),
    ],
)
def test_external_model_contract_errors(schema, answer, message):
    model = ExternalModel(lambda frame: answer(schema.label_ids, frame), schema.label_ids, name="bad")
    with pytest.raises(PipelineError) as caught:
        model.predict(_conversations())
    assert message in str(caught.value) and "p_trust_building" in str(caught.value)  # says what is expected


def test_external_model_can_be_calibrated(schema):
    def predict(frame):
        answer = _answer(schema.label_ids, frame, value=0.1)
        answer.loc[frame["text"].eq("this stays between us").to_numpy(), "p_secrecy"] = 0.3
        return answer

    model = ExternalModel(predict, schema.label_ids)
    model.tune(_conversations())
    assert model.thresholds_[schema.label_ids.index("secrecy")] == pytest.approx(0.3)
    assert model.risk_.threshold_ == pytest.approx(0.3)
