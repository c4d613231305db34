"""The TF-IDF baseline: word and character n-grams, one-vs-rest logistic regression.

The input of a message is the message itself plus its ``context_messages`` previous
messages: the message's own n-grams and, in a separate block weighted by
``context_weight``, the context's word n-grams (so context informs but does not drown the
message). With ``context_roles``, the context is two blocks: the turns of the message's own
author and those of the other side (a child's "why do you want a photo" makes the adult's
next message a request). Class weights balance each label; per-label thresholds are tuned on
valid.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from pipeline.config.models import TfidfSettings
from pipeline.core.errors import PipelineError
from pipeline.data.corpus import Conversation
from pipeline.models.base import Model, label_matrix, message_turns, present_label_probabilities, seeded_sample
from pipeline.models.files import (
    LinearHeads,
    linear_arrays,
    load_arrays,
    read_json,
    restore_vectorizer,
    save_arrays,
    vectorizer_state,
)

VOCABULARY_FILE = "tfidf.json"  # each vectorizer's terms, in column order
ARRAYS_FILE = "tfidf.safetensors"  # idf weights, the classifier's coefficients, the labels present


def message_texts(
    conversations: list[Conversation], context: int, roles: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Each message's text and its context blocks: one text joining the ``context`` previous
    messages (oldest first) or, with ``roles``, two: the same author's turns, the other side's."""
    texts, turns = message_turns(conversations, context)
    if roles:
        blocks = [[" \n ".join(t for same, t in c if same), " \n ".join(t for same, t in c if not same)] for c in turns]
    else:
        blocks = [[" \n ".join(t for _, t in c)] for c in turns]
    return texts, blocks


def build_vectorizers(params: dict[str, Any]):
    """Unfitted vectorizers for the message's words, its characters and each context block's words."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    common = {"min_df": params["min_df"], "sublinear_tf": True, "lowercase": True}
    word = TfidfVectorizer(ngram_range=tuple(params["word_ngrams"]), max_features=params["max_features"], **common)
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=tuple(params["char_ngrams"]), max_features=params["max_features"], **common
    )
    blocks = (2 if params.get("context_roles") else 1) if params["context_messages"] else 0
    contexts = [
        TfidfVectorizer(ngram_range=(1, 1), max_features=params["max_features"] // 4, **common) for _ in range(blocks)
    ]
    return (word, char, *contexts)


class TfidfModel(Model):
    kind = "tfidf"
    settings_class = TfidfSettings
    files = (VOCABULARY_FILE, ARRAYS_FILE)

    def _vectorizers(self):
        return build_vectorizers(self.params)

    def _inputs(self, conversations: list[Conversation]) -> tuple[list[str], list[list[str]]]:
        return message_texts(conversations, self.params["context_messages"], self.params["context_roles"])

    def _features(self, texts: list[str], contexts: list[list[str]]):
        word, char, *context_vectorizers = self.vectorizers_
        blocks = [word.transform(texts), char.transform(texts)]
        for b, vectorizer in enumerate(context_vectorizers):
            blocks.append(self.params["context_weight"] * vectorizer.transform([c[b] for c in contexts]))
        return sparse.hstack(blocks).tocsr()

    def _fit(self, train: list[Conversation], valid: list[Conversation]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        texts, contexts = self._inputs(train)
        gold = np.vstack([label_matrix(c, self.label_ids) for c in train])
        keep = np.flatnonzero(gold[:, 0] >= 0)  # annotated messages only
        limit = self.params["max_train_messages"]
        keep = np.array(seeded_sample(keep, limit, self.seed), dtype=int)
        texts = [texts[i] for i in keep]
        contexts = [contexts[i] for i in keep]
        y = gold[keep]
        word, char, *context_vectorizers = self._vectorizers()
        word.fit(texts)
        char.fit(texts)
        for b, vectorizer in enumerate(context_vectorizers):
            # A block that is empty in every training message (e.g. one-sided chats) still
            # needs a vocabulary: the placeholder token keeps it fitted and silent.
            padding = vectorizer.min_df if isinstance(vectorizer.min_df, int) else 1
            vectorizer.fit([c[b] for c in contexts] + ["__empty_context__"] * padding)
        self.vectorizers_ = (word, char, *context_vectorizers)
        features = self._features(texts, contexts)
        self.present_ = y.sum(axis=0) > 0  # labels absent from train get probability 0
        classifier = OneVsRestClassifier(
            LogisticRegression(
                C=self.params["C"], class_weight="balanced", solver="liblinear", random_state=self.seed, max_iter=1000
            )
        )
        self.classifier_ = classifier.fit(features, y[:, self.present_])

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        texts, contexts = self._inputs(conversations)
        probabilities = np.zeros((len(texts), len(self.label_ids)))
        if texts:
            probabilities[:, self.present_] = present_label_probabilities(
                self.classifier_, self._features(texts, contexts), self.present_
            )
        out, start = [], 0
        for conversation in conversations:
            out.append(probabilities[start : start + len(conversation.messages)])
            start += len(conversation.messages)
        return out

    def _save_files(self, directory: Path) -> None:
        vocabularies, arrays = [], {}
        for n, vectorizer in enumerate(self.vectorizers_):
            terms, arrays[f"idf.{n}"] = vectorizer_state(vectorizer)
            vocabularies.append(terms)
        arrays.update(linear_arrays(self.classifier_))
        arrays["present"] = self.present_.astype(np.uint8)
        (directory / VOCABULARY_FILE).write_text(
            json.dumps({"vocabularies": vocabularies}, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        save_arrays(directory / ARRAYS_FILE, arrays)

    def _load_files(self, directory: Path) -> None:
        document = read_json(directory / VOCABULARY_FILE)
        vocabularies = document.get("vocabularies") if isinstance(document, dict) else None
        fresh = self._vectorizers()  # built from the settings in model.json, as at fit time
        if not isinstance(vocabularies, list) or len(vocabularies) != len(fresh):
            raise PipelineError(
                f"{directory / VOCABULARY_FILE}: expected {len(fresh)} vocabularies under 'vocabularies'"
            )
        arrays = load_arrays(
            directory / ARRAYS_FILE, {"coef", "intercept", "present"} | {f"idf.{n}" for n in range(len(fresh))}
        )
        self.vectorizers_ = tuple(
            restore_vectorizer(vectorizer, terms, arrays[f"idf.{n}"], directory / VOCABULARY_FILE)
            for n, (vectorizer, terms) in enumerate(zip(fresh, vocabularies, strict=True))
        )
        self.present_ = arrays["present"].astype(bool)
        columns = sum(len(terms) for terms in vocabularies)
        if self.present_.shape != (len(self.label_ids),) or arrays["coef"].shape != (int(self.present_.sum()), columns):
            raise PipelineError(f"{directory / ARRAYS_FILE}: the classifier's rows do not match the label list")
        self.classifier_ = LinearHeads(arrays["coef"], arrays["intercept"])
