"""Metrics at the three levels the field measures, with bootstrap intervals.

- message (multi-label, annotated messages only): per-label precision, recall, F1, support
  and PR-AUC; macro F1 over labels with support; macro F1 over the six core labels; micro F1;
- conversation (final risk against the conversation label): precision, recall, F1, F0.5
  (PAN 2012's headline measure), F2, ROC-AUC, PR-AUC;
- early warning: latency-weighted F1 (Vogt, Leser and Akbik, ACL 2021): F1 of the alerts
  times speed, where speed = 1 - median penalty over the true-positive alert latencies and
  penalty(k) = -1 + 2 / (1 + exp(-p (k - 1))), p = ln 3 / 89 (so penalty(90) = 0.5), with k
  the number of messages read when the alert fires; and the median k.

95% intervals come from resampling conversations with replacement (``bootstrap`` samples).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from pipeline.core.progress import progress
from pipeline.data.corpus import Conversation
from pipeline.models.base import ConversationPrediction, label_matrix
from pipeline.models.risk import fbeta

LATENCY_P = math.log(3) / 89
CORE_LABELS = ("trust_building", "gifts", "isolation", "secrecy", "sexualisation", "sextortion")


def latency_penalty(k: int | np.ndarray) -> float | np.ndarray:
    """Penalty for an alert after reading k messages: 0 at k=1, 0.5 at k=90, towards 1."""
    return -1 + 2 / (1 + np.exp(-LATENCY_P * (np.asarray(k, dtype=float) - 1)))


def _safe(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(float(value), 6)


class Aligned:
    """Gold labels and predictions side by side, plus per-conversation counts for resampling."""

    def __init__(
        self,
        conversations: Sequence[Conversation],
        predictions: Sequence[ConversationPrediction],
        label_ids: Sequence[str],
        risk_threshold: float,
    ):
        self.label_ids = list(label_ids)
        by_id = {p.conversation_id: p for p in predictions}
        n_labels = len(self.label_ids)
        gold_rows, prob_rows, pred_rows, owner = [], [], [], []
        self.y, self.score, self.alert = [], [], []
        for index, conversation in enumerate(conversations):
            prediction = by_id[conversation.conversation_id]
            gold = label_matrix(conversation, self.label_ids)
            annotated = gold[:, 0] >= 0
            gold_rows.append(gold[annotated])
            prob_rows.append(prediction.probabilities[annotated])
            pred_rows.append(prediction.predicted[annotated])
            owner.append(np.full(int(annotated.sum()), index))
            self.y.append(-1 if conversation.label is None else conversation.label)
            self.score.append(float(prediction.risk[-1]) if len(prediction.risk) else 0.0)
            self.alert.append(-1 if prediction.alert is None else prediction.alert)
        self.gold = np.vstack(gold_rows) if gold_rows else np.zeros((0, n_labels), dtype=int)
        self.prob = np.vstack(prob_rows) if prob_rows else np.zeros((0, n_labels))
        self.pred = np.vstack(pred_rows).astype(int) if pred_rows else np.zeros((0, n_labels), dtype=int)
        self.owner = np.concatenate(owner) if owner else np.zeros(0, dtype=int)
        self.y, self.score, self.alert = np.array(self.y), np.array(self.score), np.array(self.alert)
        self.risk_threshold = risk_threshold
        n = len(conversations)
        # per conversation and label: true positives, false positives, false negatives
        self.tp = np.zeros((n, n_labels))
        self.fp = np.zeros((n, n_labels))
        self.fn = np.zeros((n, n_labels))
        np.add.at(self.tp, self.owner, self.gold * self.pred)
        np.add.at(self.fp, self.owner, (1 - self.gold) * self.pred)
        np.add.at(self.fn, self.owner, self.gold * (1 - self.pred))


def _message_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, label_ids: list[str]) -> dict[str, Any]:
    support = tp + fn
    f1 = fbeta(tp, fp, fn)
    with_support = support > 0
    core = np.array([label in CORE_LABELS for label in label_ids]) & with_support
    return {
        "f1": f1,
        "macro_f1": float(f1[with_support].mean()) if with_support.any() else None,
        "core_macro_f1": float(f1[core].mean()) if core.any() else None,
        "micro_f1": fbeta(tp.sum(), fp.sum(), fn.sum()) if (tp.sum() + fn.sum() + fp.sum()) else None,
    }


def message_metrics(aligned: Aligned) -> dict[str, Any] | None:
    if len(aligned.gold) == 0:
        return None  # no annotated message (PAN12, say): message level does not apply
    tp, fp, fn = aligned.tp.sum(axis=0), aligned.fp.sum(axis=0), aligned.fn.sum(axis=0)
    summary = _message_from_counts(tp, fp, fn, aligned.label_ids)
    per_label = {}
    for j, label in enumerate(aligned.label_ids):
        support = int(tp[j] + fn[j])
        per_label[label] = {
            "precision": _safe(tp[j] / (tp[j] + fp[j])) if tp[j] + fp[j] else 0.0,
            "recall": _safe(tp[j] / support) if support else None,
            "f1": _safe(summary["f1"][j]) if support else None,
            "support": support,
            "pr_auc": _safe(average_precision_score(aligned.gold[:, j], aligned.prob[:, j])) if support else None,
        }
    return {
        "per_label": per_label,
        "macro_f1": _safe(summary["macro_f1"]),
        "core_macro_f1": _safe(summary["core_macro_f1"]),
        "micro_f1": _safe(summary["micro_f1"]),
        "annotated_messages": int(len(aligned.gold)),
    }


def _conversation_values(y: np.ndarray, score: np.ndarray, threshold: float) -> dict[str, float | None]:
    keep = y >= 0
    y, score = y[keep], score[keep]
    pred = score >= threshold
    tp = float((pred & (y == 1)).sum())
    fp = float((pred & (y == 0)).sum())
    fn = float((~pred & (y == 1)).sum())
    both = len(set(y.tolist())) == 2
    return {
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / (tp + fn) if tp + fn else None,
        "f1": fbeta(tp, fp, fn, 1.0),
        "f0_5": fbeta(tp, fp, fn, 0.5),
        "f2": fbeta(tp, fp, fn, 2.0),
        "roc_auc": roc_auc_score(y, score) if both else None,
        "pr_auc": average_precision_score(y, score) if both else None,
    }


def conversation_metrics(aligned: Aligned) -> dict[str, Any] | None:
    labelled = aligned.y >= 0
    if not labelled.any():
        return None
    values = {k: _safe(v) for k, v in _conversation_values(aligned.y, aligned.score, aligned.risk_threshold).items()}
    return {
        **values,
        "support": int(labelled.sum()),
        "positives": int((aligned.y == 1).sum()),
        "threshold": _safe(aligned.risk_threshold),
    }


def _early_values(y: np.ndarray, alert: np.ndarray) -> dict[str, float | None]:
    keep = y >= 0
    y, alert = y[keep], alert[keep]
    alerted = alert >= 0
    tp = float((alerted & (y == 1)).sum())
    fp = float((alerted & (y == 0)).sum())
    fn = float((~alerted & (y == 1)).sum())
    f1 = fbeta(tp, fp, fn)
    latencies = alert[alerted & (y == 1)] + 1  # messages read when the alert fires
    if len(latencies) == 0:
        return {"f1": f1, "speed": None, "latency_f1": 0.0, "median_alert_message": None}
    speed = 1 - float(np.median(latency_penalty(latencies)))
    return {"f1": f1, "speed": speed, "latency_f1": f1 * speed, "median_alert_message": float(np.median(latencies))}


def early_metrics(aligned: Aligned) -> dict[str, Any] | None:
    if not (aligned.y >= 0).any():
        return None
    values = {k: _safe(v) for k, v in _early_values(aligned.y, aligned.alert).items()}
    return {**values, "alerts": int((aligned.alert >= 0).sum())}


def headline_values(aligned: Aligned, idx: np.ndarray | None = None) -> dict[str, float]:
    """The metrics that get intervals and paired comparisons, on the conversations ``idx``."""
    idx = np.arange(len(aligned.y)) if idx is None else idx
    out: dict[str, float] = {}

    def add(key: str, value: float | None) -> None:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            out[key] = float(value)

    if len(aligned.gold) > 0:
        tp, fp, fn = aligned.tp[idx].sum(axis=0), aligned.fp[idx].sum(axis=0), aligned.fn[idx].sum(axis=0)
        summary = _message_from_counts(tp, fp, fn, aligned.label_ids)
        for key in ("macro_f1", "core_macro_f1", "micro_f1"):
            add(f"message.{key}", summary[key])
        for j, label in enumerate(aligned.label_ids):
            if tp[j] + fn[j]:
                add(f"message.per_label.{label}.f1", summary["f1"][j])
    if (aligned.y[idx] >= 0).any():
        for key, value in _conversation_values(aligned.y[idx], aligned.score[idx], aligned.risk_threshold).items():
            add(f"conversation.{key}", value)
        add("early.latency_f1", _early_values(aligned.y[idx], aligned.alert[idx])["latency_f1"])
    return out


def bootstrap_intervals(aligned: Aligned, samples: int, seed: int) -> dict[str, list[float]]:
    """95% percentile intervals by resampling conversations with replacement."""
    if samples <= 0 or len(aligned.y) == 0:
        return {}
    rng = np.random.default_rng(seed)
    n = len(aligned.y)
    draws: dict[str, list[float]] = {}
    for _ in progress(range(samples), desc="bootstrap", unit="sample", leave=False):
        for key, value in headline_values(aligned, rng.integers(0, n, n)).items():
            draws.setdefault(key, []).append(value)
    return {
        key: [round(float(np.percentile(v, 2.5)), 6), round(float(np.percentile(v, 97.5)), 6)]
        for key, v in sorted(draws.items())
        if len(v) >= max(10, samples // 2)
    }


def paired_bootstrap(a: Aligned, b: Aligned, samples: int, seed: int) -> dict[str, dict[str, float]]:
    """Difference B - A of each headline metric on the same resampled conversations."""
    rng = np.random.default_rng(seed)
    n = len(a.y)
    base_a, base_b = headline_values(a), headline_values(b)
    diffs: dict[str, list[float]] = {}
    for _ in progress(range(samples), desc="paired bootstrap", unit="sample", leave=False):
        idx = rng.integers(0, n, n)
        va, vb = headline_values(a, idx), headline_values(b, idx)
        for key in va.keys() & vb.keys():
            diffs.setdefault(key, []).append(vb[key] - va[key])
    out = {}
    for key in sorted(base_a.keys() & base_b.keys()):
        d = np.array(diffs.get(key, [np.nan]))
        out[key] = {
            "a": round(base_a[key], 6),
            "b": round(base_b[key], 6),
            "difference": round(base_b[key] - base_a[key], 6),
            "ci_low": round(float(np.nanpercentile(d, 2.5)), 6),
            "ci_high": round(float(np.nanpercentile(d, 97.5)), 6),
            "p_b_not_better": round(float(np.mean(d <= 0)), 4),
        }
    return out


def evaluate_predictions(
    conversations: Sequence[Conversation],
    predictions: Sequence[ConversationPrediction],
    label_ids: Sequence[str],
    risk_threshold: float,
    bootstrap: int = 500,
    seed: int = 0,
) -> dict[str, Any]:
    """The metrics.json document (keys documented in the README)."""
    aligned = Aligned(conversations, predictions, label_ids, risk_threshold)
    return {
        "message": message_metrics(aligned),
        "conversation": conversation_metrics(aligned),
        "early": early_metrics(aligned),
        "intervals": bootstrap_intervals(aligned, bootstrap, seed),
        "data": {
            "conversations": len(conversations),
            "messages": int(sum(len(c.messages) for c in conversations)),
            "bootstrap_samples": bootstrap,
        },
    }
