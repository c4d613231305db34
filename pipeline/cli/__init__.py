"""The command line: one Typer app (``app.py``), one module per command group: ``data``,
``models``, ``report``, ``annotate``, ``params``. Each command is a thin wrapper over a plain
function of the package.

Errors caused by input (``PipelineError``) are printed to stderr without a traceback and
exit with status 1; usage errors exit with status 2 (Typer's convention). Any other exception
is a bug or an unchecked input: one line on stderr, status 1, and the traceback with ``--debug``.
"""

from __future__ import annotations

import importlib
import os
import sys

from pipeline.cli import data, models, params, report  # noqa: F401  (register the commands)
from pipeline.cli.annotate import annotate_app
from pipeline.cli.app import app

app.add_typer(annotate_app, name="annotate")


def main() -> None:
    """The console script. A last resort, not a replacement for located messages: an exception
    that no command turned into a clear error becomes one line and a hint, not a traceback."""
    try:
        app()
    except Exception as exc:
        # the module, not the Typer object that this package exports under the same name
        if importlib.import_module("pipeline.cli.app").debug_requested or os.environ.get("GROOMING_RISK_DEBUG") == "1":
            raise
        first_line = (str(exc).strip().splitlines() or [""])[0][:300]
        print(f"grooming-risk: unexpected error: {type(exc).__name__}: {first_line}", file=sys.stderr)
        print(
            "This is a bug, or an input the program does not check yet. Rerun with "
            "'grooming-risk --debug ...' for the traceback, and report it.",
            file=sys.stderr,
        )
        sys.exit(1)


if __name__ == "__main__":
    main()
