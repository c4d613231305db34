"""Small pipeline outputs for the notebook and card tests: a 60-conversation synthetic corpus, its
statistics and split, a lexicon model trained and evaluated through the real CLI, each run in an
MLflow store of its own."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.data import corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from tests.conftest import REPO, run_cli

SEED = 11
HANDWRITTEN = REPO / "data" / "handwritten" / "dev.jsonl"


def cli_env(root: Path) -> dict[str, str]:
    """The MLflow store in ``root``; ``DVC_ROOT`` makes ``root`` the project root of the commands,
    so the runs' artifacts land there too, not in the repository's ``mlartifacts/``."""
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "DVC_ROOT": str(root),
        "GROOMING_RISK_SCHEMA": str(REPO / "configs" / "schema.yaml"),
    }
    return env


def _ok(*args, env) -> None:
    result = run_cli(*args, env=env)
    assert result.returncode == 0, f"{' '.join(map(str, args))}\n{result.stdout}\n{result.stderr}"


def build(root: Path) -> dict[str, Path]:
    root.mkdir(parents=True, exist_ok=True)
    env = cli_env(root)
    paths = {
        "root": root,
        "corpus": root / "corpus.jsonl",
        "stats": root / "reports" / "corpus_stats_small.json",
        "processed": root / "processed",
        "model": root / "models" / "lexicon",
        "metrics": root / "metrics" / "lexicon",
        "mlflow_db": root / "mlflow.db",
    }
    corpus.write_conversations(paths["corpus"], synthesize(SynthConfig(conversations=60), seed=SEED))
    _ok("corpus-stats", paths["corpus"], "--out-dir", root / "reports", "--name", "small", env=env)
    _ok(
        "split",
        paths["corpus"],
        "--out-dir",
        paths["processed"],
        "--seed",
        SEED,
        "--report-dir",
        root / "reports",
        env=env,
    )
    train, valid, test = (paths["processed"] / f"{name}.jsonl" for name in ("train", "valid", "test"))
    _ok("train", "--model", "lexicon", "--train", train, "--valid", valid, "--out", paths["model"], env=env)
    for name, data in (("test", test), ("handwritten", HANDWRITTEN)):
        _ok(
            "evaluate",
            "--model",
            paths["model"],
            "--data",
            data,
            "--dataset",
            name,
            "--out",
            paths["metrics"] / f"{name}.json",
            "--bootstrap",
            "20",
            "--seed",
            SEED,
            env=env,
        )
    return paths
