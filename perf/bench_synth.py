"""Benchmark: synthetic corpus generation speed (conversations and messages per second).

Run by `make bench`. Generates N conversations (default 20,000; BENCH_SYNTH_N overrides) with
the default params to a temporary file, the same path as `grooming-risk synthesize`.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from pipeline.config import DEFAULT_PARAMS, load_params
from pipeline.data import corpus
from pipeline.data.synth.generator import SynthConfig, synthesize


def main() -> dict:
    n = int(os.environ.get("BENCH_SYNTH_N", "20000"))
    params = load_params(DEFAULT_PARAMS)
    config = SynthConfig.model_validate({**params.synthesize.model_dump(), "conversations": n})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "corpus.jsonl"
        start = time.perf_counter()
        corpus.write_conversations(out, synthesize(config, params.seed))
        seconds = time.perf_counter() - start
        messages = sum(len(c.messages) for c in corpus.iter_conversations(out))
        size = out.stat().st_size
    result = {
        "benchmark": "synthesize",
        "conversations": n,
        "messages": messages,
        "seconds": round(seconds, 2),
        "conversations_per_second": round(n / seconds, 1),
        "messages_per_second": round(messages / seconds, 1),
        "minutes_for_100k_conversations": round(100_000 / (n / seconds) / 60, 2),
        "output_mib": round(size / 2**20, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }
    return result


if __name__ == "__main__":
    from perf.run import entry

    entry(main)
