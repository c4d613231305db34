"""The project's metrics against scikit-learn on random multi-label data (seeded numpy), plus the
edge cases where the two differ by definition.

The reference values are computed from the arrays the cases are built from, not from
``pipeline.evaluation.metrics.Aligned``, so the alignment (annotated messages only, labelled conversations
only, resampling by conversation) is checked as well as the formulas. Unrounded values come from
``headline_values`` (to 1e-9); ``message_metrics``, ``conversation_metrics``, ``early_metrics`` and
the agreement report round to 6 decimals, so they are compared to within half a unit of the 6th.

Where the project departs from scikit-learn, by design:

- per-label recall, F1 and PR-AUC are None for a label without positives (sklearn: zero_division,
  or 0.0 for AP); the message macro-F1 averages only the labels with positives, where sklearn's
  ``average="macro"`` averages every label (a label with false positives only counts 0 there);
- precision with nothing predicted is 0.0 (sklearn ``zero_division=0``);
- micro-F1 and macro-F1 are None when there is nothing to find and nothing predicted;
- conversation recall is None without a risky conversation, ROC-AUC and PR-AUC None with one class;
- the annotators' report (``pipeline.annotate.agreement``) gives precision None with nothing
  predicted, and F1 None only when nothing was found, predicted or missed: its macro-F1 keeps a
  label with false positives only (F1 0), unlike the message macro-F1 of ``pipeline.evaluation.metrics``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    f1_score,
    fbeta_score,
    precision_recall_fscore_support,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pipeline.annotate.agreement import annotators_against_gold
from pipeline.annotate.labelstudio import Annotation, ExportTask
from pipeline.data.corpus import Conversation, Message
from pipeline.evaluation.metrics import (
    CORE_LABELS,
    Aligned,
    conversation_metrics,
    early_metrics,
    evaluate_predictions,
    headline_values,
    message_metrics,
)
from pipeline.models.base import ConversationPrediction
from pipeline.models.risk import best_threshold

# three core labels, two extended ones
LABELS = ["trust_building", "gifts", "secrecy", "risk_assessment", "media_request"]
EXACT = 1e-9
ROUNDED = 5e-7 + 1e-12  # a value rounded to 6 decimals
SEEDS = range(12)
RISK_THRESHOLD = 0.5


def _case(
    seed: int,
    *,
    conversations: int = 30,
    no_positives: tuple[int, ...] = (),
    predict_nothing: bool = False,
    risky_share: float = 0.5,
):
    """Random conversations and predictions, and the flat arrays sklearn is given.

    Probabilities have two decimals (ties, as real scores have); gold labels lean on them so that
    the figures are neither 0 nor 1; about one message in five is not annotated and one
    conversation in six has no risk label."""
    rng = np.random.default_rng(seed)
    convs, preds = [], []
    gold_rows, prob_rows, pred_rows, owner = [], [], [], []
    y, score, alerted = [], [], []
    for c in range(conversations):
        cid = f"c{c}"
        n = int(rng.integers(1, 8))
        prob = np.round(rng.random((n, len(LABELS))), 2)
        gold = (rng.random((n, len(LABELS))) < 0.1 + 0.6 * prob).astype(int)
        gold[:, list(no_positives)] = 0
        annotated = rng.random(n) > 0.2
        thresholds = rng.uniform(0.3, 0.7, len(LABELS))
        pred = np.zeros_like(prob, dtype=bool) if predict_nothing else prob >= thresholds
        risk = np.maximum.accumulate(prob.max(axis=1))
        label = None if rng.random() < 1 / 6 else int(rng.random() < risky_share)
        alert = None if predict_nothing or rng.random() < 0.3 else int(rng.integers(0, n))
        messages = [
            Message(
                author=f"a{i % 2}",
                text="x",
                labels=[lab for lab, g in zip(LABELS, gold[i], strict=True) if g] if annotated[i] else None,
            )
            for i in range(n)
        ]
        convs.append(Conversation(conversation_id=cid, label=label, messages=messages))
        preds.append(ConversationPrediction(cid, prob, pred, risk, alert))
        gold_rows.append(gold[annotated])
        prob_rows.append(prob[annotated])
        pred_rows.append(pred[annotated].astype(int))
        owner.append(np.full(int(annotated.sum()), c))
        y.append(-1 if label is None else label)
        score.append(float(risk[-1]))
        alerted.append(alert is not None)
    flat = {
        "gold": np.vstack(gold_rows),
        "prob": np.vstack(prob_rows),
        "pred": np.vstack(pred_rows),
        "owner": np.concatenate(owner),
        "y": np.array(y),
        "score": np.array(score),
        "alerted": np.array(alerted),
    }
    return convs, preds, flat


def _message_reference(gold: np.ndarray, pred: np.ndarray) -> dict[str, float | None]:
    """The message-level headline values as sklearn computes them (project's averaging rules)."""
    support = gold.sum(axis=0)
    supported = [j for j in range(len(LABELS)) if support[j] > 0]
    core = [j for j in supported if LABELS[j] in CORE_LABELS]
    out: dict[str, float | None] = {}
    if supported:
        out["message.macro_f1"] = f1_score(gold, pred, average="macro", labels=supported, zero_division=0)
    if core:
        out["message.core_macro_f1"] = f1_score(gold, pred, average="macro", labels=core, zero_division=0)
    if gold.sum() + pred.sum():
        out["message.micro_f1"] = f1_score(gold, pred, average="micro", zero_division=0)
    for j in supported:
        out[f"message.per_label.{LABELS[j]}.f1"] = f1_score(gold[:, j], pred[:, j], zero_division=0)
    return out


def _conversation_reference(y: np.ndarray, score: np.ndarray, alerted: np.ndarray) -> dict[str, float]:
    keep = y >= 0
    y, score, alerted = y[keep], score[keep], alerted[keep]
    pred = (score >= RISK_THRESHOLD).astype(int)
    out = {
        "conversation.precision": precision_score(y, pred, zero_division=0),
        "conversation.f1": f1_score(y, pred, zero_division=0),
        "conversation.f0_5": fbeta_score(y, pred, beta=0.5, zero_division=0),
        "conversation.f2": fbeta_score(y, pred, beta=2.0, zero_division=0),
    }
    if y.sum():
        out["conversation.recall"] = recall_score(y, pred)
    if len(set(y.tolist())) == 2:
        out["conversation.roc_auc"] = roc_auc_score(y, score)
        out["conversation.pr_auc"] = average_precision_score(y, score)
    return out


def _assert_same(ours: dict[str, float], reference: dict[str, float]) -> None:
    assert ours.keys() == reference.keys()
    for key, value in reference.items():
        assert ours[key] == pytest.approx(value, abs=EXACT), key


@pytest.mark.parametrize("seed", SEEDS)
def test_headline_values_match_sklearn(seed):
    convs, preds, flat = _case(seed)
    ours = headline_values(Aligned(convs, preds, LABELS, RISK_THRESHOLD))
    early = ours.pop("early.latency_f1")  # no sklearn counterpart (a product with the speed)
    assert 0 <= early <= 1
    reference = {
        **_message_reference(flat["gold"], flat["pred"]),
        **_conversation_reference(flat["y"], flat["score"], flat["alerted"]),
    }
    _assert_same(ours, reference)


@pytest.mark.parametrize("seed", SEEDS)
def test_resampled_headline_values_match_sklearn_on_the_repeated_conversations(seed):
    """A bootstrap draw: conversations drawn with replacement, their messages repeated as often."""
    convs, preds, flat = _case(seed)
    aligned = Aligned(convs, preds, LABELS, RISK_THRESHOLD)
    idx = np.random.default_rng(1000 + seed).integers(0, len(convs), len(convs))
    rows = np.concatenate([np.flatnonzero(flat["owner"] == i) for i in idx])
    ours = headline_values(aligned, idx)
    ours.pop("early.latency_f1")
    reference = {
        **_message_reference(flat["gold"][rows], flat["pred"][rows]),
        **_conversation_reference(flat["y"][idx], flat["score"][idx], flat["alerted"][idx]),
    }
    _assert_same(ours, reference)


@pytest.mark.parametrize("seed", SEEDS)
def test_rounded_metrics_match_sklearn(seed):
    convs, preds, flat = _case(seed)
    aligned = Aligned(convs, preds, LABELS, RISK_THRESHOLD)
    gold, pred, prob = flat["gold"], flat["pred"], flat["prob"]
    precision, recall, f1, support = precision_recall_fscore_support(gold, pred, zero_division=0)
    message = message_metrics(aligned)
    assert message["annotated_messages"] == len(gold)
    for j, label in enumerate(LABELS):
        figures = message["per_label"][label]
        assert figures["support"] == support[j]
        assert figures["precision"] == pytest.approx(precision[j], abs=ROUNDED)
        assert figures["recall"] == pytest.approx(recall[j], abs=ROUNDED)
        assert figures["f1"] == pytest.approx(f1[j], abs=ROUNDED)
        assert figures["pr_auc"] == pytest.approx(average_precision_score(gold[:, j], prob[:, j]), abs=ROUNDED)
    for key, value in _message_reference(gold, pred).items():
        if key.count(".") == 1:
            assert message[key.split(".")[1]] == pytest.approx(value, abs=ROUNDED), key

    conversation = conversation_metrics(aligned)
    for key, value in _conversation_reference(flat["y"], flat["score"], flat["alerted"]).items():
        assert conversation[key.split(".")[1]] == pytest.approx(value, abs=ROUNDED), key
    keep = flat["y"] >= 0
    assert conversation["support"] == keep.sum() and conversation["positives"] == (flat["y"] == 1).sum()

    early = early_metrics(aligned)  # alerts scored as conversation predictions
    alert_f1 = f1_score(flat["y"][keep], flat["alerted"][keep].astype(int), zero_division=0)
    assert early["f1"] == pytest.approx(alert_f1, abs=ROUNDED)
    assert early["alerts"] == flat["alerted"].sum()


def test_a_label_without_positives_is_left_out_of_the_macro_f1():
    gifts = LABELS.index("gifts")
    convs, preds, flat = _case(3, no_positives=(gifts,))
    gold, pred = flat["gold"], flat["pred"]
    assert gold[:, gifts].sum() == 0 and pred[:, gifts].sum() > 0  # false positives only
    aligned = Aligned(convs, preds, LABELS, RISK_THRESHOLD)
    figures = message_metrics(aligned)["per_label"]["gifts"]
    assert figures["support"] == 0
    assert figures["recall"] is None and figures["f1"] is None and figures["pr_auc"] is None
    assert figures["precision"] == precision_score(gold[:, gifts], pred[:, gifts], zero_division=0) == 0.0
    ours = headline_values(aligned)
    assert "message.per_label.gifts.f1" not in ours
    others = [j for j in range(len(LABELS)) if j != gifts]
    assert ours["message.macro_f1"] == pytest.approx(
        f1_score(gold, pred, average="macro", labels=others, zero_division=0), abs=EXACT
    )
    # sklearn's macro over every label counts the label as F1 0: a lower figure, by definition
    every = f1_score(gold, pred, average="macro", zero_division=0)
    assert every == pytest.approx(ours["message.macro_f1"] * len(others) / len(LABELS), abs=EXACT)
    core = [j for j in others if LABELS[j] in CORE_LABELS]
    assert ours["message.core_macro_f1"] == pytest.approx(
        f1_score(gold, pred, average="macro", labels=core, zero_division=0), abs=EXACT
    )
    assert ours["message.micro_f1"] == pytest.approx(f1_score(gold, pred, average="micro"), abs=EXACT)


def test_a_label_never_found_nor_predicted_is_undefined_not_zero_or_one():
    gifts = LABELS.index("gifts")
    convs, preds, flat = _case(4, no_positives=(gifts,))
    for prediction in preds:
        prediction.predicted[:, gifts] = False
    aligned = Aligned(convs, preds, LABELS, RISK_THRESHOLD)
    figures = message_metrics(aligned)["per_label"]["gifts"]
    assert (figures["precision"], figures["recall"], figures["f1"], figures["support"]) == (0.0, None, None, 0)
    gold, pred = flat["gold"], flat["pred"].copy()
    pred[:, gifts] = 0
    # sklearn: F1 = zero_division for this label, whichever is chosen; the project leaves it out
    others = [j for j in range(len(LABELS)) if j != gifts]
    macro = headline_values(aligned)["message.macro_f1"]
    assert macro == pytest.approx(f1_score(gold, pred, average="macro", labels=others), abs=EXACT)
    for zero_division, share in ((0.0, 0.0), (1.0, 1.0)):
        every = f1_score(gold, pred, average="macro", zero_division=zero_division)
        assert every == pytest.approx((macro * len(others) + share) / len(LABELS), abs=EXACT)


def test_nothing_predicted_gives_zero_precision_and_f_scores():
    convs, preds, flat = _case(5, predict_nothing=True)
    for prediction in preds:
        prediction.risk[:] = 0.0  # under the conversation threshold everywhere
    aligned = Aligned(convs, preds, LABELS, RISK_THRESHOLD)
    gold, pred = flat["gold"], flat["pred"]
    assert pred.sum() == 0 and gold.sum() > 0
    message = message_metrics(aligned)
    p, r, f, _ = precision_recall_fscore_support(gold, pred, zero_division=0)
    for j, label in enumerate(LABELS):
        figures = message["per_label"][label]
        assert (figures["precision"], figures["recall"], figures["f1"]) == (p[j], r[j], f[j]) == (0.0, 0.0, 0.0)
    assert message["macro_f1"] == message["core_macro_f1"] == message["micro_f1"] == 0.0
    assert f1_score(gold, pred, average="micro", zero_division=0) == 0.0

    y = flat["y"][flat["y"] >= 0]
    conversation = conversation_metrics(aligned)
    none = np.zeros_like(y)
    assert conversation["precision"] == precision_score(y, none, zero_division=0) == 0.0
    assert conversation["recall"] == recall_score(y, none) == 0.0
    for key, beta in (("f1", 1.0), ("f0_5", 0.5), ("f2", 2.0)):
        assert conversation[key] == fbeta_score(y, none, beta=beta, zero_division=0) == 0.0
    early = early_metrics(aligned)
    assert (early["f1"], early["latency_f1"], early["speed"], early["alerts"]) == (0.0, 0.0, None, 0)


def test_nothing_to_find_and_nothing_predicted_is_undefined():
    messages = [Message(author="a", text="x", labels=[]) for _ in range(3)]
    convs = [Conversation(conversation_id="c", label=0, messages=messages)]
    preds = [
        ConversationPrediction("c", np.zeros((3, len(LABELS))), np.zeros((3, len(LABELS)), bool), np.zeros(3), None)
    ]
    metrics = evaluate_predictions(convs, preds, LABELS, RISK_THRESHOLD, bootstrap=0)
    message, conversation = metrics["message"], metrics["conversation"]
    assert message["macro_f1"] is None and message["core_macro_f1"] is None and message["micro_f1"] is None
    gold = np.zeros((3, len(LABELS)), int)
    assert f1_score(gold, gold, average="micro", zero_division=0) == 0.0  # sklearn: zero_division
    assert conversation["recall"] is None and conversation["precision"] == 0.0 and conversation["f1"] == 0.0
    assert conversation["roc_auc"] is None and conversation["pr_auc"] is None  # one class
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.isnan(roc_auc_score([0, 0], [0.1, 0.2]))  # sklearn: undefined too (nan, a warning)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_best_threshold_maximises_sklearn_fbeta(seed, beta):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 40))
    scores = np.round(rng.random(n), 1 + seed % 2)  # one or two decimals: many ties
    y = (rng.random(n) < 0.2 + 0.6 * scores).astype(int)
    if y.sum() == 0:
        y[int(np.argmax(scores))] = 1
    chosen = best_threshold(y, scores, beta=beta)
    assert chosen in scores
    best = max(fbeta_score(y, scores >= t, beta=beta, zero_division=0) for t in np.unique(scores))
    assert fbeta_score(y, scores >= chosen, beta=beta) == pytest.approx(best, abs=EXACT)
    assert best_threshold(np.zeros(n, int), scores, beta=beta) == 0.5  # nothing to find


@pytest.mark.parametrize("seed", range(10))
def test_annotators_against_gold_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    tasks, gold_by_id, truth, given = [], {}, [], []
    for t in range(8):
        n = int(rng.integers(1, 6))
        gold = rng.random((n, len(LABELS))) < 0.3
        gold[:, LABELS.index("media_request")] = False  # a label nobody should find
        annotated = rng.random(n) > 0.2
        flips = rng.random((n, len(LABELS))) < 0.2
        answer = gold ^ flips
        messages = [
            Message(author="a", text="x", labels=[lab for lab, g in zip(LABELS, gold[i], strict=True) if g])
            if annotated[i]
            else Message(author="a", text="x")
            for i in range(n)
        ]
        reference = Conversation(conversation_id=f"c{t}", messages=messages)
        answers = [[lab for lab, g in zip(LABELS, row, strict=True) if g] for row in answer]
        tasks.append(ExportTask(t, t + 1, reference, [Annotation("A", t, answers)], []))
        gold_by_id[reference.conversation_id] = reference
        truth.append(gold[annotated])
        given.append(answer[annotated])
    truth, given = np.vstack(truth).astype(int), np.vstack(given).astype(int)
    report = annotators_against_gold(tasks, gold_by_id, LABELS)["A"]
    defined = []
    for j, label in enumerate(LABELS):
        figures = report["labels"][label]
        t, g = truth[:, j], given[:, j]
        assert figures["support"] == t.sum() and figures["predicted"] == g.sum()
        if g.sum():
            assert figures["precision"] == pytest.approx(precision_score(t, g), abs=ROUNDED)
        else:
            assert figures["precision"] is None
        if t.sum():
            assert figures["recall"] == pytest.approx(recall_score(t, g), abs=ROUNDED)
        else:
            assert figures["recall"] is None
        if t.sum() + g.sum():
            assert figures["f1"] == pytest.approx(f1_score(t, g), abs=ROUNDED)
            defined.append(j)
        else:
            assert figures["f1"] is None
    expected = f1_score(truth, given, average="macro", labels=defined, zero_division=0)
    assert report["macro_f1"] == pytest.approx(expected, abs=2 * ROUNDED)  # the mean of rounded F1s, rounded
