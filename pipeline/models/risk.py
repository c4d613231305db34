"""Conversation risk and early warning, computed the same way for every model kind.

From per-message label probabilities, a running risk after every message:

- ``max``: the highest label probability seen so far;
- ``topk_mean``: the mean of the k highest message scores so far (missing ones count as 0);
- ``coverage``: a small logistic regression over the running maximum of each label (which
  stages have appeared), fitted on the validation conversations.

The conversation threshold is tuned on validation conversations (``optimize``: f1, f0_5 or f2).
Early warning raises an alert at the first message where the running risk crosses it, or, with
the eSPD window rule, where at least ``min_positive`` of the last ``window`` messages are
predicted positive (any label over its threshold).
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from pipeline.config.models import RiskConfig

BETAS = {"f1": 1.0, "f0_5": 0.5, "f2": 2.0}


def fbeta(tp, fp, fn, beta: float = 1.0):
    """F-beta from counts (scalars or arrays of them); 0 where there is nothing to score. The one
    F-beta of the project: thresholds are tuned and metrics computed with it."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    b2 = beta * beta
    denominator = (1 + b2) * tp + b2 * fn + fp
    safe = np.where(denominator > 0, denominator, 1.0)
    out = np.where(denominator > 0, (1 + b2) * tp / safe, 0.0)
    return float(out) if out.ndim == 0 else out


def best_threshold(y_true: np.ndarray, scores: np.ndarray, beta: float = 1.0) -> float:
    """The score threshold that maximises F-beta on (y_true, scores); 0.5 when undecidable."""
    y_true = np.asarray(y_true, dtype=int)
    scores = np.asarray(scores, dtype=float)
    if y_true.sum() == 0 or len(scores) == 0:
        return 0.5
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_true = scores[order], y_true[order]
    tp = np.cumsum(sorted_true)
    fp = np.cumsum(1 - sorted_true)
    last_of_value = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # cut only between distinct scores
    tp, fp, cut_scores = tp[last_of_value], fp[last_of_value], sorted_scores[last_of_value]
    fn = y_true.sum() - tp
    best = int(np.argmax(fbeta(tp, fp, fn, beta)))
    return float(cut_scores[best])


class RiskScorer:
    """Conversation risk and alerts. Like a scikit-learn estimator, the constructor stores the
    settings and ``fit`` (or ``from_dict``) sets the fitted attributes (ending in ``_``)."""

    def __init__(self, config: RiskConfig, label_ids: list[str]):
        self.config = config
        self.label_ids = label_ids

    @classmethod
    def untuned(cls, config: RiskConfig, label_ids: list[str]) -> RiskScorer:
        """A scorer with the neutral settings (threshold 0.5), for a model known only by its
        predictions (an external model that is not calibrated)."""
        scorer = cls(config, label_ids)
        scorer.threshold_ = 0.5
        scorer.message_thresholds_ = np.full(len(label_ids), 0.5)
        scorer.coef_, scorer.intercept_ = None, 0.0
        return scorer

    # ------------------------------------------------------------------ scores

    def running(self, probabilities: np.ndarray) -> np.ndarray:
        """Risk after each message, from an (n_messages, n_labels) probability matrix."""
        if len(probabilities) == 0:
            return np.zeros(0)
        message_scores = probabilities.max(axis=1)
        method = self.config.method
        if method == "max":
            return np.maximum.accumulate(message_scores)
        if method == "topk_mean":
            k, heap, total, out = self.config.top_k, [], 0.0, []
            for score in message_scores:
                if len(heap) < k:
                    heapq.heappush(heap, score)
                    total += score
                elif score > heap[0]:
                    total += score - heapq.heapreplace(heap, score)
                out.append(total / k)
            return np.array(out)
        coverage = np.maximum.accumulate(probabilities, axis=0)
        if getattr(self, "coef_", None) is None:
            raise RuntimeError("the coverage risk model is not fitted")
        return 1 / (1 + np.exp(-(coverage @ self.coef_ + self.intercept_)))

    def alert(self, probabilities: np.ndarray, risk: np.ndarray) -> int | None:
        """Index of the first message that raises an alert, or None."""
        if self.config.alert_rule == "threshold":
            hits = np.flatnonzero(risk >= self.threshold_)
            return int(hits[0]) if len(hits) else None
        positive = (probabilities >= self.message_thresholds_).any(axis=1).astype(int)
        counts = np.convolve(positive, np.ones(self.config.window, dtype=int))[: len(positive)]
        hits = np.flatnonzero(counts >= self.config.min_positive)
        return int(hits[0]) if len(hits) else None

    # --------------------------------------------------------------------- fit

    def fit(
        self, probabilities: list[np.ndarray], labels: list[int | None], message_thresholds: np.ndarray, seed: int = 0
    ) -> RiskScorer:
        """Tune on validation conversations (those with a risk label)."""
        self.message_thresholds_ = np.asarray(message_thresholds, dtype=float)
        self.coef_, self.intercept_ = None, 0.0
        keep = [i for i, y in enumerate(labels) if y is not None and len(probabilities[i])]
        y = np.array([labels[i] for i in keep], dtype=int)
        if self.config.method == "coverage":
            from sklearn.linear_model import LogisticRegression

            features = np.array([probabilities[i].max(axis=0) for i in keep])
            if len(set(y)) < 2:
                raise ValueError("the coverage risk model needs both risky and benign validation conversations")
            classifier = LogisticRegression(class_weight="balanced", random_state=seed, max_iter=1000).fit(features, y)
            self.coef_, self.intercept_ = classifier.coef_[0], float(classifier.intercept_[0])
        final = np.array([self.running(probabilities[i])[-1] for i in keep])
        self.threshold_ = best_threshold(y, final, BETAS[self.config.optimize])
        return self

    # ------------------------------------------------------------------- state

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.model_dump(),
            "threshold": self.threshold_,
            "message_thresholds": self.message_thresholds_.tolist(),
            "coef": None if self.coef_ is None else self.coef_.tolist(),
            "intercept": self.intercept_,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], label_ids: list[str]) -> RiskScorer:
        scorer = cls(RiskConfig.model_validate(data["config"]), label_ids)
        scorer.threshold_ = float(data["threshold"])
        scorer.message_thresholds_ = np.asarray(data["message_thresholds"], dtype=float)
        scorer.coef_ = None if data.get("coef") is None else np.asarray(data["coef"], dtype=float)
        scorer.intercept_ = float(data.get("intercept", 0.0))
        return scorer
