"""Where things live. Paths are resolved from the repository root so that commands work
from any working directory (and inside ``dvc exp run``, which sets ``DVC_ROOT``)."""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = Path(os.environ.get("DVC_ROOT") or PACKAGE_DIR.parent)
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_SCHEMA_PATH = CONFIGS_DIR / "schema.yaml"


def default_schema_path() -> Path:
    """The schema file: ``$GROOMING_RISK_SCHEMA`` if set, else ``configs/schema.yaml``."""
    return Path(os.environ.get("GROOMING_RISK_SCHEMA") or DEFAULT_SCHEMA_PATH)
