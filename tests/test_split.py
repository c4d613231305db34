"""Leakage-safe splits: each --by mode shares nothing it promises not to share."""

from __future__ import annotations

import json
import os
from collections import Counter

import pytest

from pipeline.data import corpus
from pipeline.data.corpus import Conversation, Message
from pipeline.data.split import leakage_report, split_corpus
from pipeline.data.synth.generator import SynthConfig, synthesize
from tests.conftest import run_cli, run_console_script


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    path = tmp_path_factory.mktemp("split") / "corpus.jsonl"
    corpus.write_conversations(path, synthesize(SynthConfig(conversations=480), seed=4))
    return path


def _authors(convs):
    return {m.author for c in convs for m in c.messages}


@pytest.mark.parametrize("by", ["conversation", "author", "family"])
def test_each_mode_leaks_nothing_it_promises(by, synthetic, tmp_path):
    out = tmp_path / "splits"
    result = run_cli(
        "split",
        synthetic,
        "--out-dir",
        out,
        "--by",
        by,
        "--valid",
        "0.15",
        "--test",
        "0.15",
        "--seed",
        "3",
        "--report-dir",
        tmp_path / "reports",
        "--name",
        by,
    )
    assert result.returncode == 0, result.stderr
    splits = {name: corpus.read_conversations(out / f"{name}.jsonl") for name in ("train", "valid", "test")}
    assert sum(len(s) for s in splits.values()) == 480
    ids = [c.conversation_id for s in splits.values() for c in s]
    assert len(ids) == len(set(ids))
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        if by == "author":
            assert not _authors(splits[a]) & _authors(splits[b])
        if by == "family":
            families = [{c.meta["template_family"] for c in splits[x]} for x in (a, b)]
            assert not families[0] & families[1]
    report = json.loads((tmp_path / "reports" / f"{by}_leakage.json").read_text(encoding="utf-8"))
    assert report["leaks"] == []
    assert report["splits"]["test"]["conversations"] == len(splits["test"])
    # stratified: each split has both risk classes in roughly the corpus proportion
    for split in splits.values():
        share = sum(c.label for c in split) / len(split)
        assert 0.3 < share < 0.7


def test_split_by_conversation_sizes_and_determinism(synthetic, tmp_path):
    args = ("split", synthetic, "--by", "conversation", "--seed", "5", "--report-dir", tmp_path / "r")
    assert run_cli(*args, "--out-dir", tmp_path / "a").returncode == 0
    # and in another process, with another hash seed
    env = {**os.environ, "PYTHONHASHSEED": "3"}
    assert run_console_script(*args, "--out-dir", tmp_path / "b", env=env).returncode == 0
    for name in ("train", "valid", "test"):
        assert (tmp_path / "a" / f"{name}.jsonl").read_bytes() == (tmp_path / "b" / f"{name}.jsonl").read_bytes()
    sizes = {n: len(corpus.read_conversations(tmp_path / "a" / f"{n}.jsonl")) for n in ("train", "valid", "test")}
    assert 0.10 < sizes["test"] / 480 < 0.20 and 0.10 < sizes["valid"] / 480 < 0.20


def _conv(cid, authors, label):
    return Conversation(
        conversation_id=cid, label=label, kind="other", messages=[Message(author=a, text=f"{cid} {a}") for a in authors]
    )


def test_by_author_keeps_recurring_authors_together():
    # PAN12-like: predator "p1" talks to many children; children never meet each other.
    convs = [_conv(f"c{i}", [f"p{i % 20}", f"k{i}"], int(i % 20 < 10)) for i in range(200)]
    splits = split_corpus(convs, "author", valid=0.15, test=0.2, seed=1)
    assert not _authors(splits["train"]) & _authors(splits["test"])
    assert not _authors(splits["train"]) & _authors(splits["valid"])
    assert leakage_report(splits, "author")["leaks"] == []
    by_conversation = split_corpus(convs, "conversation", valid=0.15, test=0.2, seed=1)
    assert leakage_report(by_conversation, "author")["leaks"]  # the same data split naively leaks authors


def test_leak_detection_names_what_leaked():
    a, b = _conv("c1", ["x", "y"], 1), _conv("c2", ["x", "z"], 0)
    report = leakage_report({"train": [a], "valid": [], "test": [b]}, "author")
    assert report["leaks"] == ["train-test: 1 author(s) in both"]
    report = leakage_report({"train": [a], "valid": [], "test": [a]}, "conversation")
    assert "train-test: 1 conversation id(s) in both" in report["leaks"]
    assert report["shared"]["train-test"]["duplicate_texts_count"] == 2


def test_family_split_needs_template_families(sample_path, tmp_path):
    out = tmp_path / "splits"
    result = run_cli("split", sample_path, "--out-dir", out, "--by", "family", "--report-dir", tmp_path)
    assert result.returncode == 1
    assert "--by family needs meta.template_family" in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_the_family_hold_out_takes_synthetic_conversations_only(synthetic, tmp_path):
    """PAN 2012, a table or a HF data set has no template family: with --family-holdout on and
    --by conversation (the pipeline's defaults), such conversations go to train/valid/test and only
    synthetic ones are held out by family (an earlier version refused the run with a message
    about --by family)."""
    brought = [_conv(f"pan-{i}", [f"p{i}", f"k{i}"], int(i % 3 == 0)) for i in range(60)]
    mixed = tmp_path / "mixed.jsonl"
    corpus.write_conversations(mixed, [*corpus.read_conversations(synthetic), *brought])
    out = tmp_path / "splits"
    result = run_cli(
        "split", mixed, "--out-dir", out, "--by", "conversation", "--family-holdout", "0.15",
        "--report-dir", tmp_path / "reports", "--seed", "3",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    splits = {name: corpus.read_conversations(out / f"{name}.jsonl") for name in ("train", "valid", "test")}
    heldout = corpus.read_conversations(out / "heldout_families.jsonl")
    assert heldout and all(c.meta.get("template_family") for c in heldout)
    placed = Counter(c.conversation_id.startswith("pan-") for s in splits.values() for c in s)
    assert placed[True] == 60 and sum(len(s) for s in splits.values()) + len(heldout) == 540
    assert all(any(c.conversation_id.startswith("pan-") for c in s) for s in splits.values())


def test_a_family_hold_out_without_families_warns_and_splits_the_rest(sample_path, tmp_path):
    out = tmp_path / "splits"
    brought = [_conv(f"pan-{i}", [f"p{i}", f"k{i}"], i % 2) for i in range(40)]
    corpus.write_conversations(tmp_path / "pan.jsonl", brought)
    result = run_cli(
        "split", tmp_path / "pan.jsonl", "--out-dir", out, "--family-holdout", "0.15", "--report-dir", tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "--family-holdout 0.15: no conversation has meta.template_family" in result.stderr
    assert (out / "heldout_families.jsonl").read_text(encoding="utf-8") == ""  # written, empty (DVC declares it)
    assert sum(len(corpus.read_conversations(out / f"{n}.jsonl")) for n in ("train", "valid", "test")) == 40


def test_too_few_groups_is_a_clear_error(sample_path, tmp_path):
    result = run_cli("split", sample_path, "--out-dir", tmp_path / "s", "--report-dir", tmp_path)
    assert result.returncode == 1
    assert "needs at least 7 groups" in result.stderr


def test_stratification_follows_label_and_kind(synthetic):
    convs = corpus.read_conversations(synthetic)
    splits = split_corpus(convs, "conversation", valid=0.15, test=0.15, seed=2)
    total = Counter(c.kind for c in convs)
    test = Counter(c.kind for c in splits["test"])
    for kind, n in total.items():
        assert abs(test[kind] / len(splits["test"]) - n / len(convs)) < 0.05
