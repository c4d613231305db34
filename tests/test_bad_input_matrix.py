"""A bad-input matrix across the commands (issue "Safe at every boundary", item 4): validate,
convert, ingest (pan12, table, hf), split, train, evaluate, score, compare, benchmark and
annotate import, each given broken input.

Every case checks four things: a non-zero exit without a traceback; a message naming the file
(and the line or field where there is one); no output written (nor a temporary left behind);
every file of the workspace, inputs included, byte for byte as it was. Inputs are built, or
copied from the session's baselines and then damaged, in the test's own folder. The PAN 2012,
table and conversation-reader details are in tests/test_ingest_hostile.py: only a few ingest
cases are here, next to the other commands."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import run_cli

# ------------------------------------------------------------------------------ inputs

LABEL = "gifts"  # a label id of the schema, for annotations that are valid


def _message(author: str, text: str, labels: list[str] | None = None) -> dict:
    return {"author": author, "text": text, **({"labels": labels} if labels is not None else {})}


def _conversation(cid: str, label: int | None = 0, labels: list[str] | None = None, **extra) -> dict:
    """Two neutral messages; ``labels`` on the first (None: not annotated), [] on the second if annotated."""
    second = [] if labels is not None else None
    messages = [
        _message("user-a", f"are you coming to practice today, {cid}?", labels),
        _message("user-b", "yes, see you at six", second),
    ]
    return {"conversation_id": cid, "label": label, "messages": messages, **extra}


def _jsonl(*rows: dict | str) -> str:
    return "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)


def _write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _copy(source: Path, dest: Path) -> Path:
    if source.is_dir():
        shutil.copytree(source, dest)
    else:
        shutil.copyfile(source, dest)
    return dest


def _edit_json(path: Path, change: Callable[[dict], object]) -> Path:
    document = json.loads(path.read_text(encoding="utf-8"))
    change(document)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


GOOD = _jsonl(_conversation("c1", labels=[]), _conversation("c2", label=1, labels=[LABEL]))
BINARY = bytes(range(256)) * 4


@dataclass(frozen=True)
class Sources:
    """Read-only originals, copied into each case's workspace before use."""

    train: Path
    valid: Path
    test: Path
    lexicon: Path
    tfidf: Path
    predictions_test: Path  # lexicon on test
    predictions_valid: Path  # lexicon on valid
    dataset: Path  # convert --to dataset of a small corpus


@pytest.fixture(scope="module")
def sources(baseline_data, baseline_models, baseline_mlflow_env, tmp_path_factory) -> Sources:
    root = tmp_path_factory.mktemp("bad-input-sources")
    for name in ("test", "valid"):
        result = run_cli(
            "evaluate", "--model", baseline_models / "lexicon", "--data", baseline_data[name],
            "--out", root / f"{name}.json", "--bootstrap", "0", "--no-track", env=baseline_mlflow_env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
    small = _write(root / "small.jsonl", _jsonl(*(_conversation(f"c{i}", labels=[]) for i in range(3))))
    result = run_cli("convert", small, "--out", root / "dataset", "--to", "dataset")
    assert result.returncode == 0, result.stderr
    return Sources(
        train=baseline_data["train"],
        valid=baseline_data["valid"],
        test=baseline_data["test"],
        lexicon=baseline_models / "lexicon",
        tfidf=baseline_models / "tfidf",
        predictions_test=root / "test.predictions.json",
        predictions_valid=root / "valid.predictions.json",
        dataset=root / "dataset",
    )


def _export(*cids: str) -> list[dict]:
    """A Label Studio JSON export as `annotate export` writes its tasks, each annotated once."""
    tasks = []
    for position, cid in enumerate(cids, start=1):
        conversation = _conversation(cid)
        messages = [
            {"index": i, "author": m["author"], "text": m["text"], "message_id": f"{cid}:{i}", "time": None}
            for i, m in enumerate(conversation["messages"])
        ]
        result = [
            {
                "from_name": "message_labels",
                "to_name": "dialogue",
                "type": "paragraphlabels",
                "value": {"start": "0", "end": "0", "paragraphlabels": [LABEL]},
            },
            {"from_name": "risk", "to_name": "dialogue", "type": "choices", "value": {"choices": ["0"]}},
        ]
        annotation = {"id": position, "completed_by": 2, "was_cancelled": False, "result": result}
        tasks.append(
            {"id": position, "data": {"conversation_id": cid, "messages": messages}, "annotations": [annotation]}
        )
    return tasks


def _corpus_of_export(w: Path, *cids: str) -> Path:
    return _write(w / "corpus.jsonl", _jsonl(*(_conversation(cid) for cid in cids)))


def _params(w: Path, text: str) -> Path:
    return _write(w / "params.yaml", text)


def _suite(w: Path, *entries: str) -> Path:
    """A params file whose benchmark suite 'mini' lists ``entries`` (paths relative to ``w``)."""
    listed = "".join(f"      - {{name: {Path(e).stem}, path: {e}}}\n" for e in entries)
    return _params(w, f"benchmark:\n  suite: mini\n  out_dir: reports\n  suites:\n    mini:\n{listed}")


# -------------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class Case:
    """``build`` writes the inputs into the workspace ``w`` and returns the command line;
    ``says``: fragments of stderr ({w}: the workspace); ``outputs``: paths under ``w`` that must
    not exist afterwards; ``marks``: e.g. an xfail for a case whose fix waits (none at present)."""

    id: str
    build: Callable[[Path, Sources], list]
    says: tuple[str, ...]
    outputs: tuple[str, ...] = ()
    marks: tuple = field(default=())


Build = Callable[[Path, Sources], list]  # the workspace and the sources -> the command line


def _beside(name: str, content: str | bytes, build: Build) -> Build:
    """``build``, with one more file written into the workspace first (a file where a folder goes)."""
    return lambda w, s: build(w, s) if _write(w / name, content) else []


def _validate(content: str | bytes) -> Build:
    return lambda w, s: ["validate", _write(w / "corpus.jsonl", content)]


def _convert(content: str | bytes, out: str, *extra: str) -> Build:
    return lambda w, s: ["convert", _write(w / "corpus.jsonl", content), "--out", w / out, *extra]


PAN12 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<conversations>\n<conversation id="c1">\n'
    '<message line="1"><author>user-a</author><time>18:00</time><text>see you at practice</text></message>\n'
    "</conversation>\n</conversations>\n"
)


def _pan12(xml: str, out: str = "out.jsonl", lines: str | None = None) -> Build:
    def build(w: Path, s: Sources) -> list:
        extra = ["--lines", _write(w / "problem2.txt", lines)] if lines is not None else []
        corpus, predators = _write(w / "corpus.xml", xml), _write(w / "predators.txt", "user-b\n")
        return ["ingest", "pan12", "--corpus", corpus, "--predators", predators, *extra, "--out", w / out]

    return build


def _table(name: str, content: str | bytes, *extra: str) -> Build:
    return lambda w, s: ["ingest", "table", _write(w / name, content), "--out", w / "out.jsonl", *extra]


def _hf(damage: Callable[[Path], object], *extra: str) -> Build:
    def build(w: Path, s: Sources) -> list:
        folder = _copy(s.dataset, w / "dataset")
        damage(folder)
        return ["ingest", "hf", folder, "--out", w / "out.jsonl", *extra]

    return build


def _arrow(folder: Path) -> Path:
    return next(folder.glob("*.arrow"))


def _split(content: str | bytes | None, *extra) -> Build:
    def build(w: Path, s: Sources) -> list:
        corpus = _copy(s.train, w / "corpus.jsonl") if content is None else _write(w / "corpus.jsonl", content)
        return ["split", corpus, "--out-dir", w / "splits", "--report-dir", w / "reports", *extra]

    return build


SPLIT_OUTPUTS = ("splits", "reports")
TRAIN_OUTPUTS = ("model", "model.mlflow.json")


def _train(kind: str, train: Callable[[Path, Sources], Path], valid: Callable[[Path, Sources], Path], *extra):
    def build(w: Path, s: Sources) -> list:
        options = [option(w) if callable(option) else option for option in extra]
        return ["train", "--model", kind, "--train", train(w, s), "--valid", valid(w, s), "--out", w / "model",
                *options, "--no-track"]  # fmt: skip

    return build


def _train_copy(w: Path, s: Sources) -> Path:
    return _copy(s.train, w / "train.jsonl")


def _valid_copy(w: Path, s: Sources) -> Path:
    return _copy(s.valid, w / "valid.jsonl")


def _corpus(content: str | bytes, name: str = "corpus.jsonl") -> Callable[[Path, Sources], Path]:
    return lambda w, s: _write(w / name, content)


def _model(kind: str = "lexicon", damage: Callable[[Path], object] | None = None) -> Callable[[Path, Sources], Path]:
    def build(w: Path, s: Sources) -> Path:
        folder = _copy(getattr(s, kind), w / "model")
        if damage is not None:
            damage(folder)
        return folder

    return build


def _truncate(name: str, keep: int = 200) -> Callable[[Path], object]:
    return lambda folder: (folder / name).write_bytes((folder / name).read_bytes()[:keep])


def _evaluate(model, data=None, *extra) -> Build:
    def build(w: Path, s: Sources) -> list:
        corpus = _copy(s.test, w / "test.jsonl") if data is None else data(w, s)
        options = [option(w) if callable(option) else option for option in extra]
        return ["evaluate", "--model", model(w, s), "--data", corpus, "--out", w / "metrics.json",
                "--bootstrap", "0", *options, "--no-track"]  # fmt: skip

    return build


EVALUATE_OUTPUTS = ("metrics.json", "metrics.predictions.json", "plots")


def _score(model, data=None, out: str = "scored.jsonl") -> Build:
    def build(w: Path, s: Sources) -> list:
        corpus = _copy(s.test, w / "test.jsonl") if data is None else data(w, s)
        return ["score", "--model", model(w, s), "--data", corpus, "--out", w / out]

    return build


def _compare(change_a=None, change_b=None, b_from: str = "test") -> Build:
    def build(w: Path, s: Sources) -> list:
        a = _copy(s.predictions_test, w / "a.predictions.json")
        b = _copy(s.predictions_test if b_from == "test" else s.predictions_valid, w / "b.predictions.json")
        for path, change in ((a, change_a), (b, change_b)):
            if isinstance(change, str | bytes):
                _write(path, change)
            elif change is not None:
                _edit_json(path, change)
        return ["compare", a, b, "--samples", "10", "--out", w / "comparison.json"]

    return build


def _row(index: int, key: str, value) -> Callable[[dict], object]:
    return lambda document: document["conversations"][index].__setitem__(key, value)


def _benchmark(suite: Callable[[Path], Path], models=None, *extra) -> Build:
    def build(w: Path, s: Sources) -> list:
        _copy(s.test, w / "test.jsonl")
        chosen = [model(w, s) if callable(model) else w / model for model in (models or [_model()])]
        return ["benchmark", *[x for m in chosen for x in ("--model", m)], "--params", suite(w),
                "--out-dir", w / "reports", "--bootstrap", "0", *extra, "--no-track"]  # fmt: skip

    return build


def _import(export, *extra, data: bool = False, out: str = "annotated.jsonl") -> Build:
    def build(w: Path, s: Sources) -> list:
        content = export if isinstance(export, str | bytes) else json.dumps(export)
        options = [option(w) if callable(option) else option for option in extra]
        if data:
            options += ["--data", _corpus_of_export(w, "c0", "c1")]
        return ["annotate", "import", _write(w / "export.json", content), "--out", w / out, *options]

    return build


IMPORT_OUTPUTS = ("annotated.jsonl", "annotated.review.json", "annotated.review.md")


def _export_with(change: Callable[[list], object]) -> list:
    tasks = _export("c0", "c1")
    change(tasks)
    return tasks


def _result(task: int, k: int) -> Callable[[list], dict]:
    return lambda tasks: tasks[task]["annotations"][0]["result"][k]["value"]


CASES = [
    # --------------------------------------------------------------------------- validate
    Case(
        "validate-invalid-json-line",
        _validate(GOOD + "{not json\n"),
        ("{w}/corpus.jsonl:3: (json): expected one JSON object per line",),
    ),
    Case(
        "validate-labels-not-a-list",
        _validate(
            _jsonl(
                _conversation("c1", labels=[]), json.dumps(_conversation("c2", labels=[])).replace("[]", '"gifts"', 1)
            )
        ),
        ("{w}/corpus.jsonl:2: messages[0].labels: expected a list",),
    ),
    Case(
        "validate-text-a-number",
        _validate(json.dumps(_conversation("c1")).replace('"yes, see you at six"', "42") + "\n"),
        ("{w}/corpus.jsonl:1: messages[1].text: expected a string, found a number",),
    ),
    Case(
        "validate-duplicate-conversation-id",
        _validate(GOOD + GOOD),
        ("{w}/corpus.jsonl:3: conversation_id: duplicate conversation id 'c1'",),
    ),
    Case(
        "validate-non-utf8",
        _validate(GOOD.replace("practice", "caf\u00e9").encode("latin-1")),
        ("{w}/corpus.jsonl:1: (encoding): expected UTF-8 text",),
    ),
    # ---------------------------------------------------------------------------- convert
    Case(
        "convert-binary-garbage-to-jsonl",
        _convert(BINARY, "out.jsonl"),
        ("{w}/corpus.jsonl:", "(encoding): expected UTF-8 text"),
        ("out.jsonl",),
    ),
    Case(
        "convert-unknown-label-to-parquet",
        _convert(_jsonl(_conversation("c1", labels=["made_up"])), "out.parquet"),
        ("{w}/corpus.jsonl:1: messages[0].labels[0]: unknown label 'made_up'",),
        ("out.parquet",),
    ),
    Case(
        "convert-conversation-without-messages-to-dataset",
        _convert(GOOD + _jsonl({"conversation_id": "c3", "messages": []}), "out", "--to", "dataset"),
        ("{w}/corpus.jsonl:3: messages: expected at least one message",),
        ("out",),
    ),
    Case(
        "convert-dataset-over-an-existing-file",
        _beside("out", "keep me\n", _convert(GOOD, "out", "--to", "dataset")),
        ("{w}/out: --out exists and is not a folder",),
    ),
    Case(
        "convert-out-under-a-file",
        _beside("notes.txt", "keep me\n", _convert(GOOD, "notes.txt/out.jsonl")),
        ("{w}/notes.txt/out.jsonl: --out: {w}/notes.txt is a file, not a folder",),
    ),
    # ------------------------------------------------------------------------ ingest pan12
    Case(
        "pan12-truncated-xml",
        _pan12(PAN12[:150]),
        ("{w}/corpus.xml:", "(xml): expected well-formed PAN12 XML"),
        ("out.jsonl",),
    ),
    Case(
        "pan12-lines-row-without-a-tab",
        _pan12(PAN12, lines="c1\t1\textra\n"),
        ("{w}/problem2.txt:1: (row): expected 'conversation-id<TAB>line'",),
        ("out.jsonl",),
    ),
    Case(
        "pan12-out-under-a-file",
        _pan12(PAN12, out="corpus.xml/out.jsonl"),
        ("--out: {w}/corpus.xml is a file, not a folder",),
    ),
    # ------------------------------------------------------------------------ ingest table
    Case(
        "table-missing-text-column",
        _table("messages.csv", "conversation_id,author,body\nc1,user-a,hello\n"),
        ("{w}/messages.csv: (columns): missing column(s) ['text']",),
        ("out.jsonl",),
    ),
    Case(
        "table-unknown-label-id",
        _table("messages.csv", "conversation_id,author,text,tags\nc1,user-a,hello,made_up\n", "--labels-col", "tags"),
        ("{w}/messages.csv:2: tags: unknown label 'made_up'",),
        ("out.jsonl",),
    ),
    Case(
        "table-corrupt-parquet",
        _table("messages.parquet", b"PAR1 not a table"),
        ("{w}/messages.parquet: (file): cannot be parsed as parquet",),
        ("out.jsonl",),
    ),
    # --------------------------------------------------------------------------- ingest hf
    Case(
        "hf-dataset-truncated-state-json",
        _hf(lambda d: (d / "state.json").write_text((d / "state.json").read_text()[:40])),
        ("{w}/dataset/state.json: line ", "not valid JSON"),
        ("out.jsonl",),
    ),
    Case(
        "hf-dataset-missing-state-json",
        _hf(lambda d: (d / "state.json").unlink()),
        ("{w}/dataset/state.json: not found",),
        ("out.jsonl",),
    ),
    Case(
        "hf-dataset-truncated-arrow",
        _hf(lambda d: _arrow(d).write_bytes(_arrow(d).read_bytes()[:200])),
        ("{w}/dataset/data-00000-of-00001.arrow: (arrow): expected an Arrow stream",),
        ("out.jsonl",),
    ),
    Case(
        "hf-dataset-missing-arrow",
        _hf(lambda d: _arrow(d).unlink()),
        ("{w}/dataset/data-00000-of-00001.arrow: (file): missing",),
        ("out.jsonl",),
    ),
    # ------------------------------------------------------------------------------ split
    Case(
        "split-out-dir-is-a-file",
        _beside("splits", "a file\n", _split(None)),
        ("--out-dir: {w}/splits is a file, not a folder",),
        ("reports",),
    ),
    Case(
        "split-report-dir-is-a-file",
        _beside("reports", "a file\n", _split(None)),
        ("--report-dir: {w}/reports is a file, not a folder",),
        ("splits",),
    ),
    Case("split-valid-out-of-range", _split(None, "--valid", "1.5"), ("'--valid'", "1.5"), SPLIT_OUTPUTS),
    Case(
        "split-family-holdout-out-of-range",
        _split(None, "--family-holdout", "2"),
        ("'--family-holdout'", "2.0"),
        SPLIT_OUTPUTS,
    ),
    Case(
        "split-too-few-conversations",
        _split(GOOD),
        ("{w}/corpus.jsonl: a fraction of 0.15 needs at least",),
        SPLIT_OUTPUTS,
    ),
    Case(
        "split-invalid-json-line",
        _split(GOOD + '{"conversation_id": \n'),
        ("{w}/corpus.jsonl:3: (json)",),
        SPLIT_OUTPUTS,
    ),
    # ------------------------------------------------------------------------------ train
    Case(
        "train-tfidf-single-class",
        _train("tfidf", _corpus(_jsonl(*(_conversation(f"c{i}", labels=[]) for i in range(6)))), _valid_copy),
        ("{w}/corpus.jsonl: messages[].labels: expected at least one message with a label",),
        TRAIN_OUTPUTS,
    ),
    Case(
        "train-tfidf-unannotated",
        _train("tfidf", _corpus(_jsonl(*(_conversation(f"c{i}") for i in range(6)))), _valid_copy),
        ("{w}/corpus.jsonl: messages[].labels: expected annotated messages",),
        TRAIN_OUTPUTS,
    ),
    Case(
        "train-tfidf-label-on-every-message",
        _train(
            "tfidf",
            _corpus(
                _jsonl(
                    *(json.dumps(_conversation(f"c{i}", labels=[LABEL])).replace("[]", '["gifts"]') for i in range(4))
                )
            ),
            _valid_copy,
        ),
        ("{w}/corpus.jsonl: messages[].labels: label(s) ['gifts'] on every one of the 8 annotated messages",),
        TRAIN_OUTPUTS,
    ),
    Case(
        "train-params-unknown-key",
        _train("tfidf", _train_copy, _valid_copy, "--params", lambda w: _params(w, "tfidf:\n  CC: 2\n")),
        ("{w}/params.yaml:2: tfidf.CC: unknown key",),
        TRAIN_OUTPUTS,
    ),
    Case(
        "train-params-wrong-type",
        _train("tfidf", _train_copy, _valid_copy, "--params", lambda w: _params(w, "tfidf:\n  C: plenty\n")),
        ("{w}/params.yaml:2: tfidf.C:", "found 'plenty'"),
        TRAIN_OUTPUTS,
    ),
    Case(
        "train-valid-invalid-json-line",
        _train("lexicon", _train_copy, _corpus(GOOD + "{oops\n", "valid.jsonl")),
        ("{w}/valid.jsonl:3: (json)",),
        TRAIN_OUTPUTS,
    ),
    # --------------------------------------------------------------------------- evaluate
    Case(
        "evaluate-truncated-model-json",
        _evaluate(_model(damage=_truncate("model.json"))),
        ("{w}/model/model.json: line ", "not valid JSON"),
        EVALUATE_OUTPUTS,
    ),
    Case(
        "evaluate-model-json-thresholds-a-list",
        _evaluate(_model(damage=lambda m: _edit_json(m / "model.json", lambda d: d.__setitem__("thresholds", [0.5])))),
        ("{w}/model/model.json: thresholds: expected an object of label id -> number, found list",),
        EVALUATE_OUTPUTS,
    ),
    Case(
        "evaluate-model-unknown-kind",
        _evaluate(_model(damage=lambda m: _edit_json(m / "model.json", lambda d: d.__setitem__("kind", "forest")))),
        ("{w}/model/model.json: kind: unknown model kind 'forest'",),
        EVALUATE_OUTPUTS,
    ),
    Case(
        "evaluate-model-missing-file",
        _evaluate(_model(damage=lambda m: (m / "cues.json").unlink())),
        ("{w}/model/cues.json: not found",),
        EVALUATE_OUTPUTS,
    ),
    Case(
        "evaluate-data-label-not-in-schema",
        _evaluate(_model(), _corpus(_jsonl(_conversation("c1", labels=["made_up"])))),
        ("{w}/corpus.jsonl:1: messages[0].labels[0]: unknown label 'made_up'",),
        EVALUATE_OUTPUTS,
    ),
    Case(
        "evaluate-plots-is-a-file",
        _evaluate(_model(), None, "--plots", lambda w: _write(w / "plots", "keep me\n")),
        ("{w}/plots: --plots exists and is not a folder",),
        ("metrics.json", "metrics.predictions.json"),
    ),
    # ------------------------------------------------------------------------------ score
    Case(
        "score-truncated-safetensors",
        _score(_model("tfidf", _truncate("tfidf.safetensors", 100))),
        ("{w}/model/tfidf.safetensors: not a readable safetensors file",),
        ("scored.jsonl",),
    ),
    Case(
        "score-model-json-label-ids-not-a-list",
        _score(_model(damage=lambda m: _edit_json(m / "model.json", lambda d: d.__setitem__("label_ids", "gifts")))),
        ("{w}/model/model.json: label_ids: expected a non-empty list of label ids, found str",),
        ("scored.jsonl",),
    ),
    Case(
        "score-data-text-a-number",
        _score(_model(), _corpus(json.dumps(_conversation("c1")).replace('"yes, see you at six"', "6") + "\n")),
        ("{w}/corpus.jsonl:1: messages[1].text: expected a string",),
        ("scored.jsonl",),
    ),
    Case(
        "score-out-under-a-file",
        _score(_model(), None, "test.jsonl/scored.jsonl"),
        ("--out: {w}/test.jsonl is a file, not a folder",),
    ),
    # ---------------------------------------------------------------------------- compare
    Case(
        "compare-truncated-json",
        _compare('{"model": "lexicon", "conversations": ['),
        ("{w}/a.predictions.json:1: (json): expected a predictions file",),
        ("comparison.json",),
    ),
    Case(
        "compare-not-an-object",
        _compare("[1, 2, 3]"),
        ("{w}/a.predictions.json: (file): expected a predictions file", "found list"),
        ("comparison.json",),
    ),
    Case(
        "compare-probabilities-wrong-shape",
        _compare(_row(2, "probabilities", [[0.1, 0.2, 0.3]])),
        ("{w}/a.predictions.json: conversations[2].probabilities: expected",),
        ("comparison.json",),
    ),
    Case(
        "compare-risk-wrong-length",
        _compare(_row(2, "risk", [0.5])),
        ("{w}/a.predictions.json: conversations[2].risk: expected",),
        ("comparison.json",),
    ),
    Case(
        "compare-gold-wrong-width",
        _compare(lambda d: d["conversations"][2].__setitem__("gold", [[1, 0]] * len(d["conversations"][2]["gold"]))),
        ("{w}/a.predictions.json: conversations[2].gold[0]: expected null (not annotated) or 10 values",),
        ("comparison.json",),
    ),
    Case(
        "compare-another-data-set",
        _compare(b_from="valid"),
        ("{w}/b.predictions.json: conversations: expected predictions on the conversations of {w}/a.predictions.json",),
        ("comparison.json",),
    ),
    Case(
        "compare-another-label-list",
        _compare(None, lambda d: d.__setitem__("label_ids", d["label_ids"][::-1])),
        ("{w}/b.predictions.json: label_ids: expected the label list of {w}/a.predictions.json",),
        ("comparison.json",),
    ),
    # -------------------------------------------------------------------------- benchmark
    Case(
        "benchmark-unknown-suite",
        _benchmark(lambda w: _suite(w, "test.jsonl"), None, "--suite", "nosuch"),
        ("unknown benchmark suite 'nosuch'; {w}/params.yaml defines: mini",),
        ("reports",),
    ),
    Case(
        "benchmark-missing-model",
        _benchmark(lambda w: _suite(w, "test.jsonl"), ["absent-model"]),
        ("{w}/absent-model: no such model directory",),
        ("reports",),
    ),
    Case(
        "benchmark-missing-data-file",
        _benchmark(lambda w: _suite(w, "absent.jsonl")),
        ("{w}/params.yaml: benchmark.suites.mini: missing data file(s)", "[0].path: {w}/absent.jsonl"),
        ("reports",),
    ),
    Case(
        "benchmark-invalid-data-file",
        _beside("broken.jsonl", GOOD + "{oops\n", _benchmark(lambda w: _suite(w, "broken.jsonl"))),
        ("{w}/broken.jsonl:3: (json)",),
        ("reports",),
    ),
    Case(
        "benchmark-truncated-model-json",
        _benchmark(lambda w: _suite(w, "test.jsonl"), [_model(damage=_truncate("model.json", 30))]),
        ("{w}/model/model.json: line ", "not valid JSON"),
        ("reports",),
    ),
    # -------------------------------------------------------------------- annotate import
    Case(
        "import-export-not-a-list",
        _import({"tasks": _export("c0")}),
        ("{w}/export.json: (export): expected a Label Studio JSON export", "found dict"),
        IMPORT_OUTPUTS,
    ),
    Case(
        "import-unknown-task",
        _import(_export("c0", "zz"), data=True),
        (
            "{w}/export.json: task 2 (conversation zz): data.conversation_id: unknown conversation id 'zz'",
            "not in {w}/corpus.jsonl",
        ),
        IMPORT_OUTPUTS,
    ),
    Case(
        "import-label-not-in-schema",
        _import(_export_with(lambda t: _result(0, 0)(t).__setitem__("paragraphlabels", ["made_up"]))),
        (
            "{w}/export.json: task 1 (conversation c0): annotations[0].result[0].value.paragraphlabels:",
            "label(s) ['made_up']",
        ),
        IMPORT_OUTPUTS,
    ),
    Case(
        "import-message-index-out-of-range",
        _import(_export_with(lambda t: _result(1, 0)(t).__setitem__("end", "9"))),
        (
            "{w}/export.json: task 2 (conversation c1): annotations[0].result[0].value.end:",
            "message index 9 out of range",
        ),
        IMPORT_OUTPUTS,
    ),
    Case(
        "import-truncated-json",
        _import(json.dumps(_export("c0"))[:120]),
        ("{w}/export.json:1: (json): expected JSON",),
        IMPORT_OUTPUTS,
    ),
]


def _tree(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` (hidden ones too) with the sha256 of a file's bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "folder"
        for path in sorted(root.rglob("*"))
    }


def _flat(text: str) -> str:
    """stderr with a usage error's box and line breaks taken out (Typer wraps it at 80 columns)."""
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input_is_refused_with_a_located_message_and_nothing_written(case, sources, baseline_mlflow_env, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    args = case.build(work, sources)
    before = _tree(work)
    env = {**baseline_mlflow_env, "HF_DATASETS_CACHE": str(tmp_path / "hf-cache")}
    result = run_cli(*args, cwd=work, env=env)
    assert result.returncode != 0, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr, result.stderr
    for fragment in case.says:
        expected = fragment.format(w=work)
        assert expected in result.stderr or _flat(expected) in _flat(result.stderr), result.stderr
    for output in case.outputs:
        assert not (work / output).exists(), output
    assert not [p for p in work.rglob(".*") if p.name.endswith((".tmp", ".old", ".staged"))]
    assert _tree(work) == before  # nothing written, and every input's bytes unchanged


def test_the_matrix_covers_every_command():
    """At least three cases per command, at least 40 in all (the issue's item 4)."""
    prefixes = ["validate", "convert", "pan12", "table", "hf", "split", "train", "evaluate", "score", "compare",
                "benchmark", "import"]  # fmt: skip
    counts = {prefix: sum(c.id.startswith(prefix + "-") for c in CASES) for prefix in prefixes}
    assert all(n >= 3 for n in counts.values()), counts
    assert len(CASES) >= 40 and len({c.id for c in CASES}) == len(CASES)
