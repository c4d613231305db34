"""Exploration helpers: conversations as chat, and error analysis of an evaluation.

The notebooks in ``notebooks/`` explore with these; the logic lives here, with the package.

- ``format_chat``: a conversation as chat lines, each with its message labels.
- ``load_predictions``: a predictions file written by ``grooming-risk evaluate``
  (``<metrics>.predictions.json``) joined with the corpus it was computed on (the texts), checked
  to be that corpus (same conversations, message counts and gold labels).
- ``prediction_table``: one row per message: text, preceding context, gold labels, per-label
  probability and decision, running risk.
- ``confusion_table``: per label, true and false positives and negatives over annotated
  messages, with the message metrics ``evaluate`` reports.
- ``worst_errors``: per label, the false positives with the highest probability and the false
  negatives with the lowest (the model's most confident mistakes).
- ``notable_conversations`` and ``plot_risk``: conversations worth a look (missed, false alarm,
  caught) and their running risk against the alert threshold, with the first alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.io import read_json
from pipeline.core.paths import REPO_ROOT
from pipeline.data import corpus
from pipeline.data.corpus import Conversation
from pipeline.evaluation.metrics import Aligned, message_metrics
from pipeline.evaluation.predictions import PREDICTIONS_SUFFIX, read_predictions
from pipeline.models.base import ConversationPrediction, label_matrix

FALSE_POSITIVE = "false_positive"
FALSE_NEGATIVE = "false_negative"


def repo_path(path: str | Path) -> Path:
    """A path relative to the repository root (absolute paths are kept)."""
    return REPO_ROOT / Path(path)


def format_chat(
    conversation: Conversation,
    max_messages: int | None = None,
    notes: Sequence[str] | None = None,
    width: int = 100,
    labels: bool = True,
) -> str:
    """The conversation as chat: a header, then ``[i] author: text  [labels]`` per message
    (``*`` marks a suspect's messages; ``labels=False`` leaves the gold labels out).

    ``notes`` (one string per message, may be empty) are appended to each line, e.g. the risk."""
    header = (
        f"{conversation.conversation_id} | kind={conversation.kind} | risk label={conversation.label} | "
        f"language={conversation.language} | source={conversation.source}"
    )
    suspects = set(conversation.suspects or [])
    lines = [header, "-" * min(width, len(header))]
    shown = conversation.messages if max_messages is None else conversation.messages[:max_messages]
    for index, message in enumerate(shown):
        text = message.text if len(message.text) <= width else message.text[: width - 1] + "…"
        role = "*" if message.author in suspects else " "
        if not labels:
            shown_labels = ""
        elif message.labels is None:
            shown_labels = "  (not annotated)"
        else:
            shown_labels = f"  [{', '.join(message.labels)}]" if message.labels else ""
        note = f"  <- {notes[index]}" if notes and index < len(notes) and notes[index] else ""
        lines.append(f"[{index:>2}]{role}{message.author}: {text}{shown_labels}{note}")
    hidden = len(conversation.messages) - len(shown)
    if hidden > 0:
        lines.append(f"... {hidden} more message(s)")
    return "\n".join(lines)


@dataclass
class Predictions:
    """An evaluation's predictions side by side with the conversations they were made on."""

    model: str
    dataset: str
    label_ids: list[str]
    risk_threshold: float
    conversations: list[Conversation]
    predictions: list[ConversationPrediction]
    path: Path
    corpus_path: Path

    def aligned(self) -> Aligned:
        return Aligned(self.conversations, self.predictions, self.label_ids, self.risk_threshold)

    def by_id(self, conversation_id: str) -> tuple[Conversation, ConversationPrediction]:
        for conversation, prediction in zip(self.conversations, self.predictions, strict=True):
            if conversation.conversation_id == conversation_id:
                return conversation, prediction
        raise PipelineError(f"{self.path}: no conversation '{conversation_id}' among the predictions")


def evaluated_corpus(predictions_path: str | Path) -> Path:
    """The corpus an evaluation ran on, from the metrics file beside the predictions file."""
    path = Path(predictions_path)
    if not path.name.endswith(PREDICTIONS_SUFFIX):
        raise PipelineError(f"{path}: expected a <metrics>{PREDICTIONS_SUFFIX} file written by evaluate")
    metrics_path = path.with_name(path.name[: -len(PREDICTIONS_SUFFIX)] + ".json")
    metrics = read_json(metrics_path, "the metrics file written with the predictions")
    corpus_path = (metrics.get("dataset") or {}).get("path")
    if not corpus_path:
        raise PipelineError(f"{metrics_path}: no dataset.path: give the corpus explicitly")
    return repo_path(corpus_path)


def load_predictions(predictions_path: str | Path, corpus_path: str | Path | None = None) -> Predictions:
    """Read a predictions file and join it with its corpus (default: the one its metrics file names)."""
    path = Path(predictions_path)
    read = read_predictions(path)
    source = Path(corpus_path) if corpus_path else evaluated_corpus(path)
    if not source.exists():
        raise PipelineError(f"{source}: corpus not found")
    known = {c.conversation_id: c for c in corpus.read_conversations(source)}
    label_ids = read.label_ids
    conversations = []
    for row, prediction in zip(read.rows, read.predictions, strict=True):
        cid = row["conversation_id"]
        conversation = known.get(cid)
        if conversation is None:
            raise PipelineError(f"{path}: conversation '{cid}' is not in {source}: is it the evaluated corpus?")
        probabilities = prediction.probabilities
        if len(probabilities) != len(conversation.messages):
            raise PipelineError(
                f"{path}: conversation '{cid}' has {len(probabilities)} predicted messages but "
                f"{len(conversation.messages)} in {source}"
            )
        gold = [None if g[0] < 0 else g.tolist() for g in label_matrix(conversation, label_ids)]
        if gold != row["gold"]:
            raise PipelineError(f"{path}: the gold labels of '{cid}' differ from those in {source}")
        conversations.append(conversation)
    return Predictions(
        model=read.model,
        dataset=read.dataset,
        label_ids=label_ids,
        risk_threshold=read.risk_threshold,
        conversations=conversations,
        predictions=read.predictions,
        path=path,
        corpus_path=source,
    )


def _context(conversation: Conversation, index: int, size: int) -> str:
    before = conversation.messages[max(0, index - size) : index]
    return "\n".join(f"{m.author}: {m.text}" for m in before)


def prediction_table(predictions: Predictions, context: int = 2):
    """One row per message (pandas): ids, author, text, the ``context`` previous messages, the
    conversation's kind and label, ``annotated``, ``gold`` and ``predicted`` label lists, and per
    label ``gold_<id>`` (0/1, NA when not annotated), ``p_<id>``, ``pred_<id>``; ``risk`` and
    ``first_alert`` (the message where the alert fires)."""
    import pandas as pd

    rows = []
    for conversation, prediction in zip(predictions.conversations, predictions.predictions, strict=True):
        gold = label_matrix(conversation, predictions.label_ids)
        for i, message in enumerate(conversation.messages):
            annotated = bool(gold[i, 0] >= 0)
            row: dict[str, Any] = {
                "conversation_id": conversation.conversation_id,
                "message_index": i,
                "author": message.author,
                "text": message.text,
                "context": _context(conversation, i, context),
                "kind": conversation.kind,
                "label": conversation.label,
                "annotated": annotated,
                "gold": list(message.labels) if message.labels is not None else None,
                "predicted": [
                    lab for lab, hit in zip(predictions.label_ids, prediction.predicted[i], strict=True) if hit
                ],
                "risk": float(prediction.risk[i]),
                "first_alert": prediction.alert == i,
            }
            for j, label in enumerate(predictions.label_ids):
                row[f"gold_{label}"] = int(gold[i, j]) if annotated else pd.NA
                row[f"p_{label}"] = float(prediction.probabilities[i, j])
                row[f"pred_{label}"] = int(prediction.predicted[i, j])
            rows.append(row)
    frame = pd.DataFrame(rows)
    for label in predictions.label_ids:
        frame[f"gold_{label}"] = frame[f"gold_{label}"].astype("Int64")
    return frame


def confusion_table(predictions: Predictions):
    """Per label over annotated messages: tp, fp, fn, tn and precision, recall, F1, support,
    PR-AUC as ``evaluate`` computes them (pandas, one row per label)."""
    import pandas as pd

    aligned = predictions.aligned()
    per_label = (message_metrics(aligned) or {}).get("per_label", {})
    tp, fp, fn = aligned.tp.sum(axis=0), aligned.fp.sum(axis=0), aligned.fn.sum(axis=0)
    annotated = len(aligned.gold)
    rows = []
    for j, label in enumerate(predictions.label_ids):
        figures = per_label.get(label, {})
        rows.append(
            {
                "label": label,
                "tp": int(tp[j]),
                "fp": int(fp[j]),
                "fn": int(fn[j]),
                "tn": int(annotated - tp[j] - fp[j] - fn[j]),
                "precision": figures.get("precision"),
                "recall": figures.get("recall"),
                "f1": figures.get("f1"),
                "support": figures.get("support", int(tp[j] + fn[j])),
                "pr_auc": figures.get("pr_auc"),
            }
        )
    return pd.DataFrame(rows).set_index("label")


def worst_errors(table, label: str, error: str = FALSE_POSITIVE, n: int = 5):
    """The ``n`` most confident mistakes on ``label`` among annotated messages of ``prediction_table``:
    false positives by decreasing probability, or false negatives by increasing probability."""
    if error not in (FALSE_POSITIVE, FALSE_NEGATIVE):
        raise ValueError(f"error must be {FALSE_POSITIVE!r} or {FALSE_NEGATIVE!r}, not {error!r}")
    gold, pred, prob = table[f"gold_{label}"], table[f"pred_{label}"], f"p_{label}"
    annotated = table["annotated"]
    if error == FALSE_POSITIVE:
        chosen = table[annotated & (gold == 0) & (pred == 1)].sort_values(prob, ascending=False)
    else:
        chosen = table[annotated & (gold == 1) & (pred == 0)].sort_values(prob, ascending=True)
    columns = ["conversation_id", "message_index", "author", prob, "gold", "predicted", "text", "context"]
    return chosen[columns].head(n).rename(columns={prob: "probability"}).reset_index(drop=True)


def notable_conversations(predictions: Predictions) -> dict[str, str | None]:
    """Conversation ids worth a look (None where there is none):

    - ``missed``: risky (label 1) without an alert, the one whose risk stayed lowest;
    - ``false_alarm``: benign (label 0) with an alert, the one alerted earliest;
    - ``caught_late``: risky with an alert, the one alerted latest;
    - ``caught_early``: risky with an alert, the one alerted earliest."""
    missed, false_alarm, caught = [], [], []
    for conversation, prediction in zip(predictions.conversations, predictions.predictions, strict=True):
        peak = float(prediction.risk.max()) if len(prediction.risk) else 0.0
        if conversation.label == 1 and prediction.alert is None:
            missed.append((peak, conversation.conversation_id))
        elif conversation.label == 0 and prediction.alert is not None:
            false_alarm.append((prediction.alert, conversation.conversation_id))
        elif conversation.label == 1:
            caught.append((prediction.alert, conversation.conversation_id))
    return {
        "missed": min(missed)[1] if missed else None,
        "false_alarm": min(false_alarm)[1] if false_alarm else None,
        "caught_late": max(caught)[1] if caught else None,
        "caught_early": min(caught)[1] if caught else None,
    }


def risk_notes(predictions: Predictions, conversation_id: str) -> list[str]:
    """Per message of a conversation: its running risk, the labels predicted, and the first alert."""
    _, prediction = predictions.by_id(conversation_id)
    notes = []
    for i, risk in enumerate(prediction.risk):
        labels = [lab for lab, hit in zip(predictions.label_ids, prediction.predicted[i], strict=True) if hit]
        note = f"risk {risk:.2f}" + (f" predicted [{', '.join(labels)}]" if labels else "")
        notes.append(note + (" FIRST ALERT" if prediction.alert == i else ""))
    return notes


def plot_risk(predictions: Predictions, conversation_ids: Sequence[str], ax=None, title: str | None = None):
    """Running risk after each message of the chosen conversations, the alert threshold (dotted),
    the first alert (a dot) and the messages with gold labels (small crosses). Returns the axes."""
    import matplotlib.pyplot as plt

    from pipeline.evaluation.plots import draw_risk

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    pairs = [predictions.by_id(cid) for cid in conversation_ids]
    return draw_risk(
        ax,
        [conversation for conversation, _ in pairs],
        [prediction for _, prediction in pairs],
        predictions.risk_threshold,
        title or f"{predictions.model} on {predictions.dataset}",
        mark_labelled=True,
        linewidth=1.4,
        legend_size=7,
    )
