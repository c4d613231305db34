"""Any model that answers the message table, behind the shared model interface.

An external model is a callable (in practice an MLflow pyfunc model's ``predict``) that takes a
pandas DataFrame with one row per message, columns ``conversation_id``, ``message_index``,
``author``, ``text`` and, when the corpus has them, ``timestamp`` and ``language``, and returns
a DataFrame with one row per input row, in the same order, holding ``p_<label_id>`` for every
label of the schema (probabilities in [0, 1]). Extra output columns are ignored. Everything
above the probabilities (per-label thresholds, running risk, alerts, metrics) is the shared code
of ``pipeline.models.base.Model``: thresholds are 0.5 per label and the risk scorer has its
defaults (``max``, threshold 0.5) until ``tune`` calibrates them on labelled conversations.

This module does not import MLflow: ``pipeline.tracking`` loads the model and hands over its
``predict``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.config.models import ModelSection
from pipeline.core.errors import PipelineError
from pipeline.data.corpus import Conversation
from pipeline.models.base import Model, split_rows
from pipeline.models.risk import RiskConfig, RiskScorer

INPUT_COLUMNS = ["conversation_id", "message_index", "author", "text"]
OPTIONAL_INPUT_COLUMNS = ["timestamp", "language"]


def message_table(conversations: list[Conversation]):
    """The model input: one row per message, in corpus order (no gold labels)."""
    import pandas as pd

    rows = []
    for conversation in conversations:
        for index, message in enumerate(conversation.messages):
            rows.append(
                {
                    "conversation_id": conversation.conversation_id,
                    "message_index": index,
                    "author": message.author,
                    "text": message.text,
                    "timestamp": message.time,
                    "language": conversation.language,
                }
            )
    frame = pd.DataFrame(rows, columns=INPUT_COLUMNS + OPTIONAL_INPUT_COLUMNS)
    frame["message_index"] = frame["message_index"].astype("int64")
    # optional columns only when the corpus has them (a model's signature may not know them)
    return frame[INPUT_COLUMNS + [c for c in OPTIONAL_INPUT_COLUMNS if frame[c].notna().any()]]


def probability_matrix(answer: Any, frame, label_ids: list[str], name: str = "the model") -> np.ndarray:
    """The (n_rows, n_labels) probabilities in an answer to ``frame``; a clear error if it is not one."""
    import pandas as pd

    expected = ", ".join(f"p_{label}" for label in label_ids)
    contract = (
        f"expected a table with one row per input message (same order) and the columns {expected}, "
        "each a probability in [0, 1]"
    )
    if isinstance(answer, (list, dict)):
        try:
            answer = pd.DataFrame(answer)
        except ValueError:
            pass
    if not isinstance(answer, pd.DataFrame):
        raise PipelineError(f"{name}: predict returned {type(answer).__name__}; {contract}")
    missing = [f"p_{label}" for label in label_ids if f"p_{label}" not in answer.columns]
    if missing:
        raise PipelineError(f"{name}: the predictions lack the columns {', '.join(missing)}; {contract}")
    if len(answer) != len(frame):
        raise PipelineError(f"{name}: {len(answer)} prediction rows for {len(frame)} input messages; {contract}")
    answer = answer.reset_index(drop=True)
    if {"conversation_id", "message_index"} <= set(answer.columns):
        answer = _in_input_order(answer, frame, name, contract)
    columns = [f"p_{label}" for label in label_ids]
    try:
        values = answer[columns].apply(pd.to_numeric, errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError):
        raise PipelineError(f"{name}: non-numeric values in the p_<label> columns; {contract}") from None
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        raise PipelineError(
            f"{name}: {int(bad.sum())} probabilities outside [0, 1] (first: {columns[col]} = {values[row, col]!r} "
            f"in row {row}); {contract}"
        )
    return values


def _in_input_order(answer, frame, name: str, contract: str):
    """Rows keyed by (conversation_id, message_index) put back in the input's order."""
    keys = list(zip(frame["conversation_id"].astype(str), frame["message_index"].astype(int), strict=True))
    try:
        got = list(zip(answer["conversation_id"].astype(str), answer["message_index"].astype(int), strict=True))
    except (ValueError, TypeError):
        raise PipelineError(
            f"{name}: unreadable conversation_id/message_index in the predictions; {contract}"
        ) from None
    if got == keys:
        return answer
    position = {key: i for i, key in enumerate(got)}
    if len(position) != len(got) or set(position) != set(keys):
        raise PipelineError(
            f"{name}: the predictions' conversation_id/message_index do not match the input; {contract}"
        )
    return answer.iloc[[position[key] for key in keys]].reset_index(drop=True)


class ExternalSettings(ModelSection):
    reference: str | None = None  # the MLflow model URI or table it scores with


class ExternalModel(Model):
    """A model known only by its predictions on the message table (see the module docstring)."""

    kind = "external"
    settings_class = ExternalSettings

    def __init__(
        self,
        predict: Callable[[Any], Any],
        label_ids: list[str],
        name: str = "external",
        reference: str | None = None,
        risk: RiskConfig | None = None,
        seed: int = 0,
        schema_version: int | None = None,
    ):
        super().__init__(label_ids, {"reference": reference}, risk=risk, seed=seed, schema_version=schema_version)
        # Known only by its predictions: neutral thresholds until calibrated (``fit`` tunes them).
        self.thresholds_ = np.full(len(self.label_ids), 0.5)
        self.risk_ = RiskScorer.untuned(self.risk, self.label_ids)
        self._predict = predict
        self.kind = name  # what reports, run names and MLflow tags call it

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        if not conversations:
            return []
        frame = message_table(conversations)
        try:
            answer = self._predict(frame)
        except PipelineError:
            raise
        except Exception as exc:  # whatever the foreign model raises
            raise PipelineError(
                f"{self.kind}: predict failed on the message table: {type(exc).__name__}: {exc}"
            ) from None
        return split_rows(probability_matrix(answer, frame, self.label_ids, self.kind), conversations)

    def save(self, directory):
        raise PipelineError(f"{self.kind}: an external model cannot be saved as a model directory")
