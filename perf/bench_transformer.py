"""Benchmark: the encoder kinds' speed and memory, and the project's training loop against a
bare PyTorch loop on the same model and batches.

Three arms, each in its own process (so peak memory is its own), on one synthetic corpus:

- ``bare``: the packaged MiniLM with a fresh classification head, the very batches the project
  builds (``PairEncoder`` + ``training_batches``), AdamW with the same schedule and loss, one
  epoch, then one inference pass over the validation messages: nothing else.
- ``transformer``: ``TransformerModel._fit`` with the same settings (one epoch, so it does the
  same work plus what the project adds: label matrices, checkpoints, the valid macro-F1), then
  inference on the test messages through the public interface.
- ``embed``: ``EmbedModel`` fit (embedding + logistic regression) and inference.

The overhead ratio is transformer training time over bare training time (target <= 1.15).
Sizes: BENCH_TRANSFORMER_SAMPLES training messages (default 1024).
"""

from __future__ import annotations

import json
import math
import os
import time

from perf.run import entry, run_arm

SEED = 0


def _settings() -> dict:
    n = int(os.environ.get("BENCH_TRANSFORMER_SAMPLES", "1024"))
    return {
        "model": "minilm",
        "epochs": 1,
        "max_train_samples": n,
        "max_valid_conversations": None,
        "device": "auto",
        "checkpoint_dir": "/tmp/grooming-risk-bench-checkpoints",
    }


def _data():
    from pipeline.config import DEFAULT_PARAMS, load_params
    from pipeline.data.split import split_corpus
    from pipeline.data.synth.generator import SynthConfig, synthesize

    params = load_params(DEFAULT_PARAMS)
    config = SynthConfig.model_validate({**params.synthesize.model_dump(), "conversations": 400})
    conversations = list(synthesize(config, params.seed))
    splits = split_corpus(conversations, "conversation", 0.1, 0.1, seed=0)
    return splits["train"], splits["valid"], splits["test"]


def _bare(train, valid) -> dict:
    """The minimal loop on the project's own inputs and batches."""
    import numpy as np
    import torch
    from transformers import AutoModelForSequenceClassification, get_linear_schedule_with_warmup

    from pipeline.config.models import TransformerSettings
    from pipeline.models.base import label_matrix, message_inputs
    from pipeline.models.encoder import (
        PairEncoder,
        collate,
        inference_batches,
        load_tokenizer,
        resolve_encoder,
        select_device,
        training_batches,
    )
    from pipeline.models.transformer import draw_training_rows
    from pipeline.schema import load_schema

    p = TransformerSettings.model_validate(_settings()).model_params()
    labels = load_schema().label_ids
    start = time.perf_counter()
    path = resolve_encoder(p["model"])
    tokenizer = load_tokenizer(path)
    device = select_device(p["device"])
    encode = PairEncoder(tokenizer, p["max_length"])
    texts, contexts = message_inputs(train, p["context_messages"])
    gold = np.vstack([label_matrix(c, labels) for c in train])
    rows = draw_training_rows(gold, p["max_train_samples"], p["labelled_share"], SEED)
    features = encode([texts[i] for i in rows], [contexts[i] for i in rows])
    y = torch.tensor(gold[rows], dtype=torch.float32, device=device)
    torch.manual_seed(SEED)
    model = AutoModelForSequenceClassification.from_pretrained(
        str(path), num_labels=len(labels), problem_type="multi_label_classification", local_files_only=True
    ).to(device)
    positives = y.sum(dim=0)
    pos_weight = ((len(y) - positives) / positives.clamp(min=1)).clamp(1.0, p["max_pos_weight"])
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimizer = torch.optim.AdamW(model.parameters(), lr=p["learning_rate"], weight_decay=p["weight_decay"])
    steps = math.ceil(len(rows) / p["batch_size"])
    scheduler = get_linear_schedule_with_warmup(optimizer, int(p["warmup_ratio"] * steps), steps)
    model.train()
    lengths = [len(f["input_ids"]) for f in features]
    for indices in training_batches(lengths, p["batch_size"], SEED):
        loss = loss_fn(model(**collate(tokenizer, [features[i] for i in indices], device)).logits, y[indices])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
    valid_texts, valid_contexts = message_inputs(valid, p["context_messages"])
    valid_features = encode(valid_texts, valid_contexts)
    model.eval()
    with torch.inference_mode():
        valid_lengths = [len(f["input_ids"]) for f in valid_features]
        for indices in inference_batches(valid_lengths, p["eval_batch_size"]):
            torch.sigmoid(model(**collate(tokenizer, [valid_features[i] for i in indices], device)).logits)
    return {"train_seconds": time.perf_counter() - start, "train_examples": len(rows)}


def _transformer(train, valid, test) -> dict:
    from pipeline.models.transformer import TransformerModel
    from pipeline.schema import load_schema

    model = TransformerModel(load_schema().label_ids, _settings(), seed=SEED)
    start = time.perf_counter()
    model._fit(train, valid)  # the training loop alone (tuning is shared with every kind)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.message_probabilities(test)
    infer_seconds = time.perf_counter() - start
    return {
        "train_seconds": train_seconds,
        "train_examples": model.train_examples_,
        "infer_seconds": infer_seconds,
        "infer_examples": sum(len(c.messages) for c in test),
    }


def _embed(train, valid, test) -> dict:
    from pipeline.models.base import label_matrix
    from pipeline.models.embed import EmbedModel
    from pipeline.schema import load_schema

    labels = load_schema().label_ids
    model = EmbedModel(labels, {"max_valid_conversations": None}, seed=SEED)
    start = time.perf_counter()
    model._fit(train, valid)
    train_seconds = time.perf_counter() - start
    start = time.perf_counter()
    model.message_probabilities(test)
    infer_seconds = time.perf_counter() - start
    annotated = sum(int((label_matrix(c, labels)[:, 0] >= 0).sum()) for c in train)
    return {
        "train_seconds": train_seconds,
        "train_examples": min(annotated, model.params["max_train_messages"] or annotated),
        "infer_seconds": infer_seconds,
        "infer_examples": sum(len(c.messages) for c in test),
    }


def _arm(name: str) -> None:
    import torch

    train, valid, test = _data()
    result = (
        _bare(train, valid)
        if name == "bare"
        else (_transformer if name == "transformer" else _embed)(train, valid, test)
    )
    result["threads"] = torch.get_num_threads()
    result["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    print(json.dumps(result))


def main() -> dict:
    out: dict = {"benchmark": "encoders_and_training_overhead"}
    for name in ("bare", "transformer", "embed"):
        result, peak = run_arm("bench_transformer", name)
        out[name] = {
            **{k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()},
            "train_examples_per_second": round(result["train_examples"] / result["train_seconds"], 1),
            "peak_rss_mib": peak,
        }
        if "infer_seconds" in result:
            out[name]["infer_examples_per_second"] = round(result["infer_examples"] / result["infer_seconds"], 1)
    ratio = out["transformer"]["train_seconds"] / out["bare"]["train_seconds"]
    out["overhead_ratio_transformer_over_bare"] = round(ratio, 3)
    out["target_ratio"] = 1.15
    out["within_target"] = ratio <= 1.15
    return out


if __name__ == "__main__":
    entry(main, _arm)
