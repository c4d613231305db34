"""Where things live, resolved once per process.

The project root is ``$DVC_ROOT`` when DVC runs a stage (``dvc repro``, ``dvc exp run``), else
the nearest folder above the working directory that holds ``dvc.yaml`` and ``params.yaml``
(so a copy of the repository uses its own configs, data and MLflow store), else the folder
above the installed package.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # pipeline/


def find_repo_root() -> Path:
    if os.environ.get("DVC_ROOT"):
        return Path(os.environ["DVC_ROOT"]).resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dvc.yaml").is_file() and (folder / "params.yaml").is_file():
            return folder
    return PACKAGE_DIR.parent


REPO_ROOT = find_repo_root()
CONFIGS_DIR = REPO_ROOT / "configs"
DEFAULT_SCHEMA_PATH = CONFIGS_DIR / "schema.yaml"


def default_schema_path() -> Path:
    """The schema file: ``$GROOMING_RISK_SCHEMA`` if set, else ``configs/schema.yaml``."""
    return Path(os.environ.get("GROOMING_RISK_SCHEMA") or DEFAULT_SCHEMA_PATH)
