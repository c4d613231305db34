"""Inter-annotator agreement on a Label Studio export.

Per schema label, over messages: Krippendorff's alpha (``krippendorff`` package, nominal,
values 1 = the annotator gave the label, 0 = did not) with one row per annotator and one
column per message of every task with a submitted annotation (missing where the annotator did
not annotate the task), and Cohen's kappa (scikit-learn) for every pair of annotators over the
messages both annotated. The same for conversation risk (``label``) and ``kind``, over tasks.
Cancelled annotations do not count; when one annotator submitted a task twice, the latest
counts (as in ``annotate import``).

Degenerate cases give ``null`` with a reason, never a crash: alpha needs a message rated by
two annotators and two different values among such ratings (a label nobody used has no
variation to agree on); kappa is undefined when both annotators give one same value to every
shared message (their raw agreement is still reported).
"""

from __future__ import annotations

import math
import warnings
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.annotate.labelstudio import ExportTask, annotator_sort_key
from pipeline.data.corpus import Conversation

MAX_TEXT = 120  # characters of a message shown in the disagreement list
MAX_LISTED = 300  # disagreements listed in the Markdown report (the JSON has them all)


def alpha_nominal(matrix: np.ndarray) -> tuple[float | None, str | None, int]:
    """Krippendorff's alpha (nominal) of an annotators x units matrix with NaN for missing.

    Returns (alpha or None, reason when None, number of units rated by at least two)."""
    pairable = (~np.isnan(matrix)).sum(axis=0) >= 2
    units = int(pairable.sum())
    if matrix.shape[0] < 2 or units == 0:
        return None, "no unit was rated by two or more annotators", units
    values = np.unique(matrix[:, pairable][~np.isnan(matrix[:, pairable])])
    if len(values) < 2:
        return None, f"undefined: no variation (every shared rating is {_value_name(values[0])})", units
    import krippendorff

    value = krippendorff.alpha(reliability_data=matrix, value_domain=values, level_of_measurement="nominal")
    return float(value), None, units


def _value_name(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def kappa_pairs(matrix: np.ndarray, annotators: list[str]) -> list[dict[str, Any]]:
    """Cohen's kappa for each pair of annotators over the units both rated."""
    from sklearn.metrics import cohen_kappa_score

    out = []
    for (i, a), (j, b) in combinations(enumerate(annotators), 2):
        shared = ~np.isnan(matrix[i]) & ~np.isnan(matrix[j])
        n = int(shared.sum())
        row: dict[str, Any] = {"a": a, "b": b, "units": n, "kappa": None, "agreement": None, "note": None}
        if n == 0:
            row["note"] = "no unit rated by both"
            out.append(row)
            continue
        x, y = matrix[i, shared], matrix[j, shared]
        row["agreement"] = round(float((x == y).mean()), 6)
        if len(np.unique(np.concatenate([x, y]))) < 2:
            row["note"] = f"undefined: both gave {_value_name(x[0])} to every shared unit"
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                kappa = cohen_kappa_score(x, y)
            if math.isfinite(kappa):
                row["kappa"] = round(float(kappa), 6)
            else:
                row["note"] = "undefined: chance agreement is 1"
        out.append(row)
    return out


def _figure(matrix: np.ndarray, annotators: list[str]) -> dict[str, Any]:
    alpha, reason, units = alpha_nominal(matrix)
    rated = matrix[~np.isnan(matrix)]
    return {
        "alpha": None if alpha is None else round(alpha, 6),
        "alpha_note": reason,
        "units_rated_by_two": units,
        "ratings": int(rated.size),
        "kappa": kappa_pairs(matrix, annotators),
    }


def agreement_report(tasks: list[ExportTask], label_ids: list[str], kind_ids: list[str], export: str = "") -> dict:
    """Every figure as a JSON-ready dict (see the module docstring)."""
    annotators = sorted({a.annotator for t in tasks for a in t.annotations}, key=annotator_sort_key)
    row = {a: i for i, a in enumerate(annotators)}
    annotated = [t for t in tasks if t.annotations]
    n_messages = sum(len(t.conversation.messages) for t in annotated)

    per_label = {}
    for label in label_ids:
        matrix = np.full((len(annotators), n_messages), np.nan)
        column = 0
        for task in annotated:
            size = len(task.conversation.messages)
            for annotation in task.annotations:
                matrix[row[annotation.annotator], column : column + size] = [
                    1.0 if label in labels else 0.0 for labels in annotation.messages
                ]
            column += size
        figure = _figure(matrix, annotators)
        figure["positive_ratings"] = int(np.nansum(matrix))
        per_label[label] = figure

    risk = np.full((len(annotators), len(annotated)), np.nan)
    kind = np.full((len(annotators), len(annotated)), np.nan)
    kind_index = {k: i for i, k in enumerate(kind_ids)}
    for column, task in enumerate(annotated):
        for annotation in task.annotations:
            if annotation.risk is not None:
                risk[row[annotation.annotator], column] = annotation.risk
            if annotation.kind is not None:
                kind[row[annotation.annotator], column] = kind_index[annotation.kind]

    disagreements = []
    risk_disagreements = []
    for task in annotated:
        if len(task.annotations) < 2:
            continue
        for index, message in enumerate(task.conversation.messages):
            sets = {a.annotator: a.messages[index] for a in task.annotations}
            if len({tuple(v) for v in sets.values()}) > 1:
                text = message.text if len(message.text) <= MAX_TEXT else message.text[: MAX_TEXT - 1] + "…"
                disagreements.append(
                    {
                        "task": task.task_id,
                        "conversation_id": task.conversation.conversation_id,
                        "message_index": index,
                        "message_id": message.message_id,
                        "author": message.author,
                        "text": text,
                        "labels": sets,
                    }
                )
        votes = {a.annotator: a.risk for a in task.annotations}
        if len({v for v in votes.values() if v is not None}) > 1:
            risk_disagreements.append(
                {"task": task.task_id, "conversation_id": task.conversation.conversation_id, "risk": votes}
            )

    alphas = [f["alpha"] for f in per_label.values() if f["alpha"] is not None]
    return {
        "export": export,
        "annotators": annotators,
        "tasks": len(tasks),
        "tasks_annotated": len(annotated),
        "tasks_annotated_by_two_or_more": sum(1 for t in annotated if len(t.annotations) >= 2),
        "annotations": sum(len(t.annotations) for t in tasks),
        "set_aside": sum(len(t.set_aside) for t in tasks),
        "messages": n_messages,
        "labels": per_label,
        "mean_alpha": round(float(np.mean(alphas)), 6) if alphas else None,
        "labels_with_alpha": len(alphas),
        "risk": _figure(risk, annotators),
        "kind": _figure(kind, annotators),
        "disagreements": disagreements,
        "risk_disagreements": risk_disagreements,
    }


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    """Precision, recall, F1; None where undefined (nothing predicted / nothing to find)."""
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    if tp + fp + fn == 0:
        f1 = None
    else:
        f1 = 2 * tp / (2 * tp + fp + fn)
    rounded = {k: None if v is None else round(v, 6) for k, v in (("precision", precision), ("recall", recall))}
    return {**rounded, "f1": None if f1 is None else round(f1, 6), "support": tp + fn, "predicted": tp + fp}


def annotators_against_gold(
    tasks: list[ExportTask], gold: dict[str, Conversation], label_ids: list[str]
) -> dict[str, Any]:
    """Each annotator's labels scored against the final (adjudicated) labels, per label, over the
    messages of the tasks that annotator submitted; the human ceiling a model is read against.
    Macro-F1 averages the labels where F1 is defined; risk accuracy is over conversations."""
    counts: dict[str, dict[str, list[int]]] = {}
    risk: dict[str, list[int]] = {}
    for task in tasks:
        reference = gold.get(task.conversation.conversation_id)
        if reference is None:
            continue
        for annotation in task.annotations:
            per_label = counts.setdefault(annotation.annotator, {label: [0, 0, 0] for label in label_ids})
            for index, message in enumerate(reference.messages):
                if message.labels is None:
                    continue
                truth, given = set(message.labels), set(annotation.messages[index])
                for label in label_ids:
                    cell = per_label[label]
                    cell[0] += label in truth and label in given
                    cell[1] += label in given and label not in truth
                    cell[2] += label in truth and label not in given
            if reference.label is not None and annotation.risk is not None:
                hits = risk.setdefault(annotation.annotator, [0, 0])
                hits[0] += reference.label == annotation.risk
                hits[1] += 1
    out = {}
    for annotator in sorted(counts, key=annotator_sort_key):
        labels = {label: _prf(*counts[annotator][label]) for label in label_ids}
        f1s = [v["f1"] for v in labels.values() if v["f1"] is not None]
        hits = risk.get(annotator, [0, 0])
        out[annotator] = {
            "labels": labels,
            "macro_f1": round(float(np.mean(f1s)), 6) if f1s else None,
            "risk_accuracy": round(hits[0] / hits[1], 6) if hits[1] else None,
            "conversations": hits[1],
        }
    return out


def _number(value: float | None, note: str | None = None) -> str:
    if value is None:
        return f"— ({note})" if note else "—"
    return f"{value:.3f}"


def _kappa_cells(figure: dict[str, Any]) -> str:
    cells = []
    for pair in figure["kappa"]:
        value = "—" if pair["kappa"] is None else f"{pair['kappa']:.3f}"
        cells.append(f"{pair['a']}–{pair['b']}: {value} (n={pair['units']})")
    return "; ".join(cells) or "—"


def agreement_markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Inter-annotator agreement: {report['export']}",
        "",
        f"{report['tasks']} tasks, {report['tasks_annotated']} with a submitted annotation "
        f"({report['tasks_annotated_by_two_or_more']} by two or more annotators), "
        f"{report['annotations']} annotations counted, {report['set_aside']} set aside (cancelled or superseded); "
        f"annotators: {', '.join(report['annotators']) or 'none'}; {report['messages']} messages.",
        "",
        "Krippendorff's alpha (nominal) over messages rated by two or more annotators; Cohen's kappa per pair of "
        "annotators over the messages both rated. — means undefined (the reason follows).",
        "",
        "| label | alpha | messages rated by two | positive ratings | Cohen's kappa (pairs) |",
        "|---|---|---|---|---|",
    ]
    for label, figure in report["labels"].items():
        lines.append(
            f"| `{label}` | {_number(figure['alpha'], figure['alpha_note'])} | {figure['units_rated_by_two']} | "
            f"{figure['positive_ratings']} | {_kappa_cells(figure)} |"
        )
    mean = report["mean_alpha"]
    lines += [
        "",
        f"Mean alpha over the {report['labels_with_alpha']} labels where it is defined: {_number(mean)}.",
        "",
        "## Conversation level",
        "",
        "| field | alpha | conversations rated by two | Cohen's kappa (pairs) |",
        "|---|---|---|---|",
    ]
    for name in ("risk", "kind"):
        figure = report[name]
        lines.append(
            f"| {name} | {_number(figure['alpha'], figure['alpha_note'])} | {figure['units_rated_by_two']} | "
            f"{_kappa_cells(figure)} |"
        )
    gold = report.get("against_gold")
    if gold:
        annotators = list(gold)
        lines += [
            "",
            f"## Each annotator against the final labels ({report.get('gold')})",
            "",
            "F1 of each annotator's message labels against the adjudicated labels, over the messages of the tasks "
            "they annotated: the human ceiling that model figures on this corpus are read against.",
            "",
            "| label | " + " | ".join(annotators) + " |",
            "|---|" + "---|" * len(annotators),
        ]
        for label in report["labels"]:
            cells = [_number(gold[a]["labels"][label]["f1"], "no positives") for a in annotators]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        lines.append("| **macro-F1** | " + " | ".join(_number(gold[a]["macro_f1"]) for a in annotators) + " |")
        lines.append("| risk accuracy | " + " | ".join(_number(gold[a]["risk_accuracy"]) for a in annotators) + " |")
    shown = report["disagreements"][:MAX_LISTED]
    more = len(report["disagreements"]) - len(shown)
    lines += ["", f"## Messages with disagreement ({len(report['disagreements'])})", ""]
    if more > 0:
        lines += [f"The first {len(shown)} are listed; the JSON report has all of them.", ""]
    if report["disagreements"]:
        lines += [
            "| task | conversation | message | author | text | labels by annotator |",
            "|---|---|---|---|---|---|",
        ]
        for item in shown:
            labels = "; ".join(f"{a}: {', '.join(v) or '[]'}" for a, v in item["labels"].items())
            text = item["text"].replace("|", "\\|").replace("\n", " ")
            lines.append(
                f"| {item['task']} | {item['conversation_id']} | {item['message_index']} | {item['author']} | "
                f"{text} | {labels} |"
            )
    else:
        lines.append("None.")
    lines += ["", f"## Conversations with different risk judgements ({len(report['risk_disagreements'])})", ""]
    if report["risk_disagreements"]:
        lines += ["| task | conversation | risk by annotator |", "|---|---|---|"]
        for item in report["risk_disagreements"]:
            votes = "; ".join(f"{a}: {v}" for a, v in item["risk"].items())
            lines.append(f"| {item['task']} | {item['conversation_id']} | {votes} |")
    else:
        lines.append("None.")
    return "\n".join([*lines, ""])


def report_paths(out_dir: str | Path, name: str = "agreement") -> tuple[Path, Path]:
    return Path(out_dir) / f"{name}.json", Path(out_dir) / f"{name}.md"
