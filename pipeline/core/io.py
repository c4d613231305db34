"""Atomic file output: a reader of our outputs sees the old file or the new one, never half.

Writers create a temporary sibling, fill it, flush it to disk and rename it over the target
(``os.replace`` is atomic on POSIX within one file system). On any error the temporary is
removed and the target is left as it was.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any


def _umask_mode(base: int) -> int:
    umask = os.umask(0)
    os.umask(umask)
    return base & ~umask


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
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
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    with atomic_write(path) as handle:
        handle.write(text)


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``path``; swap it in for ``path`` if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
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
        raise


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
