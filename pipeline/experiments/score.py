"""Scoring a corpus of any size on one machine: read, score and write in batches.

The corpus is read one conversation at a time (``corpus.iter_conversations``), gathered into
batches of about ``batch_messages`` messages (whole conversations: a message's context and the
running risk need the conversation's earlier messages), scored, and written before the next
batch is read. Memory is that of the model and one batch, whatever the corpus's size (measured
by ``make bench``, ``perf/bench_score.py``).

Two outputs, chosen by the suffix of ``out``:

- ``.jsonl``: the corpus itself, with per-message probabilities and predicted labels and the
  conversation's running risk and first alert under ``meta["grooming_risk"]`` (``SCORE_KEY``),
  beside whatever ``meta`` already held;
- ``.parquet``: the message table of the serving contract (``pipeline.tracking.serving``):
  ``conversation_id``, ``message_index``, ``p_<label>``, ``risk``, ``alert``; one Parquet row
  group per batch. ``grooming-risk score --engine spark`` writes the same columns.

Either is written to a temporary file renamed at the end: a bad line anywhere in the input
(reported with every other problem once the whole file is read) leaves no output.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from pipeline import tracking
from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_write
from pipeline.core.progress import bar
from pipeline.data import corpus
from pipeline.data.corpus import Conversation

SCORE_KEY = "grooming_risk"  # the one meta key that score writes: the user's own meta keys are kept
DEFAULT_BATCH_MESSAGES = 20_000  # large enough that per-batch costs vanish, small enough to stay flat
FORMATS = (".jsonl", ".parquet")


def batches(conversations: Iterable[Conversation], batch_messages: int) -> Iterator[list[Conversation]]:
    """Whole conversations, grouped until a batch holds at least ``batch_messages`` messages."""
    if batch_messages < 1:
        raise PipelineError(f"batch size: expected at least 1 message, found {batch_messages}")
    batch: list[Conversation] = []
    size = 0
    for conversation in conversations:
        batch.append(conversation)
        size += len(conversation.messages)
        if size >= batch_messages:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def scored_conversations(model, conversations: list[Conversation]) -> list[Conversation]:
    """``conversations`` with the model's scores under ``meta["grooming_risk"]``."""
    out = []
    for conversation, prediction in zip(conversations, model.predict(conversations), strict=True):
        messages = []
        for i, message in enumerate(conversation.messages):
            scores = {
                "scores": {
                    label: round(float(p), 5)
                    for label, p in zip(model.label_ids, prediction.probabilities[i], strict=True)
                },
                "predicted_labels": [
                    label for label, hit in zip(model.label_ids, prediction.predicted[i], strict=True) if hit
                ],
            }
            messages.append(message.model_copy(update={"meta": {**(message.meta or {}), SCORE_KEY: scores}}))
        risk = {
            "risk": np.round(prediction.risk, 5).tolist(),
            "first_alert": prediction.alert,
            "risk_threshold": round(model.risk_.threshold_, 6),
            "model": model.kind,
        }
        meta = {**(conversation.meta or {}), SCORE_KEY: risk}
        out.append(conversation.model_copy(update={"messages": messages, "meta": meta}))
    return out


def message_table(model, conversations: list[Conversation]):
    """The serving contract's table for ``conversations`` (one row per message, in order): the
    very function the pyfunc model and the Spark engine call, so all three agree value for value."""
    from pipeline.tracking.serving import predict_table

    return predict_table(model, corpus.to_message_frame(conversations))


def output_format(out: Path) -> str:
    if out.suffix.lower() not in FORMATS:
        raise PipelineError(
            f"{out}: expected an output ending in .jsonl (the scored corpus) or .parquet (the message table), "
            f"found '{out.suffix or 'no suffix'}'"
        )
    return out.suffix.lower()


def score_corpus(model_ref: str, data_path: Path, out_path: Path, batch_messages: int = DEFAULT_BATCH_MESSAGES) -> int:
    """Score ``data_path`` with the model at ``model_ref`` (folder or MLflow URI) into ``out_path``
    (.jsonl or .parquet), ``batch_messages`` messages at a time; return the number of conversations."""
    from pipeline.schema import load_schema

    fmt = output_format(Path(out_path))
    schema = load_schema()
    model = tracking.load_model(model_ref, label_ids=schema.label_ids)
    conversations = corpus.iter_conversations(data_path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    count = 0
    with bar(desc="score", unit="msg") as progress:
        if fmt == ".jsonl":
            with atomic_write(out_path) as handle:
                for batch in batches(conversations, batch_messages):
                    for conversation in scored_conversations(model, batch):
                        handle.write(corpus.dumps(conversation) + "\n")
                    count += len(batch)
                    progress.update(sum(len(c.messages) for c in batch))
            return count
        import pyarrow as pa
        import pyarrow.parquet as pq

        writer = None
        with atomic_write(out_path, "wb") as handle:
            try:
                for batch in batches(conversations, batch_messages):
                    table = pa.Table.from_pandas(message_table(model, batch), preserve_index=False)
                    writer = writer or pq.ParquetWriter(handle, table.schema)
                    writer.write_table(table)
                    count += len(batch)
                    progress.update(table.num_rows)
            finally:
                if writer is not None:
                    writer.close()
        return count
