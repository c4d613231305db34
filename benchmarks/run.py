"""`make bench`: run every benchmark, print its figures and write them under reports/bench/."""

from __future__ import annotations

import importlib
import json
import sys

from pipeline.io import write_text_atomic
from pipeline.paths import REPO_ROOT

BENCHMARKS = ["bench_synth", "bench_pan12", "bench_tfidf"]


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        result = importlib.import_module(f"benchmarks.{name}").main()
        text = json.dumps(result, indent=2)
        print(text)
        write_text_atomic(REPO_ROOT / "reports" / "bench" / f"{name}.json", text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
