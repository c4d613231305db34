"""The pieces added for the authored corpus: the split by writer, the authored mix in training,
adjudication, each annotator against the gold, annotator names, and the overlap check."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.annotate.agreement import annotators_against_gold
from pipeline.annotate.labelstudio import Annotation, ExportTask
from pipeline.core.errors import PipelineError
from pipeline.data import corpus
from pipeline.data.overlap import near_pairs, overlap_report
from pipeline.data.split import leakage_report, split_by_writer
from pipeline.experiments.train import repeat_conversations
from tests.conftest import run_cli


def conv(cid: str, writer: str | None = None, source: str = "authored", labels=None, texts=None, label=1):
    texts = texts or ["hello there friend", "hi"]
    labels = labels or [[] for _ in texts]
    return corpus.Conversation.model_validate(
        {
            "conversation_id": cid,
            "source": source,
            "label": label,
            "kind": "grooming" if label else "benign_peer",
            "messages": [
                {"author": f"{cid}-a{i % 2 + 1}", "text": t, "labels": labs}
                for i, (t, labs) in enumerate(zip(texts, labels, strict=True))
            ],
            "meta": {"writer": writer} if writer else None,
        }
    )


def write(path: Path, conversations) -> Path:
    corpus.write_conversations(path, conversations)
    return path


# ------------------------------------------------------------------ split by writer


def test_split_by_writer_puts_whole_writers_in_each_split():
    items = [conv(f"a{i}", writer=f"w{i % 4}") for i in range(8)] + [conv("s1", source="synthetic")]
    rest, out = split_by_writer(items, "authored", valid=["w1"], test=["w2", "w3"])
    assert [c.conversation_id for c in rest] == ["s1"]
    writers = {name: {c.meta["writer"] for c in convs} for name, convs in out.items()}
    assert writers == {"authored_train": {"w0"}, "authored_valid": {"w1"}, "authored_test": {"w2", "w3"}}
    report = leakage_report(out, "conversation")
    assert report["leaks"] == [] and report["splits"]["authored_test"]["writers"] == ["w2", "w3"]


def test_a_writer_in_two_splits_is_a_leak_and_a_missing_writer_an_error():
    with pytest.raises(PipelineError, match="both the valid and the test"):
        split_by_writer([conv("a", "w1")], "authored", valid=["w1"], test=["w1"])
    with pytest.raises(PipelineError, match="has no meta.writer"):
        split_by_writer([conv("a")], "authored", valid=[], test=[])
    leaky = {"authored_train": [conv("a", "w1")], "authored_valid": [], "authored_test": [conv("b", "w1")]}
    assert any("writers ['w1']" in leak for leak in leakage_report(leaky, "conversation")["leaks"])


def test_split_cli_writes_the_writer_splits(tmp_path):
    synthetic = [conv(f"s{i}", source="synthetic", label=i % 2) for i in range(40)]
    authored = [conv(f"a{i}", writer=f"w{i % 3}") for i in range(9)]
    data = write(tmp_path / "all.jsonl", synthetic + authored)
    out = tmp_path / "splits"
    result = run_cli(
        "split", data, "--out-dir", out, "--report-dir", tmp_path, "--writer-source", "authored",
        "--writer-valid", "w1", "--writer-test", "w2",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    counts = {p.stem: len(corpus.read_conversations(p)) for p in out.glob("*.jsonl")}
    assert counts["authored_train"] == counts["authored_valid"] == counts["authored_test"] == 3
    assert counts["train"] + counts["valid"] + counts["test"] == 40
    assert "shared writers" in (tmp_path / "split_leakage.md").read_text()


# ------------------------------------------------------------------ training mix


def test_repeat_conversations_keeps_ids_unique_and_zero_means_none():
    items = [conv("a", "w1"), conv("b", "w1")]
    assert repeat_conversations(items, 0) == []
    copies = repeat_conversations(items, 3)
    ids = [c.conversation_id for c in copies]
    assert len(copies) == 6 and len(set(ids)) == 6 and ids[:2] == ["a", "b"]
    assert {m.message_id for c in copies for m in c.messages} == {f"{i}:{k}" for i in ids for k in range(2)}
    with pytest.raises(PipelineError):
        repeat_conversations(items, -1)


def test_authored_valid_is_always_tuned_on_whole(tmp_path):
    """max_valid_conversations samples the synthetic valid set; authored_valid is added whole."""
    from pipeline.config.models import LexiconSettings
    from pipeline.models.lexicon import LexiconModel

    seen = {}

    class SpySettings(LexiconSettings):  # the setting the slow kinds have (embed, transformer, ensemble)
        max_valid_conversations: int | None = None

    class Spy(LexiconModel):
        settings_class = SpySettings

        def tune(self, valid, probabilities=None, thresholds_from=None):
            seen["ids"] = [c.conversation_id for c in valid]
            super().tune(valid, probabilities, thresholds_from)

    from pipeline.schema import load_schema

    schema = load_schema()
    model = Spy(schema.label_ids, {"max_valid_conversations": 2}, seed=1)
    model.fit([conv("t")], [conv(f"v{i}", source="synthetic") for i in range(5)], [conv("x1"), conv("x2"), conv("x3")])
    assert len([i for i in seen["ids"] if i.startswith("v")]) == 2
    assert [i for i in seen["ids"] if i.startswith("x")] == ["x1", "x2", "x3"]


def test_thresholds_can_come_from_the_authored_valid_split_alone():
    """thresholds_on="whole": the label thresholds are the best F1 cut on authored_valid only,
    while the conversation risk threshold still sees both valid sets."""
    from pipeline.models.base import Model
    from pipeline.schema import load_schema

    label_ids = load_schema().label_ids
    j = label_ids.index("secrecy")

    class Fixed(Model):
        kind = "fixed-for-test"

        def message_probabilities(self, conversations):
            # Every label scores the same: in synthetic conversations, 0.5 on a labelled message
            # and 0.55 on an unlabelled one (the model is wrong there); in authored ones, 0.6 and 0.1.
            score = {
                ("synthetic", True): 0.5,
                ("synthetic", False): 0.55,
                ("authored", True): 0.6,
                ("authored", False): 0.1,
            }
            return [
                np.array([[score[c.source, bool(m.labels)]] * len(label_ids) for m in c.messages])
                for c in conversations
            ]

    synthetic = [conv(f"v{i}", source="synthetic", labels=[["secrecy"], []], label=1) for i in range(3)]
    authored = [conv(f"x{i}", labels=[["secrecy"], []], label=1) for i in range(3)]
    both = Fixed(label_ids, seed=0).fit([], synthetic, authored)
    whole = Fixed(label_ids, seed=0).fit([], synthetic, authored, thresholds_on="whole")
    # Both sets: cutting at 0.5 keeps 6 positives and 3 negatives, F1 = 12/15 = 0.8, better than
    # 0.6 (3 positives: F1 = 6/9) or 0.55 (F1 = 0.5). Authored alone: 0.6 separates them exactly.
    assert both.thresholds_[j] == pytest.approx(0.5)
    assert whole.thresholds_[j] == pytest.approx(0.6)
    with pytest.raises(PipelineError, match="thresholds_on"):
        Fixed(label_ids, seed=0).fit([], synthetic, authored, thresholds_on="authored")


def test_train_cli_mixes_authored_data_by_weight(tmp_path):
    synthetic = [conv(f"s{i}", source="synthetic", labels=[["gifts"], []], label=1) for i in range(4)]
    authored = [conv(f"a{i}", "w1", labels=[["secrecy"], []]) for i in range(2)]
    train, valid = write(tmp_path / "t.jsonl", synthetic), write(tmp_path / "v.jsonl", synthetic[:2])
    extra = write(tmp_path / "a.jsonl", authored)
    result = run_cli(
        "train", "--model", "lexicon", "--train", train, "--valid", valid, "--out", tmp_path / "m",
        "--authored-train", extra, "--authored-valid", extra, "--authored-weight", "3", "--no-track",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    # a relative path: Typer's error panel wraps a long one over several lines
    result = run_cli("train", "--model", "lexicon", "--train", train, "--valid", valid, "--out", tmp_path / "m2",
                     "--authored-train", "missing.jsonl", "--no-track", cwd=tmp_path)  # fmt: skip
    assert result.returncode != 0 and "missing.jsonl" in result.stderr and not (tmp_path / "m2").exists()


# ------------------------------------------------------------------ adjudication


def _annotated(tmp_path: Path) -> Path:
    c = conv("c1", "w1", labels=[["secrecy"], []], texts=["keep it between us", "ok"])
    c.messages[0].meta = {"annotations": {"annotator-1": ["secrecy"], "annotator-2": []}}
    c.messages[1].meta = {"annotations": {"annotator-1": [], "annotator-2": []}}
    return write(tmp_path / "imported.jsonl", [c, conv("c2", "w1", labels=[[], []], label=0)])


def test_adjudicate_applies_decisions_and_keeps_what_was_before(tmp_path):
    data = _annotated(tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text(
        json.dumps({"conversation_id": "c1", "messages": {"0": ["secrecy", "isolation"]}, "kind": "sextortion",
                    "note": "both readings hold"}) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    out = tmp_path / "gold.jsonl"
    result = run_cli("annotate", "adjudicate", "--data", data, "--decisions", decisions, "--out", out, "--by", "adj")
    assert result.returncode == 0, result.stderr
    assert "1 message decisions of which 1 changed" in result.stdout
    gold = {c.conversation_id: c for c in corpus.read_conversations(out)}
    first = gold["c1"].messages[0]
    assert first.labels == ["isolation", "secrecy"]  # schema order
    assert first.meta["adjudication"] == {"by": "adj", "before": ["secrecy"], "after": ["isolation", "secrecy"]}
    assert first.meta["annotations"] == {"annotator-1": ["secrecy"], "annotator-2": []}
    assert gold["c1"].kind == "sextortion" and gold["c1"].meta["adjudication"]["changed"]["kind"] == {
        "before": "grooming",
        "after": "sextortion",
    }
    assert gold["c2"] == corpus.read_conversations(data)[1]  # untouched


@pytest.mark.parametrize(
    "line, expected",
    [
        ('{"conversation_id": "nope"}', "conversation_id: expected a conversation of the corpus"),
        ('{"conversation_id": "c1", "messages": {"7": []}}', "messages.7: expected a message index from 0 to 1"),
        ('{"conversation_id": "c1", "messages": {"0": ["flirting"]}}', "messages.0: expected a list of label ids"),
        ('{"conversation_id": "c1", "kind": "evil"}', "kind: expected one of"),
        ('{"conversation_id": "c1", "label": 2}', "label: expected 0 or 1"),
        ('{"conversation_id": "c1", "mesages": {}}', "mesages: unknown field"),
        ("not json", "(json): expected a JSON object"),
    ],
)
def test_bad_decisions_name_file_and_line_and_write_nothing(tmp_path, line, expected):
    data = _annotated(tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text('{"conversation_id": "c2"}\n' + line + "\n", encoding="utf-8")
    out = tmp_path / "gold.jsonl"
    result = run_cli("annotate", "adjudicate", "--data", data, "--decisions", decisions, "--out", out)
    assert result.returncode == 1
    assert f"{decisions}:2: {expected}" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()


def test_adjudicate_refuses_to_overwrite_its_input(tmp_path):
    data = _annotated(tmp_path)
    decisions = tmp_path / "decisions.jsonl"
    decisions.write_text('{"conversation_id": "c1"}\n', encoding="utf-8")
    before = data.read_bytes()
    result = run_cli("annotate", "adjudicate", "--data", data, "--decisions", decisions, "--out", data)
    assert result.returncode == 1 and "--out is the input --data itself" in result.stderr
    assert data.read_bytes() == before


# ------------------------------------------------------------------ annotators against the gold


def test_each_annotator_is_scored_against_the_gold_by_hand():
    gold = conv("c1", labels=[["secrecy"], ["secrecy", "gifts"], [], ["gifts"]], texts=["a", "b", "c", "d"])
    task = ExportTask(
        0,
        1,
        gold,
        [
            # A: secrecy tp 1 (msg0), fn 1 (msg1); gifts tp 2 -> secrecy F1 2/3, gifts 1
            Annotation("A", 1, [["secrecy"], ["gifts"], [], ["gifts"]], risk=1),
            # B: secrecy tp 2, fp 1 (msg2); gifts fn 2 -> secrecy 0.8, gifts 0
            Annotation("B", 2, [["secrecy"], ["secrecy"], ["secrecy"], []], risk=0),
        ],
        [],
    )
    report = annotators_against_gold([task], {"c1": gold}, ["gifts", "secrecy", "isolation"])
    a, b = report["A"], report["B"]
    assert a["labels"]["secrecy"]["f1"] == pytest.approx(2 / 3, abs=1e-6)
    assert a["labels"]["gifts"]["f1"] == 1.0 and a["labels"]["isolation"]["f1"] is None
    assert b["labels"]["secrecy"]["f1"] == pytest.approx(0.8) and b["labels"]["gifts"]["f1"] == 0.0
    assert a["macro_f1"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-6) and b["macro_f1"] == pytest.approx(0.4)
    assert (a["risk_accuracy"], b["risk_accuracy"]) == (1.0, 0.0)


def test_bad_annotator_names_file_is_refused(tmp_path):
    names = tmp_path / "names.json"
    names.write_text('["annotator-1"]', encoding="utf-8")
    export = tmp_path / "export.json"
    export.write_text("[]", encoding="utf-8")
    result = run_cli("annotate", "import", export, "--out", tmp_path / "x.jsonl", "--annotators", names)
    assert result.returncode == 1 and '{"2": "annotator-1"}' in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


# ------------------------------------------------------------------ overlap


def test_near_pairs_match_a_hand_computed_jaccard():
    # "abcdefg" 5-grams: abcde bcdef cdefg; "abcdefh": abcde bcdef cdefh -> 2 / 4 = 0.5
    assert near_pairs(["abcdefg"], ["abcdefh"], threshold=0.5) == [(0, 0, 0.5)]
    assert near_pairs(["abcdefg"], ["abcdefh"], threshold=0.51) == []
    assert near_pairs(["abcdefgh", "abcdefgx", "zzzzzzzz"], None, threshold=0.5) == [(0, 1, 0.6)]


def test_overlap_report_counts_exact_near_and_short_messages():
    ours = [
        conv("a", texts=["you are the best friend ever honestly", "ok", "see you at the park at nine then"]),
        conv("b", texts=["you are the best friend ever honestly!", "lol", "a completely different sentence here"]),
    ]
    theirs = [conv("s", texts=["see you at the park at nine then", "something else entirely, really"])]
    report = overlap_report(ours, theirs, threshold=0.8, min_chars=20)
    assert report["messages"] == 6 and report["short_messages_not_compared"] == 2
    assert report["inside"]["near_or_exact_duplicate_messages"] == 2  # the two "best friend" lines
    assert report["against"]["exact_messages"] == 1 and report["against"]["near_messages"] == 0
    assert report["against"]["share_of_compared"] == pytest.approx(0.25)


def test_overlap_cli_writes_both_reports(tmp_path):
    data = write(
        tmp_path / "a.jsonl", [conv("a", texts=["a sentence long enough to compare", "and another one to go"])]
    )
    result = run_cli("overlap", data, "--against", data, "--out-dir", tmp_path, "--name", "ov")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "ov.json").read_text())
    assert report["against"]["exact_messages"] == 2 and "Text overlap" in (tmp_path / "ov.md").read_text()


# ------------------------------------------------------------------ data card


def test_data_card_of_an_authored_corpus_shows_variety_agreement_and_overlap(tmp_path):
    items = []
    for i in range(4):
        c = conv(f"a{i}", writer=f"w{i % 2}", labels=[["secrecy", "gifts"], []] if i % 2 else [[], []], label=i % 2)
        c.language = "en" if i < 2 else "fr"
        c.meta.update(platform="sms", child_age=10 + i, persona="fake_peer", child_reaction="wary")
        items.append(c)
    data = write(tmp_path / "authored.jsonl", items)
    agreement = tmp_path / "agreement.json"
    agreement.write_text(
        json.dumps(
            {
                "tasks_annotated_by_two_or_more": 4,
                "labels": {"secrecy": {"alpha": 0.75, "positive_ratings": 3}},
                "risk": {"alpha": 1.0},
                "against_gold": {"annotator-1": {"labels": {"secrecy": {"f1": 0.5}}}},
            }
        ),
        encoding="utf-8",
    )
    result = run_cli("overlap", data, "--against", data, "--out-dir", tmp_path, "--name", "ov")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "card.md"
    result = run_cli(
        "card", "data", "--corpus", data, "--name", "authored", "--out", out,
        "--agreement", agreement, "--overlap", tmp_path / "ov.json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    card = out.read_text(encoding="utf-8")
    assert "## Variety" in card and "| w0 | 2 (50%) |" in card and "| 13 | 1 (25%) |" in card
    assert "2 messages carry two labels or more" in card
    assert "| `secrecy` | 0.750 | 3 | 0.500 |" in card
    assert "## Overlap checks" in card and "AI helper agents" in card
