"""The learning curve against the amount of human-written training data.

How much does each authored conversation buy on text the project was not built from? The
same model kind and settings are fitted on the synthetic training set plus a growing, nested
share of ``authored_train`` (each share holds the smaller ones: one seeded permutation, cut
at each fraction), repeated ``weight`` times, tuned as the pipeline tunes, and measured on
an evaluation set (``authored_test``) with bootstrap intervals.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.core.io import write_text_atomic
from pipeline.data.corpus import Conversation
from pipeline.evaluation.metrics import evaluate_predictions
from pipeline.experiments.train import build_model, repeat_conversations

HEADLINES = [
    ("message.macro_f1", "macro-F1"),
    ("message.core_macro_f1", "core macro-F1"),
    ("conversation.roc_auc", "conv. ROC-AUC"),
    ("conversation.f0_5", "conv. F0.5"),
    ("early.latency_f1", "latency-F1"),
]


def nested_shares(conversations: list[Conversation], fractions: list[float], seed: int) -> list[list[Conversation]]:
    """For each fraction, the first ``round(fraction * n)`` conversations of one seeded
    permutation (so every share contains the smaller ones), kept in corpus order."""
    for fraction in fractions:
        if not 0 <= fraction <= 1:
            raise PipelineError(f"fractions: expected values between 0 and 1, found {fraction}")
    order = list(range(len(conversations)))
    random.Random(seed).shuffle(order)
    return [[conversations[i] for i in sorted(order[: round(f * len(conversations))])] for f in fractions]


def _value(metrics: dict[str, Any], dotted: str) -> float | None:
    node: Any = metrics
    for part in dotted.split("."):
        node = (node or {}).get(part)
    return node


def learning_curve(
    kind: str,
    label_ids: list[str],
    params: dict[str, Any],
    risk: dict[str, Any],
    seed: int,
    synthetic_train: list[Conversation],
    valid: list[Conversation],
    authored_train: list[Conversation],
    authored_valid: list[Conversation],
    evaluation: list[Conversation],
    fractions: list[float],
    weight: int,
    thresholds_on: str = "all",
    bootstrap: int = 200,
    progress=None,
) -> list[dict[str, Any]]:
    """One row per fraction: the share's size and the evaluation metrics with intervals."""
    rows = []
    for fraction, share in zip(fractions, nested_shares(authored_train, fractions, seed), strict=True):
        model = build_model(kind, label_ids, params, risk, seed, None)
        fit = {"thresholds_on": "whole" if thresholds_on == "authored" else "all"}
        model.fit(synthetic_train + repeat_conversations(share, weight), valid, authored_valid, **fit)
        predictions = model.predict(evaluation)
        metrics = evaluate_predictions(
            evaluation, predictions, model.label_ids, model.risk_.threshold_, bootstrap=bootstrap, seed=seed
        )
        row = {
            "fraction": fraction,
            "authored_conversations": len(share),
            "authored_messages": sum(len(c.messages) for c in share),
            "metrics": {key: _value(metrics, key) for key, _ in HEADLINES},
            "intervals": {key: metrics["intervals"].get(key) for key, _ in HEADLINES},
        }
        rows.append(row)
        if progress:
            progress(row)
    return rows


def write_report(rows: list[dict[str, Any]], setup: dict[str, Any], out_dir: Path, name: str) -> tuple[Path, Path]:
    """``<name>.json`` (rows and setup) and ``<name>.md`` (a table with 95% intervals)."""
    json_path, md_path = out_dir / f"{name}.json", out_dir / f"{name}.md"
    write_text_atomic(json_path, json.dumps({"setup": setup, "rows": rows}, indent=2) + "\n")
    lines = [
        f"# Learning curve: {setup['model']} against the amount of authored training data",
        "",
        f"Evaluated on `{setup['evaluation']}` ({setup['evaluation_conversations']} conversations), whole; "
        f"95% bootstrap intervals ({setup['bootstrap']} resamples of conversations). Synthetic training "
        f"conversations: {setup['synthetic_conversations']}; each authored share is repeated "
        f"{setup['weight']} times; thresholds tuned on {setup['thresholds_on']}. Shares are nested "
        f"(seed {setup['seed']}). Written by `grooming-risk learning-curve`.",
        "",
        "| authored share | conversations | messages | " + " | ".join(label for _, label in HEADLINES) + " |",
        "|---|---|---|" + "---|" * len(HEADLINES),
    ]
    for row in rows:
        cells = []
        for key, _ in HEADLINES:
            value, interval = row["metrics"][key], row["intervals"][key]
            if value is None:
                cells.append("n/a")
            elif interval:
                cells.append(f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]")
            else:
                cells.append(f"{value:.3f}")
        lines.append(
            f"| {row['fraction']:.0%} | {row['authored_conversations']} | {row['authored_messages']} | "
            + " | ".join(cells)
            + " |"
        )
    write_text_atomic(md_path, "\n".join(lines) + "\n")
    return json_path, md_path
