"""Model kinds behind one interface (``pipeline.models.base.Model``).

Each kind lives in its own sub-package (``pipeline/models/<kind>/``), so that a DVC stage can
depend on exactly the code of the kind it trains or evaluates. A kind's module is imported only
when that kind is asked for: loading a tfidf model never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

from pipeline.models.base import ConversationPrediction, Model, load_model

# kind -> its class, in pipeline.models.<kind>
KINDS: dict[str, str] = {
    "lexicon": "LexiconModel",
    "tfidf": "TfidfModel",
    "embed": "EmbedModel",
    "transformer": "TransformerModel",
    "ensemble": "EnsembleModel",
}  # (pipeline.models.external wraps an MLflow pyfunc: it is never trained or loaded from a folder)


def kind_class(kind: str) -> type[Model] | None:
    """The class of model kind ``kind`` (importing its sub-package), or None when unknown."""
    if kind not in KINDS:
        return None
    module = importlib.import_module(f"pipeline.models.{kind}")
    return getattr(module, KINDS[kind])


def __getattr__(name: str) -> Any:  # ``from pipeline.models import TfidfModel`` without eager imports
    for kind, class_name in KINDS.items():
        if name == class_name:
            return kind_class(kind)
    raise AttributeError(f"module 'pipeline.models' has no attribute {name!r}")


__all__ = ["KINDS", "ConversationPrediction", "Model", "kind_class", "load_model", *KINDS.values()]
