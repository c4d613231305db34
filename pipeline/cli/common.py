"""What every command group of the CLI shares: the input-error convention and common options."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import typer

from pipeline.core.errors import PipelineError
from pipeline.core.io import refuse_foreign_folder

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
        refuse_blocked_outputs(outputs or {})
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


def refuse_blocked_outputs(outputs: PathsByOption) -> None:
    """Refuse an output whose folder cannot be made because a file stands in its path (``--out
    a.txt/b.json``, ``split --out-dir FILE``): said before any work, not as a traceback after it."""
    for option, value in outputs.items():
        for out in _paths(value):
            for parent in Path(out).parents:
                if parent.exists():
                    if not parent.is_dir():
                        raise PipelineError(
                            f"{out}: {option}: {parent} is a file, not a folder; nothing was read or written "
                            "(choose another output path)"
                        )
                    break


def refuse_file_as_folder(folder: Path | None, option: str) -> None:
    """Refuse an output folder (``--plots``, ``--out-dir``) that exists as a file."""
    if folder is None:
        return
    if Path(folder).exists() and not Path(folder).is_dir():
        raise PipelineError(f"{folder}: {option} exists and is not a folder; nothing was read or written")
    refuse_blocked_outputs({option: folder})


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
    """A ``--model``, ``--data`` or ``--out`` reference as a local path; None for a URI (an MLflow
    model's ``runs:/``, ``models:/``..., or another file system's ``s3a://``, ``hdfs://``...)."""
    return None if "://" in reference or reference.startswith(("runs:/", "models:/")) else Path(reference)


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _found(value) -> str:
    return "null" if value is None else type(value).__name__


def model_json_problems(info) -> list[tuple[str, str]]:
    """(field, what was expected) for each part of a model.json that ``Model.save`` would not have
    written: what the loader indexes without checking (label_ids, thresholds, risk, params)."""
    if not isinstance(info, dict):
        return [("(file)", f"expected a JSON object (what train writes), found {_found(info)}")]
    problems = []
    labels = info.get("label_ids")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) for x in labels):
        problems.append(("label_ids", f"expected a non-empty list of label ids, found {_found(labels)}"))
        labels = []
    thresholds = info.get("thresholds")
    if not isinstance(thresholds, dict):
        problems.append(("thresholds", f"expected an object of label id -> number, found {_found(thresholds)}"))
    else:
        for label in labels:
            if not _number(thresholds.get(label)):
                problems.append((f"thresholds.{label}", f"expected a number, found {_found(thresholds.get(label))}"))
    risk = info.get("risk")
    if not isinstance(risk, dict):
        problems.append(("risk", f"expected an object (config, threshold, message_thresholds), found {_found(risk)}"))
    else:
        if not isinstance(risk.get("config"), dict):
            problems.append(("risk.config", f"expected an object, found {_found(risk.get('config'))}"))
        if not _number(risk.get("threshold")):
            problems.append(("risk.threshold", f"expected a number, found {_found(risk.get('threshold'))}"))
        message = risk.get("message_thresholds")
        if not isinstance(message, list) or not all(_number(x) for x in message):
            problems.append(("risk.message_thresholds", f"expected a list of numbers, found {_found(message)}"))
        elif labels and len(message) != len(labels):
            problems.append(
                ("risk.message_thresholds", f"expected {len(labels)} numbers (one per label), found {len(message)}")
            )
    if info.get("params") is not None and not isinstance(info.get("params"), dict):
        problems.append(("params", f"expected an object or null, found {_found(info.get('params'))}"))
    return problems


def check_model_folder(reference: str | Path | None) -> None:
    """A local model folder's model.json, checked field by field before the model is loaded, so
    that a hand-edited or damaged file is named with its field (an MLflow URI is left to MLflow;
    a missing folder or file, invalid JSON and an unknown kind to the loader's own messages)."""
    from pipeline.core.errors import DataError, Problem
    from pipeline.core.io import read_json

    folder = local_path(str(reference)) if reference is not None else None
    if folder is None or not (folder / "model.json").is_file():
        return
    path = folder / "model.json"
    problems = model_json_problems(read_json(path, "a model.json written by train"))
    if problems:
        raise DataError([Problem(str(path), None, where, message) for where, message in problems])
