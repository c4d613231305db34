from __future__ import annotations

import os
import shutil
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
VENDORED_SAMPLE = REPO / "tests" / "data" / "sample.jsonl"
BIN = Path(sys.executable).parent


def run_console_script(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``grooming-risk`` console script in a process of its own, as a user would.
    For what only a fresh process shows: the entry point, byte-identical output across processes
    (another hash seed), the terminal (progress bars)."""
    return subprocess.run(
        [str(BIN / "grooming-risk"), *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd or REPO,
        env=env,
    )


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a command of the CLI in this process: the same Typer app, arguments, exit status,
    stdout and stderr as the console script, without paying its start-up (torch, MLflow,
    scikit-learn imports: seconds a command) again for every call.

    ``env`` replaces the environment and ``cwd`` the working directory for the call only. An
    exception that escapes a command is written to stderr as the interpreter would print it, so
    that tests of "a clear error, no traceback" see what a user would see."""
    from typer.testing import CliRunner

    from pipeline.cli import app

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd or REPO)
        result = CliRunner().invoke(app, [str(arg) for arg in args], prog_name="grooming-risk")
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(result.exception))
    return subprocess.CompletedProcess(["grooming-risk", *map(str, args)], result.exit_code, result.stdout, stderr)


def write_tiny_encoder(path: Path, **config) -> Path:
    """A random two-layer BERT (hidden size 32, seeded) saved with the packaged MiniLM tokenizer
    into ``path``: a local Hugging Face folder that trains and scores in a fraction of MiniLM's
    time, for tests of what surrounds an encoder rather than of what it has learnt. ``config``:
    other ``BertConfig`` settings (e.g. dropout off)."""
    import torch
    from transformers import BertConfig, BertModel

    from pipeline.models.encoder import load_tokenizer, resolve_encoder

    tokenizer = load_tokenizer(resolve_encoder("minilm"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        **config,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``scheduled_first`` (the real DVC runs) come first: under ``make test``
    (pytest-xdist, ``--dist loadfile``) their file goes to one worker at once and the rest of the
    suite spreads over the others, instead of the longest file starting last. A stable sort: the
    order is the same on every worker."""
    items.sort(key=lambda item: item.get_closest_marker("scheduled_first") is None)


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


# ------------------------------------------------------------------ trained once per session
# Modules that need a small trained baseline share these instead of training their own. Tests
# read them and write only into tmp_path: the directories are shared by every test of the run.


@pytest.fixture(scope="session")
def baseline_data(tmp_path_factory) -> dict[str, Path]:
    """240 synthetic conversations (seed 21) split 60/20/20 by conversation, written as files."""
    from pipeline.data import corpus
    from pipeline.data.split import split_corpus
    from pipeline.data.synth.generator import SynthConfig, synthesize

    root = tmp_path_factory.mktemp("baseline-data")
    conversations = list(synthesize(SynthConfig(conversations=240), seed=21))
    splits = split_corpus(conversations, "conversation", valid=0.2, test=0.2, seed=1)
    paths = {}
    for name, convs in splits.items():
        paths[name] = root / f"{name}.jsonl"
        corpus.write_conversations(paths[name], convs)
    return paths


@pytest.fixture(scope="session")
def baseline_mlflow_env(tmp_path_factory) -> dict[str, str]:
    """The environment of the CLI runs on the baselines: a real MLflow sqlite store of their own."""
    root = tmp_path_factory.mktemp("baseline-mlflow")
    return {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}"}


@pytest.fixture(scope="session")
def baseline_models(baseline_data, baseline_mlflow_env, tmp_path_factory) -> Path:
    """lexicon and tfidf trained by the real CLI on ``baseline_data`` with params.yaml (tfidf on
    3000 messages), logged to ``baseline_mlflow_env``: ``<root>/<kind>`` and ``<root>/<kind>.mlflow.json``."""
    out = tmp_path_factory.mktemp("baseline-models")
    for kind in ("lexicon", "tfidf"):
        result = run_cli(
            "train", "--model", kind, "--train", baseline_data["train"], "--valid", baseline_data["valid"],
            "--out", out / kind, "--params", REPO / "params.yaml",
            *(["--param", "max_train_messages=3000"] if kind == "tfidf" else []),  # lexicon has no settings
            env=baseline_mlflow_env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="session")
def small_pipeline_outputs(tmp_path_factory) -> dict[str, Path]:
    """tests/small_outputs.py's corpus, split, lexicon model and metrics, built once for the card
    and notebook tests (which add files of their own beside them and change none)."""
    from tests import small_outputs

    return small_outputs.build(tmp_path_factory.mktemp("small-outputs"))


def copy_project(dest: Path) -> Path:
    """A clean clone-like copy of the repository at ``dest``: tracked and untracked-but-not-ignored
    files only (no outputs, no venvs, no MLflow store)."""
    files = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)
    return dest
