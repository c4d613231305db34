"""Metrics and risk rules against values computed by hand on small examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.data.corpus import Conversation, Message
from pipeline.evaluation.metrics import Aligned, evaluate_predictions, latency_penalty, paired_bootstrap
from pipeline.models.base import ConversationPrediction
from pipeline.models.risk import RiskConfig, RiskScorer, best_threshold

LABELS = ["trust_building", "risk_assessment"]  # one core label, one extended


def _conv(cid, labels, risk=None):
    return Conversation(
        conversation_id=cid, label=risk, messages=[Message(author="a", text="x", labels=lab) for lab in labels]
    )


def _pred(cid, probabilities, risk=None, alert=None, threshold=0.5):
    p = np.array(probabilities, dtype=float)
    r = np.array(risk if risk is not None else p.max(axis=1), dtype=float)
    return ConversationPrediction(cid, p, p >= threshold, r, alert)


@pytest.fixture
def message_example():
    conversations = [
        _conv("c1", [["trust_building"], [], ["risk_assessment"]], risk=1),
        _conv("c2", [["trust_building", "risk_assessment"], None], risk=1),  # 2nd message not annotated
    ]
    predictions = [
        _pred("c1", [[0.9, 0.2], [0.8, 0.1], [0.1, 0.7]]),
        _pred("c2", [[0.3, 0.6], [0.9, 0.9]]),
    ]
    return conversations, predictions


def test_message_metrics_by_hand(message_example):
    metrics = evaluate_predictions(*message_example, LABELS, risk_threshold=0.5, bootstrap=0)["message"]
    tb, ra = metrics["per_label"]["trust_building"], metrics["per_label"]["risk_assessment"]
    # trust_building: TP c1m1, FP c1m2, FN c2m1 -> P = R = F1 = 0.5
    assert (tb["precision"], tb["recall"], tb["f1"], tb["support"]) == (0.5, 0.5, 0.5, 2)
    # ranked .9+ .8- .3+ .1- -> AP = 0.5 * 1 + 0.5 * 2/3
    assert tb["pr_auc"] == pytest.approx(0.5 + 0.5 * 2 / 3, abs=1e-6)
    assert (ra["precision"], ra["recall"], ra["f1"], ra["pr_auc"]) == (1.0, 1.0, 1.0, 1.0)
    assert metrics["macro_f1"] == 0.75
    assert metrics["core_macro_f1"] == 0.5  # trust_building is the only core label here
    assert metrics["micro_f1"] == 0.75  # TP 3, FP 1, FN 1
    assert metrics["annotated_messages"] == 4


def test_conversation_metrics_by_hand():
    y = [1, 1, 0, 0, 1, 1]
    final = [0.9, 0.4, 0.6, 0.1, 0.8, 0.3]
    conversations = [_conv(f"c{i}", [None], risk=label) for i, label in enumerate(y)]
    predictions = [_pred(f"c{i}", [[s, 0.0]], risk=[s]) for i, s in enumerate(final)]
    metrics = evaluate_predictions(conversations, predictions, LABELS, risk_threshold=0.5, bootstrap=0)
    conv = metrics["conversation"]
    # TP 2 (.9, .8), FP 1 (.6), FN 2 (.4, .3)
    assert conv["precision"] == pytest.approx(2 / 3, abs=1e-6) and conv["recall"] == 0.5
    assert conv["f1"] == pytest.approx(4 / 7, abs=1e-6)
    assert conv["f0_5"] == pytest.approx(2.5 / 4, abs=1e-6)
    assert conv["f2"] == pytest.approx(10 / 19, abs=1e-6)
    assert conv["roc_auc"] == 0.75  # 6 of 8 positive-negative pairs ranked right
    # ranked .9+ .8+ .6- .4+ .3+ .1-: AP = .25 * (1 + 1 + 3/4 + 4/5)
    assert conv["pr_auc"] == pytest.approx(0.8875, abs=1e-6)
    assert (conv["support"], conv["positives"]) == (6, 4)
    assert metrics["message"] is None  # nothing annotated: the message level does not apply


def test_latency_penalty_and_latency_f1_by_hand():
    assert latency_penalty(1) == 0
    assert latency_penalty(90) == pytest.approx(0.5)
    assert latency_penalty(1000) == pytest.approx(1, abs=1e-4)
    y = [1, 1, 0, 1]
    alerts = [0, 89, 3, None]  # alert after 1 and 90 messages; one false alarm; one miss
    conversations = [_conv(f"c{i}", [None] * 100, risk=label) for i, label in enumerate(y)]
    predictions = [_pred(f"c{i}", [[0, 0]] * 100, risk=[0] * 100, alert=a) for i, a in enumerate(alerts)]
    early = evaluate_predictions(conversations, predictions, LABELS, risk_threshold=0.5, bootstrap=0)["early"]
    assert early["f1"] == pytest.approx(2 / 3, abs=1e-6)  # TP 2, FP 1, FN 1
    assert early["speed"] == pytest.approx(0.75, abs=1e-6)  # 1 - median(0, 0.5)
    assert early["latency_f1"] == pytest.approx(0.5, abs=1e-6)
    assert early["median_alert_message"] == 45.5
    assert early["alerts"] == 3


def test_bootstrap_intervals_bracket_the_estimate_and_are_reproducible():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.clip(y * 0.3 + rng.random(200) * 0.7, 0, 1)
    conversations = [
        _conv(f"c{i}", [[] if not label else ["trust_building"]], risk=int(label)) for i, label in enumerate(y)
    ]
    predictions = [_pred(f"c{i}", [[s, 0.0]], risk=[s]) for i, s in enumerate(scores)]
    a = evaluate_predictions(conversations, predictions, LABELS, 0.5, bootstrap=200, seed=3)
    b = evaluate_predictions(conversations, predictions, LABELS, 0.5, bootstrap=200, seed=3)
    assert a["intervals"] == b["intervals"]
    low, high = a["intervals"]["conversation.f1"]
    assert low <= a["conversation"]["f1"] <= high and high - low < 0.3
    low, high = a["intervals"]["message.macro_f1"]
    assert low <= a["message"]["macro_f1"] <= high


def test_paired_bootstrap_sees_a_real_difference():
    y = np.array([1, 0] * 50)
    good = [_pred(f"c{i}", [[0.9 if t else 0.1, 0]], risk=[0.9 if t else 0.1]) for i, t in enumerate(y)]
    bad = [_pred(f"c{i}", [[0.6, 0]], risk=[0.6]) for i, t in enumerate(y)]
    conversations = [_conv(f"c{i}", [[] if not t else ["trust_building"]], risk=int(t)) for i, t in enumerate(y)]
    result = paired_bootstrap(
        Aligned(conversations, bad, LABELS, 0.5), Aligned(conversations, good, LABELS, 0.5), samples=200, seed=0
    )
    f1 = result["conversation.f1"]
    assert f1["a"] == pytest.approx(2 / 3, abs=1e-6) and f1["b"] == 1.0  # all predicted positive vs perfect
    assert f1["ci_low"] > 0  # B is better on every resample


def test_best_threshold_by_hand():
    # scores .9+ .8- .7+ .2-: cutting at .7 gives TP 2, FP 1 -> F1 .8, the best
    assert best_threshold(np.array([1, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.2])) == 0.7
    assert best_threshold(np.array([0, 0]), np.array([0.3, 0.4])) == 0.5  # nothing to find


def test_running_risk_rules():
    probabilities = np.array([[0.1, 0.2], [0.6, 0.1], [0.3, 0.4], [0.9, 0.0]])
    assert RiskScorer(RiskConfig(method="max"), LABELS).running(probabilities).tolist() == [0.2, 0.6, 0.6, 0.9]
    topk = RiskScorer(RiskConfig(method="topk_mean", top_k=2), LABELS).running(probabilities)
    assert topk.tolist() == pytest.approx([0.1, 0.4, 0.5, 0.75])  # (0.2)/2, (0.6+0.2)/2, (0.6+0.4)/2, (0.9+0.6)/2


def test_alert_rules():
    probabilities = np.array([[0.6, 0], [0.1, 0], [0.7, 0], [0.8, 0], [0.1, 0]])
    threshold_rule = RiskScorer(RiskConfig(method="max"), LABELS)
    threshold_rule.threshold_ = 0.65
    assert threshold_rule.alert(probabilities, threshold_rule.running(probabilities)) == 2
    window = RiskScorer(RiskConfig(alert_rule="window", window=3, min_positive=2), LABELS)
    window.message_thresholds_ = np.array([0.5, 0.5])
    # positives: 1 0 1 1 0 -> two of the last three first at message index 2
    assert window.alert(probabilities, window.running(probabilities)) == 2
    strict = RiskScorer(RiskConfig(alert_rule="window", window=2, min_positive=2), LABELS)
    strict.message_thresholds_ = np.array([0.5, 0.5])
    assert strict.alert(probabilities, strict.running(probabilities)) == 3


def test_coverage_risk_is_fitted_on_validation():
    rng = np.random.default_rng(1)
    risky = [np.column_stack([rng.random(5) * 0.3 + 0.7, rng.random(5)]) for _ in range(20)]
    benign = [np.column_stack([rng.random(5) * 0.3, rng.random(5)]) for _ in range(20)]
    scorer = RiskScorer(RiskConfig(method="coverage"), LABELS).fit(
        risky + benign, [1] * 20 + [0] * 20, np.array([0.5, 0.5])
    )
    final_risky = [scorer.running(p)[-1] for p in risky]
    final_benign = [scorer.running(p)[-1] for p in benign]
    assert min(final_risky) > max(final_benign)
    restored = RiskScorer.from_dict(scorer.to_dict(), LABELS)
    assert math.isclose(restored.running(risky[0])[-1], final_risky[0])


def test_one_fbeta_for_thresholds_and_metrics_agrees_with_scikit_learn():
    from sklearn.metrics import fbeta_score

    from pipeline.models.risk import fbeta

    rng = np.random.default_rng(7)
    for beta in (0.5, 1.0, 2.0):
        y_true, y_pred = rng.integers(0, 2, 200), rng.integers(0, 2, 200)
        tp = int(((y_true == 1) & (y_pred == 1)).sum())
        fp = int(((y_true == 0) & (y_pred == 1)).sum())
        fn = int(((y_true == 1) & (y_pred == 0)).sum())
        assert fbeta(tp, fp, fn, beta) == pytest.approx(fbeta_score(y_true, y_pred, beta=beta), abs=1e-12)
    assert fbeta(0, 0, 0) == 0.0  # nothing to score
    assert fbeta(np.array([1, 0]), np.array([1, 0]), np.array([0, 0])).tolist() == [pytest.approx(2 / 3), 0.0]


def test_the_seeded_subsampler_is_deterministic_ordered_and_a_no_op_under_the_limit():
    from pipeline.models.base import seeded_sample

    picked = seeded_sample(range(100), 10, seed=3)
    assert picked == seeded_sample(range(100), 10, seed=3) and picked == sorted(picked) and len(set(picked)) == 10
    assert picked != seeded_sample(range(100), 10, seed=4)
    assert seeded_sample([5, 2, 9], 10, seed=0) == [5, 2, 9]  # under the limit: all, as given
    assert seeded_sample([5, 2, 9], None, seed=0) == [5, 2, 9]


def test_models_follow_the_estimator_contract():
    """The constructor stores typed settings; fitted attributes (ending in _) exist only after fit."""
    from pipeline.models.lexicon import LexiconModel
    from pipeline.models.tfidf import TfidfModel

    model = TfidfModel(["a", "b"], {"C": 2})
    assert model.settings.C == 2.0 and model.params["C"] == 2.0
    assert not hasattr(model, "thresholds_") and not hasattr(model, "risk_")
    scorer = RiskScorer(RiskConfig(method="coverage"), LABELS)
    with pytest.raises(RuntimeError, match="not fitted"):
        scorer.running(np.array([[0.1, 0.2]]))
    lexicon = LexiconModel(["secrecy"], cues={"secrecy": {"en": ["our secret"]}})
    assert not hasattr(lexicon, "thresholds_")


def test_plot_data_series_by_hand(message_example):
    """The data behind the plots (what `dvc plots diff` overlays) agrees with the metrics."""
    from pipeline.evaluation.plots import confusion_rows, curves, pr_curve_rows, risk_rows

    conversations, predictions = message_example
    aligned = Aligned(conversations, predictions, LABELS, risk_threshold=0.5)
    counts = {(r["label"], r["outcome"]): r["messages"] for r in confusion_rows(aligned)}
    # trust_building: TP c1m1, FP c1m2, FN c2m1; risk_assessment: TP c1m3 and c2m1
    assert counts == {
        ("trust_building", "true positive"): 1,
        ("trust_building", "false positive"): 1,
        ("trust_building", "false negative"): 1,
        ("risk_assessment", "true positive"): 2,
        ("risk_assessment", "false positive"): 0,
        ("risk_assessment", "false negative"): 0,
    }
    curve = {(r["label"], r["recall"]): r["precision"] for r in pr_curve_rows(curves(aligned))}
    assert len(curve) == 2 * 101
    # trust_building ranked .9+ .8- .3+ .1-: recall 0.5 at precision 1, recall 1 at precision 2/3
    assert curve[("trust_building", 0.0)] == curve[("trust_building", 0.5)] == 1.0
    assert curve[("trust_building", 0.51)] == curve[("trust_building", 1.0)] == pytest.approx(2 / 3, abs=1e-6)
    assert all(curve[("risk_assessment", r / 100)] == 1.0 for r in range(101))
    rows = risk_rows(conversations, predictions)
    assert [(r["message"], r["risk"]) for r in rows if r["conversation"].startswith("c1")] == [
        (1, 0.9),
        (2, 0.8),
        (3, 0.7),
    ]
