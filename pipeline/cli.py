"""The command line: one Typer app, each command a thin wrapper over a plain function.

Errors caused by input (``PipelineError``) are printed to stderr without a traceback and
exit with status 1; usage errors exit with status 2 (Typer's convention).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path

import typer

from pipeline import corpus
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

SchemaOption = typer.Option(
    None, "--schema", help="Schema YAML (default: configs/schema.yaml).", exists=True, dir_okay=False
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn input errors into a clear message and exit status 1."""
    try:
        yield
    except PipelineError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None


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

    from pipeline.params import load_params, section
    from pipeline.params import seed as base_seed
    from pipeline.synth.generator import SynthConfig
    from pipeline.synth.generator import synthesize as generate

    with user_errors():
        loaded = load_params(params) if params else {}
        settings = dict(section(loaded, "synthesize", params))
        if conversations is not None:
            settings["conversations"] = conversations
        if languages is not None:
            settings["languages"] = [lang.strip() for lang in languages.split(",") if lang.strip()]
        try:
            config = SynthConfig.model_validate(settings)
        except ValidationError as exc:
            raise PipelineError(f"{params or 'options'}: synthesize: {exc}") from None
        chosen_seed = seed if seed is not None else base_seed(loaded)
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


def main() -> None:
    app()


if __name__ == "__main__":
    main()
