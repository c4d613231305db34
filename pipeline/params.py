"""``params.yaml``: the one file of knobs. Stages read their own section and ``base.seed``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from pipeline.errors import PipelineError
from pipeline.paths import REPO_ROOT

DEFAULT_PARAMS = REPO_ROOT / "params.yaml"


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    params_path = Path(path) if path else DEFAULT_PARAMS
    try:
        data = yaml.safe_load(params_path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise PipelineError(f"{params_path}: params file not found") from None
    except yaml.YAMLError as exc:
        raise PipelineError(f"{params_path}: expected valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PipelineError(f"{params_path}: expected a mapping of sections")
    return data


def section(params: dict[str, Any], name: str, path: str | Path | None = None) -> dict[str, Any]:
    value = params.get(name, {})
    if not isinstance(value, dict):
        raise PipelineError(f"{path or DEFAULT_PARAMS}: {name}: expected a mapping")
    return value


def seed(params: dict[str, Any]) -> int:
    return int(section(params, "base").get("seed", 0))
