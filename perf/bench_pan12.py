"""Benchmark: PAN12 ingestion at the scale of the real test corpus.

Writes a PAN12-format XML of about 155,000 conversations and 2 million messages (scale with
BENCH_PAN12_SCALE, e.g. 0.1), then runs `grooming-risk ingest pan12` (redaction on) in a
child process and reports messages per second and the child's peak memory (target: under
1.5 GiB, thanks to streaming).
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.sax.saxutils import escape

WORDS = (
    "hey",
    "lol",
    "what",
    "are",
    "you",
    "doing",
    "school",
    "was",
    "boring",
    "ok",
    "me",
    "too",
    "haha",
    "game",
    "tonight",
    "later",
    "cool",
    "idk",
    "really",
    "&",
    "<3",
    "café",
    "email",
    "x@example.com",
    "555-123-4567",
)


def write_corpus(path: Path, conversations: int, messages: int, seed: int = 0) -> int:
    """A PAN12-shaped XML file; returns the number of messages written."""
    rng = random.Random(seed)
    per_conversation = messages / conversations
    written = 0
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<conversations>\n')
        for c in range(conversations):
            out.write(f'<conversation id="{c:032x}">\n')
            authors = [f"{rng.getrandbits(64):016x}" for _ in range(rng.choice((1, 2, 2, 2, 3)))]
            n = max(1, int(rng.expovariate(1 / per_conversation)))
            for line in range(1, n + 1):
                text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 14)))
                out.write(
                    f'<message line="{line}">\n<author>{rng.choice(authors)}</author>\n'
                    f"<time>{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}</time>\n"
                    f"<text>{escape(text)}</text>\n</message>\n"
                )
            written += n
            out.write("</conversation>\n")
        out.write("</conversations>\n")
    return written


def main() -> dict:
    scale = float(os.environ.get("BENCH_PAN12_SCALE", "1"))
    conversations, messages = int(155_000 * scale), int(2_000_000 * scale)
    with tempfile.TemporaryDirectory() as tmp:
        xml, predators, out = Path(tmp) / "corpus.xml", Path(tmp) / "predators.txt", Path(tmp) / "out.jsonl"
        start = time.perf_counter()
        written = write_corpus(xml, conversations, messages)
        predators.write_text("0123456789abcdef\n", encoding="utf-8")
        generated = time.perf_counter() - start
        xml_mib = xml.stat().st_size / 2**20
        command = [
            str(Path(sys.executable).parent / "grooming-risk"),
            "ingest",
            "pan12",
            "--corpus",
            str(xml),
            "--predators",
            str(predators),
            "--out",
            str(out),
        ]
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own peak memory, not the parent's
        seconds = time.perf_counter() - start
        if status != 0:
            raise RuntimeError(f"ingestion failed: {child.stderr.read().decode()}")
        peak_mib = usage.ru_maxrss / 1024
    return {
        "benchmark": "ingest_pan12",
        "conversations": conversations,
        "messages": written,
        "xml_mib": round(xml_mib, 1),
        "generate_seconds": round(generated, 1),
        "ingest_seconds": round(seconds, 1),
        "messages_per_second": round(written / seconds, 1),
        "peak_rss_mib": round(peak_mib, 1),
        "target_peak_rss_mib": 1536,
        "within_memory_target": peak_mib < 1536,
    }


if __name__ == "__main__":
    from perf.run import entry

    entry(main)
