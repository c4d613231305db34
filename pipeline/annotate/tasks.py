"""Conversations to Label Studio tasks, with a model's pre-annotations as predictions.

One task per conversation, for the labeling config of ``grooming-risk schema export``
(``data/schema/labelstudio.xml``). The task's ``data`` carries the whole conversation, so that
``annotate import`` can rebuild it from a Label Studio export alone:

```json
{"data": {"conversation_id": "c1",
          "messages": [{"index": 0, "message_id": "c1:0", "author": "u1", "time": null,
                        "text": "how was school today"}, ...],
          "conversation": {"language": "en", "source": "synthetic", "meta": {...}}},
 "predictions": [{"model_version": "tfidf-1a2b3c4d", "score": 0.62, "result": [...]}]}
```

- ``messages`` is what the ``Paragraphs`` tag shows (``nameKey="author"``, ``textKey="text"``);
  each item also keeps ``index`` (its position, which Label Studio results refer to),
  ``message_id``, ``time`` and, when present, ``flagged`` and ``meta``.
- ``conversation`` keeps the other conversation fields (``language``, ``source``, ``suspects``,
  ``meta``). The annotation fields themselves (message ``labels``, ``label``, ``kind``,
  ``flags``) are never exported: they are what the annotators produce, and showing existing
  ones would bias them.

Predictions follow the result JSON of Label Studio 1.23 exactly (checked against its
front end: a ``Paragraphs`` region has string ``start``/``end`` paragraph indices and integer
``startOffset``/``endOffset`` in UTF-16 code units): one ``paragraphlabels`` region per message
with at least one label over the model's threshold for it, covering the whole message, with
the labels and, as the region's ``score``, the highest probability among them; plus the
conversation ``risk`` choice (``"1"`` when the final running risk reaches the model's
conversation threshold). The prediction's ``score`` is the model's confidence in the task:
1 minus the highest message uncertainty (see ``pipeline.annotate.select``), so Label Studio's
uncertainty sampling ("prediction score, lowest first") agrees with ``annotate select``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.annotate.controls import LS_DIALOGUE, LS_MESSAGE_LABELS, LS_RISK
from pipeline.core.errors import PipelineError
from pipeline.data.corpus import Conversation

# Conversation fields a task carries under data.conversation (the annotation fields never).
TASK_CONVERSATION_FIELDS = ("language", "source", "suspects", "meta")
# Message fields a task carries in data.messages, besides index/author/text.
TASK_MESSAGE_FIELDS = ("message_id", "time", "flagged", "meta")


def utf16_length(text: str) -> int:
    """Length as the browser counts it (UTF-16 code units): Label Studio's offsets."""
    return len(text.encode("utf-16-le")) // 2


def conversation_task(conversation: Conversation) -> dict[str, Any]:
    """The Label Studio task (``{"data": ...}``) for one conversation, without predictions."""
    messages = []
    for index, message in enumerate(conversation.messages):
        item: dict[str, Any] = {"index": index, "author": message.author, "text": message.text}
        for name in TASK_MESSAGE_FIELDS:
            value = getattr(message, name)
            if value is not None or name == "time":
                item[name] = value
        messages.append(item)
    extra = {name: getattr(conversation, name) for name in TASK_CONVERSATION_FIELDS}
    return {
        "data": {
            "conversation_id": conversation.conversation_id,
            "messages": messages,
            "conversation": {k: v for k, v in extra.items() if v is not None},
        }
    }


def model_version(model) -> str:
    """A short, stable name for a fitted model: its kind and a digest of its description."""
    description = json.dumps(model.describe(), sort_keys=True, default=str)
    return f"{model.kind}-{hashlib.sha256(description.encode('utf-8')).hexdigest()[:8]}"


def threshold_uncertainty(probabilities: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Per message: 1 minus the smallest distance of a label's probability to its threshold,
    each distance scaled by the room on its side (``(p - t) / (1 - t)`` above, ``(t - p) / t``
    below), so 1 means a probability exactly on a threshold and 0 one at 0 or 1."""
    p = np.asarray(probabilities, dtype=float)
    if p.size == 0:
        return np.zeros(len(p))
    t = np.broadcast_to(np.asarray(thresholds, dtype=float), p.shape)
    above = np.where(t < 1, (p - t) / np.where(t < 1, 1 - t, 1), 0.0)
    below = np.where(t > 0, (t - p) / np.where(t > 0, t, 1), 0.0)
    distance = np.clip(np.where(p >= t, above, below), 0.0, 1.0)
    return 1.0 - distance.min(axis=1)


def entropy_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """Per message: the entropy (bits) of its predicted label set, labels taken as independent
    (the sum of each label's binary entropy)."""
    p = np.clip(np.asarray(probabilities, dtype=float), 1e-12, 1 - 1e-12)
    if p.size == 0:
        return np.zeros(len(p))
    return (-(p * np.log2(p) + (1 - p) * np.log2(1 - p))).sum(axis=1)


def prediction_for(conversation: Conversation, prediction, model, version: str) -> dict[str, Any]:
    """One Label Studio prediction (pre-annotation) from a ``ConversationPrediction``."""
    result: list[dict[str, Any]] = []
    for index, message in enumerate(conversation.messages):
        chosen = [j for j in range(len(model.label_ids)) if prediction.predicted[index, j]]
        if not chosen or not message.text:
            continue  # an empty message cannot hold a text region
        result.append(
            {
                "id": f"m{index}",
                "from_name": LS_MESSAGE_LABELS,
                "to_name": LS_DIALOGUE,
                "type": "paragraphlabels",
                "origin": "prediction",
                "value": {
                    "start": str(index),
                    "end": str(index),
                    "startOffset": 0,
                    "endOffset": utf16_length(message.text),
                    "text": message.text,
                    "paragraphlabels": [model.label_ids[j] for j in chosen],
                },
                "score": round(float(max(prediction.probabilities[index, j] for j in chosen)), 6),
            }
        )
    final_risk = float(prediction.risk[-1]) if len(prediction.risk) else 0.0
    result.append(
        {
            "id": "risk",
            "from_name": LS_RISK,
            "to_name": LS_DIALOGUE,
            "type": "choices",
            "origin": "prediction",
            "value": {"choices": ["1" if final_risk >= model.risk_.threshold_ else "0"]},
            "score": round(final_risk, 6),
        }
    )
    uncertainty = threshold_uncertainty(prediction.probabilities, model.thresholds_)
    confidence = 1.0 - float(uncertainty.max()) if len(uncertainty) else 1.0
    return {"model_version": version, "score": round(confidence, 6), "result": result}


def export_tasks(
    conversations: Sequence[Conversation],
    model=None,
    version: str | None = None,
    label_ids: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Label Studio tasks for ``conversations`` (in their order); with ``model``, each task
    also gets the model's prediction, named ``version`` (default: ``model_version(model)``).
    ``label_ids`` (the schema's) guards against a model trained on another label set."""
    tasks = [conversation_task(c) for c in conversations]
    if model is not None:
        check_model_labels(model, label_ids)
        version = version or model_version(model)
        for task, conversation, prediction in zip(
            tasks, conversations, model.predict(list(conversations)), strict=True
        ):
            task["predictions"] = [prediction_for(conversation, prediction, model, version)]
    return tasks


def check_model_labels(model, label_ids: Sequence[str] | None) -> None:
    if label_ids is None:
        return
    unknown = [label for label in model.label_ids if label not in label_ids]
    if unknown:
        raise PipelineError(
            f"the model predicts labels the schema does not know: {unknown}; expected ids from {list(label_ids)}"
        )


def tasks_json(tasks: list[dict[str, Any]]) -> str:
    return json.dumps(tasks, ensure_ascii=False, indent=1) + "\n"
