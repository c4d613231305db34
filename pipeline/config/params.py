"""One typed configuration: ``params.yaml`` and every ``--param``, validated by pydantic.

``load_params`` refuses an unknown key (file, line, and the closest known key) and a value of the
wrong type (the type expected); ``grooming-risk params check`` runs the same validation alone.
Stages still read ``params.yaml`` through DVC's ``params:`` lists; this module is how the code reads it.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.config.data import IngestConfig, SchemaSection, SplitConfig, SynthConfig
from pipeline.config.evaluation import AnnotateConfig, BenchmarkConfig, EvaluateConfig
from pipeline.config.models import (
    MODEL_SETTINGS,
    AuthoredConfig,
    EmbedSettings,
    EnsembleSettings,
    LexiconSettings,
    ModelSection,
    RiskConfig,
    Strict,
    TfidfSettings,
    TransformerSettings,
)
from pipeline.core.errors import PipelineError
from pipeline.core.paths import REPO_ROOT
from pipeline.core.yamlutil import format_loc, line_of, load_with_nodes

DEFAULT_PARAMS = REPO_ROOT / "params.yaml"
TrainedKind = Literal["lexicon", "tfidf", "embed", "transformer"]


class BaseSection(Strict):
    seed: int = 0  # one seed drives everything


class Params(BaseModel):
    """Every section of ``params.yaml``; a section left out takes its defaults."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    base: BaseSection = BaseSection()
    schema_paths: SchemaSection = Field(SchemaSection(), alias="schema")
    synthesize: SynthConfig = SynthConfig()
    ingest: IngestConfig | None = None
    split: SplitConfig = SplitConfig()
    authored: AuthoredConfig = AuthoredConfig()
    models: list[TrainedKind] = ["lexicon", "tfidf", "embed", "transformer"]  # one train stage each
    ensemble: EnsembleSettings = EnsembleSettings()
    lexicon: LexiconSettings = LexiconSettings()
    tfidf: TfidfSettings = TfidfSettings()
    embed: EmbedSettings = EmbedSettings()
    transformer: TransformerSettings = TransformerSettings()
    risk: RiskConfig = RiskConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    annotate: AnnotateConfig = AnnotateConfig()
    benchmark: BenchmarkConfig = BenchmarkConfig()

    @property
    def seed(self) -> int:
        return self.base.seed

    def model_section(self, kind: str) -> ModelSection:
        if kind not in MODEL_SETTINGS:
            raise PipelineError(f"unknown model kind '{kind}'; expected one of {sorted(MODEL_SETTINGS)}")
        return getattr(self, kind)


class ParamsError(PipelineError):
    """Every problem of a params file (and its overrides), one per line."""


# --- reading ---------------------------------------------------------------------------------


def read_yaml(path: Path) -> tuple[dict[str, Any], yaml.Node | None]:
    """The mapping in ``path`` and its YAML node tree (for line numbers)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamsError(f"{path}: params file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ParamsError(f"{path}: cannot read the params file: {exc}") from None
    try:
        data, node = load_with_nodes(text)
        data = data or {}
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: expected valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, found {type(data).__name__}")
    return data, node


# Overrides whose first dotted part names one of these sections go there; the others go to the
# model section being trained (``--param C=2`` is ``tfidf.C`` for ``--model tfidf``).
TOP_LEVEL_OVERRIDES = ("risk", "authored", "base")


def apply_overrides(
    raw: dict[str, Any], items: list[str], section: str | None
) -> tuple[dict[str, Any], dict[tuple, str]]:
    """``raw`` with the ``key=value`` items applied (values parsed as YAML; dotted keys nest), and
    where each override landed (its location -> the item as typed), to name it in errors."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}
    origins: dict[tuple, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ParamsError(f"--param {item!r}: expected key=value")
        parts = key.split(".")
        if parts[0] not in TOP_LEVEL_OVERRIDES:
            if section is None:
                raise ParamsError(f"--param {item!r}: expected a dotted key (section.key=value)")
            parts = [section, *parts]
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            parsed = value
        target = out
        for part in parts[:-1]:
            current = target.get(part)
            target[part] = dict(current) if isinstance(current, dict) else {}
            target = target[part]
        target[parts[-1]] = parsed
        origins[tuple(parts)] = item
    return out, origins


def load_params(
    path: str | Path | None = None, overrides: list[str] | None = None, section: str | None = None
) -> Params:
    """The validated params of ``path`` (``None``: the defaults alone), with ``overrides``
    (``--param key=value``) applied to ``section``. Raises ParamsError naming every problem."""
    raw, node, where = {}, None, "defaults"
    if path is not None:
        where = str(path)
        raw, node = read_yaml(Path(path))
    raw, origins = apply_overrides(raw, overrides or [], section)
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        lines = [_explain(error, where, node, origins) for error in exc.errors()]
        raise ParamsError("\n".join(dict.fromkeys(lines))) from None


def check_params(path: str | Path) -> Params:
    """``grooming-risk params check``: validate a params file (raises ParamsError)."""
    return load_params(path)


# --- explaining a validation error -----------------------------------------------------------


def _explain(error: dict[str, Any], where: str, node: yaml.Node | None, origins: dict[tuple, str]) -> str:
    loc = tuple(error["loc"])
    shown = _strip_union_tags(loc)
    origin = next((item for place, item in origins.items() if shown[: len(place)] == place), None)
    if origin is not None:
        prefix = f"--param {origin}"
    else:
        line = line_of(node, shown) if node is not None else None
        prefix = f"{where}:{line}" if line else where
    field = format_loc(shown)
    if error["type"] == "extra_forbidden":
        known = _known_keys(shown[:-1])
        guess = did_you_mean(str(shown[-1]), known)
        hint = f"; did you mean '{guess}'?" if guess else (f"; expected one of {sorted(known)}" if known else "")
        return f"{prefix}: {field}: unknown key{hint}"
    expected = _expected_type(shown)
    found = error.get("input")
    detail = f"expected {expected}, found {found!r}" if expected else f"found {found!r}"
    return f"{prefix}: {field}: {error['msg']} ({detail})"


def did_you_mean(key: str, known: list[str]) -> str | None:
    """The known key ``key`` was most likely meant to be: the same but for case, a close spelling,
    or the known key it starts with (``Cee`` -> ``C``)."""
    lowered = {k.lower(): k for k in known}
    if key.lower() in lowered:
        return lowered[key.lower()]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    if close:
        return close[0]
    prefixes = sorted((k for k in known if key.lower().startswith(k.lower())), key=len, reverse=True)
    if prefixes:
        return prefixes[0]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.5)
    return close[0] if close else None


def _strip_union_tags(loc: tuple) -> tuple:
    """pydantic adds the branch of a union to a location (``ingest.function-after[...]``, ``int``):
    keep the keys and indices a user wrote."""
    out = []
    for part in loc:
        if isinstance(part, str) and (part in ("int", "float", "str", "bool", "none") or "[" in part):
            continue
        out.append(part)
    return tuple(out)


def _unwrap(annotation: Any) -> Any:
    """Optional[X] -> X."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _annotation_at(loc: tuple) -> Any:
    """The type annotation a params location must satisfy (None when it can't be told)."""
    annotation: Any = Params
    for part in loc:
        annotation = _unwrap(annotation)
        origin = typing.get_origin(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel) and isinstance(part, str):
            field = next(
                (f for name, f in annotation.model_fields.items() if part in (name, f.alias)),
                None,
            )
            if field is None:
                return None
            annotation = field.annotation
        elif origin in (list, tuple) and isinstance(part, int):
            args = typing.get_args(annotation)
            annotation = (
                args[0]
                if origin is list or len(args) == 2 and args[1] is Ellipsis
                else (args[part] if part < len(args) else None)
            )
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            return None
    return annotation


def _known_keys(loc: tuple) -> list[str]:
    annotation = _unwrap(_annotation_at(loc))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [f.alias or name for name, f in annotation.model_fields.items()]
    return []


_TYPE_NAMES = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _expected_type(loc: tuple) -> str | None:
    annotation = _annotation_at(loc)
    if annotation is None:
        return None
    return _describe(annotation)


def _describe(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join("null" if a is type(None) else _describe(a) for a in args)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is list:
        return f"a list of {_describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if origin is tuple:
        return f"a list of {len(args)} values" if args and args[-1] is not Ellipsis else "a list"
    if origin is dict:
        return "a mapping"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "a mapping"
    return _TYPE_NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))
