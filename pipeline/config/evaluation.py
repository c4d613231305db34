"""Typed settings of evaluation, benchmark suites and annotation."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.config.models import Strict


class DatasetEntry(Strict):
    """A data set to evaluate on: ``max_conversations`` 0 reads it whole (null: the default sample)."""

    name: str | None = None  # default: the file's stem
    path: str
    max_conversations: int | None = Field(None, ge=0)


class EvaluateConfig(Strict):
    models: list[str] = ["lexicon", "tfidf", "embed", "transformer", "ensemble"]  # folders under models/
    bootstrap: int = Field(500, ge=0)  # resamples of conversations for 95% intervals
    max_conversations: int = Field(200, ge=0)  # default seeded sample per data set (0: all)
    datasets: list[DatasetEntry] = []


class BenchmarkConfig(Strict):
    suite: str = "default"
    out_dir: str = "reports"
    suites: dict[str, list[DatasetEntry]] = {}


class AnnotateConfig(Strict):
    # How the annotators' labels of one message become its ``labels``:
    # majority (more than half of the annotators), any (at least one), all (every annotator).
    adjudication: Literal["majority", "any", "all"] = "majority"
    # A majority tie (e.g. 1 against 1): include the label (the conservative choice for a
    # risk indicator: a missed behaviour costs more than a reviewed false one) or exclude it.
    # Ties are listed for review either way.
    tie_break: Literal["include", "exclude"] = "include"
    # Tasks with fewer non-cancelled annotations keep every annotator's labels under ``meta``
    # but get no ``labels`` (they are listed for review).
    min_annotators: int = Field(1, ge=1)
    # Where ``annotate agreement`` writes agreement.md and agreement.json.
    reports_dir: str = "reports"
    # ``annotate select``: threshold | entropy, and at most this many messages per conversation.
    strategy: Literal["threshold", "entropy"] = "threshold"
    per_conversation: int = Field(2, ge=1)
