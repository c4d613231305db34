"""`dvc status` up to date means the figures are current: each stage's deps list the code and
configuration it runs. In a copy of the repository, one function at a time is changed in the
risk code, the metrics code, one model kind and the schema; `dvc status` must name exactly the
stages that run that code (the committed dvc.lock is the reference)."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml

from tests.conftest import BIN, copy_project


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The tracked files (what a clone has) plus dvc.lock; no outputs, no MLflow store."""
    dest = copy_project(tmp_path_factory.mktemp("deps") / "project")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)  # DVC reads .gitignore in a git repo
    return dest


def _status(project) -> dict[str, set[str]]:
    """Stage name -> the deps `dvc status` reports as modified (missing data files left aside)."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(BIN / "dvc"), "status", "--json"], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    out: dict[str, set[str]] = {}
    for stage, entries in json.loads(result.stdout or "{}").items():
        for entry in entries:
            if isinstance(entry, dict):
                changed = entry.get("changed deps") or {}
                modified = {path for path, state in changed.items() if state == "modified"}
                if modified:
                    out.setdefault(stage, set()).update(modified)
    return out


def _naming(status: dict[str, set[str]], path: str) -> set[str]:
    """The stages with a modified dep that is ``path`` or a folder holding it."""
    return {stage for stage, deps in status.items() if any(path == d or path.startswith(d + "/") for d in deps)}


def _stages(project) -> list[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [str(BIN / "dvc"), "stage", "list", "--name-only"], cwd=project, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def _change_one_function(path) -> None:
    """A new statement in the file's first function body (what DVC sees: the file's content)."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.lstrip().startswith("def ") and line.rstrip().endswith(":"):
            indent = line[: len(line) - len(line.lstrip())] + "    "
            lines.insert(index + 1, f"{indent}_ = 'changed by test_dvc_dependencies'\n")
            break
    else:
        raise AssertionError(f"{path}: no one-line function signature to change")
    path.write_text("".join(lines), encoding="utf-8")


SCHEMA_READERS = (
    "schema",
    "synthesize",
    "corpus_stats@",
    "ingest",
    "train@",
    "ensemble",
    "evaluate@",
    "cards@",
    "data_cards@",
)
CHANGES = {
    # path: stage names (or name prefixes) that run it
    "pipeline/models/risk.py": ("train@", "ensemble", "evaluate@"),
    "pipeline/evaluation/metrics.py": ("evaluate@",),
    # one model kind: its training, the ensemble that loads it, its evaluations. The ensemble's own
    # evaluations follow through models/ensemble, whose model.json records its members' code hash.
    "pipeline/models/tfidf/__init__.py": ("train@tfidf", "ensemble", "evaluate@tfidf-"),
    "pipeline/schema/__init__.py": SCHEMA_READERS,
    "configs/schema.yaml": SCHEMA_READERS,
}


@pytest.fixture(scope="module")
def stages(project) -> list[str]:
    return _stages(project)


@pytest.fixture(scope="module")
def before(project) -> dict[str, set[str]]:
    return _status(project)


@pytest.mark.slow
@pytest.mark.parametrize("changed", list(CHANGES))
def test_dvc_status_names_exactly_the_stages_that_run_a_change(project, before, stages, changed):
    stale = _naming(before, changed)
    if stale:
        pytest.fail(f"dvc.lock is out of date for {changed} ({sorted(stale)}): run `dvc repro` and commit dvc.lock")
    path = project / changed
    original = path.read_bytes()
    try:
        if path.suffix == ".py":
            _change_one_function(path)
        else:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            data["labels"][0]["definition"]["en"] += " (changed by the test)"
            path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
        named = _naming(_status(project), changed)
    finally:
        path.write_bytes(original)
    expected = {
        s
        for s in stages
        for p in CHANGES[changed]
        if s == p or (p.endswith(("@", "-")) and s.startswith(p)) or s.startswith(p + "@")
    }
    assert named == expected, (
        f"{changed}: stages named but not expected {sorted(named - expected)}; "
        f"expected but not named {sorted(expected - named)}"
    )
