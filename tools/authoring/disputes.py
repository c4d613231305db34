"""What the two annotators disagree about, as the adjudicator reads it; and a coverage check.

    python tools/authoring/disputes.py show --data imported.jsonl --out-dir DIR --shards 3
    python tools/authoring/disputes.py check --data imported.jsonl --decisions FILE [FILE ...]

`show` writes `DIR/d<k>.txt`: every conversation with a disagreement (a message whose label
sets differ, or a different risk or kind), whole, with both annotations beside the disputed
messages (`A:` and `B:` are the two annotators, in a fixed order). `check` lists disputes that
no decision covers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from pipeline.data import corpus  # noqa: E402


def disputes(conversation) -> tuple[list[int], dict[str, dict]]:
    """(disputed message indices, {field: votes} for a disputed risk or kind)."""
    messages = []
    for index, message in enumerate(conversation.messages):
        votes = (message.meta or {}).get("annotations") or {}
        if len({tuple(v) for v in votes.values()}) > 1:
            messages.append(index)
    record = (conversation.meta or {}).get("annotation") or {}
    fields = {}
    for field in ("risk", "kind"):
        votes = record.get(field) or {}
        if len(set(votes.values())) > 1:
            fields[field] = votes
    return messages, fields


def render(conversation, seats: list[str]) -> str:
    indices, fields = disputes(conversation)
    letters = {seat: "AB"[k] for k, seat in enumerate(seats)}
    lines = [
        f"### {conversation.conversation_id} | language {conversation.language} | "
        f"{len(conversation.messages)} messages | disputed messages: {','.join(map(str, indices)) or 'none'}"
    ]
    record = (conversation.meta or {}).get("annotation") or {}
    for field in ("risk", "kind"):
        votes = record.get(field) or {}
        mark = "  <-- DISPUTED" if field in fields else ""
        lines.append(f"{field}: " + "; ".join(f"{letters[s]}={votes.get(s)}" for s in seats) + mark)
    for index, message in enumerate(conversation.messages):
        author = message.author.rsplit("-", 1)[1]
        lines.append(f"[{index}] {message.time} {author}: {message.text}")
        votes = (message.meta or {}).get("annotations") or {}
        if index in indices:
            lines.append("      >> " + " | ".join(f"{letters[s]}: {votes.get(s)}" for s in seats))
        elif any(votes.values()):
            lines.append(f"      (both: {next(iter(votes.values()))})")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("show")
    s.add_argument("--data", type=Path, required=True)
    s.add_argument("--out-dir", type=Path, required=True)
    s.add_argument("--shards", type=int, default=1)
    c = sub.add_parser("check")
    c.add_argument("--data", type=Path, required=True)
    c.add_argument("--decisions", type=Path, nargs="+", required=True)
    args = parser.parse_args()
    conversations = corpus.read_conversations(args.data)
    seats = sorted({s for c in conversations for s in ((c.meta or {}).get("annotation") or {}).get("annotators", [])})
    disputed = [c for c in conversations if any(disputes(c))]
    if args.command == "show":
        args.out_dir.mkdir(parents=True, exist_ok=True)
        size = -(-len(disputed) // args.shards)
        for k in range(args.shards):
            part = disputed[k * size : (k + 1) * size]
            (args.out_dir / f"d{k + 1}.txt").write_text("\n".join(render(c, seats) for c in part), encoding="utf-8")
            n = sum(len(disputes(c)[0]) for c in part)
            print(f"d{k + 1}: {len(part)} conversations, {n} disputed messages")
        return
    decided: dict[str, dict] = {}
    for path in args.decisions:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                decided[row["conversation_id"]] = row
    missing = []
    for conversation in disputed:
        indices, fields = disputes(conversation)
        row = decided.get(conversation.conversation_id, {})
        gaps = [str(i) for i in indices if str(i) not in row.get("messages", {})]
        gaps += [f for f in fields if ("label" if f == "risk" else f) not in row]
        if gaps:
            missing.append(f"{conversation.conversation_id}: {', '.join(gaps)}")
    print("\n".join(missing) if missing else f"OK: {len(disputed)} disputed conversations all decided")
    sys.exit(1 if missing else 0)


if __name__ == "__main__":
    main()
