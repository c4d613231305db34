"""Report commands: the leaderboard, benchmark suites, model and data cards."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.app import app, card_app
from pipeline.cli.common import SchemaOption, check_model_folder, refuse_file_as_folder, user_errors
from pipeline.reporting.cards import data_card, model_card, read_data_inputs, read_model_inputs
from pipeline.schema import load_schema


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
    from pipeline.core.io import write_text_atomic
    from pipeline.reporting.leaderboard import leaderboard_markdown, metrics_rows, mlflow_rows

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
    force: bool = typer.Option(
        False, "--force", help="Replace <out-dir>/benchmark/<suite> even when an earlier benchmark did not write it."
    ),
) -> None:
    """Evaluate models on every data set of a suite; write benchmark.md and a self-contained benchmark.html."""
    from pipeline.experiments.suites import run_benchmark

    with user_errors():
        refuse_file_as_folder(out_dir, "--out-dir")
        for reference in model:
            check_model_folder(reference)
        result = run_benchmark(
            model,
            suite=suite,
            params_path=params_file,
            out_dir=out_dir,
            max_conversations=max_conversations,
            bootstrap=bootstrap,
            calibrate=calibrate,
            track=not no_track,
            force=force,
        )
        for dataset, per_model in result.metrics.items():
            for name, metrics in per_model.items():
                conv, msg = metrics["conversation"] or {}, metrics["message"] or {}
                typer.echo(
                    f"{name} on {dataset}: message macro-F1 {msg.get('macro_f1')}, "
                    f"conversation F0.5 {conv.get('f0_5')}, latency-F1 {(metrics['early'] or {}).get('latency_f1')}"
                )
        typer.echo("wrote " + ", ".join(str(path) for path in result.written))


@card_app.command("model")
def model_card_command(
    model: Path = typer.Option(..., "--model", help="Model directory (models/<kind>)."),
    metrics: Path | None = typer.Option(
        None, "--metrics", help="Directory of its metrics files, <dataset>.json (default: metrics/<kind>)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Card to write (default: reports/model_card_<kind>.md)."),
    agreement: Path | None = typer.Option(
        None,
        "--agreement",
        dir_okay=False,
        help="Agreement report (annotate agreement --gold): each label's figures are shown next to the annotators'.",
    ),
    schema: Path | None = SchemaOption,
) -> None:
    """A model card from model.json, the run reference, the metrics files and the schema."""
    from pipeline.core.io import write_text_atomic

    with user_errors():
        loaded = load_schema(schema)
        inputs = read_model_inputs(model, metrics, agreement)
        kind = inputs["info"]["kind"]
        target = out or Path("reports") / f"model_card_{kind}.md"
        write_text_atomic(target, model_card(inputs, loaded))
        typer.echo(f"wrote {target} ({kind}; {len(inputs['evaluations'])} evaluated data sets)")


@card_app.command("data")
def data_card_command(
    corpus_file: Path = typer.Option(..., "--corpus", help="A conversation-format JSONL corpus."),
    stats: Path | None = typer.Option(
        None, "--stats", help="Its statistics from corpus-stats (reports/corpus_stats_<name>.json); else computed."
    ),
    name: str | None = typer.Option(
        None, "--name", help="Card name (default: <name> of the stats file, else the corpus file's stem)."
    ),
    out: Path | None = typer.Option(None, "--out", help="Card to write (default: reports/data_card_<name>.md)."),
    params: Path | None = typer.Option(
        None, "--params", help="params.yaml with the synthesize section (default: the project's).", dir_okay=False
    ),
    agreement: Path | None = typer.Option(
        None, "--agreement", help="Agreement report (annotate agreement --gold) to include.", dir_okay=False
    ),
    overlap: Path | None = typer.Option(
        None, "--overlap", help="Overlap report (grooming-risk overlap).", dir_okay=False
    ),
    schema: Path | None = SchemaOption,
) -> None:
    """A data card from the corpus statistics, the schema and the generator settings."""
    from pipeline.core.io import write_text_atomic

    with user_errors():
        loaded = load_schema(schema)
        inputs = read_data_inputs(corpus_file, stats, params, loaded, agreement, overlap)
        if name is None:
            prefix = "corpus_stats_"
            name = stats.stem[len(prefix) :] if stats and stats.stem.startswith(prefix) else corpus_file.stem
        target = out or Path("reports") / f"data_card_{name}.md"
        write_text_atomic(target, data_card(inputs, loaded, name))
        typer.echo(f"wrote {target} ({inputs['stats']['conversations']} conversations)")
