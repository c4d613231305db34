"""The leaderboard: a Markdown table of evaluation runs from MLflow (newest per model and data set)."""

from __future__ import annotations

from typing import Any

COLUMNS = [
    ("message macro-F1", "message.macro_f1"),
    ("core macro-F1", "message.core_macro_f1"),
    ("conv. F0.5", "conversation.f0_5"),
    ("conv. F1", "conversation.f1"),
    ("conv. ROC-AUC", "conversation.roc_auc"),
    ("latency-F1", "early.latency_f1"),
]


def _cell(metrics: dict[str, float], key: str) -> str:
    if key not in metrics:
        return "—"
    low, high = metrics.get(f"ci_low.{key}"), metrics.get(f"ci_high.{key}")
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{metrics[key]:.3f}{interval}"


def leaderboard_markdown(runs: list[dict[str, Any]], latest_only: bool = True) -> str:
    seen: set[tuple[str, str]] = set()
    rows = []
    for run in runs:  # newest first
        key = (run["tags"].get("model", "?"), run["tags"].get("dataset", "?"))
        if latest_only and key in seen:
            continue
        seen.add(key)
        rows.append((key, run))
    rows.sort(key=lambda item: (item[0][1], -item[1]["metrics"].get("conversation.f0_5", -1), item[0][0]))
    header = "| model | data set | " + " | ".join(name for name, _ in COLUMNS) + " | median alert msg | run |"
    lines = [
        "# Leaderboard",
        "",
        "Newest evaluation run per model and data set (MLflow); 95% bootstrap intervals in brackets.",
        "",
        header,
        "|" + "---|" * (len(COLUMNS) + 4),
    ]
    for (model, dataset), run in rows:
        metrics = run["metrics"]
        alert = metrics.get("early.median_alert_message")
        cells = " | ".join(_cell(metrics, key) for _, key in COLUMNS)
        lines.append(
            f"| {model} | {dataset} | {cells} | {'—' if alert is None else f'{alert:.0f}'} | `{run['run_id'][:8]}` |"
        )
    if not rows:
        lines.append("| (no evaluation runs yet) |" + " |" * (len(COLUMNS) + 3))
    return "\n".join(lines) + "\n"
