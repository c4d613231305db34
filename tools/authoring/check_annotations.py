"""Check an annotator's output against its unit file."""

import json
import re
import sys
from pathlib import Path

ROOT = Path("/work/authoring/annotation")
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
FLAGS = {"deadline", "self_harm", "known_offender", "ongoing_risk"}
unit, seat = sys.argv[1], sys.argv[2]
sizes = {
    m.group(1): int(m.group(2))
    for m in re.finditer(
        r"^### (\S+) \| language \w+ \| (\d+) messages$",
        (ROOT / "units" / f"{unit}.txt").read_text(encoding="utf-8"),
        re.M,
    )
}
out = ROOT / "out" / f"{unit}-{seat}.jsonl"
problems, seen = [], {}
for n, line in enumerate(out.read_text(encoding="utf-8").splitlines(), 1):
    if not line.strip():
        continue
    where = f"{out.name}:{n}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as e:
        problems.append(f"{where}: not JSON: {e}")
        continue
    cid = row.get("conversation_id")
    if cid not in sizes:
        problems.append(f"{where}: unknown conversation_id {cid!r}")
        continue
    seen[cid] = row  # the last line of a conversation counts
    if row.get("risk") not in (0, 1):
        problems.append(f"{where}: risk: 0 or 1 expected")
    if row.get("kind") not in KINDS:
        problems.append(f"{where}: kind: one of {sorted(KINDS)} expected")
    if not isinstance(row.get("flags", []), list) or set(row.get("flags", [])) - FLAGS:
        problems.append(f"{where}: flags: a list of {sorted(FLAGS)} expected")
    labels = row.get("labels")
    if not isinstance(labels, dict):
        problems.append(f"{where}: labels: an object {{message index: [label ids]}} expected")
        continue
    for key, value in labels.items():
        if not key.isdigit() or int(key) >= sizes[cid]:
            problems.append(f"{where}: labels: message index {key!r} out of range 0-{sizes[cid] - 1}")
        if not isinstance(value, list) or set(value) - LABELS:
            problems.append(f"{where}: labels[{key}]: label ids expected, got {value!r}")
missing = sorted(set(sizes) - set(seen))
if missing:
    problems.append(f"{len(missing)} conversation(s) not annotated yet: {', '.join(missing[:10])}...")
print("\n".join(problems) if problems else f"OK: {len(seen)} conversations")
sys.exit(1 if problems else 0)
