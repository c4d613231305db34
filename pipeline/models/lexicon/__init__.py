"""The rule baseline: cue patterns per label and language, kept in the schema (``cues``).

In the spirit of ChatCoder's rule coding: a message's score for a label grows with the
number of distinct cues it matches (1 - 0.5^n: one cue 0.5, two 0.75, ...). No training;
per-label thresholds and the conversation risk are still tuned on the validation split.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pipeline.config.models import LexiconSettings
from pipeline.core.errors import PipelineError
from pipeline.data.corpus import Conversation
from pipeline.models.base import Model

CUES_FILE = "cues.json"


class LexiconModel(Model):
    kind = "lexicon"
    settings_class = LexiconSettings
    files = (CUES_FILE,)

    def __init__(self, *args, cues: dict[str, dict[str, list[str]]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._cues = cues
        self._patterns: dict[str, list[list[re.Pattern]]] | None = None

    @property
    def cues(self) -> dict[str, dict[str, list[str]]]:
        """The cue patterns: the saved ones of a loaded model, else the schema's (read on first
        use, so that loading a saved model needs no schema file, as when it is served)."""
        if self._cues is None:
            from pipeline.schema import load_schema

            schema = load_schema()
            self._cues = {label.id: label.cues for label in schema.labels if label.id in self.label_ids}
            self.schema_version = self.schema_version or schema.version
        return self._cues

    @cues.setter
    def cues(self, value: dict[str, dict[str, list[str]]]) -> None:
        self._cues = value
        self._patterns = None

    def _compile(self) -> None:
        self._patterns = {}
        languages = {lang for per_label in self.cues.values() for lang in per_label}
        for lang in languages | {"*"}:
            self._patterns[lang] = [
                [re.compile(p, re.IGNORECASE) for p in self._for_language(label, lang)] for label in self.label_ids
            ]

    def _for_language(self, label: str, language: str) -> list[str]:
        per_label = self.cues.get(label, {})
        if language == "*":  # unknown language: every language's cues
            return [p for patterns in per_label.values() for p in patterns]
        return per_label.get(language, [])

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        if self._patterns is None:
            self._compile()
        out = []
        for conversation in conversations:
            patterns = self._patterns.get(conversation.language or "*", self._patterns["*"])
            scores = np.zeros((len(conversation.messages), len(self.label_ids)))
            for i, message in enumerate(conversation.messages):
                for j, label_patterns in enumerate(patterns):
                    hits = sum(1 for p in label_patterns if p.search(message.text))
                    scores[i, j] = 1 - 0.5**hits
            out.append(scores)
        return out

    def _save_files(self, directory: Path) -> None:
        (directory / CUES_FILE).write_text(json.dumps(self.cues, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    def _load_files(self, directory: Path) -> None:
        from pipeline.models.files import read_json

        cues = read_json(directory / CUES_FILE)
        shape_ok = isinstance(cues, dict) and all(
            isinstance(per_label, dict)
            and all(isinstance(p, list) and all(isinstance(x, str) for x in p) for p in per_label.values())
            for per_label in cues.values()
        )
        if not shape_ok:
            raise PipelineError(f"{directory / CUES_FILE}: expected {{label: {{language: [regular expression, ...]}}}}")
        self._cues = cues
        try:
            self._compile()
        except re.error as exc:
            raise PipelineError(f"{directory / CUES_FILE}: a cue is not a valid regular expression ({exc})") from None
