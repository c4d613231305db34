"""Ingestion: PAN12 XML with its quirks, tables in four formats, Hugging Face datasets,
personal-data redaction and combining sources."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pipeline.data import corpus
from pipeline.data.ingest.redact import EMAIL, HANDLE, PHONE, URL, pseudonymize, redact_text
from tests.conftest import run_cli

PAN12_XML = """<?xml version="1.0" encoding="UTF-8"?>
<conversations>
<conversation id="c1">
<message line="1"><author>pred1</author><time>20:48</time><text>hey there &amp; welcome &lt;3</text></message>
<message line="2"><author>kid1</author><time>20:49</time><text>hi&nbsp;you R&D \x01ok</text></message>
<message line="3"><author>pred1</author><time>20:50</time><text/></message>
<message line="4"><author>pred1</author><time>20:51</time><text>café ☕ mail me bob@example.com</text></message>
</conversation>
<conversation id="c2">
<message line="1"><author>a</author><time>01:00</time><text>only one message</text></message>
</conversation>
<conversation id="c3">
<message line="1"><author>x</author><time>10:00</time><text>group chat</text></message>
<message line="2"><author>y</author><time>10:01</time><text>many authors</text></message>
<message line="3"><author>z</author><time>10:02</time><text>@zed see www.example.org</text></message>
</conversation>
<conversation id="c1">
<message line="1"><author>kid2</author><time>11:00</time><text>same id again</text></message>
</conversation>
</conversations>
"""


@pytest.fixture
def pan12_files(tmp_path):
    xml = tmp_path / "corpus.xml"
    xml.write_text(PAN12_XML, encoding="utf-8")
    predators = tmp_path / "predators.txt"
    predators.write_text("  pred1\n\nnot-in-corpus\nz", encoding="utf-8")  # no final newline
    lines = tmp_path / "lines.txt"
    lines.write_text("c1\t4\nc3\t3\n", encoding="utf-8")
    return xml, predators, lines


def test_pan12_quirks(pan12_files, tmp_path):
    xml, predators, lines = pan12_files
    out = tmp_path / "pan.jsonl"
    result = run_cli(
        "ingest", "pan12", "--corpus", xml, "--predators", predators, "--lines", lines, "--out", out, "--no-redact"
    )
    assert result.returncode == 0, result.stderr
    assert "conversation id 'c1' appears again; kept as 'c1#2'" in result.stderr
    convs = {c.conversation_id: c for c in corpus.read_conversations(out)}
    assert list(convs) == ["c1", "c2", "c3", "c1#2"]
    c1 = convs["c1"]
    assert (c1.label, c1.suspects, c1.kind, c1.source, c1.language) == (1, ["pred1"], "grooming", "pan12", "en")
    assert [m.text for m in c1.messages] == [
        "hey there & welcome <3",
        "hi\u00a0you R&D ok",
        "",
        "café ☕ mail me bob@example.com",
    ]
    assert [m.time for m in c1.messages] == ["20:48", "20:49", "20:50", "20:51"]
    assert [m.flagged for m in c1.messages] == [None, None, None, True]
    assert all(m.labels is None for m in c1.messages)  # PAN12 has no message annotation
    assert len(convs["c2"].messages) == 1 and convs["c2"].label == 0 and convs["c2"].suspects is None
    c3 = convs["c3"]
    assert {m.author for m in c3.messages} == {"x", "y", "z"} and c3.suspects == ["z"] and c3.messages[2].flagged


def test_pan12_is_redacted_by_default(pan12_files, tmp_path):
    xml, predators, _ = pan12_files
    out = tmp_path / "pan.jsonl"
    assert (
        run_cli("ingest", "pan12", "--corpus", xml, "--predators", predators, "--out", out, "--salt", "s1").returncode
        == 0
    )
    c1 = corpus.read_conversations(out)[0]
    hashed = pseudonymize("pred1", "s1")
    assert c1.suspects == [hashed] and c1.messages[0].author == hashed
    assert "pred1" not in out.read_text(encoding="utf-8")
    assert c1.messages[3].text == f"café ☕ mail me {EMAIL}"


def test_pan12_malformed_xml_is_a_clear_error(tmp_path, pan12_files):
    _, predators, _ = pan12_files
    bad = tmp_path / "bad.xml"
    bad.write_text(
        "<conversations>\n<conversation id='c1'>\n<message line='1'><author>a</author>\n</conversations>\n",
        encoding="utf-8",
    )
    out = tmp_path / "out.jsonl"
    result = run_cli("ingest", "pan12", "--corpus", bad, "--predators", predators, "--out", out)
    assert result.returncode == 1
    assert f"{bad}:4: (xml): expected well-formed PAN12 XML" in result.stderr
    assert not out.exists()


# ------------------------------------------------------------------ redaction


@pytest.mark.parametrize(
    "text,expected",
    [
        ("write to anna.b+chat@mail.example.com please", f"write to {EMAIL} please"),
        ("call me 555-123-4567", f"call me {PHONE}"),
        ("mon num 06 12 34 56 78", f"mon num {PHONE}"),
        ("or +44 20 7946 0958 tonight", f"or {PHONE} tonight"),
        ("look https://example.com/a?b=1 now", f"look {URL} now"),
        ("www.example.org has it", f"{URL} has it"),
        ("add me @cool_kid_99 on there", f"add me {HANDLE} on there"),
    ],
)
def test_redaction_catches_each_kind(text, expected):
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i'm 14 and it's 9:30",
        "score was 3-2 lol",
        "meet at 10.30?",
        "the year 2012",
        "lol @ that",
        "it costs 1500 dollars",
        "j'ai 13 ans, c'est ok ?",
        "ok. see u tmrw",
        "email@ me later",
    ],
)
def test_redaction_leaves_ordinary_text_alone(text):
    assert redact_text(text) == text


def test_pseudonyms_are_stable_and_salted():
    assert pseudonymize("u1", "a") == pseudonymize("u1", "a")
    assert pseudonymize("u1", "a") != pseudonymize("u1", "b")
    assert pseudonymize("u1", "a") != pseudonymize("u2", "a")


# ---------------------------------------------------------------------- tables

ROWS = [  # deliberately out of order; the order column fixes it
    {"conv": "t1", "who": "p", "msg": "second", "pos": 2, "tags": "secrecy;gifts", "risk": 1},
    {"conv": "t1", "who": "c", "msg": "first", "pos": 1, "tags": "", "risk": 1},
    {"conv": "t2", "who": "a", "msg": "hello, not annotated", "pos": 1, "tags": None, "risk": 0},
]
COLUMN_ARGS = (
    "--conversation-col",
    "conv",
    "--author-col",
    "who",
    "--text-col",
    "msg",
    "--order-col",
    "pos",
    "--labels-col",
    "tags",
    "--label-col",
    "risk",
    "--language",
    "en",
    "--no-redact",
)


def _write_table(path, rows):
    frame = pd.DataFrame(rows)
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False, na_rep="NA")
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t", na_rep="NA")
    elif suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_table_formats_give_the_same_corpus(suffix, tmp_path):
    table = tmp_path / f"messages{suffix}"
    _write_table(table, ROWS)
    out = tmp_path / "out.jsonl"
    result = run_cli("ingest", "table", table, "--out", out, *COLUMN_ARGS)
    assert result.returncode == 0, result.stderr
    t1, t2 = corpus.read_conversations(out)
    assert [m.text for m in t1.messages] == ["first", "second"]
    assert [m.labels for m in t1.messages] == [[], ["secrecy", "gifts"]]  # empty cell = annotated, none
    assert t2.messages[0].labels is None  # null cell = not annotated
    assert (t1.label, t2.label, t1.source, t1.language) == (1, 0, "table", "en")


def test_table_time_column_orders_messages(tmp_path):
    table = tmp_path / "m.csv"
    _write_table(
        table,
        [
            {"conversation_id": "c", "author": "a", "text": "later", "time": "2026-01-01T10:05:00"},
            {"conversation_id": "c", "author": "b", "text": "earlier", "time": "2026-01-01T10:00:00"},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert run_cli("ingest", "table", table, "--out", out, "--time-col", "time", "--no-redact").returncode == 0
    assert [m.text for m in corpus.read_conversations(out)[0].messages] == ["earlier", "later"]


@pytest.mark.parametrize(
    "rows,extra,expected",
    [
        (
            [{"conv": "c", "who": "a", "msg": "x", "pos": 1, "tags": "groming", "risk": 1}],
            (),
            ":2: tags: unknown label 'groming'",
        ),
        (
            [
                {"conv": "c", "who": "a", "msg": "x", "pos": 1, "tags": "", "risk": 1},
                {"conv": "c", "who": "b", "msg": "y", "pos": 2, "tags": "", "risk": 0},
            ],
            (),
            ":3: risk: conversation 'c' has both labels 0 and 1",
        ),
        ([{"conv": "c", "who": "a", "msg": "x", "pos": 1, "tags": "", "risk": 7}], (), ":2: risk: expected 0 or 1"),
        (
            [{"conversation": "c", "who": "a", "msg": "x", "pos": 1, "tags": "", "risk": 1}],
            (),
            ": (columns): missing column(s) ['conv']",
        ),
    ],
)
def test_bad_tables_are_reported_and_nothing_is_written(rows, extra, expected, tmp_path):
    table = tmp_path / "m.csv"
    _write_table(table, rows)
    out = tmp_path / "out.jsonl"
    result = run_cli("ingest", "table", table, "--out", out, *COLUMN_ARGS, *extra)
    assert result.returncode == 1
    assert f"{table}{expected}" in result.stderr, result.stderr
    assert not out.exists()


def test_hugging_face_datasets_from_disk_and_from_files(tmp_path):
    from datasets import Dataset

    frame = pd.DataFrame(ROWS)
    Dataset.from_pandas(frame).save_to_disk(str(tmp_path / "saved"))
    frame.to_json(tmp_path / "rows.jsonl", orient="records", lines=True)
    results = []
    for source in (tmp_path / "saved", tmp_path / "rows.jsonl"):
        out = tmp_path / f"ingested-{source.stem}.jsonl"  # not rows.jsonl: that is the input
        result = run_cli("ingest", "hf", source, "--out", out, *COLUMN_ARGS)
        assert result.returncode == 0, result.stderr
        results.append(corpus.read_conversations(out))
    assert results[0] == results[1]
    assert [m.labels for m in results[0][0].messages] == [[], ["secrecy", "gifts"]]
    assert results[0][0].source == "hf"


# -------------------------------------------------------------- combining sources


def test_ingest_sources_combines_and_keeps_each_source(tmp_path, sample_path, pan12_files):
    xml, predators, _ = pan12_files
    table = tmp_path / "t.csv"
    _write_table(table, [{"conversation_id": "ex-benign-1", "author": "someone", "text": "call 555-123-4567"}])
    params = tmp_path / "params.yaml"
    params.write_text(
        json.dumps(
            {
                "ingest": {
                    "salt": "s",
                    "out": str(tmp_path / "all.jsonl"),
                    "sources": [
                        {"name": "examples", "type": "jsonl", "path": str(sample_path)},
                        {"name": "mytable", "type": "table", "path": str(table), "language": "en"},
                        {"name": "pan12", "type": "pan12", "corpus": str(xml), "predators": str(predators)},
                        {"name": "pan12-off", "type": "pan12", "corpus": None, "predators": None},
                    ],
                }
            }
        ),
        encoding="utf-8",
    )
    result = run_cli("ingest", "sources", "--params", params)
    assert result.returncode == 0, result.stderr
    assert "renamed 'mytable:ex-benign-1'" in result.stderr
    convs = corpus.read_conversations(tmp_path / "all.jsonl")
    by_source: dict[str, list] = {}
    for c in convs:
        by_source.setdefault(c.source, []).append(c)
    assert {k: len(v) for k, v in by_source.items()} == {"example": 3, "mytable": 1, "pan12": 4}
    table_conv = by_source["mytable"][0]
    assert table_conv.conversation_id == "mytable:ex-benign-1"
    assert table_conv.messages[0].text == f"call {PHONE}" and table_conv.messages[0].author.startswith("a_")
    assert by_source["example"][0].messages[0].author == "a"  # our own format passes through unredacted
