"""`grooming-risk params`: validate a params file."""

from __future__ import annotations

from pathlib import Path

import typer

from pipeline.cli.app import params_app
from pipeline.cli.common import user_errors


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
