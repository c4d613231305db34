"""grooming-risk: a reproducible research pipeline for grooming-risk text classification.

The public API, re-exported here::

    from pipeline import load_schema, read_conversations, to_message_frame
    schema = load_schema()
    conversations = read_conversations("data/corpus.jsonl")
    frame = to_message_frame(conversations)
"""

from pipeline.core.errors import DataError, PipelineError
from pipeline.data.corpus import (
    Conversation,
    Message,
    from_dataset,
    from_message_frame,
    iter_conversations,
    read_conversations,
    to_dataset,
    to_message_frame,
    write_conversations,
)
from pipeline.schema import Schema, load_schema

__all__ = [
    "Conversation",
    "DataError",
    "Message",
    "PipelineError",
    "Schema",
    "from_dataset",
    "from_message_frame",
    "iter_conversations",
    "load_schema",
    "read_conversations",
    "to_dataset",
    "to_message_frame",
    "write_conversations",
]
__version__ = "0.1.0"
