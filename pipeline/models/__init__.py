"""Model kinds behind one interface (``pipeline.models.base.Model``)."""

from pipeline.models.base import ConversationPrediction, Model, load_model
from pipeline.models.embed import EmbedModel
from pipeline.models.ensemble import EnsembleModel
from pipeline.models.lexicon import LexiconModel
from pipeline.models.tfidf import TfidfModel
from pipeline.models.transformer import TransformerModel

__all__ = [
    "ConversationPrediction",
    "EmbedModel",
    "EnsembleModel",
    "LexiconModel",
    "Model",
    "TfidfModel",
    "TransformerModel",
    "load_model",
]
