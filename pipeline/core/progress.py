"""Progress bars where a person waits: on stderr, only when it is a terminal, never with ``--quiet``.

A bar is drawn (by ``tqdm``) only when stderr is a terminal and the process is not quiet
(``grooming-risk --quiet``, ``set_quiet(True)`` or the environment variable
``GROOMING_RISK_QUIET=1``). Bars never write to stdout or to any file, and draw no random
numbers: ``progress`` yields exactly the items of what it wraps, in order, so every result and
every file a stage writes is the same with bars on or off.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

from tqdm import tqdm

QUIET_ENV = "GROOMING_RISK_QUIET"

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool = True) -> None:
    """Turn every bar of this process off (``True``) or back to the terminal test (``False``)."""
    global _quiet
    _quiet = bool(quiet)


def is_quiet() -> bool:
    return _quiet or os.environ.get(QUIET_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


def enabled(stream: IO[str] | None = None) -> bool:
    """Whether a bar on ``stream`` (default: stderr) would be drawn."""
    if is_quiet():
        return False
    stream = sys.stderr if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def bar(
    total: int | None = None, desc: str | None = None, *, leave: bool = True, unit: str = "it", stream=None
) -> tqdm:
    """A bar to ``update`` by hand (a disabled, silent one when bars are off)."""
    stream = sys.stderr if stream is None else stream
    on = enabled(stream)
    sized = on and _sized(stream)  # a terminal that reports no size gets 80 x 24
    return tqdm(
        total=total,
        desc=desc,
        file=stream,
        disable=not on,
        leave=leave,
        unit=unit,
        dynamic_ncols=sized,
        ncols=None if sized else 80,
        nrows=None if sized else 24,
        mininterval=0.5,
    )


def _sized(stream) -> bool:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return size.columns > 0 and size.lines > 0


def progress(
    iterable: Iterable[T],
    total: int | None = None,
    desc: str | None = None,
    *,
    leave: bool = True,
    unit: str = "it",
    stream=None,
) -> Iterator[T]:
    """The items of ``iterable``, lazily and unchanged, counted on a bar (``total`` defaults to
    ``len(iterable)`` where there is one). The bar opens at the first item asked for."""
    if total is None:
        try:
            total = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            total = None
    with bar(total, desc, leave=leave, unit=unit, stream=stream) as counter:
        for item in iterable:
            yield item
            counter.update(1)


def write(message: Any) -> None:
    """A line on stderr that does not break a bar being drawn."""
    tqdm.write(str(message), file=sys.stderr)
    sys.stderr.flush()
