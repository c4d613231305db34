"""The Typer app and its command groups; the commands live in the modules beside this one."""

from __future__ import annotations

import typer

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
params_app = typer.Typer(help="params.yaml: the one typed configuration.", no_args_is_help=True)
app.add_typer(params_app, name="params")
card_app = typer.Typer(help="Model cards and data cards generated from the pipeline's outputs.", no_args_is_help=True)
app.add_typer(card_app, name="card")


# Set by --debug (or GROOMING_RISK_DEBUG=1): an unexpected error shows its traceback (main()).
debug_requested = False


@app.callback()
def _global_options(
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="No progress bars (they are drawn on stderr only when it is a terminal)."
    ),
    debug: bool = typer.Option(
        False, "--debug", help="On an unexpected error, show the Python traceback (for a bug report)."
    ),
) -> None:
    from pipeline.core.progress import set_quiet

    global debug_requested
    set_quiet(quiet)
    debug_requested = debug
