"""Everything that talks to MLflow lives here.

Default store: ``sqlite:///<repo root>/mlflow.db`` with artifacts in ``<repo root>/mlartifacts``
(both git-ignored), anchored at the repository root, also inside ``dvc exp run`` (``DVC_ROOT``).
``MLFLOW_TRACKING_URI`` overrides the store. Each training or evaluation is one run with params,
metrics, plots, its input data sets (``mlflow.data``, with digests) and tags (git commit, DVC
stage, data set); the run name comes from ``DVC_EXP_NAME`` when DVC sets it. Trained models are
also logged as MLflow pyfunc models: ``mlflow.pyfunc.load_model(uri).predict(message_table)``.
They are logged "from code" (``pyfunc_model.py``) with the model directory as an artifact: no
pickled object is stored, and ``load_model`` reads the project's own models without running any.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow.artifacts
import mlflow.pyfunc  # this module is the only one that talks to MLflow

from pipeline.core.errors import PipelineError
from pipeline.core.paths import PACKAGE_DIR, REPO_ROOT

# MLflow guesses data set sources and warns about integer columns aloud; neither matters here.
warnings.filterwarnings("ignore", message=r".*(dataset source|Integer columns).*", category=UserWarning)

EXPERIMENT = "grooming-risk"
MODEL_ARTIFACT = "model"
PYFUNC_REQUIREMENTS = ["scikit-learn", "pandas", "numpy", "pydantic", "pyyaml", "safetensors", "scipy", "mlflow"]
MODEL_CODE = PACKAGE_DIR / "tracking" / "pyfunc_model.py"  # what MLflow runs to load a logged model
MODEL_DIR_ARTIFACT = "model_dir"  # the model directory, inside the MLflow model's artifacts


def pinned(packages: list[str]) -> list[str]:
    """``name==installed version`` for each package (unpinned when it is not installed here)."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in packages:
        try:
            out.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            out.append(name)
    return out


class GroomingRiskPyfunc(mlflow.pyfunc.PythonModel):
    """A model directory behind MLflow's pyfunc interface (see ``pipeline.tracking.serving``)."""

    _skip_type_hint_validation = True  # input is a plain message table; serving.py documents it

    def load_context(self, context):
        from pipeline.models.base import load_model as load_directory

        self.model = load_directory(context.artifacts[MODEL_DIR_ARTIFACT])

    def predict(self, context, model_input, params=None):
        from pipeline.tracking.serving import predict_table

        return predict_table(self.model, model_input)


def run_reference_path(out_dir: Path) -> Path:
    """Where the MLflow run of a trained model is recorded: beside the model directory, not in it,
    so that the directory's content (and DVC's hash of it) is the same on every rerun."""
    return out_dir.with_name(f"{out_dir.name}.mlflow.json")


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{REPO_ROOT / 'mlflow.db'}"


def artifact_root() -> str:
    """Where a local store keeps artifacts: ``mlartifacts/`` beside the sqlite database that the
    tracking URI names (the repository's own by default), never the repository's when the URI
    points elsewhere."""
    uri = tracking_uri()
    if uri.startswith("sqlite:///"):
        database = Path(uri.removeprefix("sqlite:///"))
        return (database.resolve().parent / "mlartifacts").as_uri()
    if uri.startswith("file:"):
        return uri.rstrip("/") + "/mlartifacts"
    return (REPO_ROOT / "mlartifacts").as_uri()


def _mlflow():
    import logging

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    logging.getLogger("mlflow").setLevel(logging.ERROR)  # keep stage output readable
    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(tracking_uri())
    return mlflow


def experiment_id(name: str = EXPERIMENT) -> str:
    mlflow = _mlflow()
    found = mlflow.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    # A local store keeps artifacts beside it at the repository root; a tracking server decides
    # where artifacts go (its --artifacts-destination), so the client must not impose a local path.
    local = tracking_uri().startswith(("sqlite:", "file:", "/"))
    try:
        return mlflow.create_experiment(name, artifact_location=artifact_root() if local else None)
    except mlflow.exceptions.MlflowException as exc:
        # Two processes creating it at once (first runs against a new server): the loser finds it.
        found = mlflow.get_experiment_by_name(name)
        if exc.error_code != "RESOURCE_ALREADY_EXISTS" or found is None:
            raise
        return found.experiment_id


def _git_commit() -> str | None:
    try:
        result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


@contextlib.contextmanager
def run(stage: str, run_name: str | None = None, tags: dict[str, str] | None = None) -> Iterator[Any]:
    """An MLflow run for one pipeline stage."""
    mlflow = _mlflow()
    name = os.environ.get("DVC_EXP_NAME") or run_name
    all_tags = {"stage": stage, "dvc.stage": os.environ.get("DVC_STAGE", stage), **(tags or {})}
    commit = _git_commit()
    if commit:
        all_tags["git.commit"] = commit
    if os.environ.get("DVC_EXP_NAME"):
        all_tags["dvc.exp_name"] = os.environ["DVC_EXP_NAME"]
    with mlflow.start_run(experiment_id=experiment_id(), run_name=name, tags=all_tags) as active:
        yield active


def log_params(params: dict[str, Any]) -> None:
    mlflow = _mlflow()
    flat = {k: json.dumps(v) if isinstance(v, (list, tuple)) else v for k, v in flatten(params).items()}
    mlflow.log_params({k: str(v)[:6000] for k, v in flat.items()})


def log_metrics(metrics: dict[str, Any], step: int | None = None) -> None:
    mlflow = _mlflow()
    intervals = metrics.get("intervals", {})  # {"conversation.f1": [low, high], ...}
    numeric = {
        k: float(v)
        for k, v in flatten({k: v for k, v in metrics.items() if k != "intervals"}).items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    for key, (low, high) in intervals.items():
        numeric[f"ci_low.{key}"] = float(low)
        numeric[f"ci_high.{key}"] = float(high)
    mlflow.log_metrics(numeric, step=step)


def log_series(key: str, values: list[float]) -> None:
    """``values`` as the metric ``key`` at steps 1, 2, ... (a learning curve), in batches of
    MLflow's limit rather than one request a step."""
    import time

    from mlflow.entities import Metric

    mlflow = _mlflow()
    run_id = mlflow.active_run().info.run_id
    now = int(time.time() * 1000)
    metrics = [Metric(key, float(v), now, step) for step, v in enumerate(values, start=1)]
    client = mlflow.MlflowClient()
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])


def log_artifacts(path: str | Path, artifact_path: str | None = None) -> None:
    mlflow = _mlflow()
    path = Path(path)
    if path.is_dir():
        mlflow.log_artifacts(str(path), artifact_path)
    elif path.exists():
        mlflow.log_artifact(str(path), artifact_path)


def log_dataset(conversations, name: str, source: str | Path, context: str) -> dict[str, str]:
    """Record an input data set (its message table, with MLflow's digest) on the active run;
    return what was recorded (name, context, digest), for the run reference beside a model."""
    _mlflow()
    import mlflow.data

    from pipeline.data.corpus import to_message_frame

    frame = to_message_frame(conversations)[["conversation_id", "message_index", "author", "text", "labels", "label"]]
    frame = frame.assign(labels=frame["labels"].map(lambda v: None if v is None else ";".join(v)))
    dataset = mlflow.data.from_pandas(frame, source=str(source), name=name)
    mlflow.log_input(dataset, context=context)
    return {"name": name, "context": context, "digest": dataset.digest}


def log_model(model_dir: str | Path, extra_requirements: list[str] | None = None) -> str:
    """Log a saved model directory as an MLflow pyfunc model; return its ``runs:/`` URI.

    The requirements are explicit and pinned to this environment (MLflow's inference of them
    is slow and, for torch models, asks for packages the model does not use). The ``pipeline``
    package itself travels with the model (``code_paths``: MLflow copies it to ``code/pipeline``
    and puts ``code/`` first on ``sys.path`` when loading), so an environment with only the
    requirements installed can load and serve it. The model is logged from code (``MODEL_CODE``):
    MLflow stores that file, not a pickled object."""
    _mlflow()
    info = mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT,
        python_model=str(MODEL_CODE),
        artifacts={MODEL_DIR_ARTIFACT: str(model_dir)},
        code_paths=[str(PACKAGE_DIR)],
        pip_requirements=pinned(PYFUNC_REQUIREMENTS + list(extra_requirements or [])),
    )
    return f"runs:/{mlflow.active_run().info.run_id}/{MODEL_ARTIFACT}" if info else ""


def load_model(reference: str | Path, label_ids: list[str] | None = None):
    """A model from a directory, or from an MLflow model URI (``runs:/...``, ``models:/...``)
    or a local MLflow model folder (one with an ``MLmodel`` file).

    This project's own MLflow models (an ``MLmodel`` whose artifacts hold a model directory) are
    read without running anything they contain: the model directory is downloaded and loaded as
    data (``pipeline.models.load_model``). Any other pyfunc model that answers the message table
    with ``p_<label>`` columns is loaded by MLflow, which runs its code (a model from elsewhere is
    code: see the README, "What is trusted"), and wrapped in ``ExternalModel``
    (``pipeline.models.external``, ``pipeline.tracking.serving``).

    With ``label_ids`` (the schema's), a model with another label list is refused: its metrics
    would be computed against the wrong columns."""
    model = _load_any(reference)
    if label_ids is not None and list(model.label_ids) != list(label_ids):
        raise PipelineError(
            f"{reference}: label_ids: the model's labels {list(model.label_ids)} differ from the schema's "
            f"{list(label_ids)} (expected a model trained with this schema)"
        )
    return model


def _load_any(reference: str | Path):
    from pipeline.models.base import MODEL_FILE
    from pipeline.models.base import load_model as load_directory

    path = Path(str(reference))
    mlflow_folder = (path / "MLmodel").is_file() and not (path / MODEL_FILE).exists()
    if path.exists() and not mlflow_folder:
        return load_directory(path)
    is_uri = str(reference).startswith(("runs:/", "models:/", "mlflow-artifacts:/")) or "://" in str(reference)
    if not mlflow_folder and not is_uri:
        raise PipelineError(f"{reference}: no such model directory or MLflow model URI")
    _mlflow()
    if mlflow_folder:
        root = path
    else:
        try:
            root = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=str(reference), dst_path=tempfile.mkdtemp(prefix="grooming-risk-model-")
                )
            )
        except Exception as exc:  # MLflow raises many kinds for a bad URI
            raise PipelineError(f"{reference}: cannot load the MLflow model: {exc}") from None
    own = own_model_directory(root)
    if own is not None:
        return load_directory(own)
    try:
        loaded = mlflow.pyfunc.load_model(str(root))
    except Exception as exc:
        raise PipelineError(f"{reference}: cannot load the MLflow model: {exc}") from None
    return _external_model(loaded, str(reference))


def own_model_directory(root: Path) -> Path | None:
    """The model directory inside one of this project's MLflow models (``root`` holds ``MLmodel``),
    or None for any other MLflow model. Read as YAML data; the path must stay inside ``root``."""
    import yaml

    from pipeline.models.base import MODEL_FILE

    try:
        meta = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PipelineError(f"{root / 'MLmodel'}: not a readable MLmodel file ({exc})") from None
    try:
        relative = meta["flavors"]["python_function"]["artifacts"][MODEL_DIR_ARTIFACT]["path"]
    except (KeyError, TypeError):
        return None
    directory = (root / str(relative)).resolve()
    if not directory.is_relative_to(root.resolve()) or not (directory / MODEL_FILE).is_file():
        return None
    return directory


def _external_name(reference: str) -> str:
    """A short, file-name-safe name for an external model: ``<registered name>-<version>``,
    ``run-<run id>``, or the folder name."""
    import re

    text = reference.rstrip("/")
    if text.startswith("models:/"):
        name = text[len("models:/") :].replace("/", "-").replace("@", "-")
    elif text.startswith("runs:/"):
        parts = text[len("runs:/") :].split("/")
        name = f"run-{parts[0][:8]}"
    else:
        name = text.rsplit("/", 1)[-1] or "external"
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "external"


def _external_model(loaded, reference: str):
    from pipeline.models.external import ExternalModel
    from pipeline.schema import load_schema

    schema = load_schema()
    return ExternalModel(
        loaded.predict,
        schema.label_ids,
        name=_external_name(reference),
        reference=reference,
        schema_version=schema.version,
    )


def evaluation_runs() -> list[dict[str, Any]]:
    """Finished evaluation runs, newest first, as plain dicts (for the leaderboard)."""
    mlflow = _mlflow()
    runs = mlflow.search_runs(
        experiment_ids=[experiment_id()],
        filter_string="tags.stage = 'evaluate'",
        order_by=["attributes.start_time DESC"],
        output_format="list",
    )
    return [
        {
            "run_id": r.info.run_id,
            "run_name": r.info.run_name,
            "start_time": r.info.start_time,
            "tags": dict(r.data.tags),
            "metrics": dict(r.data.metrics),
            "params": dict(r.data.params),
        }
        for r in runs
    ]


def run_summary(run_id: str) -> dict[str, Any]:
    """One run as a plain dict (for the model card): info, params, metrics, tags and input data sets.

    Raises ``PipelineError`` when the store has no such run."""
    _mlflow()
    from mlflow.exceptions import MlflowException

    try:
        found = mlflow.MlflowClient(tracking_uri()).get_run(run_id)
    except MlflowException as exc:
        raise PipelineError(f"MLflow run {run_id} not found in {tracking_uri()}: {exc.message}") from None
    inputs = found.inputs.dataset_inputs if found.inputs else []
    return {
        "run_id": found.info.run_id,
        "run_name": found.info.run_name,
        "status": found.info.status,
        "start_time": found.info.start_time,
        "end_time": found.info.end_time,
        "tracking_uri": tracking_uri(),
        "params": dict(found.data.params),
        "metrics": dict(found.data.metrics),
        "tags": {k: v for k, v in found.data.tags.items() if not k.startswith("mlflow.")},
        "datasets": [
            {
                "name": item.dataset.name,
                "digest": item.dataset.digest,
                "context": next((t.value for t in item.tags if t.key == "mlflow.data.context"), None),
            }
            for item in inputs
        ],
    }
