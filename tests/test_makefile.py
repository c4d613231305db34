"""The make targets the README shows put the project's venv on PATH before DVC runs a stage
(every stage calls `grooming-risk`): checked on make's dry run, which prints the recipe."""

from __future__ import annotations

import subprocess

import pytest

from tests.conftest import REPO


def _dry_run(*args: str) -> list[str]:
    result = subprocess.run(["make", "-n", *args], cwd=REPO, capture_output=True, text=True, check=True)
    return result.stdout.splitlines()


@pytest.mark.parametrize(
    "args, command",
    [
        (["exp", "ARGS=-S tfidf.C=2"], "/dvc exp run -S tfidf.C=2"),
        (["plots"], "/dvc plots show"),
        (["plots", "ARGS=diff HEAD"], "/dvc plots diff HEAD"),
        (["run"], "/dvc repro"),
    ],
)
def test_dvc_targets_run_with_the_venv_on_path(args, command):
    [line] = [line for line in _dry_run(*args) if command in line]
    assert line.startswith(f'PATH="{REPO / ".venv" / "bin"}:$PATH" ')


def test_make_run_ends_by_saying_how_to_get_the_commands():
    assert any("source .venv/bin/activate" in line for line in _dry_run("run"))


@pytest.mark.parametrize(
    "target, command",
    [
        ("docs", "/mkdocs build --strict --site-dir site"),
        ("ui", "/mlflow ui --backend-store-uri"),
        ("bench", "/python -m perf.run"),
    ],
)
def test_the_other_documented_targets_run_the_project_tools(target, command):
    """`make docs`, `make ui` and `make bench` (named by the README) use the venv's own tools;
    make ui binds to loopback only."""
    recipe = "\n".join(_dry_run(target)).replace("\\\n", " ").splitlines()  # a recipe line may continue
    [line] = [line for line in recipe if command in line]
    assert str(REPO / ".venv" / "bin") in line or ".venv/bin" in line
    if target == "ui":
        assert "--host 127.0.0.1" in line
