"""Evaluation plots: precision-recall per label, per-label confusion, risk over time.

Each is written twice: a PNG (logged to MLflow, shown in the cards and by ``dvc plots show``)
and its data as JSON, which dvc.yaml declares with a template from ``configs/plots/`` so that
``dvc plots diff HEAD <experiment>`` draws two experiments' curves over each other.
"""

from __future__ import annotations

import json
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
# The same plots as data series (DVC plots with templates)
PR_CURVES_DATA = "pr_curves.json"
CONFUSION_DATA = "confusion.json"
RISK_OVER_TIME_DATA = "risk_over_time.json"
RECALL_GRID = np.linspace(
    0.0, 1.0, 101
)  # interpolated precision at each recall: small files, the same x in every experiment


def _save(fig, path: Path) -> None:
    """PNG through a temporary file: a reader never sees half an image."""
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png", dpi=110)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curves(aligned: Aligned) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per label with positives, its precision-recall curve (precision, recall)."""
    from sklearn.metrics import precision_recall_curve

    out = {}
    for j, label in enumerate(aligned.label_ids):
        if len(aligned.gold) and aligned.gold[:, j].sum():
            precision, recall, _ = precision_recall_curve(aligned.gold[:, j], aligned.prob[:, j])
            out[label] = (precision, recall)
    return out


def pr_curves(pr: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, title: str) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5.5))
    for label, (precision, recall) in pr.items():
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
    """Running risk of a few risky and benign conversations (``shown``)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    chosen = shown(conversations, count)
    draw_risk(ax, [conversations[i] for i in chosen], [predictions[i] for i in chosen], threshold, title)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def shown(conversations: Sequence[Conversation], count: int = 6) -> list[int]:
    """The conversations the risk plot draws: the first risky ones (half), then the first benign."""
    risky = [i for i, c in enumerate(conversations) if c.label == 1][: count // 2]
    benign = [i for i, c in enumerate(conversations) if c.label == 0][: count - len(risky)]
    return risky + benign


def _save_data(rows: list[dict], path: Path) -> None:
    with atomic_write(path) as handle:
        handle.write(json.dumps({"rows": rows}, indent=1, ensure_ascii=False) + "\n")


def pr_curve_rows(pr: dict[str, tuple[np.ndarray, np.ndarray]]) -> list[dict]:
    """Per label with positives, interpolated precision (the best precision at a recall at
    least r) at r = 0, 0.01, ..., 1: the curve of the PNG, on one grid for every experiment."""
    rows = []
    for label, (precision, recall) in pr.items():
        for r in RECALL_GRID:
            reached = precision[recall >= r - 1e-12]
            rows.append({"label": label, "recall": round(float(r), 2), "precision": round(float(reached.max()), 6)})
    return rows


def confusion_rows(aligned: Aligned) -> list[dict]:
    """Per label and outcome (true positive, false positive, false negative): messages."""
    counts = {"true positive": aligned.tp, "false positive": aligned.fp, "false negative": aligned.fn}
    return [
        {"label": label, "outcome": outcome, "messages": int(matrix[:, j].sum())}
        for j, label in enumerate(aligned.label_ids)
        for outcome, matrix in counts.items()
    ]


def risk_rows(conversations, predictions, count: int = 6) -> list[dict]:
    """The running risk of the conversations the PNG draws, after each message."""
    rows = []
    for i in shown(conversations, count):
        conversation, prediction = conversations[i], predictions[i]
        name = f"{conversation.conversation_id} ({conversation.kind or conversation.label})"
        for step, risk in enumerate(prediction.risk):
            rows.append(
                {
                    "conversation": name,
                    "message": step + 1,
                    "risk": round(float(risk), 6),
                    "alert": step == prediction.alert,
                }
            )
    return rows


def write_plots(
    aligned: Aligned, conversations, predictions, threshold: float, directory: Path, title: str
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / name for name in (PR_CURVES, CONFUSION, RISK_OVER_TIME)]
    pr = curves(aligned)
    pr_curves(pr, paths[0], title)
    confusion(aligned, paths[1], title)
    risk_over_time(conversations, predictions, threshold, paths[2], title)
    data = {
        PR_CURVES_DATA: pr_curve_rows(pr),
        CONFUSION_DATA: confusion_rows(aligned),
        RISK_OVER_TIME_DATA: risk_rows(conversations, predictions),
    }
    for name, rows in data.items():
        _save_data(rows, directory / name)
    return paths + [directory / name for name in data]
