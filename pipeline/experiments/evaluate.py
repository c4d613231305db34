"""Evaluation and paired comparison of models on a corpus (scoring: ``experiments.score``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from pipeline import tracking
from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic
from pipeline.data import corpus
from pipeline.data.corpus import Conversation, Message
from pipeline.evaluation.metrics import Aligned, evaluate_predictions, paired_bootstrap
from pipeline.evaluation.predictions import PredictionsFile, read_predictions
from pipeline.models.base import ConversationPrediction, label_matrix, subsample_conversations


def predictions_document(
    model, conversations: list[Conversation], predictions: list[ConversationPrediction], dataset: str
) -> dict[str, Any]:
    """Everything ``compare`` needs to recompute metrics: gold labels and predictions."""
    rows = []
    for conversation, prediction in zip(conversations, predictions, strict=True):
        gold = label_matrix(conversation, model.label_ids)
        rows.append(
            {
                "conversation_id": conversation.conversation_id,
                "label": conversation.label,
                "gold": [None if g[0] < 0 else g.tolist() for g in gold],
                "probabilities": np.round(prediction.probabilities, 5).tolist(),
                "predicted": prediction.predicted.astype(int).tolist(),
                "risk": np.round(prediction.risk, 5).tolist(),
                "alert": prediction.alert,
            }
        )
    return {
        "model": model.kind,
        "dataset": dataset,
        "label_ids": model.label_ids,
        "risk_threshold": model.risk_.threshold_,
        "conversations": rows,
    }


def evaluate_model(
    model_ref: str,
    data_path: Path,
    out_path: Path,
    plots_dir: Path | None = None,
    dataset: str | None = None,
    bootstrap: int = 500,
    seed: int = 0,
    track: bool = True,
    max_conversations: int | None = None,
    *,
    tags: dict[str, str] | None = None,
    model=None,
) -> dict:
    """Metrics of a model on a corpus (or, with ``max_conversations``, on a seeded sample of
    it: the same sample for every model, as the sample depends only on the corpus and seed).

    ``tags`` are added to the MLflow run's tags; ``model``, an already loaded model, is used
    instead of loading ``model_ref`` again (which is still recorded as its reference)."""
    from pipeline.evaluation.plots import write_plots
    from pipeline.schema import load_schema

    schema = load_schema()
    if model is None:
        model = tracking.load_model(model_ref, label_ids=schema.label_ids)
    conversations = corpus.read_conversations(data_path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    conversations = subsample_conversations(conversations, max_conversations, seed)
    name = dataset or Path(data_path).stem
    predictions = model.predict(conversations)
    metrics = evaluate_predictions(
        conversations, predictions, model.label_ids, model.risk_.threshold_, bootstrap=bootstrap, seed=seed
    )
    metrics["model"] = {"kind": model.kind, "reference": str(model_ref)}
    metrics["dataset"] = {"name": name, "path": str(data_path), "conversations": len(conversations)}
    write_text_atomic(out_path, json.dumps(metrics, indent=2) + "\n")
    predictions_path = out_path.with_suffix(".predictions.json")
    write_text_atomic(
        predictions_path, json.dumps(predictions_document(model, conversations, predictions, name)) + "\n"
    )
    plot_paths = []
    if plots_dir is not None:
        aligned = Aligned(conversations, predictions, model.label_ids, model.risk_.threshold_)
        plot_paths = write_plots(
            aligned, conversations, predictions, model.risk_.threshold_, plots_dir, f"{model.kind} on {name}"
        )
    if track:
        with tracking.run(
            "evaluate",
            run_name=f"evaluate-{model.kind}-{name}",
            tags={"model": model.kind, "dataset": name, "model_reference": str(model_ref), **(tags or {})},
        ):
            tracking.log_dataset(conversations, name, data_path, "evaluation")
            tracking.log_params(
                {"model": model.kind, "dataset": name, "bootstrap": bootstrap, "max_conversations": max_conversations}
            )
            tracking.log_metrics(
                {k: v for k, v in metrics.items() if k in ("message", "conversation", "early", "intervals")}
            )
            tracking.log_artifacts(out_path, "metrics")
            for path in plot_paths:
                tracking.log_artifacts(path, "plots")
    return metrics


def _aligned(read: PredictionsFile) -> Aligned:
    """Gold and predictions of a predictions document, without the texts (enough for metrics)."""
    conversations = [
        Conversation(
            conversation_id=row["conversation_id"],
            label=row["label"],
            messages=[
                Message(
                    author="?",
                    text="",
                    labels=None if g is None else [label for label, v in zip(read.label_ids, g, strict=True) if v],
                )
                for g in row["gold"]
            ],
        )
        for row in read.rows
    ]
    return Aligned(conversations, read.predictions, read.label_ids, read.risk_threshold)


def compare_predictions(path_a: Path, path_b: Path, samples: int = 1000, seed: int = 0) -> dict[str, Any]:
    """Paired bootstrap of two models' predictions on the same conversations."""
    first, second = read_predictions(path_a), read_predictions(path_b)
    if first.conversation_ids != second.conversation_ids:
        raise PipelineError(f"{path_a} and {path_b} are not predictions on the same conversations")
    if first.label_ids != second.label_ids:
        raise PipelineError("the two models use different label lists")
    return {
        "a": {"model": first.model, "path": str(path_a)},
        "b": {"model": second.model, "path": str(path_b)},
        "dataset": first.dataset,
        "samples": samples,
        "metrics": paired_bootstrap(_aligned(first), _aligned(second), samples, seed),
    }
