"""The conversation format (``shared/spec/conversation-format.md``): read, validate, write,
and convert to and from a message table (pandas) and a Hugging Face ``datasets.Dataset``.

A file is JSON Lines, UTF-8, one conversation per line. Readers stream, collect every
problem as ``FILE:LINE: field: what was expected`` and raise ``DataError``; writers are
atomic. On messages, an absent ``labels`` (not annotated) and ``[]`` (annotated, no
behaviour) are different values and stay different through every conversion.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.core.errors import DataError, Problem
from pipeline.core.io import atomic_write
from pipeline.core.yamlutil import format_loc

_TIME_HHMM = re.compile(r"^\d{1,2}:\d{2}(:\d{2})?$")
_LANGUAGE = re.compile(r"^[a-z]{2}$")


class Message(BaseModel):
    """One chat message. ``labels=None`` means not annotated; ``[]`` means no behaviour."""

    model_config = ConfigDict(extra="forbid", strict=True)

    # Descriptions and the JSON-only constraints (json_schema_extra) feed the JSON Schema export
    # (reporting/exports.py): the format is described once, here.
    message_id: str | None = Field(None, description="Unique within a file; default '<conversation_id>:<index>'.")
    author: str = Field(description="A stable pseudonymous id of the writer.")
    text: str = Field(description="May be empty.")
    time: str | None = Field(
        None,
        description="ISO 8601, or HH:MM as PAN12 has it.",
        json_schema_extra={"pattern": r"^(\d{1,2}:\d{2}(:\d{2})?|\d{4}-\d{2}-\d{2}([T ].*)?)$"},
    )
    labels: list[str] | None = Field(
        None,
        description="Behaviours of the message's author. Absent = not annotated; [] = annotated, no behaviour.",
        json_schema_extra={"uniqueItems": True},
    )
    flagged: bool | None = Field(None, description="A source's own message flag (e.g. PAN12 problem-2 lines).")
    meta: dict[str, Any] | None = Field(None, description="Anything else about the message; carried through untouched.")

    @field_validator("time")
    @classmethod
    def _time_format(cls, value: str | None) -> str | None:
        if value is None or _TIME_HHMM.match(value):
            return value
        try:
            datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 time (2026-03-01T20:48:00) or HH:MM") from None
        return value

    @field_validator("labels")
    @classmethod
    def _no_repeats(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(set(value)) != len(value):
            raise ValueError("expected each label at most once")
        return value


class Conversation(BaseModel):
    """One conversation: ordered messages plus conversation-level annotations."""

    model_config = ConfigDict(extra="forbid", strict=True)

    conversation_id: str = Field(min_length=1, description="Unique within a file.")
    messages: list[Message] = Field(min_length=1)
    language: str | None = Field(None, description="ISO 639-1 code.", json_schema_extra={"pattern": "^[a-z]{2}$"})
    source: str | None = Field(None, description="Where it came from (synthetic, pan12, labelstudio, ...).")
    kind: str | None = Field(None, description="Scenario kind; vocabulary in the codebook.")
    label: int | None = Field(
        None,
        description="Conversation risk: 1 if any participant grooms or extorts.",
        json_schema_extra={"enum": [0, 1, None]},
    )
    suspects: list[str] | None = Field(None, description="Authors known to be offenders.")
    flags: list[str] | None = Field(
        None, description="GSMA alarm signals, for triage.", json_schema_extra={"uniqueItems": True}
    )
    meta: dict[str, Any] | None = Field(None, description="Anything else; carried through untouched.")

    @field_validator("label")
    @classmethod
    def _risk_value(cls, value: int | None) -> int | None:
        if value not in (None, 0, 1):
            raise ValueError("expected 0, 1 or null")
        return value

    @field_validator("language")
    @classmethod
    def _language_code(cls, value: str | None) -> str | None:
        if value is not None and not _LANGUAGE.match(value):
            raise ValueError("expected a two-letter ISO 639-1 code such as 'en' or 'fr'")
        return value

    def model_post_init(self, _context: Any) -> None:
        # The spec's default message id: "<conversation_id>:<index>".
        for index, message in enumerate(self.messages):
            if message.message_id is None:
                message.message_id = f"{self.conversation_id}:{index}"


# Field order when writing, as in the spec's example.
_CONVERSATION_ORDER = (
    "conversation_id",
    "language",
    "source",
    "kind",
    "label",
    "suspects",
    "flags",
    "messages",
    "meta",
)
_MESSAGE_ORDER = ("message_id", "author", "time", "text", "labels", "flagged", "meta")
CONVERSATION_FIELDS = frozenset(_CONVERSATION_ORDER)
MESSAGE_FIELDS = frozenset(_MESSAGE_ORDER)


def conversation_to_dict(conversation: Conversation) -> dict[str, Any]:
    """The JSON object for one conversation; ``None`` fields are left out (``labels: []`` stays)."""
    out: dict[str, Any] = {}
    for name in _CONVERSATION_ORDER:
        if name == "messages":
            out["messages"] = [
                {k: getattr(m, k) for k in _MESSAGE_ORDER if getattr(m, k) is not None} for m in conversation.messages
            ]
            continue
        value = getattr(conversation, name)
        if value is not None:
            out[name] = value
    return out


def dumps(conversation: Conversation) -> str:
    return json.dumps(conversation_to_dict(conversation), ensure_ascii=False)


# --------------------------------------------------------------------------- reading


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (expected a number or null)")


# NaN and Infinity are not JSON: refused when read, they cannot be written back as invalid JSON.
_DECODER = json.JSONDecoder(parse_constant=_no_constant)
# A \uD800-\uDFFF escape: valid only as half of a pair, otherwise a string that cannot be written.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")

_JSON_TYPES = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
    int: "a number",
    float: "a number",
    type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _field_path(loc: Sequence[str | int]) -> str:
    return format_loc(tuple(loc)) if loc else "(conversation)"


def _describe(error: dict[str, Any], loc: Sequence[str | int]) -> str:
    kind = error["type"]
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        allowed = MESSAGE_FIELDS if "messages" in loc else CONVERSATION_FIELDS
        return f"unknown field; expected one of {sorted(allowed)} (put anything else under 'meta')"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    if kind == "too_short":
        return "expected at least one message"
    if kind == "string_too_short":
        return "expected a non-empty string"
    expected = {
        "string_type": "a string",
        "bool_type": "true or false",
        "int_type": "0, 1 or null",
        "list_type": "a list",
        "dict_type": "an object",
        "model_type": "an object",
    }.get(kind)
    if expected:
        return f"expected {expected}, found {_json_type(error['input'])}"
    return error["msg"]


@dataclass
class CorpusSummary:
    """Counts for one corpus; ``labelled`` counts annotated messages (``labels`` present)."""

    conversations: int = 0
    messages: int = 0
    labelled: int = 0
    with_behaviour: int = 0
    label_counts: Counter = field(default_factory=Counter)
    risk_counts: Counter = field(default_factory=Counter)

    def add(self, conversation: Conversation) -> None:
        self.conversations += 1
        self.risk_counts[conversation.label] += 1
        for message in conversation.messages:
            self.messages += 1
            if message.labels is not None:
                self.labelled += 1
                self.with_behaviour += bool(message.labels)
                self.label_counts.update(message.labels)

    def as_dict(self, label_ids: Sequence[str]) -> dict[str, Any]:
        return {
            "conversations": self.conversations,
            "messages": self.messages,
            "labelled_messages": self.labelled,
            "messages_with_behaviour": self.with_behaviour,
            "label_counts": {label: self.label_counts.get(label, 0) for label in label_ids},
            "risk_counts": {str(k): v for k, v in sorted(self.risk_counts.items(), key=lambda kv: str(kv[0]))},
        }

    def one_line(self, label_ids: Sequence[str]) -> str:
        per_label = " ".join(f"{label}={self.label_counts.get(label, 0)}" for label in label_ids)
        return (
            f"{self.conversations} conversations, {self.messages} messages, "
            f"{self.labelled} labelled messages ({self.with_behaviour} with a behaviour); {per_label}"
        )


def parse_line(raw: bytes) -> tuple[Conversation | None, list[tuple[str, str]]]:
    """One line of a JSONL corpus: its conversation, or what is wrong with it as (field, problem)
    pairs; ``(None, [])`` for a blank line. What spans lines (repeated ids) and the schema's label
    and flag ids are checked by the caller (``CorpusReader``, the Spark engine's reader)."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [
            ("(encoding)", f"expected UTF-8 text, found byte 0x{raw[exc.start]:02x} at column {exc.start + 1}")
        ]
    if not text.strip():
        return None, []
    try:
        obj = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return None, [("(json)", f"expected one JSON object per line: {exc.msg} at column {exc.colno}")]
    except RecursionError:
        return None, [("(json)", "expected one JSON object per line: nested too deeply")]
    except ValueError as exc:  # NaN/Infinity; an integer of thousands of digits
        return None, [("(json)", f"expected one JSON object per line: {str(exc)[:200]}")]
    if _SURROGATE_ESCAPE.search(text) and not _encodable(obj):
        return None, [("(json)", "expected valid Unicode: a \\uD800-\\uDFFF escape outside a surrogate pair")]
    if not isinstance(obj, dict):
        return None, [("(conversation)", f"expected a JSON object, found {_json_type(obj)}")]
    try:
        return Conversation.model_validate(obj), []
    except ValidationError as exc:
        return None, [(_field_path(tuple(e["loc"])), _describe(e, tuple(e["loc"]))) for e in exc.errors()]


class CorpusReader:
    """Streams one JSONL file, validating every line against the format and the schema.

    ``problems`` collects everything wrong; ``summary`` counts what was valid. Iterate to get
    the valid conversations (duplicates and bad lines are skipped and reported).
    """

    def __init__(self, path: str | Path, label_ids: Iterable[str] | None = None, flag_ids: Iterable[str] | None = None):
        self.path = Path(path)
        if label_ids is None or flag_ids is None:
            from pipeline.schema import load_schema

            schema = load_schema()
            label_ids = schema.label_ids if label_ids is None else label_ids
            flag_ids = schema.flag_ids if flag_ids is None else flag_ids
        self.label_ids = list(label_ids)
        self.flag_ids = list(flag_ids)
        self.problems: list[Problem] = []
        self.summary = CorpusSummary()

    def _problem(self, line: int | None, field_name: str, message: str) -> None:
        self.problems.append(Problem(str(self.path), line, field_name, message))

    def __iter__(self) -> Iterator[Conversation]:
        known_labels, known_flags = set(self.label_ids), set(self.flag_ids)
        conversation_lines: dict[str, int] = {}
        message_lines: dict[str, int] = {}
        saw_content = False
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            self._problem(None, "(file)", f"cannot be read: {exc.strerror}")
            return
        with handle:
            for lineno, raw in enumerate(handle, start=1):
                conversation, problems = parse_line(raw)
                if conversation is None and not problems:
                    continue  # a blank line
                saw_content = True
                for field_name, message in problems:
                    self._problem(lineno, field_name, message)
                if conversation is None:
                    continue
                if self._check(lineno, conversation, known_labels, known_flags, conversation_lines, message_lines):
                    self.summary.add(conversation)
                    yield conversation
        if not saw_content:
            self._problem(
                1, "(file)", "expected at least one conversation (a JSON object per line), found an empty file"
            )

    def _check(
        self,
        lineno: int,
        conversation: Conversation,
        known_labels: set[str],
        known_flags: set[str],
        conversation_lines: dict[str, int],
        message_lines: dict[str, int],
    ) -> bool:
        before = len(self.problems)
        cid = conversation.conversation_id
        if cid in conversation_lines:
            self._problem(
                lineno,
                "conversation_id",
                f"duplicate conversation id '{cid}' (first on line {conversation_lines[cid]}); expected unique ids",
            )
        else:
            conversation_lines[cid] = lineno
        for flag_index, flag in enumerate(conversation.flags or []):
            if flag not in known_flags:
                self._problem(lineno, f"flags[{flag_index}]", f"unknown flag '{flag}'; expected one of {self.flag_ids}")
        for index, message in enumerate(conversation.messages):
            mid = message.message_id
            if mid in message_lines:
                self._problem(
                    lineno,
                    f"messages[{index}].message_id",
                    f"duplicate message id '{mid}' (first on line {message_lines[mid]}); expected unique ids",
                )
            else:
                message_lines[mid] = lineno
            for label_index, label in enumerate(message.labels or []):
                if label not in known_labels:
                    self._problem(
                        lineno,
                        f"messages[{index}].labels[{label_index}]",
                        f"unknown label '{label}'; expected one of {self.label_ids}",
                    )
        return len(self.problems) == before


def _encodable(obj: Any) -> bool:
    try:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def iter_conversations(path: str | Path, **ids: Iterable[str]) -> Iterator[Conversation]:
    """Stream valid conversations; raise ``DataError`` at the end if any line was bad.

    Callers that write while they read must write atomically, so that a late error leaves
    no output behind (see ``write_conversations``).
    """
    reader = CorpusReader(path, **ids)
    yield from reader
    if reader.problems:
        raise DataError(reader.problems)


def read_conversations(path: str | Path, **ids: Iterable[str]) -> list[Conversation]:
    """Read and validate a whole file; raise ``DataError`` listing every problem."""
    return list(iter_conversations(path, **ids))


def write_conversations(path: str | Path, conversations: Iterable[Conversation]) -> int:
    """Write conversations as JSONL atomically; return how many were written."""
    count = 0
    with atomic_write(path) as handle:
        for conversation in conversations:
            handle.write(dumps(conversation) + "\n")
            count += 1
    return count


# ---------------------------------------------------------------------- tables

# One row per message; conversation-level fields repeat on each row of their conversation.
# ``meta`` objects travel as JSON text so that arbitrary nesting survives Arrow and CSV.
TABLE_COLUMNS = (
    "conversation_id",
    "message_index",
    "message_id",
    "author",
    "time",
    "text",
    "labels",
    "flagged",
    "message_meta",
    "language",
    "source",
    "kind",
    "label",
    "suspects",
    "flags",
    "meta",
)


def _json_or_none(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True)


def _rows(conversations: Iterable[Conversation]) -> Iterator[dict[str, Any]]:
    for c in conversations:
        shared = {
            "language": c.language,
            "source": c.source,
            "kind": c.kind,
            "label": c.label,
            "suspects": c.suspects,
            "flags": c.flags,
            "meta": _json_or_none(c.meta),
        }
        for index, m in enumerate(c.messages):
            yield {
                "conversation_id": c.conversation_id,
                "message_index": index,
                "message_id": m.message_id,
                "author": m.author,
                "time": m.time,
                "text": m.text,
                "labels": m.labels,
                "flagged": m.flagged,
                "message_meta": _json_or_none(m.meta),
                **shared,
            }


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    try:
        import pandas as pd

        return value is pd.NA or value is pd.NaT
    except ImportError:  # pragma: no cover - pandas is a dependency
        return False


def _clean(value: Any, kind: str) -> Any:
    """Undo what tables do to values: NaN for missing, numpy arrays for lists, floats for ints."""
    if getattr(value, "ndim", 0) > 0:  # numpy arrays (lists read back from Arrow)
        value = value.tolist()
    if not isinstance(value, (list, tuple)) and _missing(value):
        return None
    if kind == "list":
        return [str(v) for v in value]
    if kind == "int":
        return int(value)
    if kind == "bool":
        return bool(value)
    if kind == "json":
        return json.loads(value)
    return str(value)


_KINDS = {
    "message_index": "int",
    "label": "int",
    "labels": "list",
    "suspects": "list",
    "flags": "list",
    "flagged": "bool",
    "message_meta": "json",
    "meta": "json",
}


def conversations_from_rows(rows: Iterable[dict[str, Any]]) -> list[Conversation]:
    """Rebuild conversations from message rows (any order; grouped by id, sorted by index)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        clean = {col: _clean(row.get(col), _KINDS.get(col, "str")) for col in TABLE_COLUMNS}
        grouped.setdefault(clean["conversation_id"], []).append(clean)
    conversations = []
    for cid, group in grouped.items():
        group.sort(key=lambda r: r["message_index"])
        first = group[0]
        conversations.append(
            Conversation(
                conversation_id=cid,
                language=first["language"],
                source=first["source"],
                kind=first["kind"],
                label=first["label"],
                suspects=first["suspects"],
                flags=first["flags"],
                meta=first["meta"],
                messages=[
                    Message(
                        message_id=r["message_id"],
                        author=r["author"],
                        time=r["time"],
                        text=r["text"],
                        labels=r["labels"],
                        flagged=r["flagged"],
                        meta=r["message_meta"],
                    )
                    for r in group
                ],
            )
        )
    return conversations


def to_message_frame(conversations: Iterable[Conversation]):
    """A pandas DataFrame with one row per message (columns: ``TABLE_COLUMNS``)."""
    import pandas as pd

    rows = list(_rows(conversations))
    frame = pd.DataFrame({col: pd.Series([r[col] for r in rows], dtype=object) for col in TABLE_COLUMNS})
    frame["message_index"] = frame["message_index"].astype("int64")
    frame["label"] = frame["label"].astype("Int64")
    return frame


def from_message_frame(frame) -> list[Conversation]:
    """Inverse of ``to_message_frame`` (also accepts a frame read back from Parquet)."""
    return conversations_from_rows(frame.to_dict("records"))


def dataset_features():
    """Explicit Arrow types, so that all-null columns and empty lists keep their meaning."""
    from datasets import Features, List, Value

    string = Value("string")
    return Features(
        {
            "conversation_id": string,
            "message_index": Value("int64"),
            "message_id": string,
            "author": string,
            "time": string,
            "text": string,
            "labels": List(string),
            "flagged": Value("bool"),
            "message_meta": string,
            "language": string,
            "source": string,
            "kind": string,
            "label": Value("int64"),
            "suspects": List(string),
            "flags": List(string),
            "meta": string,
        }
    )


def to_dataset(conversations: Iterable[Conversation]):
    """A Hugging Face ``datasets.Dataset`` with one row per message."""
    from datasets import Dataset

    rows = list(_rows(conversations))
    return Dataset.from_dict({col: [r[col] for r in rows] for col in TABLE_COLUMNS}, features=dataset_features())


def from_dataset(dataset) -> list[Conversation]:
    """Inverse of ``to_dataset``."""
    return conversations_from_rows(iter(dataset))


def save_as(conversations: list[Conversation], out: str | Path, fmt: str) -> None:
    """Write conversations as ``jsonl``, a ``parquet`` message table, or a ``dataset`` directory."""
    from pipeline.core.io import atomic_directory

    if fmt == "jsonl":
        write_conversations(out, conversations)
    elif fmt == "parquet":
        frame = to_message_frame(conversations)
        with atomic_write(out, "wb") as handle:
            frame.to_parquet(handle, index=False)
    elif fmt == "dataset":
        dataset = to_dataset(conversations)
        with atomic_directory(out) as tmp:
            dataset.save_to_disk(str(tmp))
    else:
        raise ValueError(f"unknown format {fmt!r}")
