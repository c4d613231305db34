"""Typed settings of the data stages: schema paths, the synthetic generator, ingestion, split."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from pipeline.config.models import Strict

CONVERSATION_KINDS = ("grooming", "sextortion", "benign_peer", "benign_adult", "benign_hard_negative")


class SchemaSection(Strict):
    path: str = "configs/schema.yaml"
    export_dir: str = "data/schema"


class NoiseRates(Strict):
    """Per-message probabilities of each kind of noise."""

    typos: float = Field(0.06, ge=0, le=1)
    casing: float = Field(0.25, ge=0, le=1)
    punctuation: float = Field(0.25, ge=0, le=1)
    abbreviations: float = Field(0.3, ge=0, le=1)
    emoji: float = Field(0.08, ge=0, le=1)


class SynthConfig(Strict):
    """The ``synthesize`` section of params.yaml."""

    conversations: int = Field(12000, ge=1)
    languages: list[str] = ["en", "fr"]
    kinds: dict[str, float] = {
        "grooming": 0.35,
        "sextortion": 0.15,
        "benign_peer": 0.2,
        "benign_adult": 0.15,
        "benign_hard_negative": 0.15,
    }
    families: int = Field(8, ge=1)
    grooming_messages: tuple[int, int] = (15, 60)
    sextortion_messages: tuple[int, int] = (6, 24)
    benign_messages: tuple[int, int] = (4, 30)
    noise: NoiseRates = NoiseRates()
    label_noise: float = Field(0.0, ge=0, le=1)
    start: str = "2026-01-05T16:00:00"
    # templates: the template grammar (configs/synth/<lang>/); scripts: the scenario scripts
    # (configs/synth/scripts/<lang>/, or scripts_dir/<lang>/ relative to the project root).
    generator: Literal["templates", "scripts"] = "templates"
    scripts_dir: str | None = None
    out: str | None = None  # where the DVC stage writes the corpus; the CLI's --out decides

    @field_validator("kinds")
    @classmethod
    def _known_kinds(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(CONVERSATION_KINDS)
        if unknown or not value or any(w < 0 for w in value.values()) or sum(value.values()) <= 0:
            raise ValueError(f"expected non-negative weights for kinds among {list(CONVERSATION_KINDS)}, found {value}")
        return value


class TableColumns(Strict):
    """Which column holds what (``--*-col`` options of ``grooming-risk ingest table``)."""

    conversation: str = "conversation_id"
    author: str = "author"
    text: str = "text"
    time: str | None = None
    order: str | None = None
    labels: str | None = None
    labels_sep: str = ";"
    label: str | None = None
    language: str | None = None  # a column, or use the fixed ``language`` argument


class SourceSpec(Strict):
    """One entry of ``ingest.sources`` in params.yaml."""

    name: str
    type: Literal["jsonl", "pan12", "table", "hf"]
    enabled: bool = True
    path: str | None = None  # jsonl, table, hf
    corpus: str | None = None  # pan12
    predators: str | None = None  # pan12
    lines: str | None = None  # pan12 (optional problem-2 file)
    columns: TableColumns = TableColumns()
    language: str | None = None
    split: str = "train"  # hf
    redact: bool | None = None  # default: on, except for jsonl (already in our format)

    @property
    def active(self) -> bool:
        """A source is on when enabled and its paths are set (PAN12 is off until you set them)."""
        needed = [self.corpus, self.predators] if self.type == "pan12" else [self.path]
        return self.enabled and all(needed)


class IngestConfig(Strict):
    salt: str = "grooming-risk"
    out: str = "data/interim/corpus.jsonl"
    sources: list[SourceSpec] = Field(min_length=1)


class WriterSplit(Strict):
    """The authored source is split apart by writer (``meta.writer``): comma-separated ids."""

    source: str = "authored"
    valid: str = ""
    test: str = ""


class SplitConfig(Strict):
    by: Literal["conversation", "author", "family"] = "conversation"
    valid: float = Field(0.15, ge=0, lt=1)
    test: float = Field(0.15, ge=0, lt=1)
    family_holdout: float = Field(0.15, ge=0, lt=1)
    out_dir: str = "data/processed"
    writers: WriterSplit = WriterSplit()
