"""Benchmark: the project's tfidf model against a plain scikit-learn pipeline, same data.

Both arms train on the same ~100,000 synthetic messages (BENCH_TFIDF_MESSAGES), with the same
features (word and character n-grams of the message, word n-grams of its context) and the same
one-vs-rest logistic regression, then predict the validation and test messages. The project's
arm also tunes thresholds and the risk scorer and computes running risk and alerts, which is its
overhead. Each arm runs in its own process, so peak memory is its own. Target: project time no
more than 1.2x the plain pipeline.
"""

from __future__ import annotations

import json
import os
import time

from perf.run import entry, run_arm
from pipeline.config import DEFAULT_PARAMS, load_params
from pipeline.data.synth.generator import SynthConfig, synthesize


def _data(n_messages: int):
    from pipeline.data.split import split_corpus

    params = load_params(DEFAULT_PARAMS)
    config = SynthConfig.model_validate(
        {**params.synthesize.model_dump(), "conversations": int(n_messages / 23.7 / 0.7) + 1}
    )
    conversations = list(synthesize(config, params.seed))
    return split_corpus(conversations, "conversation", 0.15, 0.15, seed=0)


def _project(splits) -> dict:
    from pipeline.models.tfidf import TfidfModel
    from pipeline.schema import load_schema

    params = {k: v for k, v in load_params(DEFAULT_PARAMS).tfidf.model_params().items()}
    start = time.perf_counter()
    model = TfidfModel(load_schema().label_ids, params, seed=0).fit(splits["train"], splits["valid"])
    model.predict(splits["test"])
    return {"seconds": time.perf_counter() - start}


def _plain(splits) -> dict:
    import numpy as np
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from pipeline.config.models import TfidfSettings
    from pipeline.models.base import label_matrix
    from pipeline.models.tfidf import build_vectorizers, message_texts
    from pipeline.schema import load_schema

    p = load_params(DEFAULT_PARAMS).tfidf.model_params()
    labels = load_schema().label_ids
    start = time.perf_counter()
    texts, contexts = message_texts(splits["train"], p["context_messages"])
    y = np.vstack([label_matrix(c, labels) for c in splits["train"]])
    word, char, ctx = build_vectorizers(
        TfidfSettings.model_validate(p).model_params()
    )  # the very features the project uses
    features = sparse.hstack(
        [word.fit_transform(texts), char.fit_transform(texts), p["context_weight"] * ctx.fit_transform(contexts)]
    ).tocsr()
    classifier = OneVsRestClassifier(
        LogisticRegression(C=p["C"], class_weight="balanced", solver="liblinear", random_state=0, max_iter=1000)
    ).fit(features, y)
    for split in ("valid", "test"):
        t, c = message_texts(splits[split], p["context_messages"])
        classifier.predict_proba(
            sparse.hstack([word.transform(t), char.transform(t), p["context_weight"] * ctx.transform(c)]).tocsr()
        )
    return {"seconds": time.perf_counter() - start}


def _arm(name: str) -> None:
    splits = _data(int(os.environ.get("BENCH_TFIDF_MESSAGES", "100000")))
    result = (_project if name == "project" else _plain)(splits)
    result["train_messages"] = sum(len(c.messages) for c in splits["train"])
    print(json.dumps(result))


def main() -> dict:
    out = {"benchmark": "tfidf_vs_plain_sklearn"}
    for name in ("plain", "project"):
        result, peak = run_arm("bench_tfidf", name)
        out[f"{name}_seconds"] = round(result["seconds"], 1)
        out[f"{name}_peak_rss_mib"] = peak
        out["train_messages"] = result["train_messages"]
    out["ratio_project_over_plain"] = round(out["project_seconds"] / out["plain_seconds"], 3)
    out["target_ratio"] = 1.2
    out["within_target"] = out["ratio_project_over_plain"] <= 1.2
    return out


if __name__ == "__main__":
    entry(main, _arm)
