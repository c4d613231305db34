"""Training: one function per step, tracked in MLflow; the CLI and DVC call ``train_model``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import tracking
from pipeline.config import load_params
from pipeline.config.models import AuthoredConfig
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic
from pipeline.data import corpus
from pipeline.data.corpus import Conversation
from pipeline.engines.launch import process_group
from pipeline.models.base import Model
from pipeline.models.risk import RiskConfig


@dataclass
class TrainingSettings:
    """What ``train`` and ``learning-curve`` read from params.yaml and ``--param``, validated."""

    model: dict[str, Any]  # the kind's own settings (defaults included), overrides applied
    risk: dict[str, Any]
    seed: int
    mix: AuthoredConfig  # the authored section
    train_synthetic: bool
    authored_weight: int


def write_run_reference(out_dir: Path, run_id: str | None, model_uri: str | None, datasets: list[dict]) -> Path:
    """``models/<kind>.mlflow.json``, a DVC output of ``train``: the MLflow run and model that this
    training logged (null with ``--no-track``) and the digests of its input data sets. The model
    card cites it; nothing downstream reads the MLflow store."""
    record = {"run_id": run_id, "model_uri": model_uri, "datasets": datasets}
    return write_text_atomic(tracking.run_reference_path(out_dir), json.dumps(record, indent=2) + "\n")


def training_settings(kind: str, params_file: Path | None, overrides: list[str]) -> TrainingSettings:
    """The settings of model kind ``kind``: its section of ``params_file`` (the defaults when None)
    with ``--param key=value`` overrides (``risk.*`` and ``authored.*`` reach those sections)."""
    params = load_params(params_file, overrides, section=kind)
    section = params.model_section(kind)
    # The training mix, not the model's own settings: a model section may leave the synthetic
    # set out or give authored_train its own weight (over authored.weight).
    return TrainingSettings(
        model=section.model_params(),
        risk=params.risk.model_dump(),
        seed=params.seed if section.seed is None else section.seed,
        mix=params.authored,
        train_synthetic=section.train_synthetic,
        authored_weight=params.authored.weight if section.authored_weight is None else section.authored_weight,
    )


def build_model(
    kind: str, label_ids: list[str], params: dict[str, Any], risk: dict[str, Any], seed: int, schema_version: int
) -> Model:
    from pipeline.models import KINDS, kind_class

    cls = kind_class(kind)
    if cls is None:
        raise PipelineError(f"unknown model kind '{kind}'; expected one of {sorted(KINDS)}")
    try:
        risk_config = RiskConfig.model_validate(risk)
    except Exception as exc:
        raise PipelineError(f"risk settings: {exc}") from None
    return cls(label_ids, params, risk=risk_config, seed=seed, schema_version=schema_version)


def repeat_conversations(conversations: list[Conversation], times: int) -> list[Conversation]:
    """``times`` copies of each conversation (ids ``<id>#r<k>`` after the first): how the authored
    corpus is weighted against the much larger synthetic one, for every model kind alike."""
    if times < 0:
        raise PipelineError(f"authored weight: expected a whole number >= 0, found {times}")
    out = []
    for k in range(times):
        for conversation in conversations:
            if k == 0:
                out.append(conversation)
                continue
            cid = f"{conversation.conversation_id}#r{k}"
            copy = conversation.model_copy(update={"conversation_id": cid}, deep=True)
            for index, message in enumerate(copy.messages):
                message.message_id = f"{cid}:{index}"
            out.append(copy)
    return out


def train_model(
    kind: str,
    train_path: Path,
    valid_path: Path,
    out_dir: Path,
    params: dict[str, Any],
    risk: dict[str, Any],
    seed: int,
    track: bool = True,
    authored_train: Path | None = None,
    authored_valid: Path | None = None,
    authored_weight: int = 0,
    thresholds_on: str = "all",
    train_synthetic: bool = True,
) -> Model:
    """Fit on train (+ ``authored_train`` repeated ``authored_weight`` times), tune on valid
    (+ ``authored_valid``, whole; with ``thresholds_on="authored"`` the per-label thresholds on
    ``authored_valid`` alone), save, and log to MLflow. ``train_synthetic=False`` leaves the
    synthetic training set out (the authored data alone; valid is still used for tuning)."""
    from pipeline.schema import load_schema

    schema = load_schema()

    def read(path: Path | None) -> list[Conversation]:
        if path is None:
            return []
        return corpus.read_conversations(path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)

    train = read(train_path) if train_synthetic else []
    valid = read(valid_path)
    authored = repeat_conversations(read(authored_train), authored_weight) if authored_weight else []
    valid_whole = read(authored_valid)
    if thresholds_on not in ("all", "authored"):
        raise PipelineError(f"thresholds_on: expected 'all' or 'authored', found {thresholds_on!r}")
    model = build_model(kind, schema.label_ids, params, risk, seed, schema.version)
    fit = {"thresholds_on": "whole" if thresholds_on == "authored" else "all"}
    with process_group(kind) as rank:  # under torchrun / accelerate launch: N processes, one model
        if rank != 0:
            model.fit(train + authored, valid, valid_whole, **fit)  # its shard of every batch; rank 0 writes
            return model
        if not track:
            model.fit(train + authored, valid, valid_whole, **fit).save(out_dir)
            write_run_reference(out_dir, None, None, [])
            return model
        with tracking.run("train", run_name=f"train-{kind}", tags={"model": kind}) as active:
            datasets = []
            if train:
                datasets.append(tracking.log_dataset(train, "train", train_path, "training"))
            datasets.append(tracking.log_dataset(valid, "valid", valid_path, "validation"))
            if authored:
                datasets.append(tracking.log_dataset(authored, "authored_train", authored_train, "training"))
            if valid_whole:
                datasets.append(tracking.log_dataset(valid_whole, "authored_valid", authored_valid, "validation"))
            model.on_epoch = lambda epoch, metrics: tracking.log_metrics(metrics, step=epoch)  # learning curves
            model.fit(train + authored, valid, valid_whole, **fit).save(out_dir)
            if getattr(model, "step_losses_", None):
                tracking.log_series("train_loss_step", model.step_losses_)  # the loss of every global batch
            described = model.describe()
            tracking.log_params(
                {
                    "model": kind,
                    "seed": seed,
                    "params": described["params"],
                    "risk": described["risk"]["config"],
                    "authored_weight": authored_weight,
                    "thresholds_on": thresholds_on,
                    "train_synthetic": train_synthetic,
                }
            )
            risk_threshold = described["risk"]["threshold"]
            tracking.log_metrics({"threshold": described["thresholds"], "risk_threshold": risk_threshold})
            uri = tracking.log_model(out_dir, model.requirements)  # the pyfunc model holds the directory
            write_run_reference(out_dir, active.info.run_id, uri, datasets)
        return model
