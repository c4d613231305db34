"""Scenario scripts of the scripted generator (``configs/synth/scripts/<lang>/<kind>.yaml``).

A script file describes one conversation kind in one language: entities drawn once per
conversation, topics (threads of ordinary talk), moves (a line, the other side's reply by
reply type, a reaction to it), the arc (phases in order) and reply profiles. The contract is
``configs/synth/scripts/SCRIPTS.md``. ``load_scripts`` reads and validates the five files of
a language and raises ``DataError`` listing every problem as ``FILE:LINE: field: expected``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError, field_validator

from pipeline.core.errors import DataError, Problem
from pipeline.core.paths import CONFIGS_DIR
from pipeline.core.yamlutil import Loc, format_loc, line_of, load_with_nodes
from pipeline.schema.safety import explicit_terms

SCRIPTS_DIR = CONFIGS_DIR / "synth" / "scripts"
KINDS = ("grooming", "sextortion", "benign_peer", "benign_adult", "benign_hard_negative")
RISKY_KINDS = ("grooming", "sextortion")
# Who talks in each kind; the first speaker moves unless a move says otherwise (``by``).
SPEAKERS = {
    "grooming": ("adult", "child"),
    "sextortion": ("adult", "child"),
    "benign_adult": ("adult", "child"),
    "benign_peer": ("a", "b"),
    "benign_hard_negative": ("a", "b"),
}
REPLY_TYPES = ("accept", "deflect", "refuse", "ask_why", "quiet")
TOP_LEVEL = ("kind", "language", "entities", "topics", "moves", "arc", "profiles")

_ENTITY_NAME = re.compile(r"^[a-z_]+$")
_ID = re.compile(r"^[A-Za-z0-9_-]+$")  # ids become part of meta.template ("<lang>.<kind>.<id>...")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@dataclass(frozen=True)
class Minimums:
    """The fewest items SCRIPTS.md asks for; tests relax them with ``RELAXED``."""

    move_say: int = 6  # alternatives of a move's line
    turn_say: int = 3  # alternatives of a topic turn
    react_say: int = 3  # alternatives of a reaction
    replies: int = 2  # alternatives of a reply type (quiet excepted)
    child_names: int = 8  # values of the `child` entity
    risky_moves_per_phase: int = 5
    risky_topics: int = 15
    benign_topics: int = 20
    benign_moves: int = 10


MINIMUMS = Minimums()
RELAXED = Minimums(
    move_say=1,
    turn_say=1,
    react_say=1,
    replies=1,
    child_names=1,
    risky_moves_per_phase=1,
    risky_topics=1,
    benign_topics=1,
    benign_moves=1,
)

# ------------------------------------------------------------------ models


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _none_is_empty(value: Any) -> Any:
    return [] if value is None else value


class Reaction(_Strict):
    """The mover's next line after a reply of a given type."""

    say: list[StrictStr]
    labels: list[StrictStr] = []
    flags: list[StrictStr] = []

    @field_validator("labels", "flags", mode="before")
    @classmethod
    def _absent_is_empty(cls, value: Any) -> Any:
        return _none_is_empty(value)


class Move(_Strict):
    """A line of ``by``, the other side's reply by type, and ``by``'s reaction to it."""

    id: StrictStr
    phase: StrictStr
    by: StrictStr | None = None  # None: the kind's first speaker (adult, or a)
    labels: list[StrictStr] = []
    flags: list[StrictStr] = []
    say: list[StrictStr]
    replies: dict[StrictStr, list[StrictStr]] = {}
    react: dict[StrictStr, Reaction] = {}

    @field_validator("labels", "flags", "react", mode="before")
    @classmethod
    def _absent_is_empty(cls, value: Any) -> Any:
        return _none_is_empty(value)

    @field_validator("replies", mode="before")
    @classmethod
    def _quiet_may_be_null(cls, value: Any) -> Any:
        if isinstance(value, dict):  # `quiet:` with nothing after it is an empty list
            return {k: ([] if v is None else v) for k, v in value.items()}
        return _none_is_empty(value)


class Turn(_Strict):
    speaker: StrictStr
    say: list[StrictStr]


class Topic(_Strict):
    """A thread of ordinary talk, said in order (a conversation uses a prefix of it)."""

    id: StrictStr
    turns: list[Turn]


class Phase(_Strict):
    """One step of the arc."""

    phase: StrictStr
    moves: tuple[int, int]
    topic_turns: tuple[int, int]
    gap_minutes: tuple[float, float]
    chance: float = 1.0


class Script(_Strict):
    """One validated script file: a conversation kind in one language."""

    kind: StrictStr
    language: StrictStr
    entities: dict[StrictStr, list[StrictStr]] = {}
    topics: list[Topic]
    moves: list[Move]
    arc: list[Phase]
    profiles: dict[StrictStr, dict[StrictStr, float]] = {}
    path: str = Field("", exclude=True)  # where it was read from (set by the loader)

    @property
    def speakers(self) -> tuple[str, str]:
        return SPEAKERS[self.kind]

    @property
    def risky(self) -> bool:
        return self.kind in RISKY_KINDS

    def mover(self, move: Move) -> str:
        return move.by or self.speakers[0]

    def other(self, speaker: str) -> str:
        first, second = self.speakers
        return second if speaker == first else first

    def moves_in(self, phase: str) -> list[Move]:
        return [m for m in self.moves if m.phase == phase]


# ------------------------------------------------------------------ loading


def load_scripts(
    language: str,
    folder: str | Path | None = None,
    *,
    kinds: tuple[str, ...] | list[str] = KINDS,
    minimums: Minimums | None = None,
    label_ids: list[str] | None = None,
    flag_ids: list[str] | None = None,
) -> dict[str, Script]:
    """Read and validate ``<folder>/<language>/<kind>.yaml`` for each kind.

    ``folder`` defaults to ``configs/synth/scripts``; ``minimums`` to ``MINIMUMS`` (read at call
    time, so tests can relax it). Raises ``DataError`` listing every problem of every file.
    """
    minimums = minimums or MINIMUMS
    if label_ids is None or flag_ids is None:
        from pipeline.schema import load_schema

        schema = load_schema()
        label_ids = schema.label_ids if label_ids is None else label_ids
        flag_ids = schema.flag_ids if flag_ids is None else flag_ids
    root = Path(folder) if folder is not None else SCRIPTS_DIR
    problems: list[Problem] = []
    scripts: dict[str, Script] = {}
    for kind in kinds:
        if kind not in KINDS:
            problems.append(Problem(str(root / language), None, "(kinds)", f"unknown kind '{kind}'; expected {KINDS}"))
            continue
        path = root / language / f"{kind}.yaml"
        script = _load_file(path, kind, language, minimums, list(label_ids), list(flag_ids), problems)
        if script is not None:
            scripts[kind] = script
    if problems:
        raise DataError(problems)
    return scripts


def _load_file(
    path: Path,
    kind: str,
    language: str,
    minimums: Minimums,
    label_ids: list[str],
    flag_ids: list[str],
    problems: list[Problem],
) -> Script | None:
    try:
        text = path.read_text(encoding="utf-8")
        data, root = load_with_nodes(text)
    except FileNotFoundError:
        problems.append(Problem(str(path), None, "(file)", f"file not found; expected the {kind} script"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        problems.append(Problem(str(path), line, "(yaml)", f"expected valid YAML: {getattr(exc, 'problem', exc)}"))
        return None
    before = len(problems)

    def problem(loc: Loc, message: str) -> None:
        problems.append(Problem(str(path), line_of(root, loc), format_loc(loc), message))

    if not isinstance(data, dict):
        problem((), f"expected a mapping with {list(TOP_LEVEL)}")
        return None
    for key in data:
        if key not in TOP_LEVEL:
            problem((key,), f"unknown field; expected one of {list(TOP_LEVEL)}")
    required = ["kind", "language", "topics", "moves", "arc"] + (["profiles"] if kind in RISKY_KINDS else [])
    for key in required:
        if key not in data:
            problem((), f"required field '{key}' is missing")

    # Structure, piece by piece, so that one broken move does not hide the others' problems.
    clean: dict[str, Any] = {}
    for key in ("kind", "language"):
        if key in data:
            if data[key] == {"kind": kind, "language": language}[key]:
                clean[key] = data[key]
            else:
                expected = {"kind": kind, "language": language}[key]
                problem((key,), f"expected '{expected}' (the file's {key}), found {data[key]!r}")
    clean.setdefault("kind", kind)
    clean.setdefault("language", language)
    clean["entities"] = _entities(data.get("entities"), problem)
    for key, model in (("topics", Topic), ("moves", Move), ("arc", Phase)):
        items = data.get(key)
        if items is None:
            clean[key] = []
            continue
        if not isinstance(items, list):
            problem((key,), "expected a list")
            clean[key] = []
            continue
        clean[key] = [
            (i, parsed)
            for i, item in enumerate(items)
            if (parsed := _validate(model, item, (key, i), problem)) is not None
        ]
    profiles = data.get("profiles")
    clean["profiles"] = {}
    if profiles is not None:
        if not isinstance(profiles, dict):
            problem(("profiles",), "expected a mapping of profile name to reply-type weights")
        else:
            for name, weights in profiles.items():
                if isinstance(weights, dict) and all(isinstance(w, (int, float)) for w in weights.values()):
                    clean["profiles"][str(name)] = {str(k): float(w) for k, w in weights.items()}
                else:
                    problem(("profiles", name), f"expected a mapping of reply type to a number, one of {REPLY_TYPES}")

    _check(clean, data, kind, minimums, label_ids, flag_ids, problem)
    if len(problems) > before:
        return None
    return Script(
        kind=clean["kind"],
        language=clean["language"],
        entities=clean["entities"],
        topics=[t for _, t in clean["topics"]],
        moves=[m for _, m in clean["moves"]],
        arc=[p for _, p in clean["arc"]],
        profiles=clean["profiles"],
        path=str(path),
    )


def _entities(raw: Any, problem) -> dict[str, list[str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        problem(("entities",), "expected a mapping of entity name to a list of values")
        return {}
    out: dict[str, list[str]] = {}
    for name, values in raw.items():
        loc = ("entities", name)
        if not isinstance(name, str) or not _ENTITY_NAME.match(name):
            problem(loc, "expected an entity name of lowercase letters and _")
            continue
        out[name] = []  # the name is known even when its values are wrong (no cascade of unknown placeholders)
        if not isinstance(values, list) or not values:
            problem(loc, "expected a non-empty list of values")
            continue
        for k, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)) or not str(value).strip():
                problem((*loc, k), "expected a non-empty string" + _yaml_hint(value))
            elif isinstance(value, str) and ("{" in value or "}" in value):
                problem((*loc, k), "expected plain text (entity values hold no braces)")
            else:
                out[name].append(str(value))
    return out


def _yaml_hint(value: Any) -> str:
    if isinstance(value, bool):
        return ", found true/false (quote it: YAML reads yes/no/on/off/true/false unquoted as booleans)"
    if value is None:
        return ", found an empty value"
    if isinstance(value, (int, float)):
        return ", found a number (quote it)"
    if isinstance(value, dict):
        return ", found a mapping (quote lines that contain ': ' or start with '{')"
    if isinstance(value, list):
        return ", found a list"
    return ""


def _validate(model: type[BaseModel], item: Any, loc: Loc, problem) -> BaseModel | None:
    try:
        return model.model_validate(item)
    except ValidationError as exc:
        for error in exc.errors():
            where = (*loc, *error["loc"])
            problem(where, _describe(model, error))
        return None


def _describe(model: type[BaseModel], error: dict) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        owner = model
        for part in error["loc"][:-1]:  # the nested model the unknown field sits in
            if isinstance(part, str) and part in owner.model_fields:
                annotation = owner.model_fields[part].annotation
                args = getattr(annotation, "__args__", ())
                owner = next(
                    (a for a in (annotation, *args) if isinstance(a, type) and issubclass(a, BaseModel)), owner
                )
        fields = [f for f in owner.model_fields if f != "path"]
        if owner in (Topic, Turn) and error["loc"][-1] in ("labels", "flags"):
            return f"topic lines carry no {error['loc'][-1]}; expected one of {fields}"
        return f"unknown field; expected one of {fields}"
    if kind == "string_type":
        return "expected a string" + _yaml_hint(value)
    if kind in ("list_type", "tuple_type"):
        return "expected a list" + _yaml_hint(value)
    if kind in ("dict_type", "model_type"):
        return "expected a mapping" + _yaml_hint(value)
    if kind in ("int_type", "int_parsing", "int_from_float", "float_type", "float_parsing"):
        return "expected a number" + _yaml_hint(value)
    if kind in ("too_short", "too_long"):
        return "expected [min, max]"
    return error["msg"]


# ------------------------------------------------------------------ checks


def _check(clean: dict, data: dict, kind: str, minimums: Minimums, label_ids, flag_ids, problem) -> None:
    """What the models cannot see: labels, placeholders, speakers, arc, profiles, counts.

    ``clean`` holds the pieces that passed the models; ``data`` is the raw file, used so that
    a piece with a structural problem does not cause further, misleading problems.
    """
    entities = clean["entities"]
    speakers = SPEAKERS[kind]
    risky = kind in RISKY_KINDS
    topics: list[tuple[int, Topic]] = clean["topics"]
    moves: list[tuple[int, Move]] = clean["moves"]
    arc: list[tuple[int, Phase]] = clean["arc"]

    def lines(loc: Loc, alternatives: list[str], minimum: int, what: str) -> None:
        if len(alternatives) < minimum:
            problem(loc, f"expected at least {minimum} {what}, found {len(alternatives)}")
        seen: dict[str, int] = {}
        for k, text in enumerate(alternatives):
            _check_line((*loc, k), text, entities, problem)
            if text in seen:
                problem((*loc, k), f"duplicate alternative (same text as [{seen[text]}])")
            seen.setdefault(text, k)

    def labels_ok(loc: Loc, labels: list[str], speaker: str, owner: str) -> None:
        if not labels:
            return
        if not risky:
            problem(loc, f"{owner}: benign files carry no labels, found {labels}")
            return
        unknown = [lab for lab in labels if lab not in label_ids]
        if unknown:
            problem(loc, f"{owner}: unknown label(s) {unknown}; expected ids from {label_ids}")
        if len(set(labels)) != len(labels):
            problem(loc, f"{owner}: expected each label at most once")
        if speaker == "child":
            problem(loc, f"{owner}: a child's line carries no labels")

    def flags_ok(loc: Loc, flags: list[str], owner: str) -> None:
        unknown = [f for f in flags if f not in flag_ids]
        if unknown:
            problem(loc, f"{owner}: unknown flag(s) {unknown}; expected ids from {flag_ids}")

    # ids: unique across topics and moves (they name templates)
    seen_ids: dict[str, Loc] = {}
    for section, items in (("topics", topics), ("moves", moves)):
        for i, item in items:
            loc = (section, i, "id")
            if not _ID.match(item.id):
                problem(loc, f"expected an id of letters, digits, _ and -, found {item.id!r}")
            if item.id in seen_ids:
                problem(loc, f"duplicate id '{item.id}' (also at {format_loc(seen_ids[item.id])})")
            seen_ids.setdefault(item.id, loc)

    # topics
    for i, topic in topics:
        if len(topic.turns) < 2:
            problem(("topics", i, "turns"), f"topic '{topic.id}': expected at least 2 turns, found {len(topic.turns)}")
        for j, turn in enumerate(topic.turns):
            if turn.speaker not in speakers:
                problem(
                    ("topics", i, "turns", j, "speaker"),
                    f"topic '{topic.id}': expected a speaker of {kind} files, one of {list(speakers)}, "
                    f"found '{turn.speaker}'",
                )
            lines(("topics", i, "turns", j, "say"), turn.say, minimums.turn_say, "alternatives")

    # moves
    arc_phases = _raw_values(data.get("arc"), "phase")
    move_phases = _raw_values(data.get("moves"), "phase")
    for i, move in moves:
        owner = f"move '{move.id}'"
        by = move.by or speakers[0]
        if move.by is not None and move.by not in speakers:
            problem(("moves", i, "by"), f"{owner}: expected a speaker of {kind} files, one of {list(speakers)}")
        if arc_phases and move.phase not in arc_phases:
            problem(
                ("moves", i, "phase"),
                f"{owner}: phase '{move.phase}' is not in the arc {arc_phases}; the move would never be used",
            )
        labels_ok(("moves", i, "labels"), move.labels, by, owner)
        flags_ok(("moves", i, "flags"), move.flags, owner)
        lines(("moves", i, "say"), move.say, minimums.move_say, "alternatives")
        for reply_type, replies in move.replies.items():
            loc = ("moves", i, "replies", reply_type)
            if reply_type not in REPLY_TYPES:
                problem(loc, f"{owner}: unknown reply type; expected one of {list(REPLY_TYPES)}")
            elif reply_type == "quiet":
                if replies:
                    problem(loc, f"{owner}: quiet means no reply; expected an empty list []")
            else:
                lines(loc, replies, minimums.replies, "replies")
        for reply_type, reaction in move.react.items():
            loc = ("moves", i, "react", reply_type)
            if reply_type not in REPLY_TYPES:
                problem(loc, f"{owner}: unknown reply type; expected one of {list(REPLY_TYPES)}")
            elif reply_type not in move.replies:
                problem(loc, f"{owner}: a reaction to '{reply_type}', but the move has no '{reply_type}' reply")
            labels_ok((*loc, "labels"), reaction.labels, by, f"{owner} reaction to '{reply_type}'")
            flags_ok((*loc, "flags"), reaction.flags, f"{owner} reaction to '{reply_type}'")
            lines((*loc, "say"), reaction.say, minimums.react_say, "alternatives")

    # arc
    if "arc" in data and data["arc"] in (None, []):
        problem(("arc",), "expected at least one phase")
    for i, phase in arc:
        loc = ("arc", i)
        count = move_phases.count(phase.phase)
        if count == 0:
            problem((*loc, "phase"), f"phase '{phase.phase}' has no moves; expected moves with phase: {phase.phase}")
        elif risky and count < minimums.risky_moves_per_phase:
            problem(
                (*loc, "phase"),
                f"phase '{phase.phase}': expected at least {minimums.risky_moves_per_phase} moves, found {count}",
            )
        for name in ("moves", "topic_turns", "gap_minutes"):
            low, high = getattr(phase, name)
            if low < 0 or high < low:
                problem((*loc, name), f"expected [min, max] with 0 <= min <= max, found [{low}, {high}]")
        if not 0 < phase.chance <= 1:
            problem((*loc, "chance"), f"expected a probability in (0, 1], found {phase.chance}")
    if risky and arc and not any(p.chance >= 1 and p.moves[0] >= 1 for _, p in arc):
        problem(
            ("arc",),
            "expected at least one phase that always plays (chance 1) with at least 1 move: "
            "every risky conversation must show the behaviour",
        )

    # profiles
    if risky and "profiles" in data and data["profiles"] in (None, {}):
        problem(("profiles",), "expected at least one profile (weights over reply types)")
    for name, weights in clean["profiles"].items():
        loc = ("profiles", name)
        unknown = [t for t in weights if t not in REPLY_TYPES]
        if unknown:
            problem(loc, f"unknown reply type(s) {unknown}; expected among {list(REPLY_TYPES)}")
        if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
            problem(loc, f"expected non-negative weights with a positive sum, found {weights}")

    # entities and counts
    if "child" in entities and len(entities["child"]) < minimums.child_names:
        problem(
            ("entities", "child"),
            f"expected at least {minimums.child_names} names, found {len(entities['child'])}",
        )
    topic_min = minimums.risky_topics if risky else minimums.benign_topics
    if len(topics) < max(topic_min, 1):
        problem(("topics",), f"expected at least {max(topic_min, 1)} topics, found {len(topics)}")
    if not risky and len(moves) < minimums.benign_moves:
        problem(("moves",), f"expected at least {minimums.benign_moves} moves, found {len(moves)}")


def _raw_values(items: Any, key: str) -> list:
    """``item[key]`` of each mapping of a raw list (whatever the rest of the item holds)."""
    if not isinstance(items, list):
        return []
    return [item.get(key) for item in items if isinstance(item, dict) and isinstance(item.get(key), str)]


def _check_line(loc: Loc, text: str, entities: dict[str, list[str]], problem) -> None:
    if not text.strip():
        problem(loc, "expected a non-empty line")
        return
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in entities})
    if unknown:
        problem(
            loc,
            f"unknown placeholder(s) {['{' + n + '}' for n in unknown]}; expected entities {sorted(entities)}",
        )
    rest = _PLACEHOLDER.sub("", text)
    if "{" in rest or "}" in rest:
        problem(loc, "unexpected brace: lines use only {entity} placeholders (write whole alternatives, not {a|b})")
    explicit = sorted(set(explicit_terms(text)))
    if explicit:
        problem(loc, f"explicit vocabulary {explicit}: this project's text must stay non-explicit")


def render(text: str, values: dict[str, str]) -> str:
    """Substitute the conversation's entity values into a line."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], text)
