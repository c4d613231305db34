"""The command line: one Typer app (``app.py``), one module per command group: ``data``,
``models``, ``report``, ``annotate``, ``params``. Each command is a thin wrapper over a plain
function of the package.

Errors caused by input (``PipelineError``) are printed to stderr without a traceback and
exit with status 1; usage errors exit with status 2 (Typer's convention).
"""

from __future__ import annotations

from pipeline.cli import data, models, params, report  # noqa: F401  (register the commands)
from pipeline.cli.annotate import annotate_app
from pipeline.cli.app import app

app.add_typer(annotate_app, name="annotate")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
