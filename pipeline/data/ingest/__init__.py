"""Ingestion: public corpora and tables into the conversation format, and combining sources.

One module per source format (``pan12``, ``table`` for CSV/TSV/Parquet/JSONL and Hugging Face
datasets); ``redact`` protects personal data. ``combine_sources`` runs the sources listed in
``params.yaml`` (``ingest.sources``) into one corpus, each conversation keeping its ``source``.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pipeline.config.data import IngestConfig, SourceSpec  # noqa: F401  (re-exported)
from pipeline.core.progress import progress
from pipeline.data.corpus import Conversation, Message, iter_conversations, write_conversations
from pipeline.data.ingest.pan12 import iter_pan12, read_flagged_lines, read_id_list
from pipeline.data.ingest.redact import pseudonymize, redact_text
from pipeline.data.ingest.table import ingest_hf, ingest_table


def redact_conversation(conversation: Conversation, salt: str) -> Conversation:
    """Placeholders for e-mails, phones, URLs and @handles; salted hashes for author ids."""
    names: dict[str, str] = {}

    def pseudonym(author: str) -> str:
        return names.setdefault(author, pseudonymize(author, salt))

    messages = [
        Message(**{**m.model_dump(exclude_none=True), "author": pseudonym(m.author), "text": redact_text(m.text)})
        for m in conversation.messages
    ]
    suspects = [pseudonym(s) for s in conversation.suspects] if conversation.suspects else None
    return conversation.model_copy(update={"messages": messages, "suspects": suspects})


def read_source(spec: SourceSpec, label_ids: list[str], flag_ids: list[str], salt: str) -> Iterator[Conversation]:
    """The conversations of one source, redacted unless the source says otherwise."""
    if spec.type == "jsonl":
        conversations: Iterable[Conversation] = iter_conversations(spec.path, label_ids=label_ids, flag_ids=flag_ids)
    elif spec.type == "pan12":
        flagged = read_flagged_lines(spec.lines) if spec.lines else set()
        conversations = iter_pan12(
            spec.corpus,
            read_id_list(spec.predators),
            flagged,
            language=spec.language or "en",
            source=spec.name,
            predators_file=spec.predators,
        )
    elif spec.type == "table":
        conversations = ingest_table(
            spec.path, spec.columns, source=spec.name, language=spec.language, label_ids=label_ids
        )
    else:
        conversations = ingest_hf(
            spec.path, spec.columns, source=spec.name, language=spec.language, label_ids=label_ids, split=spec.split
        )
    redact = spec.redact if spec.redact is not None else spec.type != "jsonl"
    for conversation in conversations:
        if conversation.source is None:
            conversation = conversation.model_copy(update={"source": spec.name})
        yield redact_conversation(conversation, salt) if redact else conversation


def unique_ids(conversations: Iterable[tuple[str, Conversation]]) -> Iterator[Conversation]:
    """Keep ids unique across sources: a clash is renamed ``<source>:<id>`` (with its message ids)."""
    seen: set[str] = set()
    for source, conversation in conversations:
        cid = conversation.conversation_id
        if cid in seen:
            new = f"{source}:{cid}"
            suffix = 2
            while new in seen:
                new, suffix = f"{source}:{cid}#{suffix}", suffix + 1
            warnings.warn(
                f"conversation id '{cid}' of source '{source}' is already used; renamed '{new}'", stacklevel=2
            )
            messages = [m.model_copy(update={"message_id": f"{new}:{i}"}) for i, m in enumerate(conversation.messages)]
            conversation = conversation.model_copy(update={"conversation_id": new, "messages": messages})
            cid = new
        seen.add(cid)
        yield conversation


def combine_sources(config: IngestConfig, out: str | Path, label_ids: list[str], flag_ids: list[str]) -> dict[str, Any]:
    """Write every active source into one corpus; return counts per source."""
    counts: dict[str, int] = {}

    def tagged() -> Iterator[tuple[str, Conversation]]:
        for spec in config.sources:
            if not spec.active:
                continue
            counts[spec.name] = 0
            conversations = read_source(spec, label_ids, flag_ids, config.salt)
            for conversation in progress(conversations, desc=f"ingest {spec.name}", unit="conv"):
                counts[spec.name] += 1
                yield spec.name, conversation

    total = write_conversations(out, unique_ids(tagged()))
    return {"conversations": total, "sources": counts}
