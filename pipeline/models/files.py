"""What a model folder may hold, and how its learnt parts are stored: data, never code.

A model folder is a trust boundary: people load folders that others send them. So nothing in a
folder is unpickled (no joblib, no ``torch.load`` of a full pickle, no cloudpickle):

- learnt numbers are plain arrays in safetensors files (a JSON header and raw bytes, written with
  a sorted header, so the same arrays give the same bytes);
- everything else is JSON (vocabularies, settings, thresholds);
- fitted scikit-learn parts are rebuilt from those arrays: a TF-IDF vectorizer from its
  vocabulary and idf weights, a logistic regression from its coefficients and intercept;
- Hugging Face encoders are read from safetensors only (``use_safetensors=True``);
- a folder holding any file its kind does not write is refused before anything is read.
"""

from __future__ import annotations

from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.core.errors import PipelineError

# The files of a Hugging Face encoder that this project writes with ``save_pretrained``, or that a
# tokenizer may carry: all of them data (JSON, plain text, safetensors, sentencepiece protobuf).
ENCODER_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "sentencepiece.bpe.model",
    "spiece.model",
    "chat_template.jinja",
)


def encoder_files(folder: str) -> tuple[str, ...]:
    """The allowed files of an encoder saved under ``folder`` inside a model folder."""
    return tuple(f"{folder}/{name}" for name in ENCODER_FILES)


def check_folder(directory: Path, allowed: tuple[str, ...], kind: str) -> None:
    """Refuse a model folder holding anything but ``allowed`` (patterns relative to the folder,
    ``fnmatch`` style), or a link: an unexpected file is what a tampered folder looks like."""
    for path in sorted(directory.rglob("*")):
        relative = path.relative_to(directory).as_posix()
        if path.is_symlink():
            raise PipelineError(f"{path}: a link inside a {kind} model folder; a model folder holds plain files only")
        if path.is_dir():
            continue
        if not any(fnmatch(relative, pattern) for pattern in allowed):
            raise PipelineError(
                f"{path}: unexpected file in a {kind} model folder; nothing was loaded. A {kind} model folder "
                f"holds only {', '.join(allowed)} (a model folder is data, never code: see the README, "
                "'What is trusted')"
            )


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Arrays to a safetensors file (contiguous copies; the header is sorted by name)."""
    from safetensors.numpy import save_file

    save_file({name: np.ascontiguousarray(value) for name, value in arrays.items()}, str(path))


def load_arrays(path: Path, expected: set[str] | None = None) -> dict[str, np.ndarray]:
    """The arrays of a safetensors file; a located error when it is missing, unreadable or lacks
    one of ``expected``."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    if not path.is_file():
        raise PipelineError(f"{path}: missing from the model folder")
    try:
        arrays = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise PipelineError(f"{path}: not a readable safetensors file ({exc})") from None
    missing = sorted((expected or set()) - set(arrays))
    if missing:
        raise PipelineError(f"{path}: expected the arrays {', '.join(missing)}; found {', '.join(sorted(arrays))}")
    return arrays


def read_json(path: Path, what: str = "a file written by train") -> Any:
    from pipeline.core.io import read_json as read

    return read(path, what)


# ------------------------------------------------------------ one-vs-rest logistic regression


def linear_arrays(classifier, prefix: str = "") -> dict[str, np.ndarray]:
    """The coefficients and intercepts of a fitted one-vs-rest logistic regression, one row per
    label it was fitted on."""
    estimators = getattr(classifier, "estimators_", None)
    if estimators is None or not all(hasattr(e, "coef_") for e in estimators):
        # OneVsRestClassifier keeps a constant predictor for a label positive in every example.
        raise PipelineError("cannot save the classifier: a label is positive in every training message")
    return {
        f"{prefix}coef": np.vstack([e.coef_.reshape(1, -1) for e in estimators]),
        f"{prefix}intercept": np.concatenate([np.ravel(e.intercept_) for e in estimators]),
    }


class LinearHeads:
    """One binary logistic regression per label, rebuilt from its arrays: ``predict_proba`` gives
    one column per label (the one-vs-rest classifier's multi-label output), computed by
    scikit-learn's own ``LogisticRegression`` so the numbers are those of the fitted model."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray):
        from sklearn.linear_model import LogisticRegression

        if coef.ndim != 2 or intercept.shape != (coef.shape[0],):
            raise PipelineError(
                f"classifier arrays: expected coef (labels, features) and intercept (labels,), "
                f"found {coef.shape} and {intercept.shape}"
            )
        self.estimators_ = []  # the name a fitted OneVsRestClassifier uses: linear_arrays reads both
        for row, bias in zip(coef, intercept, strict=True):
            head = LogisticRegression()
            head.classes_ = np.array([0, 1])
            head.coef_ = row.reshape(1, -1)
            head.intercept_ = np.array([bias])
            head.n_features_in_ = coef.shape[1]
            self.estimators_.append(head)

    def predict_proba(self, features) -> np.ndarray:
        return np.array([head.predict_proba(features)[:, 1] for head in self.estimators_]).T


# ------------------------------------------------------------------------ TF-IDF vectorizer


def vectorizer_state(vectorizer) -> tuple[list[str], np.ndarray]:
    """A fitted ``TfidfVectorizer``'s vocabulary (terms in column order) and idf weights."""
    terms = [""] * len(vectorizer.vocabulary_)
    for term, column in vectorizer.vocabulary_.items():
        terms[column] = term
    return terms, np.asarray(vectorizer.idf_, dtype=np.float64)


def restore_vectorizer(vectorizer, terms: list[str], idf: np.ndarray, where: Path):
    """An unfitted ``TfidfVectorizer`` built with the model's settings, given its vocabulary and
    idf weights back (scikit-learn's public ``vocabulary_`` and ``idf_``)."""
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise PipelineError(f"{where}: a vocabulary must be a list of strings")
    if len(set(terms)) != len(terms) or idf.shape != (len(terms),):
        raise PipelineError(
            f"{where}: a vocabulary of {len(terms)} terms needs as many distinct terms and idf weights "
            f"(found {len(set(terms))} distinct, idf of shape {idf.shape})"
        )
    vectorizer.vocabulary_ = {term: column for column, term in enumerate(terms)}
    vectorizer.idf_ = idf
    return vectorizer
