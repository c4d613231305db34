"""The one reader of predictions documents (``<metrics>.predictions.json``, written by evaluate):
per conversation its gold labels, risk label, probabilities, predicted labels, running risk and
first alert. ``compare`` pairs two of them; the error analysis joins one with its corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.models.base import ConversationPrediction

PREDICTIONS_SUFFIX = ".predictions.json"
REQUIRED = ("model", "dataset", "label_ids", "risk_threshold", "conversations")
ROW_KEYS = ("conversation_id", "gold", "probabilities", "predicted", "risk", "alert")


@dataclass
class PredictionsFile:
    path: Path
    model: str
    dataset: str
    label_ids: list[str]
    risk_threshold: float
    rows: list[dict[str, Any]]  # per conversation: conversation_id, label, gold (None per unannotated message)
    predictions: list[ConversationPrediction]

    @property
    def conversation_ids(self) -> list[str]:
        return [row["conversation_id"] for row in self.rows]


def read_predictions(path: str | Path) -> PredictionsFile:
    """Read and check a predictions document; raises ``PipelineError`` naming the file and what is wrong."""
    path = Path(path)
    expected = f"a predictions file written by evaluate (<metrics>{PREDICTIONS_SUFFIX})"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; expected {expected}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: expected {expected}: {exc}") from None
    if not isinstance(document, dict):
        raise PipelineError(f"{path}: expected {expected}")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        raise PipelineError(f"{path}: expected {expected}; missing {missing}")
    label_ids = list(document["label_ids"])
    rows, predictions = [], []
    for index, row in enumerate(document["conversations"]):
        absent = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if absent:
            raise PipelineError(f"{path}: conversations[{index}]: missing {absent}")
        width = len(label_ids)
        rows.append({"conversation_id": row["conversation_id"], "label": row.get("label"), "gold": row["gold"]})
        predictions.append(
            ConversationPrediction(
                conversation_id=row["conversation_id"],
                probabilities=np.array(row["probabilities"], dtype=float).reshape(-1, width),
                predicted=np.array(row["predicted"], dtype=bool).reshape(-1, width),
                risk=np.array(row["risk"], dtype=float),
                alert=row["alert"],
            )
        )
    return PredictionsFile(
        path=path,
        model=document["model"],
        dataset=document["dataset"],
        label_ids=label_ids,
        risk_threshold=float(document["risk_threshold"]),
        rows=rows,
        predictions=predictions,
    )
