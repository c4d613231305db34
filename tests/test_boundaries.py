"""Safety at the command line's boundaries: no input is ever overwritten or deleted by an output,
and an unexpected error is one line and a hint, not a traceback (issue 15).

Each refused case checks four things: a non-zero exit, a message naming the output and the
input it would destroy, no output written, and every input's bytes unchanged."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from pipeline.data.corpus import read_conversations
from tests.conftest import REPO, run_cli, run_console_script

SAMPLE = REPO / "tests" / "data" / "sample.jsonl"


def _tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` (links followed) with the sha256 of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def lexicon(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("boundaries") / "lexicon"
    result = run_cli("train", "--model", "lexicon", "--train", SAMPLE, "--valid", SAMPLE, "--out", out, "--no-track")
    assert result.returncode == 0, result.stderr
    return out


def _workspace(tmp_path: Path, lexicon: Path) -> Path:
    """A folder of inputs: a corpus, a model, a predictions file, a Label Studio export, a table,
    PAN 2012 files, and a link to the corpus."""
    (tmp_path / "data").mkdir()
    corpus = tmp_path / "data" / "corpus.jsonl"
    corpus.write_bytes(SAMPLE.read_bytes())
    (tmp_path / "link.jsonl").symlink_to(corpus)
    model = tmp_path / "model"
    model.mkdir()
    for path in lexicon.iterdir():
        (model / path.name).write_bytes(path.read_bytes())
    (tmp_path / "a.predictions.json").write_text("{}", encoding="utf-8")
    (tmp_path / "b.predictions.json").write_text("{}", encoding="utf-8")
    (tmp_path / "export.json").write_text("[]", encoding="utf-8")
    (tmp_path / "table.csv").write_text("conversation_id,text\nc1,hello\n", encoding="utf-8")
    (tmp_path / "pan12.xml").write_text("<conversations></conversations>\n", encoding="utf-8")
    (tmp_path / "predators.txt").write_text("nobody\n", encoding="utf-8")
    return tmp_path


# (command line with {w} for the workspace, the option refused, what the message says)
CASES = [
    ("convert {w}/data/corpus.jsonl --out {w}/data/corpus.jsonl --to jsonl", "--out", "is the input FILE itself"),
    ("convert {w}/data/corpus.jsonl --out {w}/link.jsonl --to jsonl", "--out", "is the input FILE itself"),
    ("convert {w}/data/corpus.jsonl --out {w}/data --to dataset", "--out", "holds the input FILE"),
    ("synthesize --conversations 2 --out {w}/data/corpus.jsonl --params {w}/data/corpus.jsonl", "--out", "--params"),
    (
        "evaluate --model {w}/model --data {w}/data/corpus.jsonl --out {w}/data/corpus.jsonl --no-track",
        "--out",
        "--data",
    ),
    (
        "evaluate --model {w}/model --data {w}/data/corpus.jsonl --out {w}/m.json --plots {w}/data --no-track",
        "--plots",
        "holds the input --data",
    ),
    (
        "evaluate --model {w}/model --data {w}/data/corpus.jsonl --out {w}/model/m.json --no-track",
        "--out",
        "inside the input folder --model",
    ),
    (
        "score --model {w}/model --data {w}/data/corpus.jsonl --out {w}/model/scored.jsonl",
        "--out",
        "inside the input folder --model",
    ),
    (
        "score --model {w}/model --data {w}/data/corpus.jsonl --out {w}/link.jsonl",
        "--out",
        "is the input --data itself",
    ),
    (
        "train --model lexicon --train {w}/data/corpus.jsonl --valid {w}/data/corpus.jsonl --out {w}/data --no-track",
        "--out",
        "holds the input --train",
    ),
    (
        "train --model lexicon --train {w}/data/corpus.jsonl --valid {w}/data/corpus.jsonl --out {w} --no-track",
        "--out",
        "holds the input --train",
    ),
    (
        "compare {w}/a.predictions.json {w}/b.predictions.json --out {w}/a.predictions.json",
        "--out",
        "is the input A itself",
    ),
    ("split {w}/data/train.jsonl --out-dir {w}/data", "--out-dir", "is the input FILE itself"),
    ("annotate import {w}/export.json --out {w}/export.json", "--out", "is the input EXPORT itself"),
    (
        "annotate import {w}/export.json --out {w}/data/corpus.jsonl --data {w}/data/corpus.jsonl",
        "--out",
        "is the input --data itself",
    ),
    ("annotate export --data {w}/data/corpus.jsonl --out {w}/data/corpus.jsonl", "--out", "is the input --data itself"),
    ("ingest table {w}/table.csv --out {w}/table.csv", "--out", "is the input FILE itself"),
    (
        "ingest pan12 --corpus {w}/pan12.xml --predators {w}/predators.txt --out {w}/pan12.xml",
        "--out",
        "is the input --corpus itself",
    ),
    (
        "ingest pan12 --corpus {w}/pan12.xml --predators {w}/predators.txt --out {w}/predators.txt",
        "--out",
        "is the input --predators itself",
    ),
]


@pytest.mark.parametrize(("command", "option", "says"), CASES, ids=[c[0].split(" --")[0] + f" {c[1]}" for c in CASES])
def test_an_output_that_would_destroy_an_input_is_refused_before_any_work(command, option, says, lexicon, tmp_path):
    work = _workspace(tmp_path, lexicon)
    if command.startswith("split"):  # the split's own output name is its input
        (work / "data" / "train.jsonl").write_bytes(SAMPLE.read_bytes())
    before = _tree(work)
    result = run_cli(*command.format(w=work).split())
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr
    assert option in result.stderr and says in result.stderr, result.stderr
    assert "nothing was read or written" in result.stderr
    assert _tree(work) == before  # nothing written beside the inputs, and every input's bytes unchanged


def test_an_output_beside_its_input_is_still_written(lexicon, tmp_path):
    """The guard refuses only what would destroy an input: a new file in the same folder is fine."""
    work = _workspace(tmp_path, lexicon)
    result = run_cli("convert", work / "data" / "corpus.jsonl", "--out", work / "data" / "copy.jsonl")
    assert result.returncode == 0, result.stderr
    assert read_conversations(work / "data" / "copy.jsonl") == read_conversations(SAMPLE)


# ------------------------------------------------------- folders replaced whole: only their own


FOLDER_CASES = [
    # (command with {w} for the workspace and {out} for the folder, marker the command writes there)
    (
        "train --model lexicon --train {w}/data/corpus.jsonl --valid {w}/data/corpus.jsonl --out {out} --no-track",
        "model.json",
    ),
    ("convert {w}/data/corpus.jsonl --out {out} --to dataset", "state.json"),
]


@pytest.mark.parametrize("command, marker", FOLDER_CASES, ids=["train", "convert-dataset"])
def test_a_folder_the_command_did_not_write_is_refused_unless_forced(command, marker, lexicon, tmp_path):
    work = _workspace(tmp_path, lexicon)
    out = work / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file\n", encoding="utf-8")
    before = _tree(work)
    args = command.format(w=work, out=out).split()
    refused = run_cli(*args)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert "--out is an existing folder that this command did not write" in refused.stderr
    assert f"it has no {marker}" in refused.stderr and "--force" in refused.stderr
    assert _tree(work) == before
    # its own earlier output is replaced whole (no file of the previous one survives) ...
    fresh = work / "fresh"
    assert run_cli(*command.format(w=work, out=fresh).split()).returncode == 0
    (fresh / "stale.txt").write_text("left from before\n", encoding="utf-8")
    again = run_cli(*command.format(w=work, out=fresh).split())
    assert again.returncode == 0, again.stderr
    assert (fresh / marker).is_file() and not (fresh / "stale.txt").exists()
    # ... and --force replaces any folder
    forced = run_cli(*args, "--force")
    assert forced.returncode == 0, forced.stderr
    assert (out / marker).is_file() and not (out / "notes.txt").exists()


def test_a_file_where_a_folder_goes_is_refused(lexicon, tmp_path):
    work = _workspace(tmp_path, lexicon)
    (work / "taken").write_text("a file\n", encoding="utf-8")
    result = run_cli("convert", work / "data" / "corpus.jsonl", "--out", work / "taken", "--to", "dataset")
    assert result.returncode == 1 and "--out exists and is not a folder" in result.stderr
    assert (work / "taken").read_text(encoding="utf-8") == "a file\n"


# ------------------------------------------------------------------ the last resort


def _crash(*args, **kwargs):
    raise ValueError("an unexpected value\nwith a second line")


def _main(monkeypatch, capsys, argv: list[str]) -> tuple[int, str]:
    import pipeline.experiments.evaluate
    from pipeline.cli import main

    monkeypatch.setattr(pipeline.experiments.evaluate, "compare_predictions", _crash)
    monkeypatch.setattr(sys, "argv", ["grooming-risk", *argv])
    with pytest.raises(BaseException) as raised:
        main()
    code = raised.value.code if isinstance(raised.value, SystemExit) else raised.value
    return code, capsys.readouterr().err


def test_an_unexpected_error_is_one_line_and_a_hint(monkeypatch, capsys, tmp_path):
    a = tmp_path / "a.json"
    a.write_text("{}", encoding="utf-8")
    code, err = _main(monkeypatch, capsys, ["compare", str(a), str(a)])
    assert code == 1
    assert err.splitlines()[0] == "grooming-risk: unexpected error: ValueError: an unexpected value"
    assert "--debug" in err and "Traceback" not in err and len(err.splitlines()) == 2


def test_debug_shows_the_traceback(monkeypatch, capsys, tmp_path):
    a = tmp_path / "a.json"
    a.write_text("{}", encoding="utf-8")
    code, _ = _main(monkeypatch, capsys, ["--debug", "compare", str(a), str(a)])
    assert isinstance(code, ValueError)  # re-raised as it was: the interpreter prints the traceback


def test_the_console_script_accepts_debug_and_keeps_located_errors():
    """--debug changes nothing for an input error: it is still the located message, exit 1."""
    result = run_console_script("--debug", "validate", REPO / "tests" / "data" / "missing.jsonl")
    assert result.returncode == 1 and "missing.jsonl" in result.stderr and "Traceback" not in result.stderr
    assert "unexpected error" not in result.stderr  # the last resort is not involved
