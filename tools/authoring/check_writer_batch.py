"""Check a writer's batch file: format, brief ids, labels, safety words, personal data."""

import json
import re
import sys
from pathlib import Path

sys.path.insert(0, "/work/main")
from pipeline.schema.safety import explicit_terms  # noqa: E402

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
FLAGS = {"deadline", "self_harm", "known_offender", "ongoing_risk"}
AUTHOR = re.compile(r"^(child|other\d*)$")
TIME = re.compile(r"^20(25|26)-\d\d-\d\dT\d\d:\d\d$")
PERSONAL = re.compile(
    r"(@\w{2,}|\b\S+@\S+\.\w+|https?://|www\.|\b\d{2}[ .-]?\d{2}[ .-]?\d{2}[ .-]?\d{2}[ .-]?\d{2}\b|\+\d{6,})"
)

problems = 0


def bad(where, msg):
    global problems
    problems += 1
    print(f"{where}: {msg}")


for name in sys.argv[1:]:
    path = Path(name)
    writer = path.parent.name
    briefs = {json.loads(line)["brief_id"]: json.loads(line) for line in open(f"/work/authoring/briefs/{writer}.jsonl")}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        where = f"{path}:{n}"
        if not line.strip():
            continue
        try:
            conv = json.loads(line)
        except json.JSONDecodeError as e:
            bad(where, f"not JSON: {e}")
            continue
        b = briefs.get(conv.get("brief_id"))
        if b is None:
            bad(where, f"brief_id {conv.get('brief_id')!r} is not in your brief file")
            continue
        msgs = conv.get("messages")
        if not isinstance(msgs, list) or len(msgs) < 6:
            bad(where, "messages: a list of at least 6 messages expected")
            continue
        flags = conv.get("flags", [])
        if not isinstance(flags, list) or set(flags) - FLAGS:
            bad(where, f"flags: a list of {sorted(FLAGS)} expected")
        risky = b["kind"] in ("grooming", "sextortion")
        authors = {m.get("author") for m in msgs if isinstance(m, dict)}
        if "child" not in authors or "other" not in authors:
            bad(where, "authors: both 'child' and 'other' must write")
        labelled = 0
        for i, m in enumerate(msgs):
            w = f"{where}: messages[{i}]"
            if not isinstance(m, dict) or set(m) - {"author", "time", "text", "labels"}:
                bad(w, "an object with author, time, text, labels expected")
                continue
            if not AUTHOR.match(str(m.get("author"))):
                bad(w, "author: child, other, other2... expected")
            if not TIME.match(str(m.get("time"))):
                bad(w, "time: YYYY-MM-DDTHH:MM (2025-2026) expected")
            text = m.get("text")
            if not isinstance(text, str) or not text.strip():
                bad(w, "text: a non-empty string expected")
                continue
            if explicit_terms(text):
                bad(w, f"text: explicit word(s) {explicit_terms(text)} not allowed")
            if PERSONAL.search(text):
                bad(w, f"text: looks like a handle/email/phone/URL: {PERSONAL.search(text).group(0)!r}")
            labels = m.get("labels")
            if not isinstance(labels, list) or set(labels) - LABELS:
                bad(w, f"labels: a list of label ids expected, got {labels!r}")
                continue
            labelled += bool(labels)
            if labels and not risky:
                bad(w, "labels: a benign conversation has no labelled message")
        if risky and not labelled:
            bad(where, "a risky conversation needs at least one labelled message")
        times = [m.get("time") for m in msgs if isinstance(m, dict)]
        if times != sorted(times):
            bad(where, "time: messages must be in time order")
print(f"{problems} problem(s)" if problems else "OK")
sys.exit(1 if problems else 0)
