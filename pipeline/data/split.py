"""Leakage-safe train/valid/test splits.

``--by conversation`` keeps each conversation whole; ``--by author`` puts no author in two
splits (conversations that share an author, directly or through others, stay together:
PAN12 authors appear in many conversations); ``--by family`` holds out whole synthetic
template families (``meta.template_family``), so that the test split measures generalisation
to phrasing never seen in training. Splits are stratified by conversation label and kind
with scikit-learn's ``StratifiedGroupKFold``: a fraction f is one fold of round(1/f).

A human-written source (``--writer-source authored``) is split apart, by writer
(``meta.writer``), into ``<source>_train``, ``<source>_valid`` and ``<source>_test``: the writers
of the valid and test splits are fixed by name (committed in ``params.yaml``), so the test
measures style that no training conversation has, as ``heldout_families`` does for templates.

Every split gets a leakage report (shared conversation ids, authors, families and exact
duplicate message texts). The command fails, writing no split, when the grouping it was
asked for leaks.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from pipeline.core.errors import PipelineError
from pipeline.core.io import atomic_write
from pipeline.data.corpus import Conversation, dumps

SplitBy = Literal["conversation", "author", "family"]
SPLIT_NAMES = ("train", "valid", "test")
HELDOUT = "heldout_families"  # optional fourth split: whole template families kept out of the other three


def _author_components(conversations: Sequence[Conversation]) -> list[int]:
    """Union-find over authors: one group id per conversation, shared by all that share authors."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for conv in conversations:
        authors = [f"a:{m.author}" for m in conv.messages]
        root = find(authors[0])
        for author in authors[1:]:
            other = find(author)
            if other != root:
                parent[other] = root
    roots: dict[str, int] = {}
    return [roots.setdefault(find(f"a:{conv.messages[0].author}"), len(roots)) for conv in conversations]


def groups_for(conversations: Sequence[Conversation], by: SplitBy) -> list:
    if by == "conversation":
        return [c.conversation_id for c in conversations]
    if by == "author":
        return _author_components(conversations)
    missing = [c.conversation_id for c in conversations if not (c.meta or {}).get("template_family")]
    if missing:
        raise PipelineError(
            f"--by family needs meta.template_family on every conversation; missing on "
            f"{len(missing)} (first: {missing[0]}); use --by conversation or --by author"
        )
    return [c.meta["template_family"] for c in conversations]


def _strata(conversations: Sequence[Conversation]) -> list[str]:
    return [f"{c.label}|{c.kind or ''}" for c in conversations]


def _hold_out(indices: np.ndarray, strata: list[str], groups: list, fraction: float, seed: int) -> tuple:
    """Split ``indices`` into (rest, held) with one fold of round(1/fraction)."""
    from sklearn.model_selection import StratifiedGroupKFold

    if fraction <= 0:
        return indices, np.array([], dtype=int)
    n_splits = max(2, round(1 / fraction))
    sub_groups = [groups[i] for i in indices]
    if len(set(sub_groups)) < n_splits:
        raise PipelineError(
            f"a fraction of {fraction} needs at least {n_splits} groups to split, found "
            f"{len(set(sub_groups))}; use a larger fraction or a finer --by"
        )
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    rest, held = next(splitter.split(np.zeros(len(indices)), [strata[i] for i in indices], sub_groups))
    return indices[rest], indices[held]


def split_corpus(
    conversations: Sequence[Conversation],
    by: SplitBy,
    valid: float,
    test: float,
    seed: int,
    family_holdout: float = 0.0,
) -> dict[str, list[Conversation]]:
    """train/valid/test, grouped by ``by``; with ``family_holdout`` > 0, first set aside whole
    template families as a fourth split (``heldout_families``) for a test on unseen phrasing.
    The hold-out draws from the conversations that have a family (``meta.template_family``,
    the synthetic ones); the others are split by ``by`` alone."""
    if not 0 <= valid < 1 or not 0 < test < 1 or valid + test >= 1:
        raise PipelineError(f"expected 0 <= valid, 0 < test and valid + test < 1, found valid={valid}, test={test}")
    strata = _strata(conversations)
    everything = np.arange(len(conversations))
    heldout_idx = np.array([], dtype=int)
    if family_holdout > 0:
        # Only conversations drawn from a template family (the synthetic ones) can be held out by
        # family: PAN 2012, a table or a HF data set brings none, and goes to train/valid/test.
        families = [(c.meta or {}).get("template_family") for c in conversations]
        with_family = np.array([i for i in everything if families[i]], dtype=int)
        if len(with_family):
            kept, heldout_idx = _hold_out(with_family, strata, families, family_holdout, seed + 2)
            without_family = np.array([i for i in everything if not families[i]], dtype=int)
            everything = np.sort(np.concatenate([kept, without_family]))
    groups = groups_for(conversations, by)
    rest, test_idx = _hold_out(everything, strata, groups, test / (1 - family_holdout), seed)
    train_idx, valid_idx = _hold_out(rest, strata, groups, valid / (1 - family_holdout - test), seed + 1)
    out = {
        name: [conversations[i] for i in sorted(idx)]
        for name, idx in zip(SPLIT_NAMES, (train_idx, valid_idx, test_idx), strict=True)
    }
    if family_holdout > 0:
        out[HELDOUT] = [conversations[i] for i in sorted(heldout_idx)]
    return out


def split_by_writer(
    conversations: Sequence[Conversation], source: str, valid: Sequence[str], test: Sequence[str]
) -> tuple[list[Conversation], dict[str, list[Conversation]]]:
    """(the other conversations, {<source>_train/_valid/_test}) with whole writers in each split.

    Writers named in neither ``valid`` nor ``test`` train. A writer named twice, or a
    conversation of ``source`` without ``meta.writer``, is an error."""
    both = sorted(set(valid) & set(test))
    if both:
        raise PipelineError(f"writer(s) {both} named for both the valid and the test split")
    rest: list[Conversation] = []
    out: dict[str, list[Conversation]] = {f"{source}_{name}": [] for name in SPLIT_NAMES}
    for conversation in conversations:
        if conversation.source != source:
            rest.append(conversation)
            continue
        writer = (conversation.meta or {}).get("writer")
        if not isinstance(writer, str) or not writer:
            raise PipelineError(
                f"conversation '{conversation.conversation_id}' of source '{source}' has no meta.writer: "
                "a writer split needs the writer of every conversation"
            )
        name = "valid" if writer in valid else "test" if writer in test else "train"
        out[f"{source}_{name}"].append(conversation)
    return rest, out


def _writers(convs: Sequence[Conversation]) -> set[str]:
    return {(c.meta or {}).get("writer") for c in convs} - {None}


def leakage_report(splits: dict[str, list[Conversation]], by: SplitBy) -> dict[str, Any]:
    """What the splits share: ids, authors, template families, exact message texts."""

    def ids(convs):
        return {c.conversation_id for c in convs}

    def authors(convs):
        return {m.author for c in convs for m in c.messages}

    def families(convs):
        return {(c.meta or {}).get("template_family") for c in convs} - {None}

    def texts(convs):
        return {m.text.strip().lower() for c in convs for m in c.messages if m.text.strip()}

    report: dict[str, Any] = {"by": by, "splits": {}, "shared": {}}
    for name, convs in splits.items():
        report["splits"][name] = {
            "conversations": len(convs),
            "messages": sum(len(c.messages) for c in convs),
            "risk": dict(sorted(Counter(str(c.label) for c in convs).items())),
            "kinds": dict(sorted(Counter(c.kind or "unknown" for c in convs).items())),
            "labelled_messages": sum(bool(m.labels) for c in convs for m in c.messages),
            "writers": sorted(_writers(convs)),
        }
    base = [("train", "valid"), ("train", "test"), ("valid", "test")]
    pairs = [p for p in base if set(p) <= set(splits)]
    if HELDOUT in splits:
        pairs += [(name, HELDOUT) for name in SPLIT_NAMES]
    written = sorted({name.rsplit("_", 1)[0] for name in splits if name.endswith("_test") and name != "test"})
    for prefix in written:  # writer splits: no writer in two of them
        pairs += [(f"{prefix}_{a}", f"{prefix}_{b}") for a, b in base]
    for a, b in pairs:
        shared_texts = texts(splits[a]) & texts(splits[b])
        report["shared"][f"{a}-{b}"] = {
            "conversation_ids": sorted(ids(splits[a]) & ids(splits[b]))[:20],
            "conversation_ids_count": len(ids(splits[a]) & ids(splits[b])),
            "authors_count": len(authors(splits[a]) & authors(splits[b])),
            "template_families": sorted(families(splits[a]) & families(splits[b])),
            "writers": sorted(_writers(splits[a]) & _writers(splits[b])),
            "duplicate_texts_count": len(shared_texts),
            "duplicate_texts_share_of_" + b: round(len(shared_texts) / max(1, len(texts(splits[b]))), 4),
            "duplicate_texts_examples": sorted(shared_texts, key=lambda t: (-len(t), t))[:5],
        }
    leaks = []
    for a, b in pairs:
        pair = f"{a}-{b}"
        shared = report["shared"][pair]
        if shared["conversation_ids_count"]:
            leaks.append(f"{pair}: {shared['conversation_ids_count']} conversation id(s) in both")
        if by == "author" and shared["authors_count"]:
            leaks.append(f"{pair}: {shared['authors_count']} author(s) in both")
        if (by == "family" or b == HELDOUT) and shared["template_families"]:
            leaks.append(f"{pair}: template families {shared['template_families']} in both")
        if shared["writers"]:
            leaks.append(f"{pair}: writers {shared['writers']} in both")
    report["leaks"] = leaks
    return report


def report_markdown(report: dict[str, Any]) -> str:
    out = [
        f"# Split leakage report (--by {report['by']})",
        "",
        "| split | conversations | messages | labelled messages | risk | kinds | writers |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in report["splits"].items():
        out.append(
            f"| {name} | {row['conversations']} | {row['messages']} | {row['labelled_messages']} | "
            f"{row['risk']} | {row['kinds']} | {', '.join(row['writers']) or '—'} |"
        )
    out += [
        "",
        "| pair | shared conversations | shared authors | shared families | shared writers | shared exact texts |",
        "|---|---|---|---|---|---|",
    ]
    for pair, row in report["shared"].items():
        out.append(
            f"| {pair} | {row['conversation_ids_count']} | {row['authors_count']} | "
            f"{len(row['template_families'])} | {len(row.get('writers', []))} | {row['duplicate_texts_count']} |"
        )
    out += ["", "Leaks of the requested grouping: " + ("; ".join(report["leaks"]) if report["leaks"] else "none"), ""]
    return "\n".join(out)


def write_splits(splits: dict[str, list[Conversation]], out_dir: str | Path) -> list[Path]:
    """Write train/valid/test.jsonl: all three to temporaries first, then rename them in."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, convs in splits.items():
            target = out / f"{name}.jsonl"
            temporary = out / f".{name}.jsonl.staged"
            with atomic_write(temporary) as handle:
                for conv in convs:
                    handle.write(dumps(conv) + "\n")
            staged.append((temporary, target))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, target in staged:
        os.replace(temporary, target)
    return [target for _, target in staged]
