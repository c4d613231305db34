"""The template grammar of the synthetic corpus (``configs/synth/<lang>/``).

A template is text with ``{slot}`` references and ``{a|b|c}`` alternatives, which may nest.
Templates live in pools: one pool per label (``labels_*.yaml``, offender messages that
perform the behaviour) and named pools of unlabelled messages (``pools_*.yaml``). Each
template belongs to one of ``families`` template families (round-robin within its pool),
so that a split can hold out whole families: a conversation draws from one family only.
See ``configs/synth/GRAMMAR.md``.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.core.errors import DataError, Problem
from pipeline.core.paths import CONFIGS_DIR
from pipeline.core.yamlutil import line_of, load_with_nodes
from pipeline.schema.safety import explicit_terms

SYNTH_DIR = CONFIGS_DIR / "synth"

SLOT_NAMES = (
    "name", "adult_name", "platform", "game", "currency", "item", "amount", "deadline", "time", "day",
    "place", "relation", "my_relation", "hobby", "age", "older_age", "school_subject", "photo", "emoji",
    "greeting", "laugh", "team", "show", "pet", "food",
)  # fmt: skip
MIN_SLOT_VALUES = 8
MIN_LABEL_TEMPLATES = 40

# Unlabelled pools and the fewest templates each must have.
POOL_MINIMUMS = {
    "smalltalk_offender": 30, "smalltalk_child": 30, "child_eager": 16, "child_hesitant": 16,
    "child_refusing": 16, "child_disclosing": 12, "child_help": 12, "child_panic": 16,
    "peer_chat": 40, "benign_coach": 12, "benign_teacher": 12, "benign_relative": 12, "benign_nurse": 10,
    "benign_child_reply": 16, "hn_surprise_party": 10, "hn_birthday_gift": 10, "hn_homework_photo": 10,
    "hn_game_trade": 10, "hn_strict_parents": 10, "hn_group_chat": 10, "hn_meetup": 10,
    "hn_compliment": 10, "hn_family_photo": 10, "hn_joke_threat": 10,
}  # fmt: skip
HARD_NEGATIVE_THEMES = tuple(name for name in POOL_MINIMUMS if name.startswith("hn_"))
SEXTORTION_ROLES = ("claim", "threat", "demand_money", "demand_images", "deadline", "silence")

# ------------------------------------------------------------------ parsing

Part = "str | Slot | Alternatives"


@dataclass(frozen=True)
class Slot:
    name: str


@dataclass(frozen=True)
class Alternatives:
    options: tuple[tuple, ...]  # each option is a tuple of parts


_SLOT_NAME = re.compile(r"^[a-z_]+$")


class TemplateSyntaxError(ValueError):
    pass


def parse_template(text: str) -> tuple:
    """Parse template text into parts: strings, ``Slot`` and ``Alternatives``."""
    parts, end = _parse_sequence(text, 0, depth=0)
    if end != len(text):
        raise TemplateSyntaxError(f"unexpected '{text[end]}' at column {end + 1}")
    return parts


def _parse_sequence(text: str, i: int, depth: int) -> tuple[tuple, int]:
    parts: list = []
    buf: list[str] = []
    while i < len(text):
        char = text[i]
        if char == "{":
            if buf:
                parts.append("".join(buf))
                buf = []
            options, i = _parse_group(text, i + 1, depth + 1)
            if len(options) == 1:
                only = options[0]
                if len(only) == 1 and isinstance(only[0], str) and _SLOT_NAME.match(only[0]):
                    parts.append(Slot(only[0]))
                    continue
                raise TemplateSyntaxError(f"'{{...}}' near column {i} is neither a slot name nor alternatives a|b")
            parts.append(Alternatives(tuple(options)))
            continue
        if char in "|}":
            if depth == 0:
                raise TemplateSyntaxError(f"unbalanced '{char}' at column {i + 1}")
            break
        buf.append(char)
        i += 1
    if buf:
        parts.append("".join(buf))
    return tuple(parts), i


def _parse_group(text: str, i: int, depth: int) -> tuple[list[tuple], int]:
    options: list[tuple] = []
    while True:
        parts, i = _parse_sequence(text, i, depth)
        options.append(parts)
        if i >= len(text):
            raise TemplateSyntaxError("unclosed '{'")
        if text[i] == "|":
            i += 1
            continue
        return options, i + 1  # text[i] == "}"


def slots_used(parts: tuple) -> set[str]:
    found: set[str] = set()
    for part in parts:
        if isinstance(part, Slot):
            found.add(part.name)
        elif isinstance(part, Alternatives):
            for option in part.options:
                found |= slots_used(option)
    return found


def count_variants(parts: tuple, slots: dict[str, list[str]]) -> int:
    """How many texts a template can produce (before noise)."""
    total = 1
    for part in parts:
        if isinstance(part, Slot):
            total *= len(slots.get(part.name, ())) or 1
        elif isinstance(part, Alternatives):
            total *= sum(count_variants(option, slots) for option in part.options)
    return total


def all_texts(parts: tuple) -> list[str]:
    """Every literal string in the template (for vocabulary checks)."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, Alternatives):
            for option in part.options:
                out += all_texts(option)
    return out


_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([,.)](?:\s|$))")  # not ?!:; which French spaces


def _tidy(text: str) -> str:
    """Clean what empty alternatives leave behind: doubled or stray spaces."""
    text = _SPACES.sub(" ", text).strip()
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


# ------------------------------------------------------------------ templates


@dataclass(frozen=True)
class Template:
    id: str  # "<lang>.<pool>.<index>", stable while the files keep their order
    pool: str
    family: int
    text: str
    parts: tuple
    labels: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    level: int | None = None
    role: str | None = None


@dataclass
class Grammar:
    language: str
    families: int
    slots: dict[str, list[str]]
    pools: dict[str, list[Template]] = field(default_factory=dict)
    _by_family: dict = field(default_factory=dict, repr=False)

    def templates(self, pool: str, family: int, **where) -> list[Template]:
        key = (pool, family, tuple(sorted(where.items())))
        if key not in self._by_family:
            chosen = [
                t for t in self.pools[pool] if t.family == family and all(getattr(t, k) == v for k, v in where.items())
            ]
            if not chosen:  # a filter too narrow for this family: use the family's whole pool
                chosen = [t for t in self.pools[pool] if t.family == family]
            self._by_family[key] = chosen
        return self._by_family[key]

    def render(self, rng: random.Random, template: Template) -> str:
        return _tidy(self._expand(rng, template.parts))

    def _expand(self, rng: random.Random, parts: tuple) -> str:
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, Slot):
                out.append(rng.choice(self.slots[part.name]))
            else:
                out.append(self._expand(rng, rng.choice(part.options)))
        return "".join(out)


def load_grammar(
    language: str,
    families: int = 8,
    root: Path | None = None,
    label_ids: list[str] | None = None,
    flag_ids: list[str] | None = None,
) -> Grammar:
    """Load and validate one language's grammar; raise ``DataError`` listing every problem."""
    if label_ids is None or flag_ids is None:
        from pipeline.schema import load_schema

        schema = load_schema()
        label_ids, flag_ids = schema.label_ids, schema.flag_ids
    folder = (root or SYNTH_DIR) / language
    problems: list[Problem] = []
    grammar = Grammar(language=language, families=families, slots={})

    def problem(path: Path, node, loc, message: str) -> None:
        problems.append(Problem(str(path), line_of(node, loc), ".".join(map(str, loc)) or "(file)", message))

    def read(path: Path):
        try:
            text = path.read_text(encoding="utf-8")
            return load_with_nodes(text)
        except FileNotFoundError:
            problems.append(Problem(str(path), None, "(file)", "file not found"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problems.append(
                Problem(str(path), mark.line + 1 if mark else None, "(yaml)", f"expected valid YAML: {exc}")
            )
        return None, None

    slots_path = folder / "slots.yaml"
    data, node = read(slots_path)
    if data is not None:
        if not isinstance(data, dict):
            problem(slots_path, node, (), "expected a mapping of slot name to values")
            data = {}
        for name in SLOT_NAMES:
            values = data.get(name)
            if (
                not isinstance(values, list)
                or len(values) < MIN_SLOT_VALUES
                or not all(isinstance(v, (str, int)) and str(v).strip() for v in values)
            ):
                problem(slots_path, node, (name,), f"expected a list of at least {MIN_SLOT_VALUES} non-empty values")
                continue
            grammar.slots[name] = [str(v) for v in values]
        for name in sorted(set(data) - set(SLOT_NAMES)):
            problem(slots_path, node, (name,), f"unknown slot; expected one of {list(SLOT_NAMES)}")

    label_files = sorted(folder.glob("labels_*.yaml"))
    pool_files = sorted(folder.glob("pools_*.yaml"))
    if not label_files:
        problems.append(Problem(str(folder), None, "(folder)", "expected labels_*.yaml files"))
    if not pool_files:
        problems.append(Problem(str(folder), None, "(folder)", "expected pools_*.yaml files"))
    raw: dict[str, list] = {}
    for path, is_label_file in [(p, True) for p in label_files] + [(p, False) for p in pool_files]:
        data, node = read(path)
        if data is None:
            continue
        if not isinstance(data, dict):
            problem(path, node, (), "expected a mapping of pool name to a list of templates")
            continue
        for pool, entries in data.items():
            allowed = label_ids if is_label_file else list(POOL_MINIMUMS)
            if pool not in allowed:
                problem(
                    path, node, (pool,), f"unknown {'label' if is_label_file else 'pool'}; expected one of {allowed}"
                )
                continue
            if not isinstance(entries, list):
                problem(path, node, (pool,), "expected a list of templates")
                continue
            for index, entry in enumerate(entries):
                raw.setdefault(pool, []).append((path, node, (pool, index), entry, is_label_file))

    for pool, entries in raw.items():
        seen: dict[str, int] = {}
        templates: list[Template] = []
        for path, node, loc, entry, is_label in entries:
            template = _template(
                entry,
                pool,
                is_label,
                label_ids,
                flag_ids,
                grammar,
                lambda msg, path=path, node=node, loc=loc: problem(path, node, loc, msg),
            )
            if template is None:
                continue
            if template["text"] in seen:
                problem(path, node, loc, f"duplicate template (same text as template {seen[template['text']]})")
                continue
            seen[template["text"]] = len(templates)
            index = len(templates)
            templates.append(Template(id=f"{language}.{pool}.{index:03d}", family=index % families, **template))
        grammar.pools[pool] = templates

    for label in label_ids:
        count = len(grammar.pools.get(label, []))
        if count < MIN_LABEL_TEMPLATES:
            problems.append(
                Problem(str(folder), None, label, f"expected at least {MIN_LABEL_TEMPLATES} templates, found {count}")
            )
    for pool, minimum in POOL_MINIMUMS.items():
        count = len(grammar.pools.get(pool, []))
        if count < max(minimum, families):
            problems.append(
                Problem(str(folder), None, pool, f"expected at least {max(minimum, families)} templates, found {count}")
            )
    if problems:
        raise DataError(problems)
    return grammar


def _template(entry, pool: str, is_label: bool, label_ids, flag_ids, grammar: Grammar, report) -> dict | None:
    if isinstance(entry, str):
        entry = {"text": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("text"), str) or not entry["text"].strip():
        report("expected a string or a mapping with a non-empty 'text'")
        return None
    unknown_keys = set(entry) - {"text", "labels", "flags", "level", "role"}
    if unknown_keys:
        report(f"unknown key(s) {sorted(unknown_keys)}; expected text, labels, flags, level, role")
        return None
    text = entry["text"]
    try:
        parts = parse_template(text)
    except TemplateSyntaxError as exc:
        report(f"template syntax: {exc}")
        return None
    missing = slots_used(parts) - set(SLOT_NAMES)
    if missing:
        report(f"unknown slot(s) {sorted(missing)}; expected one of {list(SLOT_NAMES)}")
        return None
    explicit = sorted({w for s in all_texts(parts) for w in explicit_terms(s)})
    if explicit:
        report(f"explicit vocabulary {explicit}: this project's text must stay non-explicit")
        return None
    labels = entry.get("labels", [pool] if is_label else [])
    if not is_label and labels:
        report("templates in unlabelled pools carry no labels")
        return None
    if is_label and (pool not in labels or not set(labels) <= set(label_ids)):
        report(f"labels must include '{pool}' and only ids from {label_ids}")
        return None
    flags = entry.get("flags", [])
    if not isinstance(flags, list) or not set(flags) <= set(flag_ids):
        report(f"flags must be a list of ids from {flag_ids}")
        return None
    level, role = entry.get("level"), entry.get("role")
    if pool == "sexualisation" and level not in (1, 2, 3):
        report("sexualisation templates need 'level': 1, 2 or 3")
        return None
    if pool == "sextortion" and role not in SEXTORTION_ROLES:
        report(f"sextortion templates need 'role': one of {list(SEXTORTION_ROLES)}")
        return None
    return {
        "pool": pool,
        "text": text,
        "parts": parts,
        "labels": tuple(labels),
        "flags": tuple(flags),
        "level": level,
        "role": role,
    }
