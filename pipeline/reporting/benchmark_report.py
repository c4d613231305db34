"""The benchmark's reports: ``benchmark.md`` and the self-contained ``benchmark.html``.

``pipeline.experiments.suites.run_benchmark`` runs the evaluations and calls ``report_markdown``
and ``report_html`` with its result (a ``BenchmarkResult``: suite, settings, models, data sets,
metrics per data set and model). ``report_context`` turns the result into plain dicts and lists
(values with their intervals, image links and data URIs); the templates
``templates/benchmark.md.j2`` and ``templates/benchmark.html.j2`` lay them out: per data set, a
table of the leaderboard's headline metrics with 95% intervals for every model, then each plot of
every model side by side (in the HTML, images as data URIs; no external CSS or scripts).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from pipeline.evaluation.plots import CONFUSION, PR_CURVES, RISK_OVER_TIME
from pipeline.reporting.leaderboard import COLUMNS
from pipeline.reporting.render import ci, render

REPORT_NAME = "benchmark"
PLOTS = [
    (PR_CURVES, "Precision-recall per label"),
    (CONFUSION, "Per-label confusion"),
    (RISK_OVER_TIME, "Risk over time"),
]
ALERT = "early.median_alert_message"
HEADER = ["model"] + [name for name, _ in COLUMNS] + ["median alert msg"]


def metric_value(metrics: dict[str, Any], dotted: str) -> Any:
    """``metrics["a"]["b"]`` for ``"a.b"``; None when any part is missing."""
    value: Any = metrics
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def metric_interval(metrics: dict[str, Any], key: str) -> tuple[Any, list[float] | None]:
    """A metric's value and its 95% bootstrap interval (None when undefined)."""
    return metric_value(metrics, key), (metrics.get("intervals") or {}).get(key)


def metric_cell(metrics: dict[str, Any], key: str) -> str:
    """``0.812 [0.774, 0.850]``: the value and its 95% bootstrap interval (``—`` when undefined)."""
    return ci(*metric_interval(metrics, key))


def thresholds_note(entry: Any) -> str:
    """Where a model's label thresholds come from."""
    if entry.calibrated:
        return "calibrated"
    return "0.5 (default)" if entry.external else "trained"


def _relative(target: Path, root: Path) -> str:
    return Path(os.path.relpath(target.resolve(), root.resolve())).as_posix()


def _settings(result: Any) -> dict[str, Any]:
    """The run's settings as the reports' first sentence states them."""
    s = result.settings
    own = [
        {"name": d.name, "max_conversations": d.max_conversations}
        for d in result.datasets
        if d.max_conversations is not None and d.max_conversations != s["max_conversations"]
    ]
    return {
        "suite": result.suite,
        "models": len(result.models),
        "datasets": len(result.datasets),
        "max_conversations": s["max_conversations"],
        "own_sizes": [] if s.get("forced_size") else own,  # a data set's own sample size, unless forced
        "seed": s["seed"],
        "bootstrap": s["bootstrap"],
        "calibrate": s["calibrate"],
    }


def report_context(
    result: Any, image_root: Path | None = None, images: dict[tuple[str, str, str], bytes] | None = None
) -> dict[str, Any]:
    """What the reports show. Image links are relative to ``image_root`` (the Markdown report's
    folder); ``images`` (data set, model, plot file) → PNG bytes become data URIs (the HTML report)."""
    images = images or {}
    datasets = []
    for dataset in result.datasets:
        per_model = result.metrics[dataset.name]
        rows = []
        for entry in result.models:
            metrics = per_model[entry.name]
            rows.append(
                {
                    "model": entry.name,
                    "cells": [metric_interval(metrics, key) for _, key in COLUMNS],
                    "alert": metric_value(metrics, ALERT),
                }
            )
        plots = []
        for plot, title in PLOTS:
            figures = []
            for entry in result.models:
                data = images.get((dataset.name, entry.name, plot))
                target = result.suite_dir / entry.name / dataset.name / plot
                figures.append(
                    {
                        "model": entry.name,
                        "link": _relative(target, image_root) if image_root is not None else None,
                        "uri": None
                        if data is None
                        else "data:image/png;base64," + base64.b64encode(data).decode("ascii"),
                    }
                )
            plots.append({"title": title, "figures": figures})
        datasets.append(
            {
                "name": dataset.name,
                "source": dataset.source or str(dataset.path),
                "conversations": next(iter(per_model.values()))["dataset"]["conversations"],
                "rows": rows,
                "plots": plots,
            }
        )
    return {
        "suite": result.suite,
        "settings": _settings(result),
        "header": HEADER,
        "models": [
            {
                "name": m.name,
                "reference": m.reference,
                "thresholds": thresholds_note(m),
                "risk_threshold": m.model.risk_.threshold_,
            }
            for m in result.models
        ],
        "datasets": datasets,
    }


def report_markdown(result: Any, image_root: Path) -> str:
    """The Markdown report; image links are relative to ``image_root`` (the report's folder)."""
    return render("benchmark.md.j2", **report_context(result, image_root=image_root))


def report_html(result: Any, images: dict[tuple[str, str, str], bytes]) -> str:
    """The HTML report: one file, images embedded as base64 data URIs, no external resources."""
    return render("benchmark.html.j2", **report_context(result, images=images))
