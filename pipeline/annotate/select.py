"""The next batch for annotation: the messages the model is least sure of, spread out.

Uncertainty of a message (``strategy``):

- ``threshold`` (default): how close its closest label is to that label's decision threshold,
  1 minus ``|p - t|`` scaled by the room on that side (``1 - t`` above, ``t`` below), so 1 is
  a probability exactly on a threshold. Thresholds are the model's own (tuned on validation),
  so this is where a decision could flip.
- ``entropy``: the entropy of the predicted label set, labels taken as independent.

Spread: messages are taken in order of uncertainty (ties broken by conversation id, then
message index, so the choice is deterministic), at most ``per_conversation`` from any one
conversation, until ``n`` are chosen. A batch of ``n`` messages therefore covers at least
``n / per_conversation`` conversations instead of piling onto the few most confusing ones.
By default only messages without ``labels`` (not yet annotated) are candidates.

Output: Label Studio tasks, one per chosen conversation (most uncertain first), each holding
the whole conversation (annotators label with context, and the codebook asks them to read it
all) plus ``data.focus``, the chosen message indices, and ``data.focus_uncertainty``; Label
Studio shows both as columns of the Data Manager. The model's pre-annotations come along as
predictions, as in ``annotate export --model``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.annotate.tasks import (
    conversation_task,
    entropy_uncertainty,
    model_version,
    prediction_for,
    threshold_uncertainty,
)
from pipeline.data.corpus import Conversation

STRATEGIES = ("threshold", "entropy")


@dataclass(frozen=True)
class Pick:
    conversation_index: int
    message_index: int
    uncertainty: float


def message_uncertainty(probabilities: np.ndarray, thresholds: np.ndarray, strategy: str) -> np.ndarray:
    if strategy == "threshold":
        return threshold_uncertainty(probabilities, thresholds)
    if strategy == "entropy":
        return entropy_uncertainty(probabilities)
    raise ValueError(f"unknown strategy '{strategy}'; expected one of {STRATEGIES}")


def pick_messages(
    conversations: list[Conversation],
    uncertainties: list[np.ndarray],
    n: int,
    per_conversation: int,
    include_labelled: bool = False,
) -> list[Pick]:
    """The ``n`` most uncertain candidate messages, at most ``per_conversation`` per conversation."""
    candidates = []
    for ci, (conversation, scores) in enumerate(zip(conversations, uncertainties, strict=True)):
        for mi, message in enumerate(conversation.messages):
            if include_labelled or message.labels is None:
                # rounded so that float noise cannot reorder equal scores across machines
                candidates.append((-round(float(scores[mi]), 9), conversation.conversation_id, mi, ci))
    candidates.sort()
    taken: dict[int, int] = {}
    picks: list[Pick] = []
    for negative, _cid, mi, ci in candidates:
        if len(picks) == n:
            break
        if taken.get(ci, 0) >= per_conversation:
            continue
        taken[ci] = taken.get(ci, 0) + 1
        picks.append(Pick(ci, mi, -negative))
    return picks


def select_batch(
    conversations: list[Conversation],
    model,
    n: int,
    strategy: str = "threshold",
    per_conversation: int = 2,
    include_labelled: bool = False,
    version: str | None = None,
) -> tuple[list[dict[str, Any]], list[Pick]]:
    """Label Studio tasks for the next batch, and the picked messages (see the module docstring)."""
    predictions = model.predict(conversations)
    scores = [message_uncertainty(p.probabilities, model.thresholds_, strategy) for p in predictions]
    picks = pick_messages(conversations, scores, n, per_conversation, include_labelled)
    version = version or model_version(model)
    by_conversation: dict[int, list[Pick]] = {}
    for pick in picks:
        by_conversation.setdefault(pick.conversation_index, []).append(pick)
    tasks = []
    for ci, chosen in by_conversation.items():  # insertion order: most uncertain conversation first
        chosen = sorted(chosen, key=lambda p: p.message_index)
        task = conversation_task(conversations[ci])
        task["data"]["focus"] = [p.message_index for p in chosen]
        task["data"]["focus_uncertainty"] = [round(p.uncertainty, 6) for p in chosen]
        task["predictions"] = [prediction_for(conversations[ci], predictions[ci], model, version)]
        task["meta"] = {"selection": {"strategy": strategy, "model_version": version}}
        tasks.append(task)
    return tasks, picks
