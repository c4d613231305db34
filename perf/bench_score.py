"""Benchmark: streaming `score` against scoring the same corpus held in memory.

For each model kind (tfidf, transformer), two arms, each in its own process so that its peak
resident memory is its own:

- ``stream``: ``experiments.score.score_corpus``, the command's code: read, score and write
  ``--batch-messages`` (20,000) messages at a time;
- ``memory``: the whole corpus read into a list, scored in one call, written at the end;
- ``spark`` (tfidf only, when PySpark is installed): ``score --engine spark`` on ``local[2]``,
  this machine's two cores, from the same JSONL corpus to a Parquet folder. Its time includes
  the JVM's start; its memory is spread over the JVM and Python workers, so only time is reported.

Targets (issue 17): streaming peak memory at most 1.5 GiB (tfidf) and 3 GiB (transformer), and
streaming time at most 1.2x the in-memory time. The corpus is synthetic (the default grammar),
BENCH_SCORE_MESSAGES messages (default 1,000,000) for tfidf and BENCH_SCORE_TRANSFORMER_MESSAGES
(default 20,000) for the transformer: on this 2-core CPU MiniLM scores about 250 messages a
second, so a million would take over an hour an arm. The streaming arm's memory is also
measured on a corpus a fifth that size, so "flat" is a measurement, not a claim.

The models are trained here on a small corpus (scoring cost does not depend on what was
learnt): tfidf on 3,000 messages, the transformer (packaged MiniLM) on 256 for one epoch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from perf.run import entry, run_arm

WORK = Path(os.environ.get("BENCH_SCORE_DIR", Path(tempfile.gettempdir()) / "grooming-risk-bench-score"))
SEED = 0


def _corpus(n_messages: int) -> Path:
    """A synthetic corpus of at least ``n_messages`` messages, generated once and kept in WORK."""
    from pipeline.config import DEFAULT_PARAMS, load_params
    from pipeline.data import corpus
    from pipeline.data.synth.generator import SynthConfig, synthesize

    path = WORK / f"corpus-{n_messages}.jsonl"
    if path.exists():
        return path
    params = load_params(DEFAULT_PARAMS)
    config = SynthConfig.model_validate({**params.synthesize.model_dump(), "conversations": 10**9})

    def enough():
        total = 0
        for conversation in synthesize(config, SEED):
            yield conversation
            total += len(conversation.messages)
            if total >= n_messages:
                return

    corpus.write_conversations(path, enough())
    return path


def _model(kind: str) -> Path:
    """A model of ``kind`` trained on a small synthetic corpus, kept in WORK."""
    from pipeline.config import DEFAULT_PARAMS, load_params
    from pipeline.data.split import split_corpus
    from pipeline.data.synth.generator import SynthConfig, synthesize
    from pipeline.experiments.train import build_model
    from pipeline.schema import load_schema

    out = WORK / f"model-{kind}"
    if out.exists():
        return out
    params = load_params(DEFAULT_PARAMS)
    config = SynthConfig.model_validate({**params.synthesize.model_dump(), "conversations": 300})
    splits = split_corpus(list(synthesize(config, SEED + 1)), "conversation", 0.2, 0.1, seed=SEED)
    settings = params.model_section(kind).model_params()
    if kind == "tfidf":
        settings.update(max_train_messages=3000)
    else:
        settings.update(epochs=1, max_train_samples=256, checkpoint_dir=str(WORK / "checkpoints"))
    schema = load_schema()
    model = build_model(kind, schema.label_ids, settings, params.risk.model_dump(), SEED, schema.version)
    model.fit(splits["train"], splits["valid"]).save(out)
    return out


def _arm(spec: str) -> None:
    """``<kind>:<stream|memory>:<messages>``: score the corpus, print seconds and counts."""
    from pipeline.data import corpus
    from pipeline.experiments.score import score_corpus, scored_conversations
    from pipeline.tracking import load_model

    kind, how, n = spec.split(":")
    data, model_dir = WORK / f"corpus-{n}.jsonl", WORK / f"model-{kind}"
    out = WORK / f"scored-{kind}-{how}-{n}.jsonl"
    start = time.perf_counter()
    if how == "spark":
        from pipeline.engines.spark import score_with_spark

        folder = WORK / f"scored-{kind}-spark-{n}"
        messages = score_with_spark(str(model_dir), data, folder, master="local[2]")
        shutil.rmtree(folder)
        print(json.dumps({"seconds": time.perf_counter() - start, "messages": messages}))
        return
    if how == "stream":
        conversations = score_corpus(str(model_dir), data, out)
    else:
        model = load_model(model_dir)
        everything = corpus.read_conversations(data)
        conversations = corpus.write_conversations(out, scored_conversations(model, everything))
    seconds = time.perf_counter() - start
    out.unlink()
    print(json.dumps({"seconds": seconds, "conversations": conversations}))


def _measure(kind: str, n: int) -> dict:
    _corpus(n)
    _corpus(n // 5)
    result = {"messages": n}
    for how in ("memory", "stream"):
        figures, peak = run_arm("bench_score", f"{kind}:{how}:{n}")
        result[f"{how}_seconds"] = round(figures["seconds"], 1)
        result[f"{how}_peak_rss_mib"] = peak
        result["conversations"] = figures["conversations"]
    _, result["stream_peak_rss_mib_at_a_fifth"] = run_arm("bench_score", f"{kind}:stream:{n // 5}")
    result["messages_per_second_stream"] = round(n / result["stream_seconds"])
    result["ratio_stream_over_memory"] = round(result["stream_seconds"] / result["memory_seconds"], 3)
    if kind == "tfidf" and importlib.util.find_spec("pyspark") is not None:
        figures, _ = run_arm("bench_score", f"{kind}:spark:{n}")
        result["spark_local2_seconds"] = round(figures["seconds"], 1)
        result["spark_local2_messages_per_second"] = round(n / figures["seconds"])
    return result


def main() -> dict:
    WORK.mkdir(parents=True, exist_ok=True)
    targets = {"tfidf": 1.5 * 1024, "transformer": 3 * 1024}
    sizes = {
        "tfidf": int(os.environ.get("BENCH_SCORE_MESSAGES", "1000000")),
        "transformer": int(os.environ.get("BENCH_SCORE_TRANSFORMER_MESSAGES", "20000")),
    }
    out: dict = {"benchmark": "streaming_score_vs_in_memory", "batch_messages": 20_000}
    for kind in ("tfidf", "transformer"):
        _model(kind)
        result = _measure(kind, sizes[kind])
        result["target_peak_rss_mib"] = targets[kind]
        result["within_memory_target"] = result["stream_peak_rss_mib"] <= targets[kind]
        result["within_time_target"] = result["ratio_stream_over_memory"] <= 1.2
        out[kind] = result
    return out


if __name__ == "__main__":
    entry(main, _arm)
