"""Check an adjudicator's decisions against its disputes file."""

import json
import re
import sys
from pathlib import Path

ROOT = Path("/work/authoring/annotation/adjudication")
LABELS = {
    "trust_building",
    "gifts",
    "isolation",
    "secrecy",
    "sexualisation",
    "sextortion",
    "risk_assessment",
    "media_request",
    "meeting_request",
    "deception",
}
KINDS = {"grooming", "sextortion", "benign_peer", "benign_adult", "benign_hard_negative", "other"}
k = sys.argv[1]
text = (ROOT / f"d{k}.txt").read_text(encoding="utf-8")
need = {}
for block in text.split("### ")[1:]:
    head = block.splitlines()[0]
    cid = head.split(" | ")[0]
    idx = head.rsplit("disputed messages: ", 1)[1].strip()
    fields = {"label" if f == "risk" else f for f in ("risk", "kind") if re.search(rf"^{f}: .*DISPUTED", block, re.M)}
    need[cid] = (set() if idx == "none" else set(idx.split(",")), fields)
problems, seen = [], set()
out = ROOT / f"d{k}.decisions.jsonl"
for n, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1):
    if not line.strip():
        continue
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f"{out.name}:{n}: not JSON: {e}")
        continue
    cid = row.get("conversation_id")
    if cid not in need:
        problems.append(f"{out.name}:{n}: {cid!r} is not in your disputes file")
        continue
    seen.add(cid)
    msgs, fields = need[cid]
    got = row.get("messages", {})
    for key in msgs - set(got):
        problems.append(f"{out.name}:{n}: {cid}: disputed message {key} not decided")
    for key, value in got.items():
        if not isinstance(value, list) or set(value) - LABELS:
            problems.append(f"{out.name}:{n}: {cid}: messages[{key}]: label ids expected")
    for f in fields - set(row):
        problems.append(f"{out.name}:{n}: {cid}: disputed {f} not decided")
    if "label" in row and row["label"] not in (0, 1):
        problems.append(f"{out.name}:{n}: label: 0 or 1 expected")
    if "kind" in row and row["kind"] not in KINDS:
        problems.append(f"{out.name}:{n}: kind: one of {sorted(KINDS)} expected")
for cid in sorted(set(need) - seen):
    problems.append(f"{cid}: not decided yet")
print("\n".join(problems[:50]) if problems else f"OK: {len(seen)} conversations")
sys.exit(1 if problems else 0)
