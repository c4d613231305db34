"""The adjudication pass: a third person's decisions on what the annotators disagreed about.

``annotate import`` decides each message by a rule (majority, ties listed for review). An
adjudicator then reads the codebook and both annotations of every disputed item and decides;
``annotate adjudicate`` applies those decisions. A decisions file is JSON Lines, one object per
conversation::

    {"conversation_id": "c7", "messages": {"4": ["secrecy"], "9": []},
     "label": 1, "kind": "grooming", "flags": ["ongoing_risk"], "note": "..."}

Every key but ``conversation_id`` is optional. A message decision replaces that message's
labels; ``label``/``kind``/``flags`` replace the conversation's. What the rule had decided is
kept beside the decision (``messages[].meta.adjudication`` and ``meta.adjudication``: the
adjudicator, the labels before and after), and each annotator's labels stay in
``meta.annotations``. Every problem (unknown conversation, message index out of range, a label,
kind or flag not in the schema, a message nobody annotated) names the decisions file and line;
nothing is written then.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.core.errors import DataError, Problem
from pipeline.core.io import read_user_text
from pipeline.data.corpus import Conversation
from pipeline.schema import Schema

_KEYS = {"conversation_id", "messages", "label", "kind", "flags", "note"}


def _problem(problems: list[Problem], path: Path, line: int, field: str, message: str) -> None:
    problems.append(Problem(str(path), line, field, message))


def read_decisions(
    path: str | Path, conversations: dict[str, Conversation], schema: Schema
) -> dict[str, tuple[int, dict[str, Any]]]:
    """Decisions by conversation id (with their line), checked against the corpus and schema."""
    path = Path(path)
    text = read_user_text(path)
    labels, kinds, flags = set(schema.label_ids), set(schema.kind_ids), set(schema.flag_ids)
    problems: list[Problem] = []
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            _problem(problems, path, number, "(json)", f"expected a JSON object: {exc.msg}")
            continue
        if not isinstance(row, dict):
            _problem(problems, path, number, "(json)", "expected a JSON object")
            continue
        unknown = sorted(set(row) - _KEYS)
        if unknown:
            _problem(problems, path, number, unknown[0], f"unknown field; expected some of {sorted(_KEYS)}")
        cid = row.get("conversation_id")
        conversation = conversations.get(cid) if isinstance(cid, str) else None
        if conversation is None:
            _problem(problems, path, number, "conversation_id", f"expected a conversation of the corpus, found {cid!r}")
            continue
        if cid in out:
            _problem(problems, path, number, "conversation_id", f"'{cid}' already decided on line {out[cid][0]}")
        messages = row.get("messages", {})
        if not isinstance(messages, dict):
            _problem(problems, path, number, "messages", 'expected an object {"<message index>": [label ids]}')
            messages = {}
        size = len(conversation.messages)
        for key, value in messages.items():
            field = f"messages.{key}"
            if not (isinstance(key, str) and key.isdigit() and int(key) < size):
                _problem(problems, path, number, field, f"expected a message index from 0 to {size - 1}")
                continue
            if conversation.messages[int(key)].labels is None:
                _problem(problems, path, number, field, "this message was not annotated: nothing to adjudicate")
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or set(value) - labels:
                _problem(problems, path, number, field, f"expected a list of label ids from {schema.label_ids}")
        if "label" in row and row["label"] not in (0, 1):
            _problem(problems, path, number, "label", "expected 0 or 1")
        if "kind" in row and row["kind"] not in kinds:
            _problem(problems, path, number, "kind", f"expected one of {schema.kind_ids}")
        if "flags" in row and (not isinstance(row["flags"], list) or set(row["flags"]) - flags):
            _problem(problems, path, number, "flags", f"expected a list of flag ids from {schema.flag_ids}")
        if "note" in row and not isinstance(row["note"], str):
            _problem(problems, path, number, "note", "expected a string")
        out[cid] = (number, row)
    if problems:
        raise DataError(problems)
    return out


def apply_decisions(
    conversations: list[Conversation], decisions: dict[str, tuple[int, dict[str, Any]]], schema: Schema, by: str
) -> tuple[list[Conversation], dict[str, int]]:
    """The conversations with the decisions applied, and counts of what changed."""
    order = {label: i for i, label in enumerate(schema.label_ids)}
    counts = {"conversations": 0, "messages_decided": 0, "messages_changed": 0, "conversation_fields_changed": 0}
    out = []
    for conversation in conversations:
        if conversation.conversation_id not in decisions:
            out.append(conversation)
            continue
        _, row = decisions[conversation.conversation_id]
        decided = conversation.model_copy(deep=True)
        counts["conversations"] += 1
        for key, labels in row.get("messages", {}).items():
            message = decided.messages[int(key)]
            after = sorted(set(labels), key=order.__getitem__)
            counts["messages_decided"] += 1
            counts["messages_changed"] += after != message.labels
            message.meta = {
                **(message.meta or {}),
                "adjudication": {"by": by, "before": message.labels, "after": after},
            }
            message.labels = after
        changed = {}
        for field in ("label", "kind", "flags"):
            if field in row and row[field] != getattr(decided, field):
                changed[field] = {"before": getattr(decided, field), "after": row[field]}
                setattr(decided, field, row[field])
        counts["conversation_fields_changed"] += len(changed)
        record = {"by": by, "changed": changed}
        if row.get("note"):
            record["note"] = row["note"]
        decided.meta = {**(decided.meta or {}), "adjudication": record}
        out.append(decided)
    return out, counts
