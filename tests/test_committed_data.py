"""The human-written corpora committed to git: valid, non-explicit, free of personal data; and
the authored corpus's own promises (roles, double annotation, adjudication, a split by writer)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest
import yaml

from pipeline.data import corpus
from pipeline.schema.safety import explicit_terms
from tests.conftest import REPO

HANDWRITTEN = REPO / "data" / "handwritten" / "dev.jsonl"
AUTHORED = REPO / "data" / "authored" / "corpus.jsonl"
# What must never appear in invented text: e-mail addresses, URLs, @handles, phone numbers.
PERSONAL = re.compile(
    r"(\b\S+@\S+\.\w{2,}\b|https?://|www\.|(?<![\w.])@\w{3,}|\+?\d[\d .-]{8,}\d)",
)


def _read(path):
    from pipeline.schema import load_schema

    schema = load_schema()
    return corpus.read_conversations(path, label_ids=schema.label_ids, flag_ids=schema.flag_ids)


@pytest.fixture(scope="module")
def authored():
    if not AUTHORED.exists():
        pytest.fail(f"{AUTHORED} is missing: it is committed with the project")
    return _read(AUTHORED)


@pytest.mark.parametrize("path", [HANDWRITTEN, AUTHORED], ids=["handwritten", "authored"])
def test_human_written_text_is_non_explicit_and_has_no_personal_data(path):
    conversations = _read(path)
    texts = [m.text for c in conversations for m in c.messages]
    assert texts
    assert [t for t in texts if explicit_terms(t)] == []
    assert [t for t in texts if PERSONAL.search(t)] == []


def test_authored_conversations_carry_their_facts(authored):
    ids = [c.conversation_id for c in authored]
    assert len(ids) == len(set(ids))
    for c in authored:
        meta = c.meta or {}
        assert c.source == "authored" and c.language in ("en", "fr") and c.kind and c.label in (0, 1), c.conversation_id
        for field in ("platform", "child_age", "persona", "writer", "brief_id"):
            assert meta.get(field) not in (None, ""), (c.conversation_id, field)
        assert 9 <= meta["child_age"] <= 17
        assert len(c.messages) >= 6
        authors = {m.author for m in c.messages}
        assert all(a.startswith(c.conversation_id + "-") for a in authors)  # no author shared across conversations
        assert set(meta["roles"]) == authors


def test_every_authored_message_is_gold_from_two_annotators_and_adjudication(authored):
    for c in authored:
        record = (c.meta or {}).get("annotation") or {}
        assert len(record.get("annotators", [])) == 2, c.conversation_id
        for index, m in enumerate(c.messages):
            assert m.labels is not None, (c.conversation_id, index)
            votes = (m.meta or {}).get("annotations") or {}
            assert len(votes) == 2, (c.conversation_id, index)
            first, second = (set(v) for v in votes.values())
            decision = (m.meta or {}).get("adjudication")
            if first == second:
                assert set(m.labels) == first or decision, (c.conversation_id, index)
            else:  # every disagreement was adjudicated
                assert decision and decision["after"] == m.labels, (c.conversation_id, index)
        if c.label == 1:
            assert any(m.labels for m in c.messages), c.conversation_id


def test_authored_split_is_fixed_by_writer(authored):
    params = yaml.safe_load((REPO / "params.yaml").read_text(encoding="utf-8"))
    writers = params["split"]["writers"]
    valid, test = (set(filter(None, writers[k].split(","))) for k in ("valid", "test"))
    present = Counter(c.meta["writer"] for c in authored)
    assert valid | test <= set(present) and not valid & test
    train = set(present) - valid - test
    assert train, "some writers must train"
    share = sum(present[w] for w in test) / len(authored)
    assert share >= 0.35, f"authored_test holds {share:.0%} of the conversations"
    languages = {c.language for c in authored if c.meta["writer"] in test}
    assert languages == {"en", "fr"}


def test_committed_agreement_report_matches_the_corpus(authored):
    report = json.loads((REPO / "reports" / "agreement_authored.json").read_text(encoding="utf-8"))
    assert report["tasks_annotated_by_two_or_more"] == len(authored)
    assert report["messages"] == sum(len(c.messages) for c in authored)
    assert set(report["against_gold"]) == set(report["annotators"])
