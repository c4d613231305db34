"""The leaderboard: a Markdown table of the evaluations, read from the metrics files that the
``evaluate`` stages write (``metrics/<model>/<dataset>.json``, tracked by DVC), so that what
``dvc repro`` reports depends on nothing DVC does not track. ``--from-mlflow`` reads the newest
evaluation runs of the MLflow store instead (hand-run evaluations included)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import PipelineError
from pipeline.reporting.render import render

COLUMNS = [
    ("message macro-F1", "message.macro_f1"),
    ("core macro-F1", "message.core_macro_f1"),
    ("conv. F0.5", "conversation.f0_5"),
    ("conv. F1", "conversation.f1"),
    ("conv. ROC-AUC", "conversation.roc_auc"),
    ("latency-F1", "early.latency_f1"),
]
ALERT = "early.median_alert_message"


def _flat(metrics: dict[str, Any]) -> dict[str, float]:
    """The leaderboard's figures of one metrics file, with ``ci_low.*`` / ``ci_high.*`` intervals."""
    out: dict[str, float] = {}
    for _, key in [*COLUMNS, ("", ALERT)]:
        section, name = key.split(".", 1)
        value = (metrics.get(section) or {}).get(name)
        if isinstance(value, int | float):
            out[key] = float(value)
        interval = (metrics.get("intervals") or {}).get(key)
        if isinstance(interval, list) and len(interval) == 2 and None not in interval:
            out[f"ci_low.{key}"], out[f"ci_high.{key}"] = interval
    return out


def metrics_rows(metrics_dir: str | Path) -> list[dict[str, Any]]:
    """One row per ``<metrics_dir>/<model>/<dataset>.json`` (predictions files left out)."""
    metrics_dir = Path(metrics_dir)
    if not metrics_dir.is_dir():
        raise PipelineError(f"{metrics_dir}: no such metrics directory (evaluate writes <model>/<dataset>.json)")
    rows = []
    for path in sorted(metrics_dir.glob("*/*.json")):
        if path.name.endswith(".predictions.json"):
            continue
        try:
            metrics = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PipelineError(f"{path}: expected a metrics file written by evaluate: {exc}") from None
        if not isinstance(metrics, dict) or "conversation" not in metrics:
            raise PipelineError(f"{path}: expected a metrics file written by evaluate (no 'conversation' figures)")
        dataset = (metrics.get("dataset") or {}).get("name") or path.stem
        rows.append({"model": path.parent.name, "dataset": dataset, "metrics": _flat(metrics), "ref": path.as_posix()})
    return rows


def mlflow_rows(runs: list[dict[str, Any]], latest_only: bool = True) -> list[dict[str, Any]]:
    """Rows from MLflow evaluation runs (newest first): the newest per model and data set."""
    seen: set[tuple[str, str]] = set()
    rows = []
    for run in runs:
        key = (run["tags"].get("model", "?"), run["tags"].get("dataset", "?"))
        if latest_only and key in seen:
            continue
        seen.add(key)
        rows.append({"model": key[0], "dataset": key[1], "metrics": run["metrics"], "ref": run["run_id"][:8]})
    return rows


def _figure(metrics: dict[str, float], key: str) -> tuple[float | None, list[float] | None]:
    """A column's value and its interval (None when either bound is missing)."""
    low, high = metrics.get(f"ci_low.{key}"), metrics.get(f"ci_high.{key}")
    return metrics.get(key), [low, high] if low is not None and high is not None else None


def leaderboard_context(rows: list[dict[str, Any]], source: str) -> dict[str, Any]:
    """What the table shows: rows per data set, best conversation F0.5 first."""
    rows = sorted(rows, key=lambda r: (r["dataset"], -r["metrics"].get("conversation.f0_5", -1), r["model"]))
    return {
        "source": source,
        "columns": [name for name, _ in COLUMNS],
        "rows": [
            {
                "model": row["model"],
                "dataset": row["dataset"],
                "cells": [_figure(row["metrics"], key) for _, key in COLUMNS],
                "alert": row["metrics"].get(ALERT),
                "ref": row["ref"],
            }
            for row in rows
        ],
    }


def leaderboard_markdown(rows: list[dict[str, Any]], source: str) -> str:
    """The table, per data set, best conversation F0.5 first; ``source`` says where rows come from."""
    return render("leaderboard.md.j2", **leaderboard_context(rows, source))
