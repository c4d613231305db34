from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_SAMPLE = REPO.parent / "shared" / "examples" / "sample.jsonl"
VENDORED_SAMPLE = REPO / "tests" / "data" / "sample.jsonl"
BIN = Path(sys.executable).parent


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real console script, as a user would."""
    return subprocess.run(
        [str(BIN / "grooming-risk"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
    )


@pytest.fixture(scope="session")
def schema():
    from pipeline.schema import load_schema

    return load_schema(REPO / "configs" / "schema.yaml")


@pytest.fixture
def sample_path() -> Path:
    return VENDORED_SAMPLE


@pytest.fixture(scope="session")
def labelstudio_python() -> Path:
    """Python of the separate Label Studio venv (it pins an older numpy than ours)."""
    path = Path(os.environ.get("LABEL_STUDIO_PYTHON") or REPO / ".venv-labelstudio" / "bin" / "python")
    if not path.exists():
        subprocess.run(["make", "labelstudio-venv"], cwd=REPO, check=True)
    return path
