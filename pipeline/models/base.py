"""The one model interface shared by every model kind.

A model turns conversations into per-message label probabilities; everything above that
(per-label thresholds, conversation risk after every message, the first alert) is shared
code, so every kind is judged the same way. A fitted model saves itself to a
self-describing directory: ``model.json`` (kind, schema version, label list, thresholds,
risk settings, params) plus whatever files the kind needs.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import ValidationError

from pipeline.config.models import ModelSection
from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_directory, write_text_atomic
from pipeline.data.corpus import Conversation
from pipeline.models.risk import RiskConfig, RiskScorer, best_threshold

MODEL_FILE = "model.json"


@dataclass
class ConversationPrediction:
    conversation_id: str
    probabilities: np.ndarray  # (n_messages, n_labels)
    predicted: np.ndarray  # (n_messages, n_labels) booleans: probability >= label threshold
    risk: np.ndarray  # (n_messages,) running risk after each message
    alert: int | None  # index of the first alerting message


def label_matrix(conversation: Conversation, label_ids: list[str]) -> np.ndarray:
    """Gold labels as a 0/1 matrix; rows of unannotated messages are -1."""
    index = {label: j for j, label in enumerate(label_ids)}
    matrix = np.zeros((len(conversation.messages), len(label_ids)), dtype=int)
    for i, message in enumerate(conversation.messages):
        if message.labels is None:
            matrix[i] = -1
        for label in message.labels or []:
            if label in index:
                matrix[i, index[label]] = 1
    return matrix


def seeded_sample(indices, limit: int | None, seed: int) -> list:
    """At most ``limit`` of ``indices``, a seeded random choice kept in order (all when ``limit``
    is empty or not smaller): the one subsampler of the project (valid sets, training messages,
    evaluation samples)."""
    indices = list(indices)
    if not limit or len(indices) <= limit:
        return indices
    return sorted(random.Random(seed).sample(indices, int(limit)))


def subsample_conversations(conversations: list[Conversation], limit: int | None, seed: int) -> list[Conversation]:
    """At most ``limit`` conversations, a seeded random choice kept in corpus order."""
    if not limit or len(conversations) <= limit:
        return conversations
    return [conversations[i] for i in seeded_sample(range(len(conversations)), limit, seed)]


def present_label_probabilities(classifier, features, present: np.ndarray) -> np.ndarray:
    """``predict_proba`` of a one-vs-rest classifier fitted on the labels in ``present``, one
    column per label (with a single label, scikit-learn returns the two binary columns)."""
    probabilities = classifier.predict_proba(features)
    if int(present.sum()) == 1 and probabilities.shape[1] == 2:
        probabilities = probabilities[:, 1:]
    return probabilities


def split_rows(rows: np.ndarray, conversations: list[Conversation]) -> list[np.ndarray]:
    """Per-message rows of a whole corpus back into one array per conversation."""
    out, start = [], 0
    for conversation in conversations:
        out.append(rows[start : start + len(conversation.messages)])
        start += len(conversation.messages)
    return out


# Speaker markers put before each context turn when ``context_roles`` is on: relative to the
# message being classified (the same author, or the other side), since the annotated roles are
# unknown at inference time. What the child says changes what the adult's message means.
SAME_SPEAKER, OTHER_SPEAKER = "[me]", "[them]"


def message_turns(conversations: list[Conversation], context: int) -> tuple[list[str], list[list[tuple[bool, str]]]]:
    """Each message's text and its ``context`` previous turns, oldest first, as
    ``(same_speaker, text)``: whether the turn's author also wrote the message."""
    texts, contexts = [], []
    for conversation in conversations:
        messages = conversation.messages
        for i, message in enumerate(messages):
            texts.append(message.text)
            contexts.append(
                [(m.author == message.author, m.text) for m in messages[max(0, i - context) : i]] if context else []
            )
    return texts, contexts


def message_inputs(
    conversations: list[Conversation], context: int, roles: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Each message's text and its ``context`` previous messages (oldest first, one per turn);
    with ``roles``, each turn starts with a speaker marker (``[me]`` or ``[them]``)."""
    texts, turns = message_turns(conversations, context)
    if roles:
        return texts, [[f"{SAME_SPEAKER if same else OTHER_SPEAKER} {text}" for same, text in c] for c in turns]
    return texts, [[text for _, text in c] for c in turns]


class Model:
    """Base class: subclasses implement ``_fit``, ``message_probabilities`` and their files.

    As in scikit-learn, the constructor only stores the settings (typed: ``settings_class``) and
    ``fit`` (or ``load_model``) sets the fitted attributes, whose names end in ``_``."""

    kind: ClassVar[str] = "base"
    settings_class: ClassVar[type[ModelSection]] = ModelSection  # the kind's typed settings (pipeline.config.models)
    requirements: ClassVar[list[str]] = []  # pip packages beyond the common ones, for the MLflow model
    files: ClassVar[tuple[str, ...]] = ()  # what the kind writes beside model.json (patterns): nothing else loads

    def __init__(
        self,
        label_ids: list[str],
        params: dict[str, Any] | None = None,
        risk: RiskConfig | None = None,
        seed: int = 0,
        schema_version: int | None = None,
    ):
        self.label_ids = list(label_ids)
        try:
            self.settings = self.settings_class.model_validate(params or {})
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise PipelineError(f"{self.kind} settings: {problems}") from None
        self.params = self.settings.model_params()  # every setting, defaults included (saved in model.json)
        self.seed = seed
        self.schema_version = schema_version
        self.risk = risk or RiskConfig()
        # Optional hooks for kinds that train in epochs and steps (train.py logs epochs to MLflow).
        self.on_epoch: Callable[[int, dict[str, float]], None] | None = None
        self.on_step: Callable[[int], None] | None = None

    # -------------------------------------------------------------- interface

    def _fit(self, train: list[Conversation], valid: list[Conversation]) -> list[np.ndarray] | None:
        """Learn from train (and valid, for early stopping); nothing to do for rule models.
        May return the valid set's message probabilities, sparing ``tune`` a second pass."""
        return None

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        raise NotImplementedError

    def _save_files(self, directory: Path) -> None:
        pass

    def _load_files(self, directory: Path) -> None:
        pass

    # ----------------------------------------------------------------- shared

    def fit(
        self,
        train: list[Conversation],
        valid: list[Conversation],
        valid_whole: list[Conversation] | None = None,
        thresholds_on: str = "all",
    ) -> Model:
        """Learn, then tune thresholds and risk. Slow kinds tune on a seeded subset of valid
        (``max_valid_conversations``); ``valid_whole`` (the human-written valid split) is always
        added whole. ``thresholds_on="whole"`` tunes the per-label thresholds on ``valid_whole``
        alone (the style the model will meet), the conversation risk still on both."""
        if thresholds_on not in ("all", "whole"):
            raise PipelineError(f"thresholds_on: expected 'all' or 'whole', found {thresholds_on!r}")
        valid = subsample_conversations(valid, self.params.get("max_valid_conversations"), self.seed)
        whole = list(valid_whole or [])
        probabilities = self._fit(train, valid + whole)
        only = [False] * len(valid) + [True] * len(whole) if thresholds_on == "whole" and whole else None
        self.tune(valid + whole, probabilities, thresholds_from=only)
        return self

    def tune(
        self,
        valid: list[Conversation],
        probabilities: list[np.ndarray] | None = None,
        thresholds_from: list[bool] | None = None,
    ) -> None:
        """Per-label thresholds (best F1 on annotated valid messages, or on the conversations
        marked in ``thresholds_from``), then the risk scorer on all of valid."""
        if probabilities is None:
            probabilities = self.message_probabilities(valid)
        self.thresholds_ = np.full(len(self.label_ids), 0.5)  # where valid has no annotated message
        chosen = [i for i in range(len(valid)) if thresholds_from is None or thresholds_from[i]]
        gold = [label_matrix(valid[i], self.label_ids) for i in chosen]
        annotated = [g[:, 0] >= 0 for g in gold]
        if any(a.any() for a in annotated):
            p = np.vstack([probabilities[i][a] for i, a in zip(chosen, annotated, strict=True)])
            y = np.vstack([g[a] for g, a in zip(gold, annotated, strict=True)])
            self.thresholds_ = np.array([best_threshold(y[:, j], p[:, j]) for j in range(len(self.label_ids))])
        self.risk_ = RiskScorer(self.risk, self.label_ids).fit(
            probabilities, [c.label for c in valid], self.thresholds_, seed=self.seed
        )

    def predict(self, conversations: list[Conversation]) -> list[ConversationPrediction]:
        out = []
        for conversation, probabilities in zip(conversations, self.message_probabilities(conversations), strict=True):
            risk = self.risk_.running(probabilities)
            out.append(
                ConversationPrediction(
                    conversation_id=conversation.conversation_id,
                    probabilities=probabilities,
                    predicted=probabilities >= self.thresholds_,
                    risk=risk,
                    alert=self.risk_.alert(probabilities, risk),
                )
            )
        return out

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "schema_version": self.schema_version,
            "label_ids": self.label_ids,
            "thresholds": dict(zip(self.label_ids, self.thresholds_.round(6).tolist(), strict=True)),
            "risk": self.risk_.to_dict(),
            "params": self.params,
            "seed": self.seed,
            "code_sha256": code_fingerprint(self.kind),
        }

    def save(self, directory: str | Path) -> Path:
        """Write the folder beside ``directory`` and swap it in whole: a failed save leaves the
        previous folder as it was, and no file of an older model survives in the new one."""
        directory = Path(directory)
        with atomic_directory(directory) as staging:
            self._save_files(staging)
            write_text_atomic(staging / MODEL_FILE, json.dumps(self.describe(), indent=2, ensure_ascii=False) + "\n")
        return directory


def code_files(kind: str) -> list[Path]:
    """The source files behind a model kind's predictions: the shared interface, risk and encoder
    code, and the kind's own sub-package (the same files as its ``train`` stage's code deps)."""
    root = Path(__file__).resolve().parent
    shared = [root / "__init__.py", root / "base.py", root / "encoder.py", root / "files.py", root / "risk.py"]
    return shared + sorted((root / kind).rglob("*.py"))


def code_fingerprint(kind: str) -> str:
    """sha256 of ``code_files(kind)``. Written into model.json so that a change of code changes the
    model folder too: whatever depends on the folder (an ensemble's members) is rerun by DVC."""
    digest = hashlib.sha256()
    root = Path(__file__).resolve().parent
    for path in code_files(kind):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_model(directory: str | Path) -> Model:
    """Load a model directory written by ``Model.save``."""
    directory = Path(directory)
    from pipeline.models import KINDS, kind_class
    from pipeline.models.files import check_folder, read_json

    if not directory.is_dir():
        raise PipelineError(f"{directory}: not a model directory (no such folder)")
    if not (directory / MODEL_FILE).is_file():
        raise PipelineError(f"{directory}: not a model directory (no {MODEL_FILE})")
    info = read_json(directory / MODEL_FILE)
    kind = info.get("kind") if isinstance(info, dict) else None
    cls = kind_class(kind) if isinstance(kind, str) else None
    if cls is None:
        raise PipelineError(
            f"{directory / MODEL_FILE}: kind: unknown model kind {kind!r}; expected one of {sorted(KINDS)}"
        )
    check_folder(directory, (MODEL_FILE, *cls.files), cls.kind)  # before any file but model.json is read
    try:
        model = cls(
            info["label_ids"], info.get("params"), seed=info.get("seed", 0), schema_version=info.get("schema_version")
        )
        model.thresholds_ = np.array([float(info["thresholds"][label]) for label in model.label_ids])
        model.risk_ = RiskScorer.from_dict(info["risk"], model.label_ids)
    except (KeyError, TypeError, ValueError) as exc:
        raise PipelineError(
            f"{directory / MODEL_FILE}: missing or malformed field {exc} (expected what Model.save writes)"
        ) from None
    model._load_files(directory)
    return model
