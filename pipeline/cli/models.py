"""Model commands: train, evaluate, score, compare, learning curves (the train and evaluate stages)."""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from pipeline.cli.app import app
from pipeline.cli.common import check_model_folder, local_path, refuse_file_as_folder, user_errors
from pipeline.core.errors import PipelineError
from pipeline.data import corpus
from pipeline.schema import load_schema


class ModelKind(str, Enum):
    lexicon = "lexicon"
    tfidf = "tfidf"
    embed = "embed"
    transformer = "transformer"
    ensemble = "ensemble"


class ThresholdsOn(str, Enum):
    all = "all"
    authored = "authored"


class Engine(str, Enum):
    local = "local"
    spark = "spark"


# Kinds that learn from the messages' labels: a linear classifier per label (tfidf, embed) needs
# annotated messages with and without each label it fits; the transformer, annotated messages.
LEARNS_FROM_LABELS = {"tfidf": True, "embed": True, "transformer": False}


def check_training_labels(kind: str, files: list[Path]) -> None:
    """Refuse, before any fitting, a training set that such a model cannot learn from: no annotated
    message (no ``labels`` list), or, for a linear model, one class only (every ``labels`` empty)
    or a label on every annotated message. A file whose lines do not parse is left to the reader
    (its located error comes first when training reads it)."""
    if kind not in LEARNS_FROM_LABELS or not files:
        return
    annotated, positives = 0, {}
    for path in files:
        try:
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    conversation = json.loads(line)
                    for message in conversation["messages"]:
                        labels = message.get("labels")
                        if labels is None:
                            continue
                        annotated += 1
                        for label in set(labels):
                            positives[label] = positives.get(label, 0) + 1
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return
    where = " + ".join(str(path) for path in files)
    if annotated == 0:
        raise PipelineError(
            f"{where}: messages[].labels: expected annotated messages (a 'labels' list, [] for none) to train a "
            f"{kind} model, found none; nothing was written"
        )
    if not LEARNS_FROM_LABELS[kind]:
        return
    if not positives:
        raise PipelineError(
            f"{where}: messages[].labels: expected at least one message with a label to train a {kind} model, "
            f"found {annotated} annotated messages whose labels are all [] (a single class); nothing was written"
        )
    everywhere = sorted(label for label, count in positives.items() if count == annotated)
    if everywhere:
        raise PipelineError(
            f"{where}: messages[].labels: label(s) {everywhere} on every one of the {annotated} annotated messages; "
            f"a {kind} model needs messages without them too (a single class); nothing was written"
        )


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
    force: bool = typer.Option(
        False, "--force", help="Replace --out even when it is a folder that train did not write (no model.json)."
    ),
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
    from pipeline.engines.launch import is_main_process
    from pipeline.experiments.train import train_model, training_settings

    with user_errors(
        inputs={
            "--train": train_file,
            "--valid": valid_file,
            "--params": params_file,
            "--authored-train": authored_train,
            "--authored-valid": authored_valid,
        },
        outputs={"--out": out},
        folders={"--out": (out, "model.json")},
        force=force,
    ):
        chosen = training_settings(model.value, params_file, param)
        if authored_weight is None:
            authored_weight = chosen.authored_weight
        if authored_tune is None:
            authored_tune = chosen.mix.tune
        if thresholds_on is None:
            thresholds_on = ThresholdsOn(chosen.mix.thresholds_on)
        sources = [train_file] if chosen.train_synthetic else []
        check_training_labels(model.value, sources + ([authored_train] if authored_train and authored_weight else []))
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
        if is_main_process():  # under a launcher, rank 0 wrote the model
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
    from pipeline.experiments.evaluate import evaluate_model

    with user_errors(
        inputs={"--data": data, "--model": local_path(model)},
        outputs={"--out": [out, out.with_suffix(".predictions.json")], "--plots": plots},
    ):
        refuse_file_as_folder(plots, "--plots")
        check_model_folder(model)
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
    data: str = typer.Option(
        ...,
        "--data",
        help="Corpus (JSONL); with --engine spark also a Parquet message table, a folder of them, or a URI "
        "(hdfs://, s3a://).",
    ),
    out: str = typer.Option(
        ...,
        "--out",
        help="local: the scored corpus (.jsonl) or the message table (.parquet); spark: a new Parquet folder "
        "(a path or a URI).",
    ),
    engine: Engine = typer.Option(Engine.local, "--engine", help="local (streams in batches) or spark (PySpark)."),
    batch_messages: int = typer.Option(
        20_000, "--batch-messages", min=1, help="local: messages scored at a time (whole conversations)."
    ),
    master: str | None = typer.Option(
        None, "--master", help="spark: the master (e.g. local[2]); default: the session's (spark-submit's)."
    ),
    buckets: int | None = typer.Option(
        None, "--buckets", min=1, help="spark: groups of whole conversations scored by one task each."
    ),
) -> None:
    """Score a corpus: per-message probabilities and predicted labels, per-conversation risk and first alert."""
    # Spark reads and writes other file systems by URI; a Path would fold "s3a://b/x" into "s3a:/b/x".
    data_path, out_path = local_path(data), local_path(out)
    with user_errors(inputs={"--data": data_path, "--model": local_path(model)}, outputs={"--out": out_path}):
        check_model_folder(model)
        if engine is Engine.spark:  # checks its own paths, local or not, before starting Spark
            from pipeline.engines.spark import score_with_spark

            count = score_with_spark(model, data, out, master=master, buckets=buckets)
            typer.echo(f"wrote {out} ({count} messages)")
            return
        if data_path is None or out_path is None:
            raise PipelineError(f"{data if data_path is None else out}: the local engine reads and writes local files")
        if not data_path.exists():
            raise PipelineError(f"{data}: --data: no such file or folder")
        if data_path.is_dir():
            raise PipelineError(f"{data}: --data: the local engine reads a corpus file (JSONL), not a folder")
        from pipeline.experiments.score import score_corpus

        typer.echo(f"wrote {out} ({score_corpus(model, data_path, out_path, batch_messages)} conversations)")


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
    from pipeline.core.io import write_text_atomic
    from pipeline.evaluation.predictions import check_comparable, read_predictions
    from pipeline.experiments.evaluate import compare_predictions

    with user_errors(inputs={"A": a, "B": b}, outputs={"--out": out}):
        try:  # a file that does not read is reported by compare_predictions itself
            first, second = read_predictions(a), read_predictions(b)
        except PipelineError:
            first = second = None
        if first is not None and second is not None:
            check_comparable(first, second)  # the file and the field, before any resampling
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
    from pipeline.experiments.learning_curve import learning_curve, write_report

    with user_errors():
        try:
            shares = [float(f) for f in fractions.split(",") if f.strip()]
        except ValueError:
            raise PipelineError(f"--fractions {fractions!r}: expected numbers separated by commas") from None
        from pipeline.experiments.train import training_settings

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
            "thresholds_on": mix.thresholds_on,
            "evaluation": data.stem,
            "evaluation_conversations": len(evaluation),
            "synthetic_conversations": len(synthetic),
            "bootstrap": bootstrap,
        }
        json_path, md_path = write_report(rows, setup, out_dir, name)
        typer.echo(f"wrote {md_path} and {json_path}")
