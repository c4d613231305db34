"""Assemble the writers' batches into the conversation format, and the annotators' units.

    python tools/authoring/assemble.py corpus --writers DIR --briefs data/authored/briefs.jsonl --out F
    python tools/authoring/assemble.py units --corpus F --out-dir DIR

`corpus`: one conversation per brief, with an opaque id (a hash of the brief id) so that
neither the id nor the order tells an annotator the writer or the kind; authors get ids that
are unique across the corpus (`<conversation>-a1`, in order of first message) and their roles
go to `meta.roles`. The writer's intended labels stay in `messages[].meta.writer_labels` and
`meta.writer_kind`; `messages[].labels` are left absent (not annotated) until annotation.
`units`: per writer, the unlabelled conversations in a shuffled order, as the text an
annotator reads (no kind, no writer, no label).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from pathlib import Path

RISKY = {"grooming", "sextortion"}
BRIEF_META = (
    "platform",
    "child_age",
    "persona",
    "writer",
    "child_reaction",
    "pacing",
    "demand",
    "lookalike",
    "theme",
    "brief_id",
)
SEED = 20261130


def conversation_id(brief_id: str) -> str:
    return "auth-" + hashlib.sha1(f"authored:{brief_id}".encode()).hexdigest()[:8]


def build(brief: dict, written: dict) -> dict:
    cid = conversation_id(brief["brief_id"])
    ids: dict[str, str] = {}
    for m in written["messages"]:
        ids.setdefault(m["author"], f"{cid}-a{len(ids) + 1}")
    kind = brief["kind"]
    messages = [
        {
            "message_id": f"{cid}:{i}",
            "author": ids[m["author"]],
            "time": m["time"],
            "text": m["text"],
            "meta": {"writer_labels": m["labels"]},
        }
        for i, m in enumerate(written["messages"])
    ]
    meta = {k: brief[k] for k in BRIEF_META if k in brief}
    unit = f"u{brief['writer'][1:]}"
    meta.update(
        writer_kind=kind,
        writer_flags=written.get("flags", []),
        roles={v: k for k, v in ids.items()},
        # who filled the two annotator seats for this writer's conversations (one helper each)
        annotation_staff={"annotator-1": f"{unit}-s1", "annotator-2": f"{unit}-s2"},
    )
    return {
        "conversation_id": cid,
        "language": brief["language"],
        "source": "authored",
        "kind": kind,
        "label": int(kind in RISKY),
        "suspects": [ids["other"]] if kind in RISKY else [],
        "flags": written.get("flags", []) if kind in RISKY else [],
        "messages": messages,
        "meta": meta,
    }


def assemble_corpus(writers: Path, briefs_path: Path) -> tuple[list[dict], list[str]]:
    briefs = [json.loads(line) for line in briefs_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    written: dict[str, dict] = {}
    problems = []
    for path in sorted(writers.glob("w*/batch_*.jsonl")):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                if row["brief_id"] in written:
                    problems.append(f"{path}:{n}: brief {row['brief_id']} written twice (the later counts)")
                written[row["brief_id"]] = row
    out = []
    for brief in briefs:
        if brief["brief_id"] not in written:
            problems.append(f"brief {brief['brief_id']}: not written")
            continue
        out.append(build(brief, written[brief["brief_id"]]))
    return out, problems


def unit_text(conversations: list[dict], seed: int) -> str:
    order = sorted(conversations, key=lambda c: c["conversation_id"])
    random.Random(seed).shuffle(order)
    lines = []
    for c in order:
        lines.append(f"### {c['conversation_id']} | language {c['language']} | {len(c['messages'])} messages")
        for i, m in enumerate(c["messages"]):
            author = m["author"].rsplit("-", 1)[1]
            lines.append(f"[{i}] {m['time']} {author}: {m['text']}")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("corpus")
    c.add_argument("--writers", type=Path, required=True)
    c.add_argument("--briefs", type=Path, required=True)
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--allow-missing", action="store_true")
    u = sub.add_parser("units")
    u.add_argument("--corpus", type=Path, required=True)
    u.add_argument("--out-dir", type=Path, required=True)
    u.add_argument("--writer", action="append", help="only these writers' units")
    args = parser.parse_args()
    if args.command == "corpus":
        conversations, problems = assemble_corpus(args.writers, args.briefs)
        for p in problems:
            print(p, file=sys.stderr)
        if problems and not args.allow_missing:
            sys.exit(1)
        args.out.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in conversations), encoding="utf-8")
        print(
            f"{len(conversations)} conversations, {sum(len(c['messages']) for c in conversations)} messages -> {args.out}"
        )
    else:
        rows = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
        by_writer: dict[str, list[dict]] = {}
        for row in rows:
            by_writer.setdefault(row["meta"]["writer"], []).append(row)
        args.out_dir.mkdir(parents=True, exist_ok=True)
        for writer, convs in sorted(by_writer.items()):
            if args.writer and writer not in args.writer:
                continue
            unit = f"u{writer[1:]}"  # u01 for w01: the unit name does not say more than the writer
            (args.out_dir / f"{unit}.txt").write_text(unit_text(convs, SEED), encoding="utf-8")
            print(f"{unit}: {len(convs)} conversations, {sum(len(c['messages']) for c in convs)} messages")


if __name__ == "__main__":
    main()
