"""The annotation schema (``configs/schema.yaml``): typed, validated, cached.

The YAML file is the single source of truth for label ids. Loading checks its structure
with pydantic and its consistency (unique ids, known sources, every example's labels
defined, both languages present) and reports each problem with the YAML line it sits on.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.core.errors import DataError, PipelineError, Problem
from pipeline.core.paths import default_schema_path
from pipeline.core.yamlutil import Loc, format_loc, line_of, load_with_nodes

REQUIRED_LANGUAGES = ("en", "fr")
MIN_EXAMPLES = 3  # per label, language and polarity


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(_Strict):
    """A text in both languages of the schema."""

    en: str = Field(min_length=1)
    fr: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return getattr(self, language)


class Example(_Strict):
    text: str = Field(min_length=1)
    labels: list[str]
    note: str | None = None


class ExampleSet(_Strict):
    positive: list[Example] = Field(min_length=MIN_EXAMPLES)
    hard_negative: list[Example] = Field(min_length=MIN_EXAMPLES)


class SourceRef(_Strict):
    source: str
    section: str
    point: str | None = None


class Progression(_Strict):
    phase: Literal["early", "middle", "late", "any"]
    note: str


class Label(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    group: Literal["core", "extended"]
    color: str = Field(pattern=r"^#[0-9A-Fa-f]{6}$")
    name: Localized
    definition: Localized
    include: list[str] = Field(min_length=1)
    exclude: list[str] = Field(min_length=1)
    progression: Progression
    sources: list[SourceRef] = Field(min_length=1)
    examples: dict[str, ExampleSet]
    # Lexicon cue patterns (Python regular expressions, case-insensitive) per language, used by
    # the rule baseline in the spirit of ChatCoder's rule coding. Optional per label.
    cues: dict[str, list[str]] = Field(default_factory=dict)


class Source(_Strict):
    id: str
    file: str
    publisher: str
    title: str
    sections: list[str] = Field(min_length=1)


class Guidelines(_Strict):
    unit: str
    author_rule: str
    multi_label: str
    child_messages: str
    context: str
    decision_order: list[str] = Field(min_length=1)


class RiskValue(_Strict):
    value: Literal[0, 1]
    name: Localized


class ConversationLabel(_Strict):
    definition: Localized
    values: list[RiskValue] = Field(min_length=2, max_length=2)
    rule: str


class Kind(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    risk: Literal[0, 1] | None
    definition: Localized


class Flag(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Localized
    definition: Localized
    source: SourceRef


class ConversationSpec(_Strict):
    label: ConversationLabel
    kinds: list[Kind] = Field(min_length=1)
    flags: list[Flag]


class ChangelogEntry(_Strict):
    version: int
    date: str
    changes: list[str] = Field(min_length=1)


class Schema(_Strict):
    version: int = Field(ge=1)
    changelog: list[ChangelogEntry] = Field(min_length=1)
    languages: list[str]
    sources: list[Source] = Field(min_length=1)
    guidelines: Guidelines
    conversation: ConversationSpec
    labels: list[Label] = Field(min_length=1)

    @property
    def label_ids(self) -> list[str]:
        return [label.id for label in self.labels]

    @property
    def flag_ids(self) -> list[str]:
        return [flag.id for flag in self.conversation.flags]

    @property
    def kind_ids(self) -> list[str]:
        return [kind.id for kind in self.conversation.kinds]

    def label(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def source(self, source_id: str) -> Source:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)


def _duplicates(values: list[str]) -> set[str]:
    seen: set[str] = set()
    return {v for v in values if v in seen or seen.add(v)}


def _consistency_problems(schema: Schema) -> list[tuple[Loc, str]]:
    """Cross-references pydantic cannot see: ids, sources, languages, example labels."""
    problems: list[tuple[Loc, str]] = []
    for name, ids in (
        ("labels", schema.label_ids),
        ("sources", [s.id for s in schema.sources]),
        ("conversation.kinds", schema.kind_ids),
        ("conversation.flags", schema.flag_ids),
    ):
        for dup in sorted(_duplicates(ids)):
            index = ids.index(dup, ids.index(dup) + 1)
            problems.append(((*name.split("."), index, "id"), f"duplicate id '{dup}'; ids must be unique"))
    missing_languages = [lang for lang in REQUIRED_LANGUAGES if lang not in schema.languages]
    if missing_languages:
        problems.append(
            (("languages",), f"expected both languages {list(REQUIRED_LANGUAGES)}, missing {missing_languages}")
        )
    if schema.version not in [entry.version for entry in schema.changelog]:
        problems.append((("changelog",), f"expected an entry for the current version {schema.version}"))

    source_ids = {s.id for s in schema.sources}
    known = set(schema.label_ids)
    for i, label in enumerate(schema.labels):
        for j, ref in enumerate(label.sources):
            if ref.source not in source_ids:
                problems.append(
                    (
                        ("labels", i, "sources", j, "source"),
                        f"unknown source '{ref.source}'; expected one of {sorted(source_ids)}",
                    )
                )
        missing = [lang for lang in schema.languages if lang not in label.examples]
        if missing:
            problems.append(
                (
                    ("labels", i, "examples"),
                    f"expected examples in every language {schema.languages}, missing {missing}",
                )
            )
        for lang, examples in label.examples.items():
            if lang not in schema.languages:
                problems.append(
                    (("labels", i, "examples", lang), f"unknown language; expected one of {schema.languages}")
                )
            for polarity in ("positive", "hard_negative"):
                for k, example in enumerate(getattr(examples, polarity)):
                    loc: Loc = ("labels", i, "examples", lang, polarity, k, "labels")
                    unknown = [lab for lab in example.labels if lab not in known]
                    if unknown:
                        problems.append((loc, f"unknown label(s) {unknown}; expected ids from {schema.label_ids}"))
                    has_own = label.id in example.labels
                    if polarity == "positive" and not has_own:
                        problems.append((loc, f"a positive example of '{label.id}' must carry '{label.id}'"))
                    if polarity == "hard_negative" and has_own:
                        problems.append((loc, f"a hard negative of '{label.id}' must not carry '{label.id}'"))
        for lang, patterns in label.cues.items():
            if lang not in schema.languages:
                problems.append((("labels", i, "cues", lang), f"unknown language; expected one of {schema.languages}"))
            for k, pattern in enumerate(patterns):
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append((("labels", i, "cues", lang, k), f"expected a valid regular expression: {exc}"))
    for i, flag in enumerate(schema.conversation.flags):
        if flag.source.source not in source_ids:
            problems.append(
                (("conversation", "flags", i, "source", "source"), f"unknown source '{flag.source.source}'")
            )
    return problems


def parse_schema(text: str, path: str = "<schema>") -> Schema:
    """Validate schema YAML text; raise ``DataError`` listing every problem with its line."""
    try:
        data, root = load_with_nodes(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise DataError.single(path, line, "(yaml)", f"expected valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise DataError.single(path, 1, "(document)", "expected a mapping with version, labels, conversation, ...")
    try:
        schema = Schema.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(path, line_of(root, tuple(err["loc"])), format_loc(tuple(err["loc"])), err["msg"])
            for err in exc.errors()
        ]
        raise DataError(problems) from None
    problems = [Problem(path, line_of(root, loc), format_loc(loc), msg) for loc, msg in _consistency_problems(schema)]
    if problems:
        raise DataError(problems)
    return schema


@cache
def _load_cached(path: str, mtime_ns: int) -> Schema:
    return parse_schema(Path(path).read_text(encoding="utf-8"), path)


def load_schema(path: str | Path | None = None) -> Schema:
    """Load and validate the schema (default: ``configs/schema.yaml``); cached per file version."""
    schema_path = Path(path) if path is not None else default_schema_path()
    try:
        mtime = schema_path.stat().st_mtime_ns
    except FileNotFoundError:
        raise PipelineError(f"{schema_path}: schema file not found") from None
    return _load_cached(str(schema_path), mtime)
