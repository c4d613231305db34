"""Broken or hostile input at the data readers, through the command line (issue "Safe at every
boundary", items 3 and 5): PAN 2012 XML, message tables and the conversation JSONL reader.

Each refused case checks: a non-zero exit without a traceback, a message naming the file and
the line, row or field, no output written, and the input's bytes unchanged. The accepted cases
check what was read (a declared encoding, ids made unique) and the warnings on stderr."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pandas as pd
import pytest

from pipeline.data import corpus
from tests.conftest import run_cli


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _refused(args: list, inputs: list[Path], out: Path | None, *expected: str, env: dict | None = None) -> str:
    """Run a command that must refuse its input; return its stderr."""
    before = {path: _sha(path) for path in inputs}
    result = run_cli(*args, env=env)
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr, result.stderr
    for text in expected:
        assert text in result.stderr, result.stderr
    if out is not None:
        assert not out.exists()
        assert not list(out.parent.glob(f".{out.name}.*"))  # no temporary left behind either
    assert {path: _sha(path) for path in inputs} == before
    return result.stderr


# ----------------------------------------------------------------------------------- PAN 2012


def _message(line: int, author: str, text: str, time: str = "18:00") -> str:
    return f'<message line="{line}"><author>{author}</author><time>{time}</time><text>{text}</text></message>\n'


def _pan12_xml(*conversations: tuple[str | None, str], declaration: str = "UTF-8") -> str:
    """A PAN 2012 file: (id, messages) per conversation; id None for a conversation without one."""
    body = "".join(
        (f'<conversation id="{cid}">\n' if cid is not None else "<conversation>\n") + messages + "</conversation>\n"
        for cid, messages in conversations
    )
    return f'<?xml version="1.0" encoding="{declaration}"?>\n<conversations>\n{body}</conversations>\n'


def _pan12_refused(tmp_path: Path, predators: Path, content: str, expected_after_file: str) -> None:
    """Write ``content`` as a PAN 2012 file; ``ingest pan12`` must refuse it with
    ``<file><expected_after_file>``."""
    xml = tmp_path / "corpus.xml"
    xml.write_text(content, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _refused(
        ["ingest", "pan12", "--corpus", xml, "--predators", predators, "--out", out],
        [xml, predators],
        out,
        f"{xml}{expected_after_file}",
    )


@pytest.fixture
def predators(tmp_path) -> Path:
    path = tmp_path / "predators.txt"
    path.write_text("user-b\n", encoding="utf-8")
    return path


def _ingest_pan12(xml: Path, predators: Path, out: Path):
    return run_cli("ingest", "pan12", "--corpus", xml, "--predators", predators, "--out", out, "--no-redact")


@pytest.mark.parametrize(
    "declaration,codec",
    [("ISO-8859-1", "latin-1"), ("windows-1252", "cp1252"), ("UTF-16", "utf-16"), ("UTF-8", "utf-8-sig")],
)
def test_pan12_honours_the_declared_encoding(declaration, codec, tmp_path, predators):
    xml = tmp_path / "corpus.xml"
    text = "un café à la gare ? d&eacute;j&agrave; vu, R&D"  # the entity clean-up still applies
    xml.write_bytes(_pan12_xml(("c1", _message(1, "user-a", text)), declaration=declaration).encode(codec))
    out = tmp_path / "out.jsonl"
    result = _ingest_pan12(xml, predators, out)
    assert result.returncode == 0, result.stderr
    [conversation] = corpus.read_conversations(out)
    assert conversation.messages[0].text == "un café à la gare ? déjà vu, R&D"


def test_pan12_refuses_an_encoding_it_cannot_read(tmp_path, predators):
    _pan12_refused(
        tmp_path,
        predators,
        _pan12_xml(("c1", _message(1, "user-a", "hello")), declaration="x-made-up"),
        ':1: (encoding): expected an encoding such as UTF-8 or ISO-8859-1, found encoding="x-made-up"',
    )


BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n'
    '<!DOCTYPE conversations [\n <!ENTITY a "ha">\n <!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">\n]>\n'
    '<conversations><conversation id="c1">\n' + _message(1, "user-a", "&b;") + "</conversation></conversations>\n"
)
ENTITY_INSIDE = (
    "<conversations>\n<conversation id='c1'>\n"
    + _message(1, "user-a", "hello")
    + '<!ENTITY x SYSTEM "file:///etc/hostname">\n</conversation>\n</conversations>\n'
)


@pytest.mark.parametrize(
    "content,line",
    [
        (BILLION_LAUGHS, 2),
        (ENTITY_INSIDE, 4),
        ("<!doctype html>\n<html><body>hello</body></html>\n", 1),
        ('<?xml version="1.0"?>\n<!DOCTYPE conversations SYSTEM "http://example.com/x.dtd">\n<conversations/>\n', 2),
    ],
)
def test_pan12_refuses_doctype_and_entity_declarations(content, line, tmp_path, predators):
    _pan12_refused(
        tmp_path, predators, content, f":{line}: (xml): DOCTYPE/ENTITY declarations are not accepted (entity expansion)"
    )


@pytest.mark.parametrize(
    "content,expected",
    [
        (
            "<html>\n<body><p>hello</p></body>\n</html>\n",
            ":1: (xml): expected the PAN 2012 root element <conversations>, found <html>",
        ),
        (
            '<?xml version="1.0"?>\n<conversation id="c1">' + _message(1, "user-a", "hi") + "</conversation>\n",
            ":2: (xml): expected the PAN 2012 root element <conversations>, found <conversation>",
        ),
        (
            "<conversations></conversations>\n",
            ": (xml): expected at least one <conversation> with a <message>, found none",
        ),
        ('<?xml version="1.0"?>\n<conversations/>\n', ": (xml): expected at least one <conversation> with a <message>"),
        (
            '<conversations>\n<conversation id="c1"></conversation>\n<conversation id="c2"/>\n</conversations>\n',
            ": (xml): expected at least one <conversation> with a <message>, found none",
        ),
        ("", ":1: (xml): expected well-formed PAN12 XML: no element found"),
        (
            _pan12_xml(("c1", _message(1, "user-a", "hello") + _message(2, "user-b", "see you", time="soon"))),
            ":5: <time>: expected an ISO 8601 time (2026-03-01T20:48:00) or HH:MM, found 'soon'",
        ),
        (
            _pan12_xml(("c1", _message(1, "user-a", "hello") + _message(2, "  ", "no author"))),
            ":5: <author>: expected the author id of the message, found none",
        ),
    ],
)
def test_pan12_refuses_a_file_that_is_not_a_pan12_corpus(content, expected, tmp_path, predators):
    _pan12_refused(tmp_path, predators, content, expected)


@pytest.mark.parametrize(
    "ids,expected",
    [
        (["x", "x#2", "x"], ["x", "x#2", "x#3"]),
        (["x", "x", "x#2"], ["x", "x#3", "x#2"]),  # the second x must not take the later x#2
        (["x", "x", "x"], ["x", "x#2", "x#3"]),
        ([None, "conversation-1"], ["conversation-1#2", "conversation-1"]),  # a made-up id is unused too
    ],
)
def test_pan12_renamed_ids_are_unique_against_every_id_of_the_file(ids, expected, tmp_path, predators):
    xml = tmp_path / "corpus.xml"
    xml.write_text(
        _pan12_xml(*[(cid, _message(1, "user-a", f"message {n}")) for n, cid in enumerate(ids)]), encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    result = _ingest_pan12(xml, predators, out)
    assert result.returncode == 0, result.stderr
    assert [c.conversation_id for c in corpus.read_conversations(out)] == expected
    for original, new in zip(ids, expected, strict=True):
        if original is not None and original != new:
            assert f"conversation id '{original}' appears again; kept as '{new}'" in result.stderr


@pytest.mark.parametrize("listed,count", [("someone-else\nnobody\n", 2), ("", 0)])
def test_pan12_predators_that_match_no_author_are_a_warning(listed, count, tmp_path):
    xml = tmp_path / "corpus.xml"
    xml.write_text(_pan12_xml(("c1", _message(1, "user-a", "hello") + _message(2, "user-b", "hi"))), encoding="utf-8")
    predators = tmp_path / "predators.txt"
    predators.write_text(listed, encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = _ingest_pan12(xml, predators, out)
    assert result.returncode == 0, result.stderr
    assert (
        f"warning: {xml}: the predators list {predators} has {count} author id(s) and none is an author of this "
        "corpus: every label will be 0"
    ) in result.stderr
    assert [c.label for c in corpus.read_conversations(out)] == [0]


def test_pan12_predators_that_match_give_no_warning(tmp_path, predators):
    xml = tmp_path / "corpus.xml"
    xml.write_text(_pan12_xml(("c1", _message(1, "user-a", "hello") + _message(2, "user-b", "hi"))), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = _ingest_pan12(xml, predators, out)
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


# ------------------------------------------------------------------------------------- tables


def _ingest_table(table: Path, out: Path, *extra: str) -> list:
    return ["ingest", "table", table, "--out", out, "--no-redact", *extra]


def _write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["header.csv", "header.tsv", "empty.parquet", "empty.jsonl"])
def test_a_table_without_rows_is_refused(name, tmp_path):
    table = tmp_path / name
    if name.endswith(".parquet"):
        pd.DataFrame({"conversation_id": [], "author": [], "text": []}, dtype=str).to_parquet(table)
    elif name.endswith(".jsonl"):
        table.write_text("\n", encoding="utf-8")
    else:
        table.write_text(("," if name.endswith(".csv") else "\t").join(["conversation_id", "author", "text"]) + "\n")
    out = tmp_path / "out.jsonl"
    _refused(
        _ingest_table(table, out), [table], out, f"{table}: (file): expected at least one message row, found no rows"
    )


def test_a_text_cell_that_is_an_object_or_a_list_is_refused_without_its_repr(tmp_path):
    table = _write_jsonl(
        tmp_path / "messages.jsonl",
        [
            {"conversation_id": "c1", "author": "user-a", "text": {"body": "hello"}},
            {"conversation_id": "c1", "author": "user-b", "text": ["see", "you"]},
            {"conversation_id": "c1", "author": "user-a", "text": "fine"},
        ],
    )
    out = tmp_path / "out.jsonl"
    stderr = _refused(
        _ingest_table(table, out),
        [table],
        out,
        f"{table}:1: text: expected a string, found dict",
        f"{table}:2: text: expected a string, found list",
    )
    assert "{'body'" not in stderr and "['see'" not in stderr


def test_a_parquet_text_column_of_lists_is_refused(tmp_path):
    table = tmp_path / "messages.parquet"
    pd.DataFrame({"conversation_id": ["c1"], "author": ["user-a"], "text": [["see", "you"]]}).to_parquet(table)
    out = tmp_path / "out.jsonl"
    _refused(_ingest_table(table, out), [table], out, f"{table}:1: text: expected a string, found list")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_null_text_is_refused(suffix, tmp_path):
    rows = [
        {"conversation_id": "c1", "author": "user-a", "text": "hello"},
        {"conversation_id": "c1", "author": "user-b", "text": None},
    ]
    table = tmp_path / f"messages{suffix}"
    if suffix == ".parquet":
        pd.DataFrame(rows).to_parquet(table)
    else:
        _write_jsonl(table, rows)
    out = tmp_path / "out.jsonl"
    _refused(_ingest_table(table, out), [table], out, f"{table}:2: text: expected a string, found null")


def test_a_csv_message_that_reads_na_is_text_not_null(tmp_path):
    """NA/null mean null in the optional columns only: a message "NA" (or an empty one) is kept."""
    table = tmp_path / "messages.csv"
    table.write_text("conversation_id,author,text,tags\nc1,user-a,NA,NA\nc1,user-b,,\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli(*_ingest_table(table, out, "--labels-col", "tags"))
    assert result.returncode == 0, result.stderr
    [conversation] = corpus.read_conversations(out)
    assert [(m.text, m.labels) for m in conversation.messages] == [("NA", None), ("", [])]


@pytest.mark.parametrize(
    "cells,found",
    [(["1", "two"], "'two'"), (["1", "nan"], "'nan'"), (["1", "inf"], "'inf'"), (["1", "2026-01-05"], "'2026-01-05'")],
)
def test_a_non_numeric_order_is_refused(cells, found, tmp_path):
    table = tmp_path / "messages.csv"
    table.write_text(
        "conversation_id,author,text,pos\n" + "".join(f"c1,user-a,message {c},{c}\n" for c in cells), encoding="utf-8"
    )
    out = tmp_path / "out.jsonl"
    _refused(
        _ingest_table(table, out, "--order-col", "pos"),
        [table],
        out,
        f"{table}:3: pos: expected a number (the message order), found {found}",
    )


def test_an_order_that_is_an_object_is_refused(tmp_path):
    table = _write_jsonl(
        tmp_path / "messages.jsonl",
        [
            {"conversation_id": "c1", "author": "user-a", "text": "hello", "pos": 1},
            {"conversation_id": "c1", "author": "user-b", "text": "hi", "pos": {"n": 2}},
        ],
    )
    out = tmp_path / "out.jsonl"
    _refused(
        _ingest_table(table, out, "--order-col", "pos"),
        [table],
        out,
        f"{table}:2: pos: expected a number (the message order), found dict",
    )


@pytest.mark.parametrize(
    "rows,extra,expected",
    [
        (
            [{"conversation_id": "c1", "author": "user-a", "text": "hello", "at": "soon"}],
            ("--time-col", "at"),
            ":1: at: expected an ISO 8601 time (2026-03-01T20:48:00) or HH:MM, found 'soon'",
        ),
        (
            [{"conversation_id": "c1", "author": "user-a", "text": "hello", "tags": "gifts;gifts"}],
            ("--labels-col", "tags"),
            ":1: tags: expected each label at most once",
        ),
        (
            [{"conversation_id": "c1", "author": "user-a", "text": "hello", "tags": {"gifts": 1}}],
            ("--labels-col", "tags"),
            ":1: tags: expected label ids separated by ';' or a list, found dict",
        ),
        (
            [{"conversation_id": "c1", "author": "user-a", "text": "hello", "lang": "english"}],
            ("--language-col", "lang"),
            ":1: lang: expected a two-letter ISO 639-1 code such as 'en' or 'fr', found 'english'",
        ),
        (
            [{"conversation_id": ["c1"], "author": "user-a", "text": "hello"}],
            (),
            ":1: conversation_id: expected a string, found list",
        ),
        (
            [{"conversation_id": "c1", "author": {"name": "x"}, "text": "hello"}],
            (),
            ":1: author: expected a string, found dict",
        ),
    ],
)
def test_other_bad_cells_are_located(rows, extra, expected, tmp_path):
    table = _write_jsonl(tmp_path / "messages.jsonl", rows)
    out = tmp_path / "out.jsonl"
    _refused(_ingest_table(table, out, *extra), [table], out, f"{table}{expected}")


def test_ingest_hf_refuses_an_object_text_and_an_empty_file(tmp_path):
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "hf-cache")}
    table = _write_jsonl(tmp_path / "messages.jsonl", [{"conversation_id": "c1", "author": "a", "text": {"k": 1}}])
    out = tmp_path / "out.jsonl"
    _refused(
        ["ingest", "hf", table, "--out", out], [table], out, f"{table}:1: text: expected a string, found dict", env=env
    )
    header = tmp_path / "header.csv"
    header.write_text("conversation_id,author,text\n", encoding="utf-8")
    _refused(
        ["ingest", "hf", header, "--out", out],
        [header],
        out,
        f"{header}: (file): expected at least one message row, found no rows",
        env=env,
    )


# --------------------------------------------------------------------- conversation JSONL


@pytest.mark.parametrize("content", [b"", b"\n   \n\n"])
def test_a_corpus_without_conversations_is_refused_by_validate_convert_and_ingest(content, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(content)
    expected = f"{empty}:1: (file): expected at least one conversation (a JSON object per line), found an empty file"
    _refused(["validate", empty], [empty], None, expected)
    out = tmp_path / "out.jsonl"
    _refused(["convert", empty, "--out", out], [empty], out, expected)
    params = tmp_path / "params.yaml"
    params.write_text(
        json.dumps(
            {"ingest": {"salt": "s", "out": str(out), "sources": [{"name": "m", "type": "jsonl", "path": str(empty)}]}}
        ),
        encoding="utf-8",
    )
    _refused(["ingest", "sources", "--params", params], [empty, params], out, expected)


@pytest.mark.parametrize(
    "line,expected",
    [
        (
            '{"conversation_id": "c2", "messages": [{"author": "a", "text": "hi"}], "meta": {"score": NaN}}',
            ":2: (json): expected one JSON object per line: NaN is not JSON",
        ),
        (
            '{"conversation_id": "c2", "messages": [{"author": "a", "text": "hi \\ud800"}]}',
            ":2: (json): expected valid Unicode",
        ),
        ("[" * 100_000, ":2: (json): expected one JSON object per line: nested too deeply"),
        (
            '{"conversation_id": "c2", "label": ' + "1" * 5000 + ', "messages": []}',
            ":2: (json): expected one JSON object per line: Exceeds the limit",
        ),
    ],
)
def test_json_that_could_not_be_written_back_is_refused(line, expected, tmp_path):
    good = '{"conversation_id": "c1", "messages": [{"author": "a", "text": "hello"}]}'
    path = tmp_path / "corpus.jsonl"
    path.write_text(good + "\n" + line + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _refused(["convert", path, "--out", out], [path], out, f"{path}{expected}")


def test_pan12_lines_file_with_a_line_that_is_not_a_number_is_refused(tmp_path, predators):
    xml = tmp_path / "corpus.xml"
    xml.write_text(_pan12_xml(("c1", _message(1, "user-a", "hello") + _message(2, "user-b", "hi"))), encoding="utf-8")
    lines = tmp_path / "problem2.txt"
    lines.write_text("c1\t2\nc1\tsecond\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    _refused(
        ["ingest", "pan12", "--corpus", xml, "--predators", predators, "--lines", lines, "--out", out],
        [xml, predators, lines],
        out,
        f"{lines}:2: line: expected a message line number, found 'second'",
    )


@pytest.mark.parametrize(
    "options, expected",
    [
        (["--writer-source", "nosuch"], "--writer-source: no conversation has source 'nosuch'"),
        (["--writer-source", "authored", "--writer-test", "w9"], "--writer-test: writer(s) ['w9'] not found in source"),
    ],
)
def test_a_writer_split_names_a_source_and_writers_that_exist(options, expected, tmp_path):
    conversations = [
        {
            "conversation_id": f"c{i}",
            "source": "authored",
            "meta": {"writer": f"w{i % 3}"},
            "messages": [{"author": "a", "text": "hello"}, {"author": "b", "text": "hi there"}],
        }
        for i in range(12)
    ]
    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in conversations), encoding="utf-8")
    out = tmp_path / "splits"
    stderr = _refused(
        ["split", data, "--out-dir", out, "--report-dir", tmp_path / "reports", "--by", "conversation", *options],
        [data],
        out / "train.jsonl",
        expected,
    )
    assert str(data) in stderr and not (tmp_path / "reports").exists()
