"""Training: one function per step, tracked in MLflow; the CLI and DVC call ``train_model``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from pipeline import corpus, tracking
from pipeline.errors import PipelineError
from pipeline.io import write_text_atomic
from pipeline.models.base import Model
from pipeline.risk import RiskConfig


def tracking_file(out_dir: Path) -> Path:
    """Where the MLflow run of a trained model is recorded: beside the model directory, not in it,
    so that the directory's content (and DVC's hash of it) is the same on every rerun."""
    return out_dir.with_name(f"{out_dir.name}.mlflow.json")


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """``key=value`` pairs (values parsed as YAML: numbers, lists, null); dotted keys nest."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise PipelineError(f"--param {item!r}: expected key=value")
        target = out
        *parents, last = key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[last] = yaml.safe_load(raw)
    return out


def build_model(
    kind: str, label_ids: list[str], params: dict[str, Any], risk: dict[str, Any], seed: int, schema_version: int
) -> Model:
    import pipeline.models  # noqa: F401  (registers the kinds)

    cls = Model.registry.get(kind)
    if cls is None:
        raise PipelineError(f"unknown model kind '{kind}'; expected one of {sorted(Model.registry)}")
    try:
        risk_config = RiskConfig.model_validate(risk)
    except Exception as exc:
        raise PipelineError(f"risk settings: {exc}") from None
    return cls(label_ids, params, risk=risk_config, seed=seed, schema_version=schema_version)


def train_model(
    kind: str,
    train_path: Path,
    valid_path: Path,
    out_dir: Path,
    params: dict[str, Any],
    risk: dict[str, Any],
    seed: int,
    track: bool = True,
) -> Model:
    from pipeline.schema import load_schema

    schema = load_schema()
    train = corpus.read_conversations(train_path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    valid = corpus.read_conversations(valid_path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    model = build_model(kind, schema.label_ids, params, risk, seed, schema.version)
    if not track:
        model.fit(train, valid).save(out_dir)
        return model
    with tracking.run("train", run_name=f"train-{kind}", tags={"model": kind}) as active:
        tracking.log_dataset(train, "train", train_path, "training")
        tracking.log_dataset(valid, "valid", valid_path, "validation")
        model.on_epoch = lambda epoch, metrics: tracking.log_metrics(metrics, step=epoch)  # learning curves
        model.fit(train, valid).save(out_dir)
        described = model.describe()
        tracking.log_params(
            {"model": kind, "seed": seed, "params": described["params"], "risk": described["risk"]["config"]}
        )
        tracking.log_metrics({"threshold": described["thresholds"], "risk_threshold": described["risk"]["threshold"]})
        uri = tracking.log_model(out_dir, model.requirements)  # the pyfunc model holds the directory
        write_text_atomic(tracking_file(out_dir), json.dumps({"run_id": active.info.run_id, "model_uri": uri}) + "\n")
    return model
