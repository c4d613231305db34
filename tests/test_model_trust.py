"""A model folder is data, never code: planted payloads never run.

Each payload is a real pickle whose unpickling writes a marker file (what a crafted model file
does). It is planted where each model kind keeps its learnt parts, under the names older
versions used (``*.joblib``, ``pytorch_model.bin``, MLflow's ``python_model.pkl``), and in place of
the files the kinds write now. Loading must refuse the folder (or ignore the pickle) and the
marker must not exist. The Hugging Face kinds (embed, transformer) and training checkpoints are
covered in tests/test_transformers.py, beside their tiny encoder.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
from pathlib import Path

import pytest

from pipeline.core.errors import PipelineError
from pipeline.models.base import load_model
from tests.conftest import run_cli


class Payload:
    """Unpickling this runs ``exec``: it writes ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('the payload ran')",))


def plant(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(Payload(marker)))


def tree_digest(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def test_a_planted_pickle_does_run_when_unpickled(tmp_path):
    """The payload is real: unpickling it writes the marker (so its absence below means something)."""
    marker = tmp_path / "ran"
    plant(tmp_path / "payload.pkl", marker)
    pickle.loads((tmp_path / "payload.pkl").read_bytes())  # noqa: S301 (the point of the test)
    assert marker.read_text() == "the payload ran"


@pytest.fixture
def copies(baseline_models, tmp_path):
    """Fresh copies of the session's trained lexicon and tfidf folders."""
    for kind in ("lexicon", "tfidf"):
        shutil.copytree(baseline_models / kind, tmp_path / kind)
    return tmp_path


def test_model_folders_hold_only_data_files(copies):
    assert sorted(p.name for p in (copies / "tfidf").iterdir()) == ["model.json", "tfidf.json", "tfidf.safetensors"]
    assert sorted(p.name for p in (copies / "lexicon").iterdir()) == ["cues.json", "model.json"]
    for path in (copies / "tfidf").iterdir():
        assert not path.read_bytes().startswith(b"\x80"), path  # no pickle protocol header


@pytest.mark.parametrize(
    "kind, planted, removed, message",
    [
        # the old file name, beside the new files: refused as unexpected before anything is read
        ("tfidf", "tfidf.joblib", None, "unexpected file in a tfidf model folder"),
        ("tfidf", "extra/evil.pkl", None, "unexpected file in a tfidf model folder"),
        ("lexicon", "cues.pkl", None, "unexpected file in a lexicon model folder"),
        # in place of the arrays file: read as safetensors, which a pickle is not
        ("tfidf", "tfidf.safetensors", None, "not a readable safetensors file"),
        # in place of the JSON files: read as JSON, which a pickle is not
        ("tfidf", "tfidf.json", None, "tfidf.json: not UTF-8 text"),
        ("lexicon", "cues.json", None, "cues.json: not UTF-8 text"),
        ("lexicon", "model.json", None, "model.json: not UTF-8 text"),
    ],
)
def test_a_payload_in_a_model_folder_never_runs(copies, kind, planted, removed, message):
    marker = copies / "ran"
    plant(copies / kind / planted, marker)
    before = tree_digest(copies / kind)
    with pytest.raises(PipelineError) as error:
        load_model(copies / kind)
    assert message in str(error.value)
    assert not marker.exists()
    assert tree_digest(copies / kind) == before  # the folder is left as it was


def test_an_ensemble_checks_each_member_folder(copies, baseline_data):
    from pipeline.data import corpus
    from pipeline.models.ensemble import EnsembleModel
    from pipeline.schema import load_schema

    members = [str(copies / "lexicon"), str(copies / "tfidf")]
    valid = corpus.read_conversations(baseline_data["valid"])[:10]
    EnsembleModel(load_schema().label_ids, {"members": members}).fit([], valid).save(copies / "ensemble")
    assert load_model(copies / "ensemble").label_ids == load_schema().label_ids
    marker = copies / "ran"
    plant(copies / "ensemble" / "members" / "tfidf" / "tfidf.joblib", marker)
    with pytest.raises(PipelineError, match="unexpected file in a tfidf model folder"):
        load_model(copies / "ensemble")
    assert not marker.exists()


def _suite(root: Path, data: Path) -> Path:
    """A params file whose benchmark suite is one data file of the session (a fresh clone has no
    data/processed/ before `dvc repro`)."""
    path = root / "params.yaml"
    suite = {"suite": "one", "suites": {"one": [{"name": "test", "path": str(data)}]}}
    path.write_text(json.dumps({"base": {"seed": 1}, "benchmark": suite}), encoding="utf-8")  # JSON is YAML
    return path


@pytest.mark.parametrize("command", ["evaluate", "score", "benchmark", "annotate export"])
def test_commands_refuse_a_tampered_folder_and_nothing_runs(copies, baseline_data, baseline_mlflow_env, command):
    marker = copies / "ran"
    plant(copies / "tfidf" / "tfidf.joblib", marker)
    out = copies / "out"
    data = baseline_data["test"]
    args = {
        "evaluate": ["evaluate", "--model", copies / "tfidf", "--data", data, "--out", out / "m.json", "--no-track"],
        "score": ["score", "--model", copies / "tfidf", "--data", data, "--out", out / "s.jsonl"],
        "benchmark": [
            "benchmark",
            "--model",
            copies / "tfidf",
            "--params",
            _suite(copies, data),
            "--out-dir",
            out,
            "--no-track",
        ],
        "annotate export": ["annotate", "export", "--data", data, "--model", copies / "tfidf", "--out", out / "t.json"],
    }[command]
    result = run_cli(*args, env=baseline_mlflow_env)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "unexpected file in a tfidf model folder" in result.stderr and "tfidf.joblib" in result.stderr
    assert "Traceback" not in result.stderr
    assert not marker.exists() and not out.exists()


def test_a_label_list_other_than_the_schemas_is_refused(copies, baseline_data):
    info = json.loads((copies / "lexicon" / "model.json").read_text())
    info["label_ids"] = list(reversed(info["label_ids"]))
    (copies / "lexicon" / "model.json").write_text(json.dumps(info))
    out = copies / "m.json"
    result = run_cli(
        "evaluate", "--model", copies / "lexicon", "--data", baseline_data["test"], "--out", out, "--no-track"
    )
    assert result.returncode == 1
    assert "label_ids: the model's labels" in result.stderr and "differ from the schema's" in result.stderr
    assert not out.exists()


def test_damaged_model_json_is_a_located_error(copies):
    path = copies / "tfidf" / "model.json"
    path.write_text(path.read_text()[:200])  # truncated
    with pytest.raises(PipelineError, match=r"model.json: line \d+, column \d+: not valid JSON"):
        load_model(copies / "tfidf")
    info = json.loads((copies / "lexicon" / "model.json").read_text())
    del info["thresholds"]
    (copies / "lexicon" / "model.json").write_text(json.dumps(info))
    with pytest.raises(PipelineError, match="missing or malformed field 'thresholds'"):
        load_model(copies / "lexicon")


def test_mlflow_models_are_logged_from_code_and_read_without_running_it(
    baseline_models, baseline_mlflow_env, tmp_path, monkeypatch
):
    """The logged MLflow model holds no pickle; a pickle planted in a copy of it is never read,
    and a payload planted in its model directory is refused like any folder's."""
    import mlflow.artifacts

    from pipeline import tracking

    monkeypatch.setenv("MLFLOW_TRACKING_URI", baseline_mlflow_env["MLFLOW_TRACKING_URI"])
    uri = json.loads((baseline_models / "tfidf.mlflow.json").read_text())["model_uri"]
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path / "dl")))
    meta = (local / "MLmodel").read_text()
    assert "python_model.pkl" not in meta and "loader_module: mlflow.pyfunc.loaders.code_model" in meta
    assert not any(p.suffix in (".pkl", ".joblib") for p in local.rglob("*"))
    marker = tmp_path / "ran"
    plant(local / "python_model.pkl", marker)  # as older MLflow models hold
    model = tracking.load_model(local)
    assert model.kind == "tfidf" and not marker.exists()
    plant(local / "artifacts" / "tfidf" / "tfidf.joblib", marker)
    with pytest.raises(PipelineError, match="unexpected file in a tfidf model folder"):
        tracking.load_model(local)
    assert not marker.exists()
