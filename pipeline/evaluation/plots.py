"""Evaluation plots (PNG): precision-recall per label, per-label confusion, risk over time.

Declared as DVC ``plots:`` and logged to MLflow with the evaluation run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from pipeline.core.io import atomic_write
from pipeline.data.corpus import Conversation
from pipeline.evaluation.metrics import Aligned
from pipeline.models.base import ConversationPrediction

PR_CURVES = "pr_curves.png"
CONFUSION = "confusion.png"
RISK_OVER_TIME = "risk_over_time.png"


def _save(fig, path: Path) -> None:
    """PNG through a temporary file: a reader never sees half an image."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pr_curves(aligned: Aligned, path: Path, title: str) -> None:
    from sklearn.metrics import precision_recall_curve

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for j, label in enumerate(aligned.label_ids):
        if len(aligned.gold) and aligned.gold[:, j].sum():
            precision, recall, _ = precision_recall_curve(aligned.gold[:, j], aligned.prob[:, j])
            ax.plot(recall, precision, label=label, linewidth=1.4)
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=f"Message labels: {title}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def confusion(aligned: Aligned, path: Path, title: str) -> None:
    """Per label, counts of true positives, false positives and false negatives."""
    plt = _pyplot()
    tp, fp, fn = aligned.tp.sum(axis=0), aligned.fp.sum(axis=0), aligned.fn.sum(axis=0)
    x = np.arange(len(aligned.label_ids))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.bar(x - 0.27, tp, width=0.27, label="true positive", color="#36B37E")
    ax.bar(x, fp, width=0.27, label="false positive", color="#FF8B00")
    ax.bar(x + 0.27, fn, width=0.27, label="false negative", color="#DE350B")
    ax.set_xticks(x, aligned.label_ids, rotation=35, ha="right", fontsize=8)
    ax.set(ylabel="messages", title=f"Per-label confusion: {title}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def draw_risk(
    ax,
    conversations: Sequence[Conversation],
    predictions: Sequence[ConversationPrediction],
    threshold: float,
    title: str,
    mark_labelled: bool = False,
    linewidth: float = 1.3,
    legend_size: float = 6.5,
):
    """Running risk after each message (solid: risky conversations, dashed: benign), the first
    alert (a dot), the alert threshold (dotted) and, with ``mark_labelled``, the messages that
    carry gold labels (small crosses). The evaluation plots and the error-analysis notebook share it."""
    for conversation, prediction in zip(conversations, predictions, strict=True):
        steps = np.arange(1, len(prediction.risk) + 1)
        style = "-" if conversation.label == 1 else "--"
        (line,) = ax.plot(
            steps,
            prediction.risk,
            style,
            linewidth=linewidth,
            label=f"{conversation.conversation_id} ({conversation.kind or conversation.label})",
        )
        labelled = [i for i, m in enumerate(conversation.messages) if m.labels]
        if mark_labelled and labelled:
            ax.plot(np.array(labelled) + 1, prediction.risk[labelled], "x", color=line.get_color(), markersize=4)
        if prediction.alert is not None:
            ax.plot(prediction.alert + 1, prediction.risk[prediction.alert], "o", color=line.get_color())
    ax.axhline(threshold, color="black", linewidth=0.8, linestyle=":", label="alert threshold")
    ax.set(xlabel="messages read", ylabel="running risk", ylim=(0, 1.02), title=f"Risk over time: {title}")
    ax.legend(fontsize=legend_size, loc="lower right")
    ax.grid(alpha=0.3)
    return ax


def risk_over_time(
    conversations: Sequence[Conversation],
    predictions: Sequence[ConversationPrediction],
    threshold: float,
    path: Path,
    title: str,
    count: int = 6,
) -> None:
    """Running risk of a few risky and benign conversations (the first ones of each)."""
    plt = _pyplot()
    risky = [i for i, c in enumerate(conversations) if c.label == 1][: count // 2]
    benign = [i for i, c in enumerate(conversations) if c.label == 0][: count - len(risky)]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    chosen = risky + benign
    draw_risk(ax, [conversations[i] for i in chosen], [predictions[i] for i in chosen], threshold, title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def write_plots(
    aligned: Aligned, conversations, predictions, threshold: float, directory: Path, title: str
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / PR_CURVES, directory / CONFUSION, directory / RISK_OVER_TIME]
    pr_curves(aligned, paths[0], title)
    confusion(aligned, paths[1], title)
    risk_over_time(conversations, predictions, threshold, paths[2], title)
    return paths
