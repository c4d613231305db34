"""The project's one typed configuration (``params.yaml`` and ``--param``), in pydantic.

``models``: the model kinds' settings, conversation risk, the training mix; ``data``: schema
paths, the synthetic generator, ingestion, split; ``evaluation``: evaluation, benchmark suites,
annotation; ``params``: the whole file, its loading and its error messages.
"""

from pipeline.config.params import DEFAULT_PARAMS, Params, ParamsError, check_params, load_params

__all__ = ["DEFAULT_PARAMS", "Params", "ParamsError", "check_params", "load_params"]
