"""``grooming-risk annotate ...``: thin wrappers over the functions of ``pipeline.annotate``.

Settings come from the ``annotate`` section of ``params.yaml`` (``--params`` for another file);
options given on the command line win. Input errors exit with status 1 and write nothing.
"""

from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer

from pipeline.cli.common import SchemaOption, check_model_folder, user_errors
from pipeline.core.errors import PipelineError

annotate_app = typer.Typer(
    help="Annotation with Label Studio: export tasks, import annotations, agreement, next batch.",
    no_args_is_help=True,
)

AnnotatorsOption = typer.Option(
    None,
    "--annotators",
    exists=True,
    dir_okay=False,
    help='JSON object of Label Studio user id -> annotator name to record, e.g. {"2": "annotator-1"}.',
)
ParamsOption = typer.Option(
    None, "--params", help="params.yaml to read the annotate section from (default: ./params.yaml).", dir_okay=False
)


class Adjudication(str, Enum):
    majority = "majority"
    any = "any"
    all = "all"


class TieBreak(str, Enum):
    include = "include"
    exclude = "exclude"


class Strategy(str, Enum):
    threshold = "threshold"
    entropy = "entropy"


def _load_model(reference: str):
    from pipeline import tracking
    from pipeline.schema import load_schema

    check_model_folder(reference)
    return tracking.load_model(reference, label_ids=load_schema().label_ids)


def _read(data: Path, schema):
    from pipeline.data.corpus import read_conversations

    return read_conversations(data, label_ids=schema.label_ids, flag_ids=schema.flag_ids)


@annotate_app.command("export")
def export_command(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Conversations to annotate (JSONL)."),
    out: Path = typer.Option(..., "--out", help="Label Studio tasks file to write (JSON)."),
    model: str | None = typer.Option(
        None, "--model", help="Model directory or MLflow URI: its labels over threshold become predictions."
    ),
    model_version: str | None = typer.Option(
        None, "--model-version", help="Name of the predictions in Label Studio (default: <kind>-<digest>)."
    ),
    schema: Path | None = SchemaOption,
) -> None:
    """Label Studio tasks, one per conversation (ids kept), optionally with pre-annotations."""
    from pipeline.annotate.tasks import export_tasks, tasks_json
    from pipeline.core.io import write_text_atomic
    from pipeline.schema import load_schema

    with user_errors(inputs={"--data": data}, outputs={"--out": out}):
        loaded = load_schema(schema)
        conversations = _read(data, loaded)
        fitted = _load_model(model) if model else None
        tasks = export_tasks(conversations, fitted, model_version, label_ids=loaded.label_ids)
        write_text_atomic(out, tasks_json(tasks))
        with_predictions = f", predictions by {tasks[0]['predictions'][0]['model_version']}" if fitted else ""
        typer.echo(f"wrote {out} ({len(tasks)} tasks{with_predictions})")


@annotate_app.command("import")
def import_command(
    export: Path = typer.Argument(..., exists=True, dir_okay=False, help="Label Studio JSON export."),
    out: Path = typer.Option(..., "--out", help="Conversation-format JSONL to write (review list beside it)."),
    data: Path | None = typer.Option(
        None,
        "--data",
        exists=True,
        dir_okay=False,
        help="Corpus the tasks came from: ids are checked against it and the output is it, updated.",
    ),
    adjudication: Adjudication | None = typer.Option(
        None, "--adjudication", help="majority | any | all (default: annotate.adjudication)."
    ),
    tie_break: TieBreak | None = typer.Option(None, "--tie-break", help="Majority ties: include | exclude the label."),
    min_annotators: int | None = typer.Option(
        None, "--min-annotators", min=1, help="Fewer submitted annotations: the task stays unlabelled."
    ),
    annotators: Path | None = AnnotatorsOption,
    params: Path | None = ParamsOption,
    schema: Path | None = SchemaOption,
) -> None:
    """A Label Studio JSON export back to the conversation format, adjudicated, with a review list."""
    from pipeline.annotate.config import load_annotate_config
    from pipeline.annotate.imports import import_export, review_markdown, review_paths
    from pipeline.annotate.labelstudio import load_annotator_names
    from pipeline.core.io import write_text_atomic
    from pipeline.data.corpus import write_conversations
    from pipeline.schema import load_schema

    with user_errors(
        inputs={"EXPORT": export, "--data": data, "--annotators": annotators, "--params": params},
        outputs={"--out": out},
    ):
        config = load_annotate_config(
            params,
            adjudication=adjudication.value if adjudication else None,
            tie_break=tie_break.value if tie_break else None,
            min_annotators=min_annotators,
        )
        loaded = load_schema(schema)
        names = load_annotator_names(annotators)
        conversations, review, summary = import_export(export, loaded, config, data, names)
        review_json, review_md = review_paths(out)
        write_conversations(out, conversations)
        write_text_atomic(review_json, json.dumps({**summary, "review": review}, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(review_md, review_markdown(review, summary))
        counts = ", ".join(f"{n} {reason}" for reason, n in summary["review_counts"].items()) or "nothing"
        typer.echo(
            f"wrote {out} ({len(conversations)} conversations; {summary['adjudicated']} of {summary['tasks']} tasks "
            f"adjudicated by {config.adjudication}, {summary['without_annotations']} without annotations; "
            f"annotators {', '.join(summary['annotators']) or 'none'})"
        )
        typer.echo(f"review: {counts} -> {review_md}")


@annotate_app.command("adjudicate")
def adjudicate_command(
    data: Path = typer.Option(
        ..., "--data", exists=True, dir_okay=False, help="Corpus written by `annotate import` (annotated)."
    ),
    decisions: Path = typer.Option(
        ..., "--decisions", exists=True, dir_okay=False, help="The adjudicator's decisions (JSON Lines)."
    ),
    out: Path = typer.Option(..., "--out", help="Conversation-format JSONL to write (the gold)."),
    by: str = typer.Option("adjudicator", "--by", help="Who adjudicated (recorded with each decision)."),
    schema: Path | None = SchemaOption,
) -> None:
    """Apply a third pass's decisions on disputed messages and conversations; keep what was before."""
    from pipeline.annotate.adjudicate import apply_decisions, read_decisions
    from pipeline.data.corpus import write_conversations
    from pipeline.schema import load_schema

    with user_errors(inputs={"--data": data, "--decisions": decisions}, outputs={"--out": out}):
        loaded = load_schema(schema)
        conversations = _read(data, loaded)
        found = read_decisions(decisions, {c.conversation_id: c for c in conversations}, loaded)
        decided, counts = apply_decisions(conversations, found, loaded, by)
        write_conversations(out, decided)
        typer.echo(
            f"wrote {out} ({len(decided)} conversations; {counts['conversations']} adjudicated, "
            f"{counts['messages_decided']} message decisions of which {counts['messages_changed']} changed the "
            f"labels, {counts['conversation_fields_changed']} conversation fields changed)"
        )


@annotate_app.command("agreement")
def agreement_command(
    export: Path = typer.Argument(..., exists=True, dir_okay=False, help="Label Studio JSON export."),
    out_dir: Path | None = typer.Option(
        None, "--out-dir", help="Where agreement.md/.json go (default: annotate.reports_dir, reports/)."
    ),
    name: str = typer.Option("agreement", "--name", help="Report file name: <name>.md and <name>.json."),
    data: Path | None = typer.Option(
        None, "--data", exists=True, dir_okay=False, help="Corpus the tasks came from (ids are checked)."
    ),
    gold: Path | None = typer.Option(
        None,
        "--gold",
        exists=True,
        dir_okay=False,
        help="Final (adjudicated) corpus: each annotator's per-label F1 against it is added to the report.",
    ),
    annotators: Path | None = AnnotatorsOption,
    params: Path | None = ParamsOption,
    schema: Path | None = SchemaOption,
) -> None:
    """Krippendorff's alpha and Cohen's kappa per label, risk and kind agreement, disagreements."""
    from pipeline.annotate.agreement import (
        agreement_markdown,
        agreement_report,
        annotators_against_gold,
        report_paths,
    )
    from pipeline.annotate.config import load_annotate_config
    from pipeline.annotate.labelstudio import load_annotator_names, read_export
    from pipeline.core.io import write_text_atomic
    from pipeline.schema import load_schema

    with user_errors():
        config = load_annotate_config(params)
        loaded = load_schema(schema)
        known = {c.conversation_id: c for c in _read(data, loaded)} if data else None
        tasks = read_export(export, loaded, known, data, load_annotator_names(annotators))
        report = agreement_report(tasks, loaded.label_ids, loaded.kind_ids, export=str(export))
        if gold is not None:
            final = {c.conversation_id: c for c in _read(gold, loaded)}
            report["gold"] = str(gold)
            report["against_gold"] = annotators_against_gold(tasks, final, loaded.label_ids)
        json_path, md_path = report_paths(out_dir or Path(config.reports_dir), name)
        write_text_atomic(json_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        write_text_atomic(md_path, agreement_markdown(report))
        risk = report["risk"]
        typer.echo(
            f"wrote {md_path} and {json_path.name}: {len(report['annotators'])} annotators, "
            f"{report['tasks_annotated_by_two_or_more']} tasks annotated by two or more; mean label alpha "
            f"{report['mean_alpha']}, risk alpha {risk['alpha']}; {len(report['disagreements'])} messages with disagreement"
        )


@annotate_app.command("select")
def select_command(
    data: Path = typer.Option(..., "--data", exists=True, dir_okay=False, help="Pool of conversations (JSONL)."),
    model: str = typer.Option(..., "--model", help="Model directory or MLflow URI."),
    n: int = typer.Option(..., "--n", min=1, help="How many messages to select."),
    out: Path = typer.Option(..., "--out", help="Label Studio tasks file to write (JSON)."),
    strategy: Strategy | None = typer.Option(
        None, "--strategy", help="threshold (closest to a threshold) | entropy (default: annotate.strategy)."
    ),
    per_conversation: int | None = typer.Option(
        None, "--per-conversation", min=1, help="At most this many messages per conversation (default: 2)."
    ),
    include_labelled: bool = typer.Option(
        False, "--include-labelled", help="Also consider messages that already have labels."
    ),
    model_version: str | None = typer.Option(None, "--model-version", help="Name of the predictions."),
    params: Path | None = ParamsOption,
    schema: Path | None = SchemaOption,
) -> None:
    """The next batch by uncertainty, spread over conversations, as Label Studio tasks."""
    from pipeline.annotate.config import load_annotate_config
    from pipeline.annotate.select import select_batch
    from pipeline.annotate.tasks import check_model_labels, tasks_json
    from pipeline.core.io import write_text_atomic
    from pipeline.schema import load_schema

    with user_errors(inputs={"--data": data}, outputs={"--out": out}):
        config = load_annotate_config(
            params, strategy=strategy.value if strategy else None, per_conversation=per_conversation
        )
        loaded = load_schema(schema)
        conversations = _read(data, loaded)
        fitted = _load_model(model)
        check_model_labels(fitted, loaded.label_ids)
        tasks, picks = select_batch(
            conversations, fitted, n, config.strategy, config.per_conversation, include_labelled, model_version
        )
        if not picks:
            raise PipelineError(
                f"{data}: no candidate message (all are labelled; --include-labelled considers them too)"
            )
        write_text_atomic(out, tasks_json(tasks))
        short = f" (fewer than {n}: not enough candidates within the per-conversation cap)" if len(picks) < n else ""
        typer.echo(
            f"wrote {out}: {len(picks)} messages{short} in {len(tasks)} conversations by {config.strategy} "
            f"uncertainty (at most {config.per_conversation} per conversation); uncertainty "
            f"{picks[-1].uncertainty:.3f} to {picks[0].uncertainty:.3f}"
        )
