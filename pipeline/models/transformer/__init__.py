"""A fine-tuned encoder: multi-label message classification with context.

Each input is the message, then its ``context_messages`` previous messages (see
``encoder.PairEncoder``), each turn marked ``[me]`` or ``[them]`` with ``context_roles``; one sigmoid per label; the loss weighs each label's positives by
its negative/positive ratio (capped). A plain PyTorch loop, so every step is visible:
AdamW with linear warm-up and decay, batches of similar lengths with dynamic padding,
early stopping on valid macro-F1 (each label at its best threshold), the best epoch kept.

Interruptions: the loop checkpoints (weights, optimiser, scheduler, RNG, position in the
epoch) every ``checkpoint_every`` steps and at each epoch's end under
``checkpoint_dir/<fingerprint>``; a rerun with the same data, params and seed resumes from
there and ends with the same weights as an uninterrupted run. The checkpoint is deleted
once the model is trained. The label list travels in ``config.id2label``/``label2id``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config.models import TransformerSettings
from pipeline.core.errors import PipelineError
from pipeline.core.paths import REPO_ROOT
from pipeline.core.progress import progress, write
from pipeline.data.corpus import Conversation
from pipeline.models.base import MODEL_FILE, Model, label_matrix, message_inputs, seeded_sample, split_rows
from pipeline.models.encoder import (
    PairEncoder,
    collate,
    inference_batches,
    load_pretrained,
    load_tokenizer,
    resolve_encoder,
    select_device,
    training_batches,
)
from pipeline.models.files import encoder_files
from pipeline.models.risk import best_threshold
from pipeline.models.transformer import parallel

ENCODER_DIR = "encoder"
# Settings that change where or how fast training runs, not what it learns.
RUNTIME_PARAMS = {"device", "checkpoint_dir", "checkpoint_every", "eval_batch_size"}


def valid_macro_f1(gold: np.ndarray, probabilities: np.ndarray) -> float:
    """Mean over labels present in valid of the F1 at each label's best threshold."""
    from sklearn.metrics import f1_score

    scores = []
    for j in range(gold.shape[1]):
        if gold[:, j].sum() == 0:
            continue
        threshold = best_threshold(gold[:, j], probabilities[:, j])
        scores.append(f1_score(gold[:, j], probabilities[:, j] >= threshold, zero_division=0.0))
    return float(np.mean(scores)) if scores else 0.0


def draw_training_rows(gold: np.ndarray, limit: int | None, labelled_share: float | None, seed: int) -> np.ndarray:
    """Indices of annotated messages to train on: all, or ``limit`` of them, ``labelled_share``
    of which carry a label (the corpus is mostly unlabelled small talk)."""
    annotated = np.flatnonzero(gold[:, 0] >= 0)
    if not limit or len(annotated) <= limit:
        return annotated
    if labelled_share is None:
        return np.array(seeded_sample(annotated, limit, seed))
    rng = random.Random(seed)  # a draw stratified by labelled / unlabelled, from one generator
    labelled = [i for i in annotated if gold[i].sum() > 0]
    unlabelled = [i for i in annotated if gold[i].sum() == 0]
    n_labelled = min(len(labelled), round(limit * labelled_share))
    n_unlabelled = min(len(unlabelled), int(limit) - n_labelled)
    return np.array(sorted(rng.sample(labelled, n_labelled) + rng.sample(unlabelled, n_unlabelled)))


class Checkpoints:
    """``last.pt`` (everything needed to resume) and ``best.pt`` (the best epoch's weights)."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _save(self, name: str, payload: dict[str, Any]) -> None:
        import torch

        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / f".{name}.tmp"
        torch.save(payload, tmp)
        os.replace(tmp, self.directory / name)  # a crash mid-save leaves the previous checkpoint

    def save(self, state: dict[str, Any], model, optimizer, scheduler, best_weights=None, rng_by_rank=None) -> None:
        import torch

        if best_weights is not None:
            self._save("best.pt", best_weights)
        payload = {
            "state": state,
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "rng_by_rank": rng_by_rank,  # under a launcher, every process's generator (dropout)
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
        }
        self._save("last.pt", payload)

    def load(self) -> tuple[dict[str, Any], dict[str, Any] | None] | None:
        import torch

        last = self.directory / "last.pt"
        if not last.exists():
            return None
        best = self.directory / "best.pt"
        try:  # tensors, numbers, strings and containers only: a checkpoint never runs code
            payload = torch.load(last, map_location="cpu", weights_only=True)
            best_weights = torch.load(best, map_location="cpu", weights_only=True) if best.exists() else None
        except Exception as exc:  # torch raises UnpicklingError, RuntimeError or others for a bad file
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise PipelineError(
                f"{self.directory}: a checkpoint holds something other than tensors and plain values, or is "
                f"damaged ({first}); delete the folder to train from the start"
            ) from None
        return payload, best_weights

    def clear(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


def log(message: str) -> None:
    if parallel.is_main():  # one voice under a launcher
        write(f"[transformer] {message}")  # stderr, without breaking a progress bar


class TransformerModel(Model):
    kind = "transformer"
    settings_class = TransformerSettings
    requirements = ["torch", "transformers", "tokenizers", "safetensors"]
    files = encoder_files(ENCODER_DIR)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.history_: list[dict[str, float]] = []
        self.step_losses_: list[float] = []  # the training loss of every global batch

    # ------------------------------------------------------------------ inputs

    def _encoder(self, tokenizer) -> PairEncoder:
        return PairEncoder(tokenizer, self.params["max_length"])

    def _features(self, encoder: PairEncoder, conversations: list[Conversation]) -> list[dict[str, list[int]]]:
        texts, contexts = message_inputs(conversations, self.params["context_messages"], self.params["context_roles"])
        return encoder(texts, contexts)

    def _fingerprint(self, texts: list[str], gold: np.ndarray) -> str:
        """What the trained weights depend on; a checkpoint resumes only an identical run."""
        digest = hashlib.sha256()
        learning = {k: v for k, v in self.params.items() if k not in RUNTIME_PARAMS}
        digest.update(json.dumps([learning, self.seed, self.label_ids], sort_keys=True, default=str).encode())
        for text in texts:
            digest.update(text.encode("utf-8") + b"\0")
        digest.update(np.ascontiguousarray(gold, dtype=np.int8).tobytes())
        return digest.hexdigest()[:16]

    def _checkpoints(self, fingerprint: str) -> Checkpoints:
        root = Path(self.params["checkpoint_dir"])
        root = root if root.is_absolute() else REPO_ROOT / root
        return Checkpoints(root / f"{self.kind}-{fingerprint}")

    # ---------------------------------------------------------------- training

    def _load_pretrained(self, path: Path):
        import torch

        return load_pretrained(
            "AutoModelForSequenceClassification",
            path,
            dtype=torch.float32,  # train in full precision whatever the checkpoint's dtype
            num_labels=len(self.label_ids),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(self.label_ids)),
            label2id={label: i for i, label in enumerate(self.label_ids)},
            ignore_mismatched_sizes=True,  # a checkpoint with another head gets a fresh one
        )

    def _fit(self, train: list[Conversation], valid: list[Conversation]) -> list[np.ndarray]:
        import torch

        p = self.params
        device = parallel.local_device(select_device(p["device"]))
        path = resolve_encoder(p["model"])
        tokenizer = load_tokenizer(path)
        encoder = self._encoder(tokenizer)

        texts, contexts = message_inputs(train, p["context_messages"], p["context_roles"])
        gold = np.vstack([label_matrix(c, self.label_ids) for c in train])
        rows = draw_training_rows(gold, p["max_train_samples"], p["labelled_share"], self.seed)
        if len(rows) == 0:
            raise PipelineError("transformer: the training corpus has no annotated messages")
        texts, contexts, y = [texts[i] for i in rows], [contexts[i] for i in rows], gold[rows].astype(np.float32)
        features = encoder(texts, contexts)
        self.train_examples_ = len(features)
        lengths = [len(f["input_ids"]) for f in features]
        valid_features = self._features(encoder, valid)
        valid_gold = np.vstack([label_matrix(c, self.label_ids) for c in valid]) if valid else np.zeros((0, 0))
        valid_annotated = valid_gold[:, 0] >= 0 if len(valid_gold) else np.zeros(0, dtype=bool)

        torch.manual_seed(self.seed)
        model = self._load_pretrained(path).to(device)
        positives = y.sum(axis=0)
        pos_weight = np.clip((len(y) - positives) / np.maximum(positives, 1), 1.0, p["max_pos_weight"])
        # Summed, then divided by the global batch's element count: the mean over the global batch,
        # the same in one process and over N (see parallel.py).
        loss_sum = torch.nn.BCEWithLogitsLoss(
            pos_weight=torch.tensor(pos_weight, dtype=torch.float32, device=device), reduction="sum"
        )
        targets = torch.tensor(y, device=device)

        optimizer, scheduler = self._optimizer(model, steps=math.ceil(len(rows) / p["batch_size"]) * p["epochs"])
        checkpoints = self._checkpoints(self._fingerprint(texts, y))
        state: dict[str, Any] = {
            "epoch": 0, "batch": 0, "step": 0, "best": -1.0, "bad_epochs": 0, "history": [], "step_losses": []
        }  # fmt: skip
        best_weights, best_valid = None, None
        resumed = checkpoints.load()
        if resumed is not None:
            payload, best_weights = resumed
            model.load_state_dict(payload["model"])
            optimizer.load_state_dict(payload["optimizer"])
            scheduler.load_state_dict(payload["scheduler"])
            by_rank = payload.get("rng_by_rank")
            mine = by_rank[parallel.rank()] if by_rank and len(by_rank) == parallel.world_size() else payload["rng"]
            torch.set_rng_state(mine)
            if payload["cuda_rng"] is not None and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(payload["cuda_rng"])
            state = {"step_losses": [], **payload["state"]}
            best_valid = state.pop("best_valid", None)
            log(f"resuming from {checkpoints.directory} at epoch {state['epoch'] + 1}, step {state['step']}")
        self.resumed_from_step_ = state["step"] if resumed is not None else None
        processes = parallel.world_size()
        log(
            f"{len(rows)} training messages, {len(valid_features)} valid messages, device {device}"
            + (f", {processes} processes (data parallel)" if processes > 1 else "")
        )
        trained = parallel.wrap(model, device)  # the same module; under a launcher, gradients averaged
        labels = len(self.label_ids)

        def checkpoint(best=None) -> None:
            rng_by_rank = parallel.gather(torch.get_rng_state())  # every process takes part
            if parallel.is_main():
                state_now = {**state, "best_valid": best_valid}
                checkpoints.save(state_now, model, optimizer, scheduler, best, rng_by_rank=rng_by_rank)

        for epoch in progress(range(state["epoch"], p["epochs"]), desc="transformer epochs", unit="epoch"):
            if state["bad_epochs"] >= p["patience"]:
                break
            trained.train()
            first_step = state["step"] - state["batch"]  # where this epoch began, also when resumed mid-epoch
            batches = training_batches(lengths, p["batch_size"], self.seed + epoch)
            steps = progress(batches, desc=f"epoch {epoch + 1}/{p['epochs']}", unit="step", leave=False)
            for b, indices in enumerate(steps):
                if b < state["batch"]:
                    continue  # done before the interruption
                mine = parallel.shard(indices) or indices[:1]  # a process with no example adds zero
                weight = processes / (len(indices) * labels) if parallel.shard(indices) else 0.0
                batch = collate(tokenizer, [features[i] for i in mine], device)
                summed = loss_sum(trained(**batch).logits, targets[mine])
                (summed * weight).backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
                mine_sum = float(summed.detach()) if weight else 0.0
                state["step_losses"].append(parallel.all_sum(mine_sum, device) / (len(indices) * labels))
                state["batch"], state["step"] = b + 1, state["step"] + 1
                if p["checkpoint_every"] and state["step"] % p["checkpoint_every"] == 0:
                    checkpoint()
                if self.on_step is not None:
                    self.on_step(state["step"])
            probabilities = self._predict_shared(model, tokenizer, valid_features, device)
            score = valid_macro_f1(valid_gold[valid_annotated], probabilities[valid_annotated])
            improved = score > state["best"]
            epoch_losses = state["step_losses"][first_step:]
            metrics = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(epoch_losses)) if epoch_losses else float("nan"),
                "valid_macro_f1": score,
                "learning_rate": scheduler.get_last_lr()[0],
            }
            state["history"].append(metrics)
            state.update(epoch=epoch + 1, batch=0, bad_epochs=0 if improved else state["bad_epochs"] + 1)
            if improved:
                state["best"] = score
                best_weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
                best_valid = torch.tensor(probabilities)
            checkpoint(best_weights if improved else None)
            log(
                f"epoch {epoch + 1}/{p['epochs']}: loss {metrics['train_loss']:.4f}, valid macro-F1 {score:.4f}"
                + (" (best)" if improved else "")
            )
            if self.on_epoch is not None:
                self.on_epoch(epoch + 1, metrics)

        if best_weights is not None:
            model.load_state_dict(best_weights)
        self.history_, self.step_losses_ = state["history"], state["step_losses"]
        self.model_, self.tokenizer_, self.device_, self.pair_encoder_ = model.eval(), tokenizer, device, encoder
        parallel.barrier()  # no process still needs the checkpoint
        if parallel.is_main():
            checkpoints.clear()
        if best_valid is None:
            best_valid = torch.tensor(self._predict_shared(model, tokenizer, valid_features, device))
        return split_rows(best_valid.numpy().astype(float), valid)

    def _optimizer(self, model, steps: int):
        import torch
        from transformers import get_linear_schedule_with_warmup

        no_decay = ("bias", "LayerNorm.weight", "layer_norm.weight")
        groups = [
            {
                "params": [p for n, p in model.named_parameters() if not n.endswith(no_decay)],
                "weight_decay": self.params["weight_decay"],
            },
            {"params": [p for n, p in model.named_parameters() if n.endswith(no_decay)], "weight_decay": 0.0},
        ]
        optimizer = torch.optim.AdamW(groups, lr=self.params["learning_rate"])
        warmup = int(self.params["warmup_ratio"] * steps)
        return optimizer, get_linear_schedule_with_warmup(optimizer, warmup, max(steps, 1))

    def _predict_shared(self, model, tokenizer, features: list[dict[str, list[int]]], device) -> np.ndarray:
        """``_predict``, each process scoring one contiguous part under a launcher."""
        if parallel.world_size() == 1:
            return self._predict(model, tokenizer, features, device)
        bounds = np.linspace(0, len(features), parallel.world_size() + 1).astype(int)
        start, end = bounds[parallel.rank()], bounds[parallel.rank() + 1]
        return np.concatenate(parallel.gather(self._predict(model, tokenizer, features[start:end], device)))

    def _predict(self, model, tokenizer, features: list[dict[str, list[int]]], device) -> np.ndarray:
        import torch

        out = np.zeros((len(features), len(self.label_ids)), dtype=np.float32)
        model.eval()
        with torch.inference_mode():
            lengths = [len(f["input_ids"]) for f in features]
            batches = inference_batches(lengths, self.params["eval_batch_size"])
            total = math.ceil(len(features) / self.params["eval_batch_size"])
            for indices in progress(batches, total=total, desc="transformer predict", unit="batch", leave=False):
                batch = collate(tokenizer, [features[i] for i in indices], device)
                out[indices] = torch.sigmoid(model(**batch).logits).float().cpu().numpy()
        return out

    # --------------------------------------------------------------- interface

    def message_probabilities(self, conversations: list[Conversation]) -> list[np.ndarray]:
        features = self._features(self.pair_encoder_, conversations)
        probabilities = self._predict(self.model_, self.tokenizer_, features, self.device_)
        return split_rows(probabilities.astype(float), conversations)

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "training": self.history_}

    def _save_files(self, directory: Path) -> None:
        target = directory / ENCODER_DIR
        self.model_.save_pretrained(target)
        self.tokenizer_.save_pretrained(target)

    def _load_files(self, directory: Path) -> None:
        path = directory / ENCODER_DIR
        self.history_ = json.loads((directory / MODEL_FILE).read_text(encoding="utf-8")).get("training", [])
        self.device_ = select_device("auto")
        self.tokenizer_ = load_tokenizer(path)
        self.pair_encoder_ = self._encoder(self.tokenizer_)
        self.model_ = load_pretrained("AutoModelForSequenceClassification", path, use_safetensors=True)
        self.model_.to(self.device_).eval()
        if [self.model_.config.id2label[i] for i in range(len(self.label_ids))] != self.label_ids:
            raise PipelineError(f"{path}: config.id2label does not match model.json's label list")
