"""What every command group of the CLI shares: the input-error convention and common options."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from pipeline.core.errors import PipelineError

SchemaOption = typer.Option(
    None, "--schema", help="Schema YAML (default: configs/schema.yaml).", exists=True, dir_okay=False
)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn input errors into a clear message on stderr and exit status 1 (no traceback)."""
    try:
        yield
    except PipelineError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
