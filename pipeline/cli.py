"""The command line: one Typer app, each command a thin wrapper over a plain function.

Errors caused by input (``PipelineError``) are printed to stderr without a traceback and
exit with status 1; usage errors exit with status 2 (Typer's convention).
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from pipeline import corpus
from pipeline.annotate.cli import annotate_app
from pipeline.cards import card_app
from pipeline.clitools import SchemaOption, user_errors
from pipeline.errors import DataError, PipelineError
from pipeline.exports import export_schema
from pipeline.schema import load_schema

app = typer.Typer(
    name="grooming-risk",
    help="Grooming-risk text classification research pipeline.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
schema_app = typer.Typer(help="The annotation schema (configs/schema.yaml).", no_args_is_help=True)
app.add_typer(schema_app, name="schema")
ingest_app = typer.Typer(help="Public corpora and tables into the conversation format.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(annotate_app, name="annotate")
app.add_typer(card_app, name="card")
params_app = typer.Typer(help="params.yaml: the one typed configuration.", no_args_is_help=True)
app.add_typer(params_app, name="params")


@app.callback()
def _global_options(
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars (they are drawn on stderr only when it is a terminal)."
    ),
) -> None:
    from pipeline.progress import set_quiet

    set_quiet(quiet)


@params_app.command("check")
def params_check(
    file: Path = typer.Argument(Path("params.yaml"), help="The params file to validate."),
    show: bool = typer.Option(False, "--show", help="Print every setting, defaults included, as YAML."),
) -> None:
    """Validate a params file: unknown keys (with the closest known one) and wrong types are
    reported with their line; exit status 1 when anything is wrong."""
    import yaml

    from pipeline.config import check_params

    with user_errors():
        params = check_params(file)
        if show:
            typer.echo(yaml.safe_dump(params.model_dump(mode="json", by_alias=True), sort_keys=False), nl=False)
        else:
            typer.echo(f"{file}: ok")


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
) -> None:
    """Validate a corpus and write it as normalised JSONL, a Parquet message table, or a
    Hugging Face dataset directory (``save_to_disk``). Nothing is written if the input is bad."""
    with user_errors():
        loaded = load_schema(schema)
        fmt = to or _guess_format(out)
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
    from pipeline.synth.generator import SynthConfig
    from pipeline.synth.generator import synthesize as generate

    with user_errors():
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
    from pipeline.io import write_text_atomic
    from pipeline.stats import corpus_stats, stats_markdown

    with user_errors():
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
    from pipeline.io import write_text_atomic
    from pipeline.overlap import overlap_markdown, overlap_report

    with user_errors():
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

    from pipeline.ingest import redact_conversation
    from pipeline.progress import progress

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
    from pipeline.ingest.pan12 import iter_pan12, read_flagged_lines, read_id_list

    with user_errors():
        flagged = read_flagged_lines(lines) if lines else set()
        _write_ingested(iter_pan12(corpus_xml, read_id_list(predators), flagged, language=language), out, redact, salt)


def _columns(
    conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
):
    from pipeline.ingest.table import TableColumns

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
    from pipeline.ingest.table import ingest_table

    with user_errors():
        columns = _columns(
            conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
        )
        conversations = ingest_table(file, columns, source=source, language=language, label_ids=load_schema().label_ids)
        _write_ingested(conversations, out, redact, salt)


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
    from pipeline.ingest.table import ingest_hf

    with user_errors():
        columns = _columns(
            conversation_col, author_col, text_col, time_col, order_col, labels_col, labels_sep, label_col, language_col
        )
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
    from pipeline.ingest import combine_sources

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
    from pipeline.io import write_text_atomic
    from pipeline.split import leakage_report, report_markdown, split_by_writer, split_corpus, write_splits

    def names(text: str) -> list[str]:
        return [w.strip() for w in text.split(",") if w.strip()]

    with user_errors():
        conversations = corpus.read_conversations(file)
        written: dict[str, list] = {}
        if writer_source:
            conversations, written = split_by_writer(
                conversations, writer_source, names(writer_valid), names(writer_test)
            )
        splits = {**split_corpus(conversations, by.value, valid, test, seed, family_holdout), **written}
        report = leakage_report(splits, by.value)
        write_text_atomic(report_dir / f"{name}_leakage.json", json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(report_dir / f"{name}_leakage.md", report_markdown(report))
        if report["leaks"]:
            raise PipelineError(
                f"split --by {by.value} leaks: "
                + "; ".join(report["leaks"])
                + f"; no split written (report: {report_dir / name}_leakage.md)"
            )
        for path in write_splits(splits, out_dir):
            typer.echo(f"wrote {path} ({report['splits'][path.stem]['conversations']} conversations)")


# ---------------------------------------------------------------- models


class ModelKind(str, Enum):
    lexicon = "lexicon"
    tfidf = "tfidf"
    embed = "embed"
    transformer = "transformer"
    ensemble = "ensemble"


class ThresholdsOn(str, Enum):
    all = "all"
    authored = "authored"


@app.command()
def train(
    model: ModelKind = typer.Option(..., "--model", help="Model kind."),
    train_file: Path = typer.Option(..., "--train", exists=True, dir_okay=False, help="Training corpus (JSONL)."),
    valid_file: Path = typer.Option(..., "--valid", exists=True, dir_okay=False, help="Validation corpus (JSONL)."),
    out: Path = typer.Option(..., "--out", help="Model directory to write."),
    param: list[str] = typer.Option([], "--param", help="key=value overrides (risk.method=coverage, C=2, ...)."),
    params_file: Path | None = typer.Option(
        None, "--params", exists=True, dir_okay=False, help="params.yaml: the model's section, risk and base.seed."
    ),
    no_track: bool = typer.Option(False, "--no-track", help="Do not log to MLflow."),
    authored_train: Path | None = typer.Option(
        None, "--authored-train", exists=True, dir_okay=False, help="Human-written training conversations."
    ),
    authored_valid: Path | None = typer.Option(
        None,
        "--authored-valid",
        exists=True,
        dir_okay=False,
        help="Human-written valid conversations, added whole to valid for threshold and risk tuning.",
    ),
    authored_weight: int | None = typer.Option(
        None,
        "--authored-weight",
        min=0,
        help="Copies of --authored-train in the training set (0: synthetic only; default: authored.weight).",
    ),
    authored_tune: bool | None = typer.Option(
        None,
        "--authored-tune/--no-authored-tune",
        help="Tune thresholds and risk on valid + --authored-valid (default: authored.tune).",
    ),
    thresholds_on: ThresholdsOn | None = typer.Option(
        None,
        "--thresholds-on",
        help="Where the per-label thresholds are tuned: all (valid + --authored-valid) or authored "
        "(--authored-valid alone; the risk threshold still uses both). Default: authored.thresholds_on.",
    ),
) -> None:
    """Fit a model on train, tune its thresholds on valid, save it (and log it to MLflow)."""
    from pipeline.train import train_model, training_settings

    with user_errors():
        chosen = training_settings(model.value, params_file, param)
        if authored_weight is None:
            authored_weight = chosen.authored_weight
        if authored_tune is None:
            authored_tune = chosen.mix.tune
        if thresholds_on is None:
            thresholds_on = ThresholdsOn(chosen.mix.thresholds_on)
        trained = train_model(
            model.value,
            train_file,
            valid_file,
            out,
            chosen.model,
            chosen.risk,
            chosen.seed,
            track=not no_track,
            authored_train=authored_train,
            authored_valid=authored_valid if authored_tune else None,
            authored_weight=authored_weight if authored_train else 0,
            thresholds_on=thresholds_on.value,
            train_synthetic=chosen.train_synthetic,
        )
        typer.echo(f"wrote {out} ({trained.kind}; risk threshold {trained.risk_.threshold_:.3f})")


@app.command()
def evaluate(
    model: str = typer.Option(..., "--model", help="Model directory or MLflow model URI (runs:/<id>/model)."),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Corpus to evaluate on."),
    out: Path = typer.Option(..., "--out", help="metrics.json to write (predictions go to <out>.predictions.json)."),
    plots: Path | None = typer.Option(None, "--plots", help="Directory for the plots."),
    dataset: str | None = typer.Option(None, "--dataset", help="Data set name (default: the file's stem)."),
    bootstrap: int = typer.Option(500, "--bootstrap", min=0, help="Bootstrap samples for 95% intervals."),
    seed: int = typer.Option(0, "--seed"),
    max_conversations: int = typer.Option(
        0, "--max-conversations", min=0, help="Evaluate on a seeded sample of this many conversations (0: all)."
    ),
    no_track: bool = typer.Option(False, "--no-track", help="Do not log to MLflow."),
) -> None:
    """Message, conversation and early-warning metrics with bootstrap intervals."""
    from pipeline.evaluate import evaluate_model

    with user_errors():
        metrics = evaluate_model(
            model, data, out, plots, dataset, bootstrap, seed, track=not no_track, max_conversations=max_conversations
        )
        conv = metrics["conversation"] or {}
        msg = metrics["message"] or {}
        typer.echo(
            f"wrote {out}: message macro-F1 {msg.get('macro_f1')}, conversation F0.5 {conv.get('f0_5')}, "
            f"latency-F1 {(metrics['early'] or {}).get('latency_f1')}"
        )


@app.command()
def score(
    model: str = typer.Option(..., "--model", help="Model directory or MLflow model URI."),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False),
    out: Path = typer.Option(..., "--out", help="Scored corpus (JSONL)."),
) -> None:
    """Score a corpus: per-message probabilities and predicted labels, per-conversation risk and first alert."""
    from pipeline.evaluate import score_corpus

    with user_errors():
        typer.echo(f"wrote {out} ({score_corpus(model, data, out)} conversations)")


@app.command()
def compare(
    a: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="Predictions of model A (<metrics>.predictions.json)."
    ),
    b: Path = typer.Argument(..., exists=True, dir_okay=False, help="Predictions of model B on the same data."),
    samples: int = typer.Option(1000, "--samples", min=10),
    seed: int = typer.Option(0, "--seed"),
    out: Path | None = typer.Option(None, "--out", help="Also write the comparison as JSON."),
) -> None:
    """Paired bootstrap: B - A for each headline metric, with a 95% interval."""
    from pipeline.evaluate import compare_predictions
    from pipeline.io import write_text_atomic

    with user_errors():
        result = compare_predictions(a, b, samples, seed)
        lines = [
            f"# {result['b']['model']} (B) vs {result['a']['model']} (A) on {result['dataset']}",
            "",
            "| metric | A | B | B - A | 95% interval |",
            "|---|---|---|---|---|",
        ]
        for key, row in result["metrics"].items():
            if ".per_label." in key:
                continue
            lines.append(
                f"| {key} | {row['a']:.4f} | {row['b']:.4f} | {row['difference']:+.4f} | "
                f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}] |"
            )
        typer.echo("\n".join(lines))
        if out:
            write_text_atomic(out, json.dumps(result, indent=2) + "\n")


@app.command("learning-curve")
def learning_curve_command(
    model: ModelKind = typer.Option(..., "--model", help="Model kind."),
    train_file: Path = typer.Option(..., "--train", exists=True, dir_okay=False, help="Synthetic training corpus."),
    valid_file: Path = typer.Option(..., "--valid", exists=True, dir_okay=False, help="Validation corpus."),
    authored_train: Path = typer.Option(..., "--authored-train", exists=True, dir_okay=False),
    authored_valid: Path = typer.Option(..., "--authored-valid", exists=True, dir_okay=False),
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Evaluation corpus (authored_test)."),
    fractions: str = typer.Option("0,0.25,0.5,1", "--fractions", help="Shares of --authored-train, comma-separated."),
    params_file: Path = typer.Option(
        Path("params.yaml"), "--params", exists=True, dir_okay=False, help="Model section, risk, authored, base.seed."
    ),
    param: list[str] = typer.Option([], "--param", help="key=value overrides of the model's section."),
    bootstrap: int = typer.Option(200, "--bootstrap", min=0),
    out_dir: Path = typer.Option(Path("reports"), "--out-dir"),
    name: str = typer.Option("learning_curve_authored", "--name", help="Report file stem."),
) -> None:
    """Fit one model kind on synthetic data plus growing shares of authored_train; report
    the metrics on --data for each share, with intervals."""
    from pipeline import corpus
    from pipeline.learning_curve import learning_curve, write_report
    from pipeline.schema import load_schema

    with user_errors():
        try:
            shares = [float(f) for f in fractions.split(",") if f.strip()]
        except ValueError:
            raise PipelineError(f"--fractions {fractions!r}: expected numbers separated by commas") from None
        from pipeline.train import training_settings

        chosen = training_settings(model.value, params_file, param)
        mix, weight, train_synthetic = chosen.mix, chosen.authored_weight, chosen.train_synthetic
        settings, risk, seed = chosen.model, chosen.risk, chosen.seed
        schema = load_schema()

        def read(path: Path):
            return corpus.read_conversations(path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)

        synthetic, evaluation = (read(train_file) if train_synthetic else []), read(data)
        rows = learning_curve(
            model.value,
            schema.label_ids,
            settings,
            risk,
            seed,
            synthetic,
            read(valid_file),
            read(authored_train),
            read(authored_valid),
            evaluation,
            shares,
            weight=weight,
            thresholds_on=mix.thresholds_on,
            bootstrap=bootstrap,
            progress=lambda row: typer.echo(
                f"{row['fraction']:.0%} ({row['authored_conversations']} conversations): "
                f"macro-F1 {row['metrics']['message.macro_f1']:.3f}",
                err=True,
            ),
        )
        setup = {
            "model": model.value,
            "params": settings,
            "seed": seed,
            "weight": weight,
            "train_synthetic": train_synthetic,
            "thresholds_on": str(mix.get("thresholds_on", "all")),
            "evaluation": data.stem,
            "evaluation_conversations": len(evaluation),
            "synthetic_conversations": len(synthetic),
            "bootstrap": bootstrap,
        }
        json_path, md_path = write_report(rows, setup, out_dir, name)
        typer.echo(f"wrote {md_path} and {json_path}")


@app.command()
def leaderboard(
    out: Path | None = typer.Option(None, "--out", help="Also write the Markdown table to this file."),
    metrics: Path = typer.Option(
        Path("metrics"), "--metrics", help="The metrics folder evaluate writes (<model>/<dataset>.json)."
    ),
    from_mlflow: bool = typer.Option(
        False, "--from-mlflow", help="Read the newest evaluation runs of the MLflow store instead of --metrics."
    ),
    all_runs: bool = typer.Option(False, "--all", help="With --from-mlflow: every run, not only the newest."),
) -> None:
    """A Markdown table of the evaluations (the metrics files DVC tracks), with intervals."""
    from pipeline import tracking
    from pipeline.io import write_text_atomic
    from pipeline.leaderboard import leaderboard_markdown, metrics_rows, mlflow_rows

    with user_errors():
        if from_mlflow:
            rows = mlflow_rows(tracking.evaluation_runs(), latest_only=not all_runs)
            source = "Newest evaluation run per model and data set (MLflow store)"
        else:
            rows = metrics_rows(metrics)
            source = f"The evaluations in `{metrics.as_posix()}/` (DVC-tracked metrics files)"
        table = leaderboard_markdown(rows, source)
        if out:
            write_text_atomic(out, table)
        typer.echo(table)


@app.command()
def benchmark(
    model: list[str] = typer.Option(
        ..., "--model", help="Model directory or MLflow model URI (runs:/<id>/model, models:/<name>/<v>); repeatable."
    ),
    suite: str | None = typer.Option(
        None, "--suite", help="Suite in params.yaml benchmark.suites (default: benchmark.suite)."
    ),
    params_file: Path | None = typer.Option(
        None, "--params", help="params.yaml with the benchmark and evaluate sections (default: the project's)."
    ),
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Where the reports go (default: benchmark.out_dir)."),
    max_conversations: int | None = typer.Option(
        None,
        "--max-conversations",
        min=0,
        help="Seeded sample per data set (default: evaluate.max_conversations; 0: all).",
    ),
    bootstrap: int | None = typer.Option(
        None, "--bootstrap", min=0, help="Bootstrap samples (default: evaluate.bootstrap)."
    ),
    calibrate: Path | None = typer.Option(
        None, "--calibrate", help="Labelled corpus on which external models' label and risk thresholds are tuned."
    ),
    no_track: bool = typer.Option(False, "--no-track", help="Do not log the evaluations to MLflow."),
) -> None:
    """Evaluate models on every data set of a suite; write benchmark.md and a self-contained benchmark.html."""
    from pipeline.benchmark import run_benchmark

    with user_errors():
        result = run_benchmark(
            model,
            suite=suite,
            params_path=params_file,
            out_dir=out_dir,
            max_conversations=max_conversations,
            bootstrap=bootstrap,
            calibrate=calibrate,
            track=not no_track,
        )
        for dataset, per_model in result.metrics.items():
            for name, metrics in per_model.items():
                conv, msg = metrics["conversation"] or {}, metrics["message"] or {}
                typer.echo(
                    f"{name} on {dataset}: message macro-F1 {msg.get('macro_f1')}, "
                    f"conversation F0.5 {conv.get('f0_5')}, latency-F1 {(metrics['early'] or {}).get('latency_f1')}"
                )
        typer.echo("wrote " + ", ".join(str(path) for path in result.written))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
