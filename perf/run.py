"""`make bench`: run every benchmark in a fresh process, print its figures, write reports/bench/*.json.

A fresh process per benchmark keeps each one's memory figures its own (a child forked from a
process that already holds a big corpus would inherit that peak).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from pipeline.core.io import write_text_atomic
from pipeline.core.paths import REPO_ROOT

BENCHMARKS = ["bench_synth", "bench_pan12", "bench_tfidf", "bench_transformer", "bench_score"]


def run_arm(module: str, arm: str) -> tuple[dict, float]:
    """Run ``python -m perf.<module> --arm <arm>`` in a fresh process: its last stdout line
    (JSON) and its own peak resident memory in MiB."""
    child = subprocess.Popen([sys.executable, "-m", f"perf.{module}", "--arm", arm], stdout=subprocess.PIPE, text=True)
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise RuntimeError(f"{module}: the {arm} arm failed")
    return json.loads(stdout.strip().splitlines()[-1]), round(usage.ru_maxrss / 1024, 1)


def entry(main, arm=None) -> None:
    """A benchmark module run as ``python -m perf.<name>``: every arm and its figures as JSON on
    stdout; with ``--arm <spec>`` (how ``run_arm`` calls it back) only that arm, in this process."""
    if arm is not None and len(sys.argv) == 3 and sys.argv[1] == "--arm":
        arm(sys.argv[2])
    else:
        print(json.dumps(main(), indent=2))


def main(names: list[str]) -> None:
    for name in names or BENCHMARKS:
        result = subprocess.run(
            [sys.executable, "-m", f"perf.{name}"], cwd=REPO_ROOT, check=True, stdout=subprocess.PIPE, text=True
        )
        text = json.dumps(json.loads(result.stdout), indent=2)
        print(text, flush=True)
        write_text_atomic(REPO_ROOT / "reports" / "bench" / f"{name}.json", text + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
