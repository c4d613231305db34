"""Data commands: the schema, validation and conversion, synthesis, statistics, overlap,
ingestion and splits (the data stages of dvc.yaml)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from pipeline.cli.app import app, ingest_app, schema_app
from pipeline.cli.common import SchemaOption, user_errors
from pipeline.core.errors import DataError, PipelineError
from pipeline.core.io import refuse_foreign_folder
from pipeline.data import corpus
from pipeline.reporting.exports import export_schema
from pipeline.schema import load_schema


@schema_app.command("export")
def schema_export(
    out: Path = typer.Option(
        ..., "--out", help="Directory for codebook.md, labelstudio.xml, conversation.schema.json."
    ),
    schema: Path | None = SchemaOption,
) -> None:
    """Write the annotator codebook, the Label Studio config and the JSON Schema."""
    with user_errors():
        loaded = load_schema(schema)
        for path in export_schema(loaded, out):
            typer.echo(f"wrote {path}")


@schema_app.command("check")
def schema_check(schema: Path | None = SchemaOption) -> None:
    """Validate the schema and print its version and label ids."""
    with user_errors():
        loaded = load_schema(schema)
        typer.echo(f"schema version {loaded.version}: {len(loaded.labels)} labels ({', '.join(loaded.label_ids)})")


@app.command()
def validate(
    file: Path = typer.Argument(..., help="A conversation-format JSONL file."),
    as_json: bool = typer.Option(False, "--json", help="Print the summary as JSON."),
    schema: Path | None = SchemaOption,
) -> None:
    """Check a corpus against the conversation format and the schema's label ids."""
    with user_errors():
        loaded = load_schema(schema)
        reader = corpus.CorpusReader(file, label_ids=loaded.label_ids, flag_ids=loaded.flag_ids)
        for _ in reader:
            pass
        if reader.problems:
            raise DataError(reader.problems)
        if as_json:
            typer.echo(json.dumps({"file": str(file), **reader.summary.as_dict(loaded.label_ids)}))
        else:
            typer.echo(f"{file}: valid: {reader.summary.one_line(loaded.label_ids)}")


class TableFormat(str, Enum):
    jsonl = "jsonl"
    parquet = "parquet"
    dataset = "dataset"


def _guess_format(out: Path) -> TableFormat:
    suffix = out.suffix.lower()
    if suffix == ".jsonl":
        return TableFormat.jsonl
    if suffix == ".parquet":
        return TableFormat.parquet
    if suffix == "":
        return TableFormat.dataset
    raise PipelineError(f"{out}: cannot tell the output format from '{suffix}'; use --to jsonl|parquet|dataset")


@app.command()
def convert(
    file: Path = typer.Argument(..., help="A conversation-format JSONL file."),
    out: Path = typer.Option(..., "--out", help="Output file (.jsonl, .parquet) or directory (dataset)."),
    to: TableFormat | None = typer.Option(None, "--to", help="Output format (default: from the extension)."),
    schema: Path | None = SchemaOption,
    force: bool = typer.Option(
        False, "--force", help="With --to dataset: replace --out even when it is a folder that is not a dataset."
    ),
) -> None:
    """Validate a corpus and write it as normalised JSONL, a Parquet message table, or a
    Hugging Face dataset directory (``save_to_disk``). Nothing is written if the input is bad."""
    with user_errors(inputs={"FILE": file, "--schema": schema}, outputs={"--out": out}):
        fmt = to or _guess_format(out)
        if fmt == TableFormat.dataset:
            refuse_foreign_folder(out, "--out", "state.json", force)  # state.json: what save_to_disk writes
        elif out.is_dir():
            raise PipelineError(f"{out}: --out is a folder; a {fmt.value} output is a file (or use --to dataset)")
        loaded = load_schema(schema)
        conversations = corpus.read_conversations(file, label_ids=loaded.label_ids, flag_ids=loaded.flag_ids)
        corpus.save_as(conversations, out, fmt.value)
        typer.echo(f"wrote {out} ({fmt.value}, {len(conversations)} conversations)")


@app.command()
def synthesize(
    out: Path = typer.Option(..., "--out", help="Output JSONL corpus."),
    conversations: int | None = typer.Option(None, "--conversations", min=1, help="How many conversations."),
    seed: int | None = typer.Option(None, "--seed", help="Random seed (default: base.seed of the params file)."),
    languages: str | None = typer.Option(None, "--languages", help="Comma-separated, e.g. en,fr."),
    params: Path | None = typer.Option(
        None, "--params", help="params.yaml to read the synthesize section from.", exists=True, dir_okay=False
    ),
) -> None:
    """Generate the synthetic corpus (gold message labels) from the template grammar."""
    from pydantic import ValidationError

    from pipeline.config import load_params
    from pipeline.data.synth.generator import SynthConfig
    from pipeline.data.synth.generator import synthesize as generate

    with user_errors(inputs={"--params": params}, outputs={"--out": out}):
        loaded = load_params(params)
        settings = loaded.synthesize.model_dump()
        if conversations is not None:
            settings["conversations"] = conversations
        if languages is not None:
            settings["languages"] = [lang.strip() for lang in languages.split(",") if lang.strip()]
        try:
            config = SynthConfig.model_validate(settings)
        except ValidationError as exc:
            raise PipelineError(f"{params or 'options'}: synthesize: {exc}") from None
        chosen_seed = seed if seed is not None else loaded.seed
        count = corpus.write_conversations(out, generate(config, chosen_seed))
        typer.echo(f"wrote {out} ({count} conversations, seed {chosen_seed})")


@app.command("corpus-stats")
def corpus_stats_command(
    file: Path = typer.Argument(..., help="A conversation-format JSONL file."),
    out_dir: Path = typer.Option(Path("reports"), "--out-dir", help="Where to write the Markdown and JSON."),
    name: str | None = typer.Option(None, "--name", help="Report name (default: the file's stem)."),
    schema: Path | None = SchemaOption,
) -> None:
    """Write the corpus data card: counts, distinct messages, lengths, hard-negative overlap."""
    from pipeline.core.io import write_text_atomic
    from pipeline.data.stats import corpus_stats, stats_markdown

    with user_errors(
        inputs={"FILE": file},
        outputs={"--out-dir": [out_dir / f"corpus_stats_{name or file.stem}{ext}" for ext in (".json", ".md")]},
    ):
        loaded = load_schema(schema)
        stem = f"corpus_stats_{name or file.stem}"
        stats = corpus_stats(
            corpus.iter_conversations(file, label_ids=loaded.label_ids, flag_ids=loaded.flag_ids), loaded.label_ids
        )
        write_text_atomic(out_dir / f"{stem}.json", json.dumps(stats, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(out_dir / f"{stem}.md", stats_markdown(stats, str(file)))
        typer.echo(f"wrote {out_dir / stem}.md and .json ({stats['conversations']} conversations)")


@app.command("overlap")
def overlap_command(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="The corpus to check (JSONL)."),
    against: Path | None = typer.Option(
        None, "--against", exists=True, dir_okay=False, help="A corpus it must not copy from (e.g. the synthetic one)."
    ),
    out_dir: Path = typer.Option(Path("reports"), "--out-dir", help="Where to write the Markdown and JSON."),
    name: str | None = typer.Option(None, "--name", help="Report name (default: overlap_<file stem>)."),
    threshold: float = typer.Option(
        0.8, "--threshold", min=0.0, max=1.0, help="Near duplicate: 5-gram Jaccard >= this."
    ),
    min_chars: int = typer.Option(20, "--min-chars", min=1, help="Shorter messages are not compared."),
) -> None:
    """Exact and near-duplicate messages inside a corpus and against another one."""
    from pipeline.core.io import write_text_atomic
    from pipeline.data.overlap import overlap_markdown, overlap_report

    with user_errors(
        inputs={"FILE": file, "--against": against},
        outputs={"--out-dir": [out_dir / f"{name or f'overlap_{file.stem}'}{ext}" for ext in (".json", ".md")]},
    ):
        stem = name or f"overlap_{file.stem}"
        report = overlap_report(
            corpus.read_conversations(file),
            corpus.read_conversations(against) if against else None,
            threshold=threshold,
            min_chars=min_chars,
        )
        report["corpus"], report["against_corpus"] = str(file), str(against) if against else None
        write_text_atomic(out_dir / f"{stem}.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(
            out_dir / f"{stem}.md", overlap_markdown(report, str(file), str(against) if against else None)
        )
        inside = report["inside"]["share_of_compared"]
        outside = f", {report['against']['share_of_compared']:.2%} found in {against}" if against else ""
        typer.echo(f"wrote {out_dir / stem}.md and .json ({inside:.2%} duplicated inside{outside})")


# ----------------------------------------------------------------------- ingest

RedactOption = typer.Option(
    True, "--redact/--no-redact", help="Placeholders for e-mails, phones, URLs, @handles; salted hashes for author ids."
)
SaltOption = typer.Option(None, "--salt", help="Salt for author hashes (default: ingest.salt in params.yaml).")


def _salt(salt: str | None) -> str:
    from pipeline.config import DEFAULT_PARAMS, load_params
    from pipeline.config.data import IngestConfig

    if salt is not None:
        return salt
    ingest = load_params(DEFAULT_PARAMS).ingest if DEFAULT_PARAMS.exists() else None
    return ingest.salt if ingest is not None else IngestConfig.model_fields["salt"].default


def _write_ingested(conversations, out: Path, redact: bool, salt: str | None) -> None:
    import warnings

    from pipeline.core.progress import progress
    from pipeline.data.ingest import redact_conversation

    chosen = _salt(salt)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        count = corpus.write_conversations(
            out,
            (
                redact_conversation(c, chosen) if redact else c
                for c in progress(conversations, desc="ingest", unit="conv")
            ),
        )
    for warning in caught:
        typer.echo(f"warning: {warning.message}", err=True)
    typer.echo(f"wrote {out} ({count} conversations{', redacted' if redact else ''})")


@ingest_app.command("pan12")
def ingest_pan12(
    corpus_xml: Path = typer.Option(..., "--corpus", help="PAN12 conversations XML.", exists=True, dir_okay=False),
    predators: Path = typer.Option(
        ..., "--predators", help="Predator author ids, one per line.", exists=True, dir_okay=False
    ),
    lines: Path | None = typer.Option(
        None, "--lines", help="Problem-2 file: conversation-id<TAB>line per row.", exists=True, dir_okay=False
    ),
    out: Path = typer.Option(..., "--out", help="Output JSONL corpus."),
    redact: bool = RedactOption,
    salt: str | None = SaltOption,
    language: str = typer.Option("en", "--language"),
) -> None:
    """PAN 2012 Sexual Predator Identification XML (streamed) into the conversation format."""
    from pipeline.data.ingest.pan12 import iter_pan12, read_flagged_lines, read_id_list

    with user_errors(
        inputs={"--corpus": corpus_xml, "--predators": predators, "--lines": lines}, outputs={"--out": out}
    ):
        flagged = read_flagged_lines(lines) if lines else set()
        conversations = iter_pan12(
            corpus_xml, read_id_list(predators), flagged, language=language, predators_file=predators
        )
        _write_ingested(conversations, out, redact, salt)


def _columns(
    conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
):
    from pipeline.data.ingest.table import TableColumns

    return TableColumns(
        conversation=conversation_col,
        author=author_col,
        text=text_col,
        time=time_col,
        order=order_col,
        labels=labels_col,
        labels_sep=labels_sep,
        label=label_col,
        language=language_col,
    )


ConversationCol = typer.Option("conversation_id", "--conversation-col", help="Column with the conversation id.")
AuthorCol = typer.Option("author", "--author-col", help="Column with the author id.")
TextCol = typer.Option("text", "--text-col", help="Column with the message text.")
TimeCol = typer.Option(None, "--time-col", help="Column with the message time (also orders messages).")
OrderCol = typer.Option(None, "--order-col", help="Column giving message order within a conversation.")
LabelsCol = typer.Option(None, "--labels-col", help="Column with message labels (empty = [], NA = not annotated).")
LabelsSep = typer.Option(";", "--labels-sep", help="Separator of labels within a cell.")
LabelCol = typer.Option(None, "--label-col", help="Column with the conversation risk label (0/1).")
LanguageCol = typer.Option(None, "--language-col", help="Column with the language code.")
LanguageOpt = typer.Option(None, "--language", help="Language of every conversation (ISO 639-1).")


@ingest_app.command("table")
def ingest_table_command(
    file: Path = typer.Argument(
        ..., help="CSV, TSV, Parquet or JSONL with one message per row.", exists=True, dir_okay=False
    ),
    out: Path = typer.Option(..., "--out", help="Output JSONL corpus."),
    conversation_col: str = ConversationCol,
    author_col: str = AuthorCol,
    text_col: str = TextCol,
    time_col: str | None = TimeCol,
    order_col: str | None = OrderCol,
    labels_col: str | None = LabelsCol,
    labels_sep: str = LabelsSep,
    label_col: str | None = LabelCol,
    language_col: str | None = LanguageCol,
    language: str | None = LanguageOpt,
    source: str = typer.Option("table", "--source", help="Value of each conversation's source field."),
    redact: bool = RedactOption,
    salt: str | None = SaltOption,
) -> None:
    """A message table into the conversation format."""
    from pipeline.data.ingest.table import ingest_table

    with user_errors(inputs={"FILE": file}, outputs={"--out": out}):
        columns = _columns(
            conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
        )
        conversations = ingest_table(file, columns, source=source, language=language, label_ids=load_schema().label_ids)
        _write_ingested(conversations, out, redact, salt)


def check_dataset_folder(path: Path) -> None:
    """A ``save_to_disk`` folder's own files, checked before ``datasets`` reads it, so that a damaged
    folder is reported by the file at fault (its JSON with line and column, a missing, misplaced or
    truncated Arrow file), not by the folder alone. Anything else is left to the reader."""
    import pyarrow as pa

    from pipeline.core.io import read_json

    what = "a file written by datasets' save_to_disk"
    if not path.is_dir():
        return
    if (path / "dataset_dict.json").is_file():
        splits = read_json(path / "dataset_dict.json", what)
        splits = splits.get("splits") if isinstance(splits, dict) else None
        if not isinstance(splits, list) or not all(isinstance(name, str) and "/" not in name for name in splits):
            raise DataError.single(path / "dataset_dict.json", None, "splits", "expected a list of split names")
        folders = [path / name for name in splits]
    elif (path / "dataset_info.json").exists():
        folders = [path]
    else:
        return
    for folder in folders:
        read_json(folder / "dataset_info.json", what)
        state = read_json(folder / "state.json", what)
        files = state.get("_data_files") if isinstance(state, dict) else None
        if not isinstance(files, list) or not all(
            isinstance(f, dict) and isinstance(f.get("filename"), str) for f in files
        ):
            raise DataError.single(
                folder / "state.json",
                None,
                "_data_files",
                'expected a list of {"filename": ...} (what save_to_disk writes)',
            )
        for index, entry in enumerate(files):
            arrow = folder / entry["filename"]
            if arrow.resolve().parent != folder.resolve():
                raise DataError.single(
                    folder / "state.json",
                    None,
                    f"_data_files[{index}].filename",
                    "expected a file name inside the folder",
                )
            if not arrow.is_file():
                raise DataError.single(arrow, None, "(file)", f"missing (state.json names it in _data_files[{index}])")
            try:
                with pa.memory_map(str(arrow)) as source:
                    for _ in pa.ipc.open_stream(source):
                        pass
            except (OSError, pa.ArrowException) as exc:
                reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise DataError.single(
                    arrow, None, "(arrow)", f"expected an Arrow stream written by save_to_disk: {reason}"
                ) from None


@ingest_app.command("hf")
def ingest_hf_command(
    path: Path = typer.Argument(
        ...,
        help="A datasets.save_to_disk folder, or a local CSV/TSV/Parquet/JSON(L) file read with datasets.load_dataset.",
        exists=True,
    ),
    out: Path = typer.Option(..., "--out", help="Output JSONL corpus."),
    split: str = typer.Option("train", "--split", help="Split of a DatasetDict."),
    conversation_col: str = ConversationCol,
    author_col: str = AuthorCol,
    text_col: str = TextCol,
    time_col: str | None = TimeCol,
    order_col: str | None = OrderCol,
    labels_col: str | None = LabelsCol,
    labels_sep: str = LabelsSep,
    label_col: str | None = LabelCol,
    language_col: str | None = LanguageCol,
    language: str | None = LanguageOpt,
    source: str = typer.Option("hf", "--source", help="Value of each conversation's source field."),
    redact: bool = RedactOption,
    salt: str | None = SaltOption,
) -> None:
    """A Hugging Face dataset (local) into the conversation format."""
    from pipeline.data.ingest.table import ingest_hf

    with user_errors(inputs={"PATH": path}, outputs={"--out": out}):
        columns = _columns(
            conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
        )
        check_dataset_folder(path)
        conversations = ingest_hf(
            path, columns, source=source, language=language, label_ids=load_schema().label_ids, split=split
        )
        _write_ingested(conversations, out, redact, salt)


@ingest_app.command("sources")
def ingest_sources(
    params: Path = typer.Option(Path("params.yaml"), "--params", exists=True, dir_okay=False),
    out: Path | None = typer.Option(None, "--out", help="Output corpus (default: ingest.out)."),
) -> None:
    """Combine the sources listed in params.yaml (ingest.sources) into one corpus."""
    import warnings

    from pipeline.config import load_params
    from pipeline.data.ingest import combine_sources

    with user_errors():
        config = load_params(params).ingest
        if config is None:
            raise PipelineError(f"{params}: ingest: expected a section with sources (none found)")
        schema_ = load_schema()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = combine_sources(config, out or Path(config.out), schema_.label_ids, schema_.flag_ids)
        for warning in caught:
            typer.echo(f"warning: {warning.message}", err=True)
        per_source = ", ".join(f"{name}={n}" for name, n in result["sources"].items())
        typer.echo(f"wrote {out or config.out} ({result['conversations']} conversations: {per_source})")


# ------------------------------------------------------------------------ split


class SplitByChoice(str, Enum):
    conversation = "conversation"
    author = "author"
    family = "family"


@app.command()
def split(
    file: Path = typer.Argument(..., help="A conversation-format JSONL corpus."),
    out_dir: Path = typer.Option(..., "--out-dir", help="Where train.jsonl, valid.jsonl, test.jsonl go."),
    by: SplitByChoice = typer.Option(SplitByChoice.conversation, "--by", help="What must not cross splits."),
    valid: float = typer.Option(0.15, "--valid", help="Fraction for validation (one fold of round(1/f))."),
    test: float = typer.Option(0.15, "--test", help="Fraction for test (one fold of round(1/f))."),
    seed: int = typer.Option(0, "--seed"),
    report_dir: Path = typer.Option(Path("reports"), "--report-dir", help="Where the leakage report goes."),
    name: str = typer.Option("split", "--name", help="Report file name: <name>_leakage.md/.json."),
    family_holdout: float = typer.Option(
        0.0,
        "--family-holdout",
        help="Also set aside this fraction of whole "
        "template families as heldout_families.jsonl (unseen-phrasing test).",
    ),
    writer_source: str | None = typer.Option(
        None,
        "--writer-source",
        help="Split this source's conversations apart, by meta.writer, into <source>_train/_valid/_test.jsonl.",
    ),
    writer_valid: str = typer.Option("", "--writer-valid", help="Comma-separated writers of <source>_valid."),
    writer_test: str = typer.Option("", "--writer-test", help="Comma-separated writers of <source>_test."),
) -> None:
    """Leakage-safe train/valid/test splits, stratified by label and kind, with a leakage report."""
    from pipeline.core.io import write_text_atomic
    from pipeline.data.split import leakage_report, report_markdown, split_by_writer, split_corpus, write_splits

    def names(text: str) -> list[str]:
        return [w.strip() for w in text.split(",") if w.strip()]

    for option, value, low in (
        ("--valid", valid, "0 <="),
        ("--test", test, "0 <"),
        ("--family-holdout", family_holdout, "0 <="),
    ):
        if not (0 <= value < 1) or (option == "--test" and value == 0):
            raise typer.BadParameter(f"{value}: expected a fraction, {low} {option} < 1", param_hint=f"'{option}'")
    if valid + test + family_holdout >= 1:
        raise typer.BadParameter(
            f"{valid} + {test} + {family_holdout} = {valid + test + family_holdout:g}: "
            "expected a sum below 1 (the rest trains)",
            param_hint="'--valid' / '--test' / '--family-holdout'",
        )

    with user_errors(
        inputs={"FILE": file},
        outputs={
            "--out-dir": [out_dir / f"{n}.jsonl" for n in ("train", "valid", "test", "heldout_families")],
            "--report-dir": [report_dir / f"{name}_leakage{ext}" for ext in (".json", ".md")],
        },
    ):
        conversations = corpus.read_conversations(file)
        written: dict[str, list] = {}
        try:  # what cannot be split is a property of the corpus: name it
            if writer_source:
                check_writer_options(conversations, writer_source, names(writer_valid), names(writer_test))
                conversations, written = split_by_writer(
                    conversations, writer_source, names(writer_valid), names(writer_test)
                )
            splits = {**split_corpus(conversations, by.value, valid, test, seed, family_holdout), **written}
        except PipelineError as exc:
            raise PipelineError(f"{file}: {exc}") from None
        report = leakage_report(splits, by.value)
        write_text_atomic(report_dir / f"{name}_leakage.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(report_dir / f"{name}_leakage.md", report_markdown(report))
        if report["leaks"]:
            raise PipelineError(
                f"split --by {by.value} leaks: "
                + "; ".join(report["leaks"])
                + f"; no split written (report: {report_dir / name}_leakage.md)"
            )
        if family_holdout > 0 and not splits.get("heldout_families"):
            typer.echo(
                f"warning: --family-holdout {family_holdout}: no conversation has meta.template_family "
                "(only synthetic ones do); heldout_families.jsonl is empty",
                err=True,
            )
        for path in write_splits(splits, out_dir):
            typer.echo(f"wrote {path} ({report['splits'][path.stem]['conversations']} conversations)")


def check_writer_options(conversations, source: str, valid: list[str], test: list[str]) -> None:
    """A writer split names a source of the corpus and writers of that source: a typo would
    otherwise give empty files, or a test split short of a writer, without a word."""
    sources = sorted({c.source for c in conversations if c.source})
    if source not in sources:
        raise PipelineError(f"--writer-source: no conversation has source '{source}' (sources found: {sources})")
    writers = sorted({(c.meta or {}).get("writer") for c in conversations if c.source == source} - {None})
    for option, named in (("--writer-valid", valid), ("--writer-test", test)):
        unknown = sorted(set(named) - set(writers))
        if unknown:
            raise PipelineError(f"{option}: writer(s) {unknown} not found in source '{source}' (writers: {writers})")


# ---------------------------------------------------------------- models
