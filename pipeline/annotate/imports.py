"""A Label Studio export back to the conversation format, with adjudication and a review list.

Two ways to run it:

- **From the export alone** (the default). Each task's ``data`` carries its whole conversation
  (``annotate export`` put it there), so every task becomes one conversation, in export order.
- **Into a corpus** (``data``: a conversation-format file, e.g. the one the tasks came from).
  Every task's conversation id must be in it, with the same messages (else an error names the
  task); the output is that whole corpus, in its order, with the annotated conversations
  updated. A conversation whose task is not adjudicated (no annotation, or fewer than
  ``min_annotators``) keeps its labels from the corpus.

What an adjudicated task becomes (``AnnotateConfig``: ``adjudication``, ``tie_break``,
``min_annotators``):

- ``messages[i].labels``: for each schema label, the rule over the task's submitted annotations:
  ``majority`` (more than half), ``any`` or ``all``. Under ``majority`` an exact tie (1 against
  1) is decided by ``tie_break`` (``include`` by default: for a risk indicator a reviewed false
  alarm costs less than a missed behaviour) and listed for review.
- ``label`` (risk) and ``flags``: the same rule, per value. ``kind``: the most frequent choice;
  a tie goes to the kind with risk 1 first, then schema order, and is listed for review.
- Nothing is lost: ``messages[i].meta.annotations`` maps each annotator id to that annotator's
  labels for the message, and the conversation's ``meta.annotation`` records the task id, the
  annotators, each one's ``risk``, ``kind`` and ``flags``, the rule, and the annotations set
  aside. (The conversation format refuses unknown fields, so per-annotator data lives under
  ``meta``, which it carries untouched.)

A task without submitted annotations stays unlabelled: its messages have no ``labels`` (and
no ``label``, ``kind`` or ``flags``). The review list (``<out>.review.json`` and ``.md``)
names every tie, every cancelled (skipped) or superseded annotation, every task with too few
annotators and every annotated task without a risk judgement: nothing is dropped silently.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.annotate.config import AnnotateConfig
from pipeline.annotate.labelstudio import Annotation, ExportTask, annotator_sort_key, read_export
from pipeline.data.corpus import Conversation
from pipeline.schema import Schema


def decide(yes: int, voters: int, config: AnnotateConfig) -> tuple[bool, bool]:
    """(decision, was it a tie) for one binary question answered ``yes`` times by ``voters``."""
    if config.adjudication == "any":
        return yes >= 1, False
    if config.adjudication == "all":
        return yes == voters, False
    if 2 * yes == voters:
        return config.tie_break == "include", True
    return 2 * yes > voters, False


def _kind_decision(votes: dict[str, str], schema: Schema) -> tuple[str | None, bool]:
    if not votes:
        return None, False
    counts = Counter(votes.values())
    top = max(counts.values())
    tied = [k for k in counts if counts[k] == top]
    if len(tied) == 1:
        return tied[0], False
    order = {kind.id: (kind.risk != 1, i) for i, kind in enumerate(schema.conversation.kinds)}
    return min(tied, key=lambda k: order[k]), True


def _review(task: ExportTask, reason: str, **details: Any) -> dict[str, Any]:
    return {"task": task.task_id, "conversation_id": task.conversation.conversation_id, "reason": reason, **details}


def _with_meta(meta: dict[str, Any] | None, key: str, value: Any) -> dict[str, Any]:
    return {**(meta or {}), key: value}


def adjudicate(
    task: ExportTask, base: Conversation, config: AnnotateConfig, schema: Schema, keep_unadjudicated: bool
) -> tuple[Conversation, list[dict[str, Any]], bool]:
    """The conversation for one task (built on ``base``), its review items, and whether its
    labels were decided. ``keep_unadjudicated``: leave ``base``'s labels when they were not."""
    review = [
        _review(task, aside.reason, annotator=aside.annotator, annotation_id=aside.annotation_id)
        for aside in task.set_aside
    ]
    out = base.model_copy(deep=True)
    annotations: list[Annotation] = task.annotations
    if not annotations and not task.set_aside:
        if not keep_unadjudicated:
            _clear(out)
        return out, review, False
    annotators = [a.annotator for a in annotations]
    out.meta = _with_meta(
        out.meta,
        "annotation",
        {
            "task_id": task.task_id,
            "annotators": annotators,
            "adjudication": config.adjudication,
            "risk": {a.annotator: a.risk for a in annotations},
            "kind": {a.annotator: a.kind for a in annotations},
            "flags": {a.annotator: a.flags for a in annotations},
            "set_aside": [
                {"annotator": s.annotator, "annotation_id": s.annotation_id, "reason": s.reason} for s in task.set_aside
            ],
        },
    )
    for index, message in enumerate(out.messages):
        if annotations:
            message.meta = _with_meta(
                message.meta, "annotations", {a.annotator: a.messages[index] for a in annotations}
            )
    decided = len(annotations) >= config.min_annotators
    if not decided:
        if annotations:
            review.append(_review(task, "too_few_annotators", annotators=annotators, required=config.min_annotators))
        if not keep_unadjudicated:
            _clear(out)
        return out, review, False

    voters = len(annotations)
    for index, message in enumerate(out.messages):
        labels = []
        for label in schema.label_ids:
            votes = {a.annotator: label in a.messages[index] for a in annotations}
            keep, tie = decide(sum(votes.values()), voters, config)
            if keep:
                labels.append(label)
            if tie:
                review.append(
                    _review(
                        task,
                        "tie",
                        field=f"messages[{index}].labels",
                        message_index=index,
                        message_id=message.message_id,
                        value=label,
                        votes=votes,
                        decision="included" if keep else "excluded",
                    )
                )
        message.labels = labels

    risk_votes = {a.annotator: a.risk for a in annotations if a.risk is not None}
    if risk_votes:
        risky, tie = decide(sum(risk_votes.values()), len(risk_votes), config)
        out.label = int(risky)
        if tie:
            review.append(_review(task, "tie", field="label", votes=risk_votes, decision=out.label))
    else:
        review.append(_review(task, "no_risk_judgement", annotators=annotators))
        if not keep_unadjudicated:
            out.label = None

    kind_votes = {a.annotator: a.kind for a in annotations if a.kind is not None}
    kind, tie = _kind_decision(kind_votes, schema)
    if kind is not None or not keep_unadjudicated:
        out.kind = kind
    if tie:
        review.append(_review(task, "tie", field="kind", votes=kind_votes, decision=kind))

    flags = []
    for flag in schema.flag_ids:
        votes = {a.annotator: flag in a.flags for a in annotations}
        keep, tie = decide(sum(votes.values()), voters, config)
        if keep:
            flags.append(flag)
        if tie:
            review.append(
                _review(
                    task, "tie", field="flags", value=flag, votes=votes, decision="included" if keep else "excluded"
                )
            )
    out.flags = flags
    return out, review, True


def _clear(conversation: Conversation) -> None:
    for message in conversation.messages:
        message.labels = None
    conversation.label = None
    conversation.kind = None
    conversation.flags = None


def import_export(
    export_path: str | Path,
    schema: Schema,
    config: AnnotateConfig,
    data: str | Path | None = None,
    names: dict[str, str] | None = None,
) -> tuple[list[Conversation], list[dict[str, Any]], dict[str, Any]]:
    """Read, check and adjudicate a Label Studio JSON export.

    Returns the conversations to write, the review list and a summary. Raises ``DataError``
    (naming each bad task) before anything is decided, so a caller writes all or nothing.
    """
    known: dict[str, Conversation] | None = None
    corpus_order: list[Conversation] = []
    if data is not None:
        from pipeline.data.corpus import read_conversations

        corpus_order = read_conversations(data, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
        known = {c.conversation_id: c for c in corpus_order}
    tasks = read_export(export_path, schema, known, data, names)

    results: dict[str, Conversation] = {}
    review: list[dict[str, Any]] = []
    adjudicated = 0
    for task in tasks:
        cid = task.conversation.conversation_id
        base = known[cid] if known is not None else task.conversation
        conversation, items, decided = adjudicate(task, base, config, schema, keep_unadjudicated=known is not None)
        results[cid] = conversation
        review.extend(items)
        adjudicated += decided
    if known is not None:
        conversations = [results.get(c.conversation_id, c) for c in corpus_order]
    else:
        conversations = [results[t.conversation.conversation_id] for t in tasks]

    annotators = sorted(
        {a.annotator for t in tasks for a in t.annotations} | {s.annotator for t in tasks for s in t.set_aside},
        key=annotator_sort_key,
    )
    summary = {
        "export": str(export_path),
        "data": str(data) if data is not None else None,
        "adjudication": config.model_dump(include={"adjudication", "tie_break", "min_annotators"}),
        "tasks": len(tasks),
        "adjudicated": adjudicated,
        "with_annotations": sum(1 for t in tasks if t.annotations),
        "without_annotations": sum(1 for t in tasks if not t.annotations),
        "annotations": sum(len(t.annotations) for t in tasks),
        "annotators": annotators,
        "review_counts": dict(sorted(Counter(item["reason"] for item in review).items())),
        "conversations_written": len(conversations),
    }
    return conversations, review, summary


def review_paths(out: str | Path) -> tuple[Path, Path]:
    """``batch.jsonl`` -> ``batch.review.json`` and ``batch.review.md`` beside it."""
    out = Path(out)
    return out.with_suffix(".review.json"), out.with_suffix(".review.md")


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "[" + ", ".join(map(str, value)) + "]"
    return "" if value is None else str(value).replace("|", "\\|")


def review_markdown(review: Sequence[dict[str, Any]], summary: dict[str, Any]) -> str:
    rule = summary["adjudication"]
    lines = [
        f"# Annotation review: {summary['export']}",
        "",
        f"Adjudication: {rule['adjudication']} (majority ties: {rule['tie_break']}; at least "
        f"{rule['min_annotators']} annotator(s) per task). {summary['tasks']} tasks, {summary['adjudicated']} adjudicated, "
        f"{summary['without_annotations']} without submitted annotations; annotators: "
        f"{', '.join(summary['annotators']) or 'none'}.",
        "",
    ]
    if not review:
        return "\n".join([*lines, "Nothing to review.", ""])
    lines += [
        "| task | conversation | reason | field | value | votes | decision | annotator |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for item in review:
        lines.append(
            "| "
            + " | ".join(
                _cell(item.get(key))
                for key in ("task", "conversation_id", "reason", "field", "value", "votes", "decision", "annotator")
            )
            + " |"
        )
    return "\n".join([*lines, ""])
