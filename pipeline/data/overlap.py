"""Text overlap: is a corpus copied from another (or from itself)?

For a human-written corpus the question is whether any message was lifted from the synthetic
grammar, and how much the corpus repeats itself. Texts are compared after normalisation
(lower case, runs of white space as one space). Two measures:

- **exact**: the normalised text appears in the other corpus;
- **near**: the Jaccard similarity of the two texts' character 5-gram sets is at least
  ``threshold`` (0.8 by default), computed exactly (sparse products, in chunks).

Only texts of at least ``min_chars`` characters (20 by default) are compared: "ok", "lol" and
"mdr" recur in any chat and say nothing about copying; they are counted apart.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.data.corpus import Conversation

_SPACE = re.compile(r"\s+")
CHUNK = 500  # rows of the left matrix per sparse product


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text.lower()).strip()


def _shingles(texts: Sequence[str], n: int):
    from sklearn.feature_extraction.text import CountVectorizer

    vectoriser = CountVectorizer(analyzer="char", ngram_range=(n, n), lowercase=False, binary=True, dtype=np.int32)
    return vectoriser, vectoriser.fit_transform(texts)


def near_pairs(left: Sequence[str], right: Sequence[str] | None, n: int = 5, threshold: float = 0.8):
    """(i, j, jaccard) for every pair of ``left`` x ``right`` texts with 5-gram Jaccard >= threshold;
    ``right`` None compares ``left`` with itself (i < j). Texts must be distinct within each side."""
    from scipy import sparse

    same = right is None
    texts = list(left) if same else list(left) + list(right)
    _, matrix = _shingles(texts, n)
    a = matrix[: len(left)].tocsr()
    b = a if same else matrix[len(left) :].tocsr()
    size_a = np.asarray(a.sum(axis=1)).ravel()
    size_b = np.asarray(b.sum(axis=1)).ravel()
    bt = b.T.tocsc()
    out = []
    for start in range(0, a.shape[0], CHUNK):
        inter = sparse.coo_matrix(a[start : start + CHUNK] @ bt)
        i = inter.row + start
        j = inter.col
        union = size_a[i] + size_b[j] - inter.data
        jaccard = inter.data / np.maximum(union, 1)
        keep = jaccard >= threshold
        if same:
            keep &= i < j
        out += list(zip(i[keep].tolist(), j[keep].tolist(), jaccard[keep].round(4).tolist(), strict=True))
    return out


def _messages(conversations: Sequence[Conversation]) -> list[tuple[str, int, str]]:
    return [(c.conversation_id, i, normalise(m.text)) for c in conversations for i, m in enumerate(c.messages)]


def overlap_report(
    corpus: Sequence[Conversation],
    against: Sequence[Conversation] | None = None,
    threshold: float = 0.8,
    min_chars: int = 20,
    n: int = 5,
    examples: int = 10,
) -> dict[str, Any]:
    """Exact and near duplicates of ``corpus`` messages inside the corpus and against ``against``."""
    messages = _messages(corpus)
    long = [m for m in messages if len(m[2]) >= min_chars]
    short = len(messages) - len(long)
    counts = Counter(m[2] for m in long)
    distinct = sorted(counts)
    index = {text: k for k, text in enumerate(distinct)}

    # inside the corpus: a message is a near-duplicate when another message is (exactly or nearly) like it
    near_inside = near_pairs(distinct, None, n, threshold) if len(distinct) > 1 else []
    has_near = np.zeros(len(distinct), dtype=bool)
    for i, j, _ in near_inside:
        has_near[i] = has_near[j] = True
    exact_inside = sum(c for c in counts.values() if c > 1)
    near_or_exact = sum(counts[t] for t in distinct if counts[t] > 1 or has_near[index[t]])
    report: dict[str, Any] = {
        "settings": {"threshold": threshold, "min_chars": min_chars, "shingle": f"character {n}-grams"},
        "messages": len(messages),
        "messages_compared": len(long),
        "short_messages_not_compared": short,
        "inside": {
            "exact_duplicate_messages": exact_inside,
            "near_or_exact_duplicate_messages": near_or_exact,
            "share_of_compared": round(near_or_exact / max(1, len(long)), 6),
            "near_pairs": len(near_inside),
            "examples": [
                {"a": distinct[i], "b": distinct[j], "jaccard": s}
                for i, j, s in sorted(near_inside, key=lambda p: -p[2])[:examples]
            ],
        },
    }
    if against is not None:
        theirs = sorted({t for _, _, t in _messages(against) if len(t) >= min_chars})
        their_set = set(theirs)
        exact = [t for t in distinct if t in their_set]
        rest = [t for t in distinct if t not in their_set]
        near = near_pairs(rest, theirs, n, threshold) if rest and theirs else []
        near_texts = {rest[i] for i, _, _ in near}
        report["against"] = {
            "texts_compared": len(theirs),
            "exact_messages": sum(counts[t] for t in exact),
            "near_messages": sum(counts[t] for t in near_texts),
            "share_of_compared": round(sum(counts[t] for t in (*exact, *near_texts)) / max(1, len(long)), 6),
            "examples": [{"text": t, "match": "exact"} for t in exact[:examples]]
            + [
                {"text": rest[i], "match": theirs[j], "jaccard": s}
                for i, j, s in sorted(near, key=lambda p: -p[2])[:examples]
            ],
        }
    return report


def overlap_markdown(report: dict[str, Any], name: str, against_name: str | None) -> str:
    s = report["settings"]
    inside = report["inside"]
    lines = [
        f"# Text overlap: {name}",
        "",
        f"Messages compared: {report['messages_compared']} of {report['messages']} (at least {s['min_chars']} "
        f"characters after lower-casing; {report['short_messages_not_compared']} shorter ones such as 'ok' or "
        f"'lol' are not compared). Near duplicate: Jaccard similarity of {s['shingle']} >= {s['threshold']}.",
        "",
        "| check | messages | share of compared |",
        "|---|---|---|",
        f"| inside the corpus: exact or near duplicate of another message | {inside['near_or_exact_duplicate_messages']} "
        f"| {inside['share_of_compared']:.2%} |",
        f"| inside the corpus: exact duplicates | {inside['exact_duplicate_messages']} | "
        f"{inside['exact_duplicate_messages'] / max(1, report['messages_compared']):.2%} |",
    ]
    if "against" in report:
        a = report["against"]
        lines += [
            f"| in `{against_name}`: exact | {a['exact_messages']} | "
            f"{a['exact_messages'] / max(1, report['messages_compared']):.2%} |",
            f"| in `{against_name}`: near (not exact) | {a['near_messages']} | "
            f"{a['near_messages'] / max(1, report['messages_compared']):.2%} |",
        ]
    lines += ["", "## Closest pairs inside the corpus", ""]
    lines += [f"- {e['jaccard']:.2f}: “{e['a']}” / “{e['b']}”" for e in inside["examples"]] or ["None."]
    if "against" in report:
        lines += ["", f"## Matches in `{against_name}`", ""]
        lines += [
            f"- exact: “{e['text']}”"
            if e["match"] == "exact"
            else f"- {e['jaccard']:.2f}: “{e['text']}” / “{e['match']}”"
            for e in report["against"]["examples"]
        ] or ["None."]
    return "\n".join([*lines, ""])
