"""The one reader of predictions documents (``<metrics>.predictions.json``, written by evaluate):
per conversation its gold labels, risk label, probabilities, predicted labels, running risk and
first alert. ``compare`` pairs two of them; the error analysis joins one with its corpus."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import DataError, PipelineError, Problem
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


def _found(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _array(value: Any, shape: tuple[int, ...]) -> np.ndarray | None:
    """``value`` as a float array of ``shape`` with finite entries; None when it is not one."""
    if isinstance(value, str):
        return None
    try:
        array = np.array(value, dtype=float)
    except (TypeError, ValueError):
        return None
    return array if array.shape == shape and np.isfinite(array).all() else None


def _row_problems(row: dict[str, Any], width: int) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """(field, what was expected) for each bad field of one conversation row, and its arrays."""
    problems: list[tuple[str, str]] = []
    if not isinstance(row["conversation_id"], str):
        problems.append(("conversation_id", f"expected a string, found {_found(row['conversation_id'])}"))
    label = row.get("label")
    if label not in (0, 1, None) or isinstance(label, bool):
        problems.append(("label", f"expected 0, 1 or null, found {label!r}"))
    gold = row["gold"]
    if not isinstance(gold, list) or not gold:
        problems.append(("gold", f"expected a list with one entry per message, found {_found(gold)}"))
        return problems, {}
    size = len(gold)
    for index, entry in enumerate(gold):
        if entry is not None and (
            not isinstance(entry, list) or len(entry) != width or any(v not in (0, 1) for v in entry)
        ):
            problems.append((f"gold[{index}]", f"expected null (not annotated) or {width} values 0/1 (one per label)"))
            break
    arrays = {
        "probabilities": _array(row["probabilities"], (size, width)),
        "predicted": _array(row["predicted"], (size, width)),
        "risk": _array(row["risk"], (size,)),
    }
    for key, shape in (
        ("probabilities", f"{size} rows of {width} numbers"),
        ("predicted", f"{size} rows of {width} 0/1"),
    ):
        if arrays[key] is None:
            problems.append((key, f"expected {shape} (a row per message of gold, a column per label id)"))
    if arrays["predicted"] is not None and not np.isin(arrays["predicted"], (0, 1)).all():
        problems.append(("predicted", "expected 0/1 values"))
    if arrays["risk"] is None:
        problems.append(("risk", f"expected {size} numbers (the risk after each message of gold)"))
    alert = row["alert"]
    if alert is not None and (isinstance(alert, bool) or not isinstance(alert, int) or not 0 <= alert < size):
        problems.append(("alert", f"expected null or a message index from 0 to {size - 1}, found {alert!r}"))
    return problems, arrays


def read_predictions(path: str | Path) -> PredictionsFile:
    """Read and check a predictions document; raises ``PipelineError`` naming the file, the field
    (``conversations[3].risk``) and what was expected."""
    path = Path(path)
    expected = f"a predictions file written by evaluate (<metrics>{PREDICTIONS_SUFFIX})"
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found; expected {expected}") from None
    except json.JSONDecodeError as exc:
        raise DataError.single(
            path, exc.lineno, "(json)", f"expected {expected}: {exc.msg} at column {exc.colno}"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataError.single(
            path, None, "(encoding)", f"expected {expected} in UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    except (OSError, RecursionError) as exc:
        raise PipelineError(f"{path}: cannot be read ({exc}); expected {expected}") from None
    if not isinstance(document, dict):
        raise DataError.single(path, None, "(file)", f"expected {expected}: a JSON object, found {_found(document)}")
    missing = [key for key in REQUIRED if key not in document]
    if missing:
        raise PipelineError(f"{path}: expected {expected}; missing {missing}")
    problems: list[Problem] = []

    def problem(where: str, message: str) -> None:
        problems.append(Problem(str(path), None, where, message))

    for key in ("model", "dataset"):
        if not isinstance(document[key], str):
            problem(key, f"expected a string, found {_found(document[key])}")
    label_ids = document["label_ids"]
    if not isinstance(label_ids, list) or not label_ids or not all(isinstance(x, str) for x in label_ids):
        problem("label_ids", f"expected a non-empty list of label ids, found {_found(label_ids)}")
        label_ids = []
    threshold = document["risk_threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        problem("risk_threshold", f"expected a number, found {_found(threshold)}")
    conversations = document["conversations"]
    if not isinstance(conversations, list) or not conversations:
        problem("conversations", f"expected a non-empty list of conversations, found {_found(conversations)}")
        conversations = []
    if problems:
        raise DataError(problems)
    width = len(label_ids)
    rows, predictions, seen = [], [], {}
    for index, row in enumerate(conversations):
        absent = [key for key in ROW_KEYS if not isinstance(row, dict) or key not in row]
        if absent:
            problem(f"conversations[{index}]", f"missing {absent}")
            continue
        found, arrays = _row_problems(row, width)
        for where, message in found:
            problem(f"conversations[{index}].{where}", message)
        if found:
            continue
        cid = row["conversation_id"]
        if cid in seen:
            problem(f"conversations[{index}].conversation_id", f"duplicate id '{cid}' (first at [{seen[cid]}])")
            continue
        seen[cid] = index
        rows.append({"conversation_id": cid, "label": row.get("label"), "gold": row["gold"]})
        predictions.append(
            ConversationPrediction(
                conversation_id=cid,
                probabilities=arrays["probabilities"],
                predicted=arrays["predicted"].astype(bool),
                risk=arrays["risk"],
                alert=row["alert"],
            )
        )
    if problems:
        raise DataError(problems)
    return PredictionsFile(
        path=path,
        model=document["model"],
        dataset=document["dataset"],
        label_ids=list(label_ids),
        risk_threshold=float(threshold),
        rows=rows,
        predictions=predictions,
    )


def check_comparable(first: PredictionsFile, second: PredictionsFile) -> None:
    """Two predictions documents that ``compare`` can pair: the same label list and the same
    conversations in the same order; else an error naming both files and the field."""
    if first.label_ids != second.label_ids:
        raise PipelineError(
            f"{second.path}: label_ids: expected the label list of {first.path} ({first.label_ids}), found "
            f"{second.label_ids}: predictions of models with other label lists cannot be paired"
        )
    if first.conversation_ids != second.conversation_ids:
        differ = next(
            (
                i
                for i, (x, y) in enumerate(zip(first.conversation_ids, second.conversation_ids, strict=False))
                if x != y
            ),
            min(len(first.conversation_ids), len(second.conversation_ids)),
        )
        raise PipelineError(
            f"{second.path}: conversations: expected predictions on the conversations of {first.path} "
            f"({len(first.conversation_ids)} of data set '{first.dataset}', in the same order), found "
            f"{len(second.conversation_ids)} of data set '{second.dataset}' (the first difference at "
            f"conversations[{differ}])"
        )
