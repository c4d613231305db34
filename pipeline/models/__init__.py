"""Model kinds behind one interface (``pipeline.models.base.Model``)."""

from pipeline.models.base import ConversationPrediction, Model, load_model
from pipeline.models.lexicon import LexiconModel
from pipeline.models.tfidf import TfidfModel

__all__ = ["ConversationPrediction", "LexiconModel", "Model", "TfidfModel", "load_model"]
