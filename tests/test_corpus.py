"""The conversation format: reading, writing, validation errors and lossless conversions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pipeline.core.errors import DataError
from pipeline.data import corpus
from pipeline.data.corpus import Conversation, Message
from tests.conftest import run_cli

# sha256 of shared/examples/sample.jsonl (the format's own examples), of which tests/data/sample.jsonl
# is a byte copy: three short invented conversations, no personal data.
SAMPLE_SHA256 = "b0682b16688e9a36b6c1f6a2aa91f914856ab57999dae20cce4407838faa7571"


def test_reads_sample_and_fills_default_message_ids(sample_path):
    conversations = corpus.read_conversations(sample_path)
    assert [c.conversation_id for c in conversations] == ["ex-benign-1", "ex-risk-1", "ex-unlabelled-1"]
    risk = conversations[1]
    assert [m.message_id for m in risk.messages] == [f"ex-risk-1:{i}" for i in range(4)]
    assert risk.messages[3].labels == ["gifts", "secrecy"]
    assert risk.suspects == ["p"] and risk.label == 1
    unlabelled = conversations[2]
    assert unlabelled.label is None
    assert all(m.labels is None for m in unlabelled.messages)  # absent: not annotated
    assert conversations[0].messages[0].labels == []  # annotated, no behaviour


def test_the_sample_is_a_byte_copy_of_the_shared_examples(sample_path):
    assert hashlib.sha256(sample_path.read_bytes()).hexdigest() == SAMPLE_SHA256


def test_write_then_read_is_identical(sample_path, tmp_path):
    conversations = corpus.read_conversations(sample_path)
    out = tmp_path / "copy.jsonl"
    assert corpus.write_conversations(out, conversations) == 3
    again = corpus.read_conversations(out)
    assert again == conversations
    corpus.write_conversations(tmp_path / "copy2.jsonl", again)
    assert (tmp_path / "copy2.jsonl").read_bytes() == out.read_bytes()
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert "labels" not in lines[2]["messages"][0]  # absence is written as absence
    assert lines[0]["messages"][0]["labels"] == []


def _rich_conversations() -> list[Conversation]:
    """Every field, with the values that conversions tend to lose."""
    return [
        Conversation(
            conversation_id="c1",
            language="fr",
            source="test",
            kind="grooming",
            label=1,
            suspects=["u1"],
            flags=["deadline"],
            meta={"template_family": "f-01", "nested": {"k": [1, None]}},
            messages=[
                Message(
                    author="u1",
                    text="tu es seule ce soir ? 🙂",
                    time="2026-03-01T20:48:00",
                    labels=["risk_assessment"],
                    flagged=True,
                    meta={"template": "t-3"},
                ),
                Message(author="u2", text="", time=None, labels=[]),
                Message(author="u2", text="non annoté", time="20:49"),
            ],
        ),
        Conversation(conversation_id="c2", messages=[Message(author="a", text="hi", flagged=False)], label=0),
    ]


def test_message_frame_round_trip():
    conversations = _rich_conversations()
    frame = corpus.to_message_frame(conversations)
    assert list(frame.columns) == list(corpus.TABLE_COLUMNS)
    assert len(frame) == 4
    assert frame.loc[1, "labels"] == [] and frame.loc[2, "labels"] is None
    assert corpus.from_message_frame(frame) == conversations


def test_message_order_comes_from_message_index():
    conversations = _rich_conversations()
    shuffled = corpus.to_message_frame(conversations).iloc[[2, 0, 1, 3]]  # messages of c1 out of order
    assert corpus.from_message_frame(shuffled) == conversations


def test_parquet_round_trip(tmp_path):
    import pandas as pd

    conversations = _rich_conversations()
    corpus.save_as(conversations, tmp_path / "t.parquet", "parquet")
    assert corpus.from_message_frame(pd.read_parquet(tmp_path / "t.parquet")) == conversations


def test_dataset_round_trip(tmp_path):
    from datasets import load_from_disk

    conversations = _rich_conversations()
    dataset = corpus.to_dataset(conversations)
    assert dataset.num_rows == 4
    assert dataset[1]["labels"] == [] and dataset[2]["labels"] is None
    assert corpus.from_dataset(dataset) == conversations
    corpus.save_as(conversations, tmp_path / "ds", "dataset")
    assert corpus.from_dataset(load_from_disk(str(tmp_path / "ds"))) == conversations


def test_summary_counts_by_hand(sample_path, schema):
    reader = corpus.CorpusReader(sample_path)
    list(reader)
    summary = reader.summary.as_dict(schema.label_ids)
    # sample: 3 + 4 + 2 messages; the first two conversations are annotated (7 messages),
    # of which 3 carry a behaviour: trust_building, risk_assessment, gifts+secrecy.
    assert (summary["conversations"], summary["messages"]) == (3, 9)
    assert (summary["labelled_messages"], summary["messages_with_behaviour"]) == (7, 3)
    assert {k: v for k, v in summary["label_counts"].items() if v} == {
        "trust_building": 1,
        "risk_assessment": 1,
        "gifts": 1,
        "secrecy": 1,
    }
    assert summary["risk_counts"] == {"0": 1, "1": 1, "None": 1}


def test_validate_cli_prints_one_line_summary(sample_path):
    result = run_cli("validate", sample_path)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert "3 conversations, 9 messages, 7 labelled messages (3 with a behaviour)" in lines[0]
    assert "trust_building=1" in lines[0] and "sextortion=0" in lines[0]
    as_json = json.loads(run_cli("validate", sample_path, "--json").stdout)
    assert as_json["label_counts"]["secrecy"] == 1


# ------------------------------------------------------------------ bad input

GOOD = {"conversation_id": "c1", "messages": [{"author": "a", "text": "hi", "labels": []}]}


def _line(**changes) -> str:
    obj = json.loads(json.dumps(GOOD))
    obj.update(changes)
    return json.dumps(obj)


BAD_INPUTS = {
    # name: (file bytes, line, field, words the message must contain)
    "malformed_json": (
        (_line() + "\n" + '{"conversation_id": "c2", "messages": [\n').encode(),
        2,
        "(json)",
        "expected one JSON object per line",
    ),
    "missing_author": (
        (_line() + "\n" + json.dumps({"conversation_id": "c2", "messages": [{"text": "x"}]})).encode(),
        2,
        "messages[0].author",
        "required field is missing",
    ),
    "missing_messages": (json.dumps({"conversation_id": "c1"}).encode(), 1, "messages", "required field is missing"),
    "unknown_label": (
        _line(messages=[{"author": "a", "text": "x", "labels": ["groming"]}]).encode(),
        1,
        "messages[0].labels[0]",
        "unknown label 'groming'; expected one of ['trust_building'",
    ),
    "duplicate_conversation": (
        (_line() + "\n" + _line() + "\n").encode(),
        2,
        "conversation_id",
        "duplicate conversation id 'c1' (first on line 1)",
    ),
    "duplicate_message": (
        (
            _line()
            + "\n"
            + _line(conversation_id="c2", messages=[{"message_id": "c1:0", "author": "b", "text": "y"}])
            + "\n"
        ).encode(),
        2,
        "messages[0].message_id",
        "duplicate message id 'c1:0' (first on line 1)",
    ),
    "not_utf8": (
        (_line() + "\n").encode() + b'{"conversation_id": "c2", "messages": [{"author": "a", "text": "caf\xe9"}]}\n',
        2,
        "(encoding)",
        "expected UTF-8 text, found byte 0xe9",
    ),
    "empty_file": (b"", 1, "(file)", "found an empty file"),
    "only_blank_lines": (b"\n\n", 1, "(file)", "found an empty file"),
    "label_is_boolean": (_line(label=True).encode(), 1, "label", "expected 0, 1 or null, found a boolean"),
    "label_out_of_range": (_line(label=2).encode(), 1, "label", "expected 0, 1 or null"),
    "unknown_field": (_line(lable=1).encode(), 1, "lable", "unknown field; expected one of"),
    "bad_time": (
        _line(messages=[{"author": "a", "text": "x", "time": "yesterday"}]).encode(),
        1,
        "messages[0].time",
        "expected an ISO 8601 time",
    ),
    "text_not_string": (
        _line(messages=[{"author": "a", "text": 5}]).encode(),
        1,
        "messages[0].text",
        "expected a string, found a number",
    ),
    "no_messages": (_line(messages=[]).encode(), 1, "messages", "expected at least one message"),
    "not_an_object": (b"[1, 2]\n", 1, "(conversation)", "expected a JSON object, found a list"),
    "unknown_flag": (_line(flags=["panic"]).encode(), 1, "flags[0]", "unknown flag 'panic'"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_is_reported_and_nothing_is_written(case, tmp_path):
    content, line, field, words = BAD_INPUTS[case]
    src = tmp_path / "in.jsonl"
    src.write_bytes(content)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    for args in (("validate", src), ("convert", src, "--out", out_dir / "corpus.jsonl")):
        result = run_cli(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert f"{src}:{line}: {field}: " in result.stderr, result.stderr
        assert words in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []  # no output, no temporary left behind

    with pytest.raises(DataError) as excinfo:
        corpus.read_conversations(src)
    assert any(p.line == line and p.field == field for p in excinfo.value.problems)


def test_every_problem_is_listed_not_just_the_first(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text("\n".join([_line(), "{oops", _line(conversation_id="c3", label=7)]) + "\n", encoding="utf-8")
    result = run_cli("validate", src)
    assert result.returncode == 1
    assert f"{src}:2: (json)" in result.stderr and f"{src}:3: label" in result.stderr


def test_failed_write_keeps_the_previous_file(tmp_path, sample_path):
    out = tmp_path / "corpus.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    good = corpus.read_conversations(sample_path)

    def exploding():
        yield good[0]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        corpus.write_conversations(out, exploding())
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]


@pytest.mark.parametrize("fmt,name", [("jsonl", "c.jsonl"), ("parquet", "c.parquet"), ("dataset", "c_ds")])
def test_convert_cli_writes_each_format(fmt, name, sample_path, tmp_path):
    out = tmp_path / name
    result = run_cli("convert", sample_path, "--out", out)
    assert result.returncode == 0, result.stderr
    assert out.exists()
    if fmt == "jsonl":
        assert corpus.read_conversations(out) == corpus.read_conversations(sample_path)


def test_python_dash_m_entry_point():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "pipeline", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "validate" in result.stdout and "schema" in result.stdout


def test_unreadable_path_is_a_clear_error(tmp_path: Path):
    result = run_cli("validate", tmp_path / "nope.jsonl")
    assert result.returncode == 1
    assert "nope.jsonl: (file): cannot be read" in result.stderr
