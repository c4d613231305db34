"""`grooming-risk score` on one machine: read, score and write in batches of whole conversations.

The memory and speed figures are `make bench`'s (perf/bench_score.py); these tests check what
batching must not change: the output, byte for byte, whatever the batch size; the Parquet message
table against the serving contract; and that a bad line anywhere leaves no output."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.data import corpus
from pipeline.data.corpus import Conversation, Message
from pipeline.experiments.score import batches, score_corpus
from pipeline.models import load_model
from pipeline.tracking.serving import predict_table
from tests.conftest import run_cli


def _conversations(sizes: list[int]) -> list[Conversation]:
    return [
        Conversation(conversation_id=f"c{i}", messages=[Message(author="a", text=f"m{j}") for j in range(n)])
        for i, n in enumerate(sizes)
    ]


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), max_size=40), batch_messages=st.integers(1, 80))
def test_batches_are_whole_conversations_in_order_and_no_larger_than_needed(sizes, batch_messages):
    """Concatenated, the batches are the input in order; each batch but the last reaches the
    size, and would not without its last conversation (a batch closes as soon as it is full)."""
    out = list(batches(_conversations(sizes), batch_messages))
    assert [c.conversation_id for batch in out for c in batch] == [f"c{i}" for i in range(len(sizes))]
    for batch in out[:-1]:
        size = sum(len(c.messages) for c in batch)
        assert size >= batch_messages > size - len(batch[-1].messages)
    assert all(batch for batch in out)


def test_the_scored_corpus_is_the_same_bytes_whatever_the_batch_size(baseline_models, baseline_data, tmp_path):
    """One message at a time, a few conversations, or all at once: the same file."""
    written = []
    for size in (1, 200, 10**9):
        out = tmp_path / f"scored-{size}.jsonl"
        score_corpus(str(baseline_models / "tfidf"), baseline_data["test"], out, batch_messages=size)
        written.append(out.read_bytes())
    assert written[0] == written[1] == written[2]
    assert len(written[0].splitlines()) == len(corpus.read_conversations(baseline_data["test"]))


def test_the_parquet_output_is_the_serving_contracts_message_table(baseline_models, baseline_data, tmp_path):
    """``--out x.parquet`` writes, in batches (several row groups), the table that the pyfunc model
    answers for the whole corpus at once: same columns, same values; and it agrees with the JSONL
    output's rounded scores and alerts."""
    import pyarrow.parquet as pq

    model_dir = baseline_models / "tfidf"
    out = tmp_path / "scored.parquet"
    result = run_cli(
        "score", "--model", model_dir, "--data", baseline_data["test"], "--out", out, "--batch-messages", "300"
    )
    assert result.returncode == 0, result.stderr
    conversations = corpus.read_conversations(baseline_data["test"])
    assert pq.ParquetFile(out).num_row_groups > 1
    table = pd.read_parquet(out)
    expected = predict_table(load_model(model_dir), corpus.to_message_frame(conversations))
    assert list(table.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, check_exact=True)

    jsonl = tmp_path / "scored.jsonl"
    score_corpus(str(model_dir), baseline_data["test"], jsonl)
    first = json.loads(jsonl.read_text(encoding="utf-8").splitlines()[0])
    rows = table[table["conversation_id"] == first["conversation_id"]]
    assert rows["risk"].round(5).tolist() == first["meta"]["grooming_risk"]["risk"]
    alert = first["meta"]["grooming_risk"]["first_alert"]
    assert rows["alert"].tolist() == [i == alert for i in range(len(rows))]


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_bad_line_after_batches_were_written_leaves_no_output(baseline_models, baseline_data, tmp_path, suffix):
    """The last line is broken: every earlier batch is scored and written to a temporary file, then
    the error names the line, and neither the output nor the temporary file is left."""
    lines = baseline_data["test"].read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "in" / "corpus.jsonl"
    bad.parent.mkdir()
    bad.write_text("\n".join([*lines, '{"conversation_id": "late", "messages": [{"author": "a"}]}']) + "\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / f"scored{suffix}"
    result = run_cli(
        "score", "--model", baseline_models / "tfidf", "--data", bad, "--out", out, "--batch-messages", "50"
    )
    assert result.returncode == 1
    assert f"{bad}:{len(lines) + 1}" in result.stderr and "messages[0].text" in result.stderr
    assert "Traceback" not in result.stderr
    assert list(out_dir.iterdir()) == []


def test_an_output_neither_jsonl_nor_parquet_is_refused_before_scoring(baseline_models, baseline_data, tmp_path):
    result = run_cli("score", "--model", baseline_models / "tfidf", "--data", baseline_data["test"],
                     "--out", tmp_path / "scored.csv")  # fmt: skip
    assert result.returncode == 1
    assert "expected an output ending in .jsonl" in result.stderr and "found '.csv'" in result.stderr
    assert not (tmp_path / "scored.csv").exists()


def test_the_local_engine_refuses_a_folder_of_data(baseline_models, tmp_path):
    """A folder of Parquet tables is Spark's input; the local engine says so instead of failing late."""
    (tmp_path / "tables").mkdir()
    out = tmp_path / "s.jsonl"
    result = run_cli("score", "--model", baseline_models / "tfidf", "--data", tmp_path / "tables", "--out", out)
    assert result.returncode == 1
    assert "the local engine reads a corpus file" in result.stderr and not out.exists()


def test_a_missing_corpus_or_a_remote_output_is_refused_by_the_local_engine(baseline_models, baseline_data, tmp_path):
    """`--data` and `--out` are strings (Spark takes URIs): the local engine still names a missing
    file, and says that it writes local files only, before any work."""
    model = baseline_models / "tfidf"
    missing = run_cli("score", "--model", model, "--data", tmp_path / "nope.jsonl", "--out", tmp_path / "s.jsonl")
    assert missing.returncode == 1 and "nope.jsonl: --data: no such file or folder" in missing.stderr
    remote = run_cli("score", "--model", model, "--data", baseline_data["test"], "--out", "s3a://bucket/scored.jsonl")
    assert remote.returncode == 1
    assert "s3a://bucket/scored.jsonl: the local engine reads and writes local files" in remote.stderr
    assert list(tmp_path.iterdir()) == []
