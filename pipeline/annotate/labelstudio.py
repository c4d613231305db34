"""Reading a Label Studio JSON export, checked against the project's labeling config.

The export is the ``JSON`` format of Label Studio (Export > JSON, or
``GET /api/projects/<id>/export?exportType=JSON``): a list of tasks, each with its ``data`` (as
``annotate export`` wrote it), its ``annotations`` and other bookkeeping. An annotation is::

    {"id": 7, "completed_by": 2, "was_cancelled": false, "updated_at": "...",
     "result": [
       {"from_name": "message_labels", "to_name": "dialogue", "type": "paragraphlabels",
        "value": {"start": "3", "end": "3", "startOffset": 0, "endOffset": 12,
                  "text": "...", "paragraphlabels": ["secrecy"]}},
       {"from_name": "risk", "to_name": "dialogue", "type": "choices", "value": {"choices": ["1"]}}]}

``start``/``end`` are paragraph (message) indices, as strings in what Label Studio's front end
writes; a region spanning several messages gives its labels to each of them. Choices carry the
``alias`` of the labeling config (``"1"``/``"0"`` for risk, flag ids), kinds their value.
``completed_by`` is the annotator's user id (an object with an ``id`` in some exports).
Cancelled annotations (the annotator pressed *Skip*) are kept apart; when one annotator has
several submitted annotations of a task, the latest counts and the others are kept apart as
superseded. Drafts and predictions are ignored.

Everything is checked before anything is used: result names and types against the labeling
config (an export of another project fails here), paragraph indices against the conversation,
label, kind and flag values against the schema, conversation ids against a known corpus when
one is given. Every problem names the task (``task 12 (conversation c3)``); ``DataError``
lists them all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.annotate.controls import LS_DIALOGUE, LS_FLAGS, LS_KIND, LS_MESSAGE_LABELS, LS_RISK
from pipeline.annotate.tasks import TASK_CONVERSATION_FIELDS, TASK_MESSAGE_FIELDS
from pipeline.core.errors import DataError, PipelineError, Problem
from pipeline.core.io import read_user_text
from pipeline.core.yamlutil import format_loc
from pipeline.data.corpus import Conversation
from pipeline.schema import Schema

# The controls of our labeling config: name -> (result type, value key).
CONTROLS = {
    LS_MESSAGE_LABELS: ("paragraphlabels", "paragraphlabels"),
    LS_RISK: ("choices", "choices"),
    LS_KIND: ("choices", "choices"),
    LS_FLAGS: ("choices", "choices"),
}
_INDEX = re.compile(r"^\d+$")


@dataclass
class Annotation:
    """One submitted annotation, in schema terms."""

    annotator: str
    annotation_id: Any
    messages: list[list[str]]  # per message, labels in schema order
    risk: int | None = None
    kind: str | None = None
    flags: list[str] = field(default_factory=list)


@dataclass
class SetAside:
    """An annotation that does not count: cancelled (skipped) or superseded."""

    annotator: str
    annotation_id: Any
    reason: str


@dataclass
class ExportTask:
    position: int  # 0-based place in the export
    task_id: Any
    conversation: Conversation  # rebuilt from the task data; no annotation fields
    annotations: list[Annotation]  # submitted, one per annotator
    set_aside: list[SetAside]

    @property
    def name(self) -> str:
        return task_name(self.task_id, self.position, self.conversation.conversation_id)


def task_name(task_id: Any, position: int, conversation_id: Any = None) -> str:
    base = f"task {task_id}" if task_id is not None else f"task #{position + 1}"
    return f"{base} (conversation {conversation_id})" if isinstance(conversation_id, str) else base


def annotator_id(completed_by: Any) -> str | None:
    if isinstance(completed_by, dict):
        completed_by = completed_by.get("id")
    if isinstance(completed_by, bool) or completed_by is None:
        return None
    if isinstance(completed_by, int | str) and str(completed_by):
        return str(completed_by)
    return None


def annotator_sort_key(annotator: str) -> tuple:
    """Numeric ids in numeric order, then any other ids."""
    return (0, int(annotator), "") if annotator.isdigit() else (1, 0, annotator)


def load_annotator_names(path: str | Path | None) -> dict[str, str] | None:
    """``{"<Label Studio user id>": "<name>", ...}`` from a JSON file (``--annotators``)."""
    if path is None:
        return None
    path = Path(path)
    try:
        names = json.loads(read_user_text(path))
    except json.JSONDecodeError as exc:
        raise DataError.single(path, None, "(json)", f"expected a JSON object of user id -> name: {exc}") from None
    if not isinstance(names, dict) or not all(isinstance(v, str) and v for v in names.values()):
        raise DataError.single(path, None, "(annotators)", 'expected a JSON object such as {"2": "annotator-1"}')
    return {str(k): v for k, v in names.items()}


def load_export_json(path: str | Path) -> list[Any]:
    path = Path(path)
    if path.suffix == ".gz":  # a compressed export (how data/authored keeps its 5 MB export small in git)
        import gzip

        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8")
        except FileNotFoundError:
            raise PipelineError(f"{path}: file not found") from None
        except (OSError, EOFError, UnicodeDecodeError) as exc:
            raise DataError.single(path, None, "(gzip)", f"expected gzip-compressed UTF-8 JSON: {exc}") from None
    else:
        text = read_user_text(path)
    try:
        tasks = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError.single(path, exc.lineno, "(json)", f"expected JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(tasks, list):
        raise DataError.single(
            path,
            None,
            "(export)",
            "expected a Label Studio JSON export: a list of tasks (export the project as JSON, "
            f"not JSON_MIN or CSV), found {type(tasks).__name__}",
        )
    return tasks


class _TaskReader:
    def __init__(
        self,
        path: Path,
        schema: Schema,
        known: dict[str, Conversation] | None,
        known_path: str | None,
        names: dict[str, str] | None = None,
    ):
        self.path = str(path)
        self.names = names or {}
        self.schema = schema
        self.labels = set(schema.label_ids)
        self.label_order = {label: i for i, label in enumerate(schema.label_ids)}
        self.kinds = set(schema.kind_ids)
        self.flags = schema.flag_ids
        self.known = known
        self.known_path = known_path
        self.problems: list[Problem] = []

    def problem(self, name: str, where: str, message: str) -> None:
        self.problems.append(Problem(self.path, None, f"{name}: {where}" if where else name, message))

    # ------------------------------------------------------------ task data

    def conversation(self, name: str, data: Any) -> Conversation | None:
        if not isinstance(data, dict) or not {"conversation_id", "messages"} <= set(data):
            found = sorted(data) if isinstance(data, dict) else type(data).__name__
            self.problem(
                name,
                "data",
                "expected 'conversation_id' and 'messages' (a task written by `grooming-risk annotate export`), "
                f"found {found}: is this an export of another labeling config?",
            )
            return None
        messages = data["messages"]
        if not isinstance(messages, list) or not messages:
            self.problem(name, "data.messages", "expected a non-empty list of messages")
            return None
        document: dict[str, Any] = {"conversation_id": data["conversation_id"], "messages": []}
        extra = data.get("conversation") or {}
        if not isinstance(extra, dict):
            self.problem(name, "data.conversation", "expected an object")
            return None
        document.update({k: extra[k] for k in TASK_CONVERSATION_FIELDS if k in extra})
        for index, item in enumerate(messages):
            if not isinstance(item, dict):
                self.problem(name, f"data.messages[{index}]", "expected an object with 'author' and 'text'")
                return None
            if "index" in item and item["index"] != index:
                self.problem(
                    name,
                    f"data.messages[{index}].index",
                    f"expected {index}: messages must stay in their exported order, found {item['index']!r}",
                )
            message = {k: item[k] for k in ("author", "text", *TASK_MESSAGE_FIELDS) if k in item}
            document["messages"].append(message)
        try:
            return Conversation.model_validate(document)
        except ValidationError as exc:
            for error in exc.errors():
                self.problem(name, "data." + format_loc(tuple(error["loc"])), error["msg"])
            return None

    def check_known(self, name: str, conversation: Conversation) -> None:
        if self.known is None:
            return
        cid = conversation.conversation_id
        original = self.known.get(cid)
        if original is None:
            self.problem(name, "data.conversation_id", f"unknown conversation id '{cid}': not in {self.known_path}")
            return
        ours = [(m.message_id, m.text) for m in conversation.messages]
        theirs = [(m.message_id, m.text) for m in original.messages]
        if ours != theirs:
            self.problem(
                name,
                "data.messages",
                f"expected the {len(theirs)} messages of '{cid}' in {self.known_path} (same ids, texts and order), "
                f"found {len(ours)} that differ",
            )

    # ---------------------------------------------------------- annotations

    def message_index(self, name: str, where: str, value: Any, size: int) -> int | None:
        if isinstance(value, bool) or not (isinstance(value, int) or (isinstance(value, str) and _INDEX.match(value))):
            self.problem(name, where, f"expected a message index (0 to {size - 1}), found {value!r}")
            return None
        index = int(value)
        if index >= size:
            self.problem(
                name,
                where,
                f"message index {index} out of range: the conversation has {size} messages (0 to {size - 1})",
            )
            return None
        return index

    def annotation(self, name: str, where: str, raw: dict[str, Any], size: int, annotator: str) -> Annotation | None:
        before = len(self.problems)
        found = Annotation(annotator, raw.get("id"), [[] for _ in range(size)])
        results = raw.get("result") or []
        if not isinstance(results, list):
            self.problem(name, f"{where}.result", "expected a list of results")
            return None
        message_sets: list[set[str]] = [set() for _ in range(size)]
        flags: set[str] = set()
        for k, item in enumerate(results):
            at = f"{where}.result[{k}]"
            if not isinstance(item, dict):
                self.problem(name, at, "expected a result object")
                continue
            control = item.get("from_name")
            if control not in CONTROLS:
                self.problem(
                    name,
                    f"{at}.from_name",
                    f"'{control}' is not a control of the grooming-risk labeling config (expected one of "
                    f"{sorted(CONTROLS)}): is this an export of another labeling config?",
                )
                continue
            kind, key = CONTROLS[control]
            if item.get("to_name") != LS_DIALOGUE or item.get("type") != kind:
                self.problem(
                    name,
                    at,
                    f"expected to_name '{LS_DIALOGUE}' and type '{kind}' for '{control}', found "
                    f"to_name {item.get('to_name')!r} and type {item.get('type')!r}: is this an export of another "
                    "labeling config?",
                )
                continue
            value = item.get("value")
            values = value.get(key) if isinstance(value, dict) else None
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                self.problem(name, f"{at}.value.{key}", "expected a list of strings")
                continue
            if control == LS_MESSAGE_LABELS:
                unknown = [v for v in values if v not in self.labels]
                if unknown:
                    self.problem(
                        name,
                        f"{at}.value.paragraphlabels",
                        f"label(s) {unknown} not in the schema; expected ids from {self.schema.label_ids}",
                    )
                    continue
                start = self.message_index(name, f"{at}.value.start", value.get("start"), size)
                end = self.message_index(name, f"{at}.value.end", value.get("end"), size)
                if start is None or end is None:
                    continue
                if end < start:
                    self.problem(name, f"{at}.value.end", f"expected end >= start ({start}), found {end}")
                    continue
                for index in range(start, end + 1):
                    message_sets[index].update(values)
            elif control == LS_RISK:
                if len(values) != 1 or values[0] not in ("0", "1"):
                    self.problem(name, f"{at}.value.choices", f"expected one risk value, '0' or '1', found {values}")
                    continue
                if found.risk is not None and found.risk != int(values[0]):
                    self.problem(name, f"{at}.value.choices", "two different risk values in one annotation")
                    continue
                found.risk = int(values[0])
            elif control == LS_KIND:
                if len(values) != 1 or values[0] not in self.kinds:
                    self.problem(
                        name, f"{at}.value.choices", f"expected one kind from {self.schema.kind_ids}, found {values}"
                    )
                    continue
                if found.kind is not None and found.kind != values[0]:
                    self.problem(name, f"{at}.value.choices", "two different kinds in one annotation")
                    continue
                found.kind = values[0]
            else:
                unknown = [v for v in values if v not in self.flags]
                if unknown:
                    self.problem(
                        name,
                        f"{at}.value.choices",
                        f"flag(s) {unknown} not in the schema; expected ids from {self.flags}",
                    )
                    continue
                flags.update(values)
        if len(self.problems) > before:
            return None
        found.messages = [sorted(s, key=self.label_order.__getitem__) for s in message_sets]
        found.flags = [f for f in self.flags if f in flags]
        return found

    def task(self, position: int, raw: Any, seen: dict[str, str]) -> ExportTask | None:
        if not isinstance(raw, dict):
            self.problem(task_name(None, position), "", f"expected a task object, found {type(raw).__name__}")
            return None
        task_id = raw.get("id")
        data = raw.get("data")
        cid = data.get("conversation_id") if isinstance(data, dict) else None
        name = task_name(task_id, position, cid)
        before = len(self.problems)
        conversation = self.conversation(name, data)
        if conversation is None:
            return None
        if cid in seen:
            self.problem(
                name, "data.conversation_id", f"conversation '{cid}' is also in {seen[cid]}; expected one task each"
            )
        seen.setdefault(cid, name)
        self.check_known(name, conversation)
        raw_annotations = raw.get("annotations") or []
        if not isinstance(raw_annotations, list):
            self.problem(name, "annotations", "expected a list of annotations")
            return None
        submitted: list[tuple[tuple, Annotation]] = []
        set_aside: list[SetAside] = []
        size = len(conversation.messages)
        for i, item in enumerate(raw_annotations):
            where = f"annotations[{i}]"
            if not isinstance(item, dict):
                self.problem(name, where, "expected an annotation object")
                continue
            annotator = annotator_id(item.get("completed_by"))
            if annotator is None:
                self.problem(
                    name,
                    f"{where}.completed_by",
                    f"expected the annotator's user id, found {item.get('completed_by')!r}",
                )
                continue
            annotator = self.names.get(annotator, annotator)
            if item.get("was_cancelled"):
                set_aside.append(SetAside(annotator, item.get("id"), "cancelled"))
                continue
            annotation = self.annotation(name, where, item, size, annotator)
            if annotation is not None:
                order = (str(item.get("updated_at") or item.get("created_at") or ""), i)
                submitted.append((order, annotation))
        if len(self.problems) > before:
            return None
        latest: dict[str, tuple[tuple, Annotation]] = {}
        for order, annotation in submitted:
            previous = latest.get(annotation.annotator)
            if previous is None or order > previous[0]:
                if previous is not None:
                    set_aside.append(SetAside(previous[1].annotator, previous[1].annotation_id, "superseded"))
                latest[annotation.annotator] = (order, annotation)
            else:
                set_aside.append(SetAside(annotation.annotator, annotation.annotation_id, "superseded"))
        annotations = [latest[a][1] for a in sorted(latest, key=annotator_sort_key)]
        set_aside.sort(key=lambda s: (annotator_sort_key(s.annotator), str(s.annotation_id)))
        return ExportTask(position, task_id, conversation, annotations, set_aside)


def read_export(
    path: str | Path,
    schema: Schema,
    known: dict[str, Conversation] | None = None,
    known_path: str | Path | None = None,
    names: dict[str, str] | None = None,
) -> list[ExportTask]:
    """Read and check a Label Studio JSON export; raise ``DataError`` naming every bad task.

    ``known`` (conversation id -> conversation, e.g. from ``--data``) makes an unknown
    conversation id, or messages that differ from the known conversation's, an error.
    ``names`` maps Label Studio user ids to the annotator names to record (``--annotators``).
    """
    raw_tasks = load_export_json(path)
    reader = _TaskReader(Path(path), schema, known, str(known_path) if known_path else None, names)
    seen: dict[str, str] = {}
    tasks = [reader.task(position, raw, seen) for position, raw in enumerate(raw_tasks)]
    if reader.problems:
        raise DataError(reader.problems)
    if not tasks:
        raise DataError.single(path, None, "(export)", "expected at least one task, found an empty list")
    return [t for t in tasks if t is not None]
