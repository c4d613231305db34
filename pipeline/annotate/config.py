"""The ``annotate`` section of ``params.yaml``: adjudication and selection settings.

Command-line options override these values; absent keys take the defaults below.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from pipeline.config.evaluation import AnnotateConfig
from pipeline.core.errors import PipelineError


def load_annotate_config(params_file: str | Path | None = None, **overrides) -> AnnotateConfig:
    """The ``annotate`` section of ``params_file`` (default ``params.yaml`` when it exists),
    with the non-``None`` ``overrides`` (command-line options) on top."""
    from pipeline.config import DEFAULT_PARAMS, load_params

    path = Path(params_file) if params_file else DEFAULT_PARAMS
    settings = load_params(path).annotate.model_dump() if (params_file or path.exists()) else {}
    settings.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return AnnotateConfig.model_validate(settings)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise PipelineError(f"{path}: annotate: {details}") from None
