"""The ``annotate`` section of ``params.yaml``: adjudication and selection settings.

Command-line options override these values; absent keys take the defaults below.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.errors import PipelineError


class AnnotateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

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


def load_annotate_config(params_file: str | Path | None = None, **overrides) -> AnnotateConfig:
    """The ``annotate`` section of ``params_file`` (default ``params.yaml`` when it exists),
    with the non-``None`` ``overrides`` (command-line options) on top."""
    from pipeline.params import DEFAULT_PARAMS, load_params, section

    path = Path(params_file) if params_file else DEFAULT_PARAMS
    settings = dict(section(load_params(path), "annotate", path)) if (params_file or path.exists()) else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return AnnotateConfig.model_validate(settings)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PipelineError(f"{path}: annotate: {details}") from None
