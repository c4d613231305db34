"""Tables with one message per row (CSV, TSV, Parquet, JSONL, Hugging Face datasets) into the
conversation format.

Column names are options (``TableColumns``): conversation id, author and text are required;
time, order, message labels (with a separator) and conversation label are optional. Rows of
a conversation keep their file order unless an order or time column is given (stable sort).
A labels cell that is empty means "annotated, no behaviour" (``[]``); a null cell (``NA`` or
``null`` in CSV/TSV, null in Parquet/JSON) means "not annotated".
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pipeline.config.data import TableColumns
from pipeline.core.errors import DataError, Problem
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


def read_table(path: str | Path):
    """A pandas DataFrame from CSV, TSV, Parquet or JSON Lines (by extension)."""
    import pandas as pd

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
                na_values=["NA", "null"],
                encoding="utf-8",
            )
        if fmt == "parquet":
            return pd.read_parquet(path)
        return pd.read_json(path, lines=fmt == "jsonl", dtype=False)
    except FileNotFoundError:
        raise DataError.single(path, None, "(file)", "file not found") from None
    except UnicodeDecodeError as exc:
        raise DataError.single(path, None, "(encoding)", f"expected UTF-8 text: {exc.reason}") from None
    except ValueError as exc:  # pandas' parse errors (bad JSON, bad CSV quoting...)
        raise DataError.single(path, None, "(file)", f"cannot be parsed as {fmt}: {exc}") from None


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
    known = set(label_ids)
    problems: list[Problem] = []
    grouped: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    required = [columns.conversation, columns.author, columns.text]
    optional = [c for c in (columns.time, columns.order, columns.labels, columns.label, columns.language) if c]
    for offset, row in enumerate(records):
        line = first_line + offset
        if offset == 0:
            missing = [c for c in required + optional if c not in row]
            if missing:
                raise DataError.single(
                    path, None, "(columns)", f"missing column(s) {missing}; the table has {sorted(row)}"
                )
        cid = row[columns.conversation]
        if _missing(cid) or str(cid).strip() == "":
            problems.append(Problem(path, line, columns.conversation, "expected a conversation id"))
            continue
        grouped.setdefault(str(cid), []).append((line, row))

    conversations = []
    for cid, rows in grouped.items():
        if columns.order or columns.time:
            key = columns.order or columns.time

            def sort_key(item, key=key):
                value = item[1][key]
                if _missing(value):
                    return (1, 0.0, "")
                try:
                    return (0, float(value), "")
                except (TypeError, ValueError):
                    return (0, 0.0, str(value))

            rows = sorted(rows, key=sort_key)
        messages = []
        conversation_label: int | None = None
        for line, row in rows:
            labels = None
            if columns.labels:
                cell = row[columns.labels]
                if isinstance(cell, (list, tuple)) or hasattr(cell, "tolist"):
                    labels = [str(x) for x in (cell.tolist() if hasattr(cell, "tolist") else cell)]
                elif not _null(cell):
                    labels = [part.strip() for part in str(cell).split(columns.labels_sep) if part.strip()]
                for label in labels or []:
                    if label not in known:
                        problems.append(
                            Problem(
                                path, line, columns.labels, f"unknown label '{label}'; expected one of {sorted(known)}"
                            )
                        )
            if columns.label and not _missing(row[columns.label]):
                try:
                    value = int(float(row[columns.label]))
                    if value not in (0, 1):
                        raise ValueError
                except (TypeError, ValueError):
                    problems.append(
                        Problem(path, line, columns.label, f"expected 0 or 1, found {row[columns.label]!r}")
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
            if _missing(author) or str(author).strip() == "":
                problems.append(Problem(path, line, columns.author, "expected an author id"))
                continue
            time = row[columns.time] if columns.time else None
            messages.append(
                Message(
                    author=str(author),
                    text="" if _null(text) else str(text),
                    time=None if _missing(time) else _time_text(time),
                    labels=labels,
                )
            )
        if not messages:
            continue
        row_language = rows[0][1][columns.language] if columns.language else None
        conversations.append(
            Conversation(
                conversation_id=cid,
                source=source,
                messages=messages,
                label=conversation_label,
                language=(None if _missing(row_language) else str(row_language)) if columns.language else language,
            )
        )
    if problems:
        raise DataError(problems)
    return conversations


def _time_text(value: Any) -> str:
    """Times as the format wants them: ISO 8601 (or HH:MM, kept as written)."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def ingest_table(
    path: str | Path, columns: TableColumns, *, source: str, language: str | None, label_ids: Iterable[str]
) -> list[Conversation]:
    frame = read_table(path)
    # CSV/TSV rows start on line 2 (after the header); JSON Lines and Parquet rows count from 1.
    first = 2 if Path(path).suffix.lower() in (".csv", ".tsv", ".tab") else 1
    return conversations_from_records(
        frame.to_dict("records"),
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

    path = Path(path)
    if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
        dataset = load_from_disk(str(path))
    else:
        builder = {".csv": "csv", ".tsv": "csv", ".parquet": "parquet", ".jsonl": "json", ".json": "json"}.get(
            path.suffix.lower()
        )
        if builder is None or not path.exists():
            raise DataError.single(
                path, None, "(file)", "expected a save_to_disk folder or a CSV/TSV/Parquet/JSON file"
            )
        kwargs = {"delimiter": "\t"} if path.suffix.lower() == ".tsv" else {}
        dataset = load_dataset(builder, data_files=str(path), split="train", **kwargs)
    if isinstance(dataset, DatasetDict):
        if split not in dataset:
            raise DataError.single(path, None, "(split)", f"expected split '{split}', found {list(dataset)}")
        dataset = dataset[split]
    return conversations_from_records(
        iter(dataset), columns, path=str(path), source=source, language=language, label_ids=label_ids, first_line=1
    )
