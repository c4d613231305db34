"""Atomic file output: a reader of our outputs sees the old file or the new one, never half.

Writers create a temporary sibling, fill it, flush it to disk and rename it over the target
(``os.replace`` is atomic on POSIX within one file system). On any error the temporary is
removed, so are the folders made for it (if still empty), and the target is left as it was. A
file standing where a folder must be is a ``PipelineError`` naming it, not an ``OSError``.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

from pipeline.core.errors import PipelineError


def _umask_mode(base: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


def make_parents(target: Path) -> list[Path]:
    """Create the folder of ``target`` and return the folders created (nearest first); a file
    standing where a folder must be is a clear error."""
    created = list(itertools.takewhile(lambda folder: not folder.exists(), target.parents))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocker = next((p for p in target.parents if p.exists() and not p.is_dir()), target.parent)
        raise PipelineError(f"{target}: cannot be written: {blocker} is a file, not a folder") from None
    return created


def remove_made_parents(folders: list[Path]) -> None:
    """Take back the folders ``make_parents`` created, as long as they are still empty: a write
    that failed leaves nothing behind, not even an empty folder."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    created = make_parents(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, _umask_mode(0o666))  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        remove_made_parents(created)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` if the block succeeds."""
    target = Path(path)
    if target.exists() and not target.is_dir():
        raise PipelineError(f"{target}: exists and is not a folder; nothing was written (the output is a folder)")
    created = make_parents(target)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, _umask_mode(0o777))
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        remove_made_parents(created)
        raise


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


def read_user_text(path: str | Path) -> str:
    """A user's UTF-8 text file; a missing file or another encoding is a clear error."""
    from pipeline.core.errors import DataError, PipelineError

    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PipelineError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError.single(path, None, "(encoding)", f"expected UTF-8 text: {exc.reason}") from None


def read_json(path: Path, what: str) -> Any:
    """A JSON file's content; a clear error naming the file and what it should hold."""
    import json

    from pipeline.core.errors import PipelineError

    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PipelineError(f"{path}: not found ({what})") from None
    except UnicodeDecodeError as exc:
        raise PipelineError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); expected {what}") from None
    except json.JSONDecodeError as exc:
        raise PipelineError(
            f"{path}: line {exc.lineno}, column {exc.colno}: not valid JSON ({exc.msg}); expected {what}"
        ) from None
    except (OSError, RecursionError) as exc:
        raise PipelineError(f"{path}: cannot be read ({exc}); expected {what}") from None
