"""Tables with one message per row (CSV, TSV, Parquet, JSONL, Hugging Face datasets) into the
conversation format.

Column names are options (``TableColumns``): conversation id, author and text are required;
time, order, message labels (with a separator) and conversation label are optional. Rows of
a conversation keep their file order unless an order or time column is given (stable sort).
A labels cell that is empty means "annotated, no behaviour" (``[]``); a null cell (``NA`` or
``null`` in CSV/TSV, null in Parquet/JSON) means "not annotated". In CSV/TSV, ``NA`` and ``null``
are null only in the optional columns: an id, an author or a message that reads ``NA`` is kept.

Bad input is refused, every problem with its row and column: a table without rows; an id,
author or text that is null, a list or an object (a text may be empty, but not missing); an
order that is not a number; a time, label or language the format does not accept.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pipeline.config.data import TableColumns
from pipeline.core.errors import DataError, PipelineError, Problem
from pipeline.data.corpus import Conversation, Message

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".json": "json",
}


def _null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or str(value) in ("<NA>", "NaT")


def _missing(value: Any) -> bool:
    """Null or blank: for every column but the labels, where blank means ``[]``."""
    return _null(value) or (isinstance(value, str) and not value.strip())


def _kind(value: Any) -> str:
    """What a cell holds, in words for a message (never its repr: it may be a whole object)."""
    if _null(value):
        return "null"
    if isinstance(value, dict):
        return "dict"
    if isinstance(value, (list, tuple)) or getattr(value, "ndim", 0) > 0:  # numpy arrays from Parquet/Arrow
        return "list"
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "boolean"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    return type(value).__name__


def _shown(value: Any, limit: int = 40) -> str:
    """A cell for a message: short text quoted, a number as written, anything else by its kind."""
    if isinstance(value, str):
        return repr(value if len(value) <= limit else value[:limit] + "...")
    if isinstance(value, numbers.Number) and not isinstance(value, bool):
        return str(value)
    return _kind(value)


def _text(value: Any) -> str | None:
    """A cell as text, or None if it is not text. Numbers count (ids are often numbers); null,
    booleans, lists, objects and bytes do not: their Python repr is not what the file says."""
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value):
        return str(value)
    return None


def read_table(path: str | Path, na_columns: Collection[str] | None = None):
    """A pandas DataFrame from CSV, TSV, Parquet or JSON Lines (by extension). In CSV/TSV, ``NA``
    and ``null`` are null in ``na_columns`` only (default: in every column)."""
    import pandas as pd
    from pyarrow import ArrowException

    path = Path(path)
    fmt = TABLE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataError.single(path, None, "(file)", f"expected one of {sorted(TABLE_FORMATS)}, found '{path.suffix}'")
    try:
        if fmt in ("csv", "tsv"):
            return pd.read_csv(
                path,
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                na_values=_NA if na_columns is None else {column: _NA for column in na_columns},
                encoding="utf-8",
            )
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=fmt == "jsonl", dtype=False)
    except FileNotFoundError:
        raise DataError.single(path, None, "(file)", "file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError.single(path, None, "(encoding)", f"expected UTF-8 text: {exc.reason}") from None
    except OSError as exc:  # a folder, no permission; Arrow's "couldn't deserialize" errors too
        raise DataError.single(path, None, "(file)", f"cannot be read as {fmt}: {_first_line(exc)}") from None
    except (ValueError, TypeError, IndexError, KeyError, OverflowError, RecursionError, ArrowException) as exc:
        # pandas' and Arrow's parse errors (bad JSON, bad CSV quoting, not Parquet, damaged Parquet...)
        raise DataError.single(path, None, "(file)", f"cannot be parsed as {fmt}: {_first_line(exc)}") from None


_NA = ["NA", "null"]
_NO_ROWS = "expected at least one message row, found no rows"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]


def conversations_from_records(
    records: Iterable[dict[str, Any]],
    columns: TableColumns,
    *,
    path: str,
    source: str,
    language: str | None,
    label_ids: Iterable[str],
    first_line: int = 2,
) -> list[Conversation]:
    """Group message rows into conversations; every bad cell is reported with its row."""
    if language is not None and not _LANGUAGE.fullmatch(language):
        raise PipelineError(f"language: expected a two-letter ISO 639-1 code such as 'en' or 'fr', found '{language}'")
    known = set(label_ids)
    problems: list[Problem] = []
    grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    required = [columns.conversation, columns.author, columns.text]
    optional = _optional_columns(columns)
    rows_read = 0
    for offset, row in enumerate(records):
        rows_read += 1
        line = first_line + offset
        if offset == 0:
            missing = [c for c in required + optional if c not in row]
            if missing:
                raise DataError.single(
                    path, None, "(columns)", f"missing column(s) {missing}; the table has {sorted(map(str, row))}"
                )
        cid = row[columns.conversation]
        if _missing(cid):
            problems.append(Problem(path, line, columns.conversation, "expected a conversation id"))
            continue
        if _text(cid) is None:
            problems.append(Problem(path, line, columns.conversation, f"expected a string, found {_kind(cid)}"))
            continue
        grouped.setdefault(_text(cid), []).append((line, row))
    if rows_read == 0:
        raise DataError.single(path, None, "(file)", _NO_ROWS)

    conversations = []
    for cid, rows in grouped.items():
        if columns.order or columns.time:
            if columns.order and not _numeric_order(rows, columns.order, path, problems):
                continue
            rows = sorted(rows, key=lambda item, key=columns.order or columns.time: _sort_key(item[1][key]))
        messages = []
        conversation_label: int | None = None
        for line, row in rows:
            labels = _labels(row[columns.labels], line, columns, known, path, problems) if columns.labels else None
            if columns.label and not _missing(row[columns.label]):
                value = _risk(row[columns.label])
                if value is None:
                    problems.append(
                        Problem(path, line, columns.label, f"expected 0 or 1, found {_shown(row[columns.label])}")
                    )
                    continue
                if conversation_label is not None and value != conversation_label:
                    problems.append(
                        Problem(
                            path,
                            line,
                            columns.label,
                            f"conversation '{cid}' has both labels 0 and 1; expected one per conversation",
                        )
                    )
                conversation_label = value
            author, text = row[columns.author], row[columns.text]
            if _missing(author):
                problems.append(Problem(path, line, columns.author, "expected an author id"))
                continue
            bad = [
                (column, value)
                for column, value in ((columns.author, author), (columns.text, text))
                if _text(value) is None
            ]
            time = row[columns.time] if columns.time else None
            if columns.time and not _missing(time) and not hasattr(time, "isoformat") and not isinstance(time, str):
                bad.append((columns.time, time))
            if bad:
                for column, value in bad:
                    problems.append(Problem(path, line, column, f"expected a string, found {_kind(value)}"))
                continue
            fields = {
                "author": _text(author),
                "text": _text(text),
                "time": None if _missing(time) else _time_text(time),
                "labels": labels,
            }
            try:
                messages.append(Message(**fields))
            except ValidationError as exc:
                problems.extend(_validation_problems(exc, path, line, columns, fields))
        if not messages:
            continue
        first_row_line, first_row = rows[0]
        row_language = first_row[columns.language] if columns.language else language
        if columns.language and not _missing(row_language) and not isinstance(row_language, str):
            problems.append(
                Problem(path, first_row_line, columns.language, f"expected a string, found {_kind(row_language)}")
            )
            continue
        try:
            conversations.append(
                Conversation(
                    conversation_id=cid,
                    source=source,
                    messages=messages,
                    label=conversation_label,
                    language=None if _missing(row_language) else row_language,
                )
            )
        except ValidationError as exc:
            problems.extend(_validation_problems(exc, path, first_row_line, columns, {"language": row_language}))
    if problems:
        raise DataError(problems)
    return conversations


_LANGUAGE = re.compile("[a-z]{2}")


def _numeric_order(rows: list[tuple[int, dict[str, Any]]], column: str, path: str, problems: list[Problem]) -> bool:
    """Whether every order cell of a conversation is a number (or empty: such rows go last)."""
    fine = True
    for line, row in rows:
        value = row[column]
        if _missing(value):
            continue
        try:
            number = float(value) if isinstance(value, (str, numbers.Real)) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or not math.isfinite(number):
            problems.append(
                Problem(path, line, column, f"expected a number (the message order), found {_shown(value)}")
            )
            fine = False
    return fine


def _sort_key(value: Any) -> tuple[int, float, str]:
    """Numbers in numeric order, then text (ISO times sort as text), then missing values."""
    if _missing(value):
        return (2, 0.0, "")
    try:
        number = float(value)
        if math.isfinite(number):
            return (0, number, "")
    except (TypeError, ValueError):
        pass
    return (1, 0.0, str(value) if isinstance(value, str) or hasattr(value, "isoformat") else "")


def _labels(
    cell: Any, line: int, columns: TableColumns, known: set[str], path: str, problems: list[Problem]
) -> list[str] | None:
    """A labels cell: separated text or a list (Parquet, JSON); null means not annotated."""
    if isinstance(cell, (list, tuple)) or getattr(cell, "ndim", 0) > 0:
        items = list(cell.tolist() if hasattr(cell, "tolist") else cell)
        odd = [item for item in items if not isinstance(item, str)]
        if odd:
            problems.append(
                Problem(
                    path, line, columns.labels, f"expected label ids (strings), found a {_kind(odd[0])} in the list"
                )
            )
            return None
        labels = items
    elif _null(cell):
        return None
    elif isinstance(cell, str):
        labels = [part.strip() for part in cell.split(columns.labels_sep) if part.strip()]
    else:
        problems.append(
            Problem(
                path,
                line,
                columns.labels,
                f"expected label ids separated by '{columns.labels_sep}' or a list, found {_kind(cell)}",
            )
        )
        return None
    for label in labels:
        if label not in known:
            problems.append(
                Problem(path, line, columns.labels, f"unknown label {_shown(label)}; expected one of {sorted(known)}")
            )
    return labels


def _risk(value: Any) -> int | None:
    """A conversation label cell as 0 or 1; None if it is anything else."""
    if isinstance(value, bool) or not isinstance(value, (str, numbers.Real)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return int(number) if number in (0.0, 1.0) else None


def _validation_problems(
    exc: ValidationError, path: str, line: int, columns: TableColumns, values: dict[str, Any]
) -> list[Problem]:
    """The format's own checks (time, repeated labels, language) as problems of a row's cells."""
    column_of = {
        "author": columns.author,
        "text": columns.text,
        "time": columns.time,
        "labels": columns.labels,
        "language": columns.language or "language",
    }
    problems = []
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        reason = str(error["ctx"]["error"]) if error["type"] == "value_error" else error["msg"]
        found = f", found {_shown(values[name])}" if name in ("time", "language") else ""
        problems.append(Problem(path, line, column_of.get(name) or name or "(row)", f"{reason}{found}"))
    return problems


def _optional_columns(columns: TableColumns) -> list[str]:
    return [c for c in (columns.time, columns.order, columns.labels, columns.label, columns.language) if c]


def _time_text(value: Any) -> str:
    """Times as the format wants them: ISO 8601 (or HH:MM, kept as written)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def ingest_table(
    path: str | Path, columns: TableColumns, *, source: str, language: str | None, label_ids: Iterable[str]
) -> list[Conversation]:
    # NA/null mean null only where null means something; an id, author or text "NA" is kept
    frame = read_table(path, na_columns=_optional_columns(columns))
    # CSV/TSV rows start on line 2 (after the header); JSON Lines and Parquet rows count from 1.
    first = 2 if Path(path).suffix.lower() in (".csv", ".tsv", ".tab") else 1
    try:
        records = frame.to_dict("records")
    except UnicodeDecodeError as exc:  # Arrow-backed strings are decoded only now (a damaged Parquet file)
        raise DataError.single(path, None, "(encoding)", f"expected UTF-8 text: {exc.reason}") from None
    return conversations_from_records(
        records,
        columns,
        path=str(path),
        source=source,
        language=language,
        label_ids=label_ids,
        first_line=first,
    )


def ingest_hf(
    path: str | Path,
    columns: TableColumns,
    *,
    source: str,
    language: str | None,
    label_ids: Iterable[str],
    split: str = "train",
) -> list[Conversation]:
    """A Hugging Face dataset: a ``save_to_disk`` folder, or local data files via ``load_dataset``."""
    from datasets import DatasetDict, load_dataset, load_from_disk
    from datasets.exceptions import DatasetGenerationError

    path = Path(path)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        try:
            dataset = load_from_disk(str(path))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a damaged folder (Arrow, JSON)
            raise DataError.single(path, None, "(file)", f"cannot be read as a dataset: {_first_line(exc)}") from None
    else:
        builder = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(
            path.suffix.lower()
        )
        if builder is None or not path.exists():
            raise DataError.single(
                path, None, "(file)", "expected a save_to_disk folder or a CSV/TSV/Parquet/JSON file"
            )
        kwargs: dict[str, Any] = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
        if builder == "csv":  # the same nulls as ``ingest table``: an empty cell is "", not null
            kwargs.update(keep_default_na=False, na_values={column: _NA for column in _optional_columns(columns)})
        try:
            dataset = load_dataset(builder, data_files=str(path), split="train", **kwargs)
        except DatasetGenerationError as exc:  # the builder's own error is the cause
            reason = _first_line(exc.__cause__ or exc)
            raise DataError.single(path, None, "(file)", f"cannot be read as {builder}: {reason}") from None
        except ValueError as exc:
            if "corresponds to no data" in str(exc):  # how datasets says "a header and no rows"
                raise DataError.single(path, None, "(file)", _NO_ROWS) from None
            raise DataError.single(path, None, "(file)", f"cannot be read as {builder}: {_first_line(exc)}") from None
    if isinstance(dataset, DatasetDict):
        if split not in dataset:
            raise DataError.single(path, None, "(split)", f"expected split '{split}', found {list(dataset)}")
        dataset = dataset[split]
    return conversations_from_records(
        iter(dataset), columns, path=str(path), source=source, language=language, label_ids=label_ids, first_line=1
    )
