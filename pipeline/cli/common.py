"""What every command group of the CLI shares: the input-error convention and common options."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import typer

from pipeline.core.errors import PipelineError

SchemaOption = typer.Option(
    None, "--schema", help="Schema YAML (default: configs/schema.yaml).", exists=True, dir_okay=False
)


PathsByOption = Mapping[str, "Path | Iterable[Path] | None"]


@contextmanager
def user_errors(
    inputs: PathsByOption | None = None,
    outputs: PathsByOption | None = None,
    folders: dict[str, tuple[Path | None, str]] | None = None,
    force: bool = False,
) -> Iterator[None]:
    """Turn input errors into a clear message on stderr and exit status 1 (no traceback).

    ``inputs`` and ``outputs`` name, by option, the paths the command reads and the paths it
    writes or replaces (a file, or a folder written whole). Before any work, an output that would
    overwrite or delete an input is refused (see ``refuse_overwriting_inputs``). ``folders`` names,
    by option, the folders the command replaces whole and the marker file by which it knows its own
    earlier output (see ``refuse_foreign_folder``; ``force`` lifts that check)."""
    try:
        refuse_overwriting_inputs(inputs or {}, outputs or {})
        for option, (folder, marker) in (folders or {}).items():
            refuse_foreign_folder(folder, option, marker, force)
        yield
    except PipelineError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None


def _paths(value: Path | Iterable[Path] | None) -> list[Path]:
    if value is None:
        return []
    return [Path(value)] if isinstance(value, (str, Path)) else [Path(p) for p in value]


def refuse_foreign_folder(folder: Path | None, option: str, marker: str, force: bool = False) -> None:
    """A command that replaces a folder whole replaces only an empty folder or its own earlier
    output, known by ``marker`` (a file it writes there: ``model.json`` for train, ``state.json``
    for a dataset). Any other existing folder is refused unless ``force``: it may be the user's."""
    if folder is None or not folder.exists():
        return
    if not folder.is_dir():
        raise PipelineError(f"{folder}: {option} exists and is not a folder; nothing was read or written")
    if force or (folder / marker).is_file() or not any(folder.iterdir()):
        return
    raise PipelineError(
        f"{folder}: {option} is an existing folder that this command did not write (it has no {marker}); "
        "nothing was read or written. Choose another path, or pass --force to replace the folder and all it holds"
    )


def refuse_overwriting_inputs(inputs: PathsByOption, outputs: PathsByOption) -> None:
    """Refuse an output that is an input, lies inside an input folder, or is a folder that holds
    an input (writing it would replace the input). Paths are compared resolved (links followed)."""
    sources = [(name, path, path.resolve()) for name, value in inputs.items() for path in _paths(value)]
    for out_name, value in outputs.items():
        for out in _paths(value):
            target = out.resolve()
            for in_name, source_path, source in sources:
                if target == source:
                    why = f"is the input {in_name} itself"
                elif source in target.parents and source.is_dir():
                    why = f"is inside the input folder {in_name} ({source_path})"
                elif target in source.parents:
                    why = f"is a folder that holds the input {in_name} ({source_path}) and would replace it"
                else:
                    continue
                raise PipelineError(
                    f"{out}: {out_name} {why}; nothing was read or written (choose another output path)"
                )


def local_path(reference: str) -> Path | None:
    """A ``--model`` reference as a local path; None for an MLflow URI (``runs:/``, ``models:/``...)."""
    return None if "://" in reference or reference.startswith(("runs:/", "models:/")) else Path(reference)
