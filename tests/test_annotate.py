"""The annotation workflow: tasks out, annotations back, agreement, the next batch, bad input,
and the round trip through a real Label Studio server (installed in its own venv)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pipeline.annotate.select import pick_messages
from pipeline.annotate.server import User
from pipeline.annotate.server import label_studio as local_label_studio
from pipeline.annotate.tasks import entropy_uncertainty, threshold_uncertainty, utf16_length
from pipeline.data import corpus
from pipeline.reporting.exports import label_studio_config
from tests.conftest import REPO, run_cli

# Innocuous chat lines; two of them match lexicon cues (trust_building, gifts) so that the
# lexicon model makes message-level predictions.
CONVERSATIONS = [
    {
        "conversation_id": "c1",
        "language": "en",
        "source": "test",
        "messages": [
            {"author": "a1", "time": "2026-03-01T16:00:00", "text": "hey how was school today"},
            {"author": "k1", "time": "2026-03-01T16:01:00", "text": "fine we had a maths test 😀"},
            {"author": "a1", "time": "2026-03-01T16:02:00", "text": "you can always talk to me"},
            {"author": "k1", "time": "2026-03-01T16:03:00", "text": "ok see you at practice"},
        ],
        "meta": {"batch": "t1"},
    },
    {
        "conversation_id": "c2",
        "language": "en",
        "source": "test",
        "messages": [
            {"author": "a2", "text": "i got you some coins for the game", "meta": {"note": "kept"}},
            {"author": "k2", "text": "thanks"},
            {"author": "a2", "text": "good luck with the match tomorrow"},
        ],
    },
    {
        "conversation_id": "c3",
        "language": "en",
        "messages": [{"author": "a3", "text": "did you finish the homework"}, {"author": "k3", "text": "almost done"}],
    },
]

# The designed annotations (annotators A and B; C skips c2). Message labels:
#   c1: A secrecy on messages 0-1 (one region), trust_building on 2; B secrecy on 0.
#   c2: A and B gifts on 0.
# Risk: c1 A 1, B 1; c2 A 0, B 1. Kind: c1 grooming (both), c2 benign_peer (both).
# c3 is not annotated.
PLAN = [
    ("A", "c1", [("para", 0, 1, ["secrecy"]), ("para", 2, 2, ["trust_building"]), ("risk", "1"), ("kind", "grooming")]),
    ("B", "c1", [("para", 0, 0, ["secrecy"]), ("risk", "1"), ("kind", "grooming")]),
    ("A", "c2", [("para", 0, 0, ["gifts"]), ("risk", "0"), ("kind", "benign_peer")]),
    ("B", "c2", [("para", 0, 0, ["gifts"]), ("risk", "1"), ("kind", "benign_peer"), ("flags", ["deadline"])]),
    ("C", "c2", "cancelled"),
]

# Hand-computed agreement for PLAN, over the 7 messages of c1 and c2 (A and B rate all 7):
# secrecy: A = 1,1,0,0,0,0,0 and B = 1,0,0,0,0,0,0. Krippendorff (nominal): n = 14 values,
#   n1 = 3, n0 = 11, one disagreeing unit (o01 = o10 = 1): D_o = 2/14,
#   D_e = 2*3*11/(14*13) = 66/182, alpha = 1 - (2/14)/(66/182) = 1 - 364/924 = 20/33.
#   Cohen: p_o = 6/7, p_e = (2/7)(1/7) + (5/7)(6/7) = 32/49, kappa = (42/49 - 32/49)/(17/49) = 10/17.
# trust_building: A = 0,0,1,0,0,0,0, B all 0: D_o = 2/14, D_e = 2*1*13/(14*13) = 2/14, alpha = 0;
#   p_o = 6/7, p_e = (1/7)(0) + (6/7)(1) = 6/7, kappa = 0.
# gifts: both 0,0,0,0,1,0,0: no disagreement, alpha = 1, kappa = 1.
# any other label: every rating 0: alpha undefined (null, with a reason).
# risk over c1, c2: A = 1,0 and B = 1,1: n = 4, n1 = 3, n0 = 1, one disagreeing unit:
#   D_o = 2/4, D_e = 2*3*1/(4*3) = 1/2, alpha = 0; p_o = 1/2, p_e = (1/2)(1) + (1/2)(0) = 1/2, kappa = 0.
# kind: both agree on two different kinds: alpha = 1.
EXPECTED_ALPHA = {"secrecy": 20 / 33, "trust_building": 0.0, "gifts": 1.0}
EXPECTED_KAPPA = {"secrecy": 10 / 17, "trust_building": 0.0, "gifts": 1.0}


def _result(item) -> dict:
    kind = item[0]
    if kind == "para":
        _, start, end, labels = item
        return {
            "id": f"p{start}{end}",
            "from_name": "message_labels",
            "to_name": "dialogue",
            "type": "paragraphlabels",
            "origin": "manual",
            "value": {
                "start": str(start),
                "end": str(end),
                "startOffset": 0,
                "endOffset": 3,
                "paragraphlabels": labels,
            },
        }
    values = item[1] if isinstance(item[1], list) else [item[1]]
    return {"id": kind, "from_name": kind, "to_name": "dialogue", "type": "choices", "value": {"choices": values}}


def plan_results(plan) -> list[dict]:
    """The plan as (annotator, conversation id, results or None for a cancelled annotation)."""
    return [(who, cid, None if items == "cancelled" else [_result(i) for i in items]) for who, cid, items in plan]


def make_export(tasks: list[dict], plan=PLAN, users=None) -> list[dict]:
    """A Label Studio JSON export as the server writes it, for the tasks file and the plan."""
    users = users or {"A": 1, "B": 2, "C": 3}
    out = []
    annotation_id = 0
    for task_id, task in enumerate(tasks, start=101):
        annotations = []
        for who, cid, results in plan_results(plan):
            if cid != task["data"]["conversation_id"]:
                continue
            annotation_id += 1
            annotations.append(
                {
                    "id": annotation_id,
                    "completed_by": users[who],
                    "result": results or [],
                    "was_cancelled": results is None,
                    "ground_truth": False,
                    "created_at": f"2026-11-26T05:39:0{annotation_id}.000000Z",
                    "updated_at": f"2026-11-26T05:39:0{annotation_id}.000000Z",
                    "task": task_id,
                }
            )
        out.append(
            {
                "id": task_id,
                "annotations": annotations,
                "drafts": [],
                "predictions": [],
                "data": task["data"],
                "meta": {},
            }
        )
    return out


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotate")
    data = root / "batch.jsonl"
    data.write_text("".join(json.dumps(c) + "\n" for c in CONVERSATIONS), encoding="utf-8")
    return root, data


@pytest.fixture(scope="module")
def lexicon_model(tmp_path_factory):
    """The lexicon model needs no training data beyond validation for its thresholds."""
    out = tmp_path_factory.mktemp("lexicon") / "model"
    dev = REPO / "data" / "handwritten" / "dev.jsonl"
    result = run_cli("train", "--model", "lexicon", "--train", dev, "--valid", dev, "--out", out, "--no-track")
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def tasks_file(work):
    root, data = work
    out = root / "tasks.json"
    result = run_cli("annotate", "export", "--data", data, "--out", out)
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def export_file(work, tasks_file):
    root, _ = work
    path = root / "export.json"
    path.write_text(json.dumps(make_export(json.loads(tasks_file.read_text()))), encoding="utf-8")
    return path


def _jsonl(path: Path) -> dict[str, dict]:
    return {c["conversation_id"]: c for c in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


# ------------------------------------------------------------------- export


def test_export_writes_one_task_per_conversation_with_ids_and_messages(tasks_file):
    tasks = json.loads(tasks_file.read_text(encoding="utf-8"))
    assert [t["data"]["conversation_id"] for t in tasks] == ["c1", "c2", "c3"]
    first = tasks[0]["data"]
    assert [m["index"] for m in first["messages"]] == [0, 1, 2, 3]
    assert [m["message_id"] for m in first["messages"]] == ["c1:0", "c1:1", "c1:2", "c1:3"]
    assert [(m["author"], m["text"]) for m in first["messages"]] == [
        (m["author"], m["text"]) for m in CONVERSATIONS[0]["messages"]
    ]
    assert first["messages"][0]["time"] == "2026-03-01T16:00:00"
    assert first["conversation"] == {"language": "en", "source": "test", "meta": {"batch": "t1"}}
    assert tasks[1]["data"]["messages"][0]["meta"] == {"note": "kept"}
    assert all("predictions" not in t for t in tasks)
    text = tasks_file.read_text(encoding="utf-8")
    assert '"labels"' not in text and '"kind"' not in text  # annotation fields are never shown


def test_export_hides_existing_annotations(tmp_path):
    out = tmp_path / "tasks.json"
    result = run_cli("annotate", "export", "--data", REPO / "data" / "handwritten" / "dev.jsonl", "--out", out)
    assert result.returncode == 0, result.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    assert len(tasks) == 40
    assert all("labels" not in m for t in tasks for m in t["data"]["messages"])
    assert all(not {"label", "kind", "flags"} & set(t["data"]["conversation"]) for t in tasks)


def test_export_with_a_model_adds_predictions_in_label_studio_shape(work, lexicon_model, schema):
    from pipeline.models import load_model

    root, data = work
    out = root / "tasks_predicted.json"
    result = run_cli("annotate", "export", "--data", data, "--out", out, "--model", lexicon_model)
    assert result.returncode == 0, result.stderr
    tasks = json.loads(out.read_text(encoding="utf-8"))
    model = load_model(lexicon_model)
    predictions = model.predict(corpus.read_conversations(data))
    for task, expected in zip(tasks, predictions, strict=True):
        (prediction,) = task["predictions"]
        assert prediction["model_version"].startswith("lexicon-")
        assert 0.0 <= prediction["score"] <= 1.0
        regions = [r for r in prediction["result"] if r["from_name"] == "message_labels"]
        (risk,) = [r for r in prediction["result"] if r["from_name"] == "risk"]
        assert risk["type"] == "choices" and risk["to_name"] == "dialogue"
        assert risk["value"]["choices"] == ["1" if expected.risk[-1] >= model.risk_.threshold_ else "0"]
        labelled = {}
        for region in regions:
            assert region["type"] == "paragraphlabels" and region["to_name"] == "dialogue"
            value = region["value"]
            assert value["start"] == value["end"] and isinstance(value["start"], str)
            index = int(value["start"])
            message = task["data"]["messages"][index]
            assert value["startOffset"] == 0 and value["endOffset"] == utf16_length(message["text"])
            assert value["text"] == message["text"]
            labelled[index] = value["paragraphlabels"]
        wanted = {
            i: [label for j, label in enumerate(model.label_ids) if row[j]]
            for i, row in enumerate(expected.predicted)
            if row.any()
        }
        assert labelled == wanted
    assert {r["value"]["paragraphlabels"][0] for t in tasks for r in t["predictions"][0]["result"][:-1]} == {
        "trust_building",
        "gifts",
    }


def test_offsets_count_utf16_units_as_the_browser_does():
    assert utf16_length("fine 😀") == 7  # the emoji is two UTF-16 code units
    assert utf16_length("école") == 5


# ------------------------------------------------------------------- import


def test_import_adjudicates_by_majority_and_keeps_every_annotator(work, export_file):
    root, _ = work
    out = root / "imported.jsonl"
    result = run_cli("annotate", "import", export_file, "--out", out)
    assert result.returncode == 0, result.stderr
    conversations = _jsonl(out)
    assert list(conversations) == ["c1", "c2", "c3"]
    c1, c2, c3 = conversations["c1"], conversations["c2"], conversations["c3"]
    # majority over A and B; ties (1 against 1) are included by default
    assert [m["labels"] for m in c1["messages"]] == [["secrecy"], ["secrecy"], ["trust_building"], []]
    assert [m["labels"] for m in c2["messages"]] == [["gifts"], [], []]
    assert c1["messages"][1]["meta"]["annotations"] == {"1": ["secrecy"], "2": []}
    assert c2["messages"][0]["meta"] == {"note": "kept", "annotations": {"1": ["gifts"], "2": ["gifts"]}}
    assert (c1["label"], c1["kind"], c1["flags"]) == (1, "grooming", [])
    assert (c2["label"], c2["kind"], c2["flags"]) == (1, "benign_peer", ["deadline"])  # risk and flag ties
    annotation = c2["meta"]["annotation"]
    assert annotation["annotators"] == ["1", "2"]
    assert annotation["risk"] == {"1": 0, "2": 1}
    assert annotation["set_aside"] == [{"annotator": "3", "annotation_id": 5, "reason": "cancelled"}]
    assert c1["meta"]["batch"] == "t1" and c1["messages"][0]["time"] == "2026-03-01T16:00:00"
    # a task without annotations stays unlabelled
    assert all("labels" not in m for m in c3["messages"])
    assert not {"label", "kind", "flags"} & set(c3)
    # the result is a valid corpus
    assert len(corpus.read_conversations(out)) == 3

    review = json.loads((root / "imported.review.json").read_text(encoding="utf-8"))
    reasons = sorted((r["reason"], r["conversation_id"], r.get("field"), r.get("value")) for r in review["review"])
    assert reasons == [
        ("cancelled", "c2", None, None),
        ("tie", "c1", "messages[1].labels", "secrecy"),
        ("tie", "c1", "messages[2].labels", "trust_building"),
        ("tie", "c2", "flags", "deadline"),
        ("tie", "c2", "label", None),
    ]
    assert review["adjudicated"] == 2 and review["without_annotations"] == 1
    assert "2 tie" not in result.stdout and "4 tie" in result.stdout and "1 cancelled" in result.stdout
    assert "secrecy" in (root / "imported.review.md").read_text(encoding="utf-8")


def test_import_options_override_params(work, export_file, tmp_path):
    out = tmp_path / "strict.jsonl"
    result = run_cli("annotate", "import", export_file, "--out", out, "--tie-break", "exclude")
    assert result.returncode == 0, result.stderr
    c1 = _jsonl(out)["c1"]
    assert [m["labels"] for m in c1["messages"]] == [["secrecy"], [], [], []]

    params = tmp_path / "params.yaml"
    params.write_text("annotate:\n  adjudication: any\n  min_annotators: 3\n", encoding="utf-8")
    out = tmp_path / "few.jsonl"
    result = run_cli("annotate", "import", export_file, "--out", out, "--params", params)
    assert result.returncode == 0, result.stderr
    few = _jsonl(out)
    assert all("labels" not in m for c in few.values() for m in c["messages"])  # 2 annotators < 3
    assert few["c1"]["messages"][1]["meta"]["annotations"] == {"1": ["secrecy"], "2": []}  # still kept
    review = json.loads((tmp_path / "few.review.json").read_text(encoding="utf-8"))["review"]
    assert sorted(r["conversation_id"] for r in review if r["reason"] == "too_few_annotators") == ["c1", "c2"]

    out = tmp_path / "any.jsonl"
    result = run_cli("annotate", "import", export_file, "--out", out, "--params", params, "--min-annotators", "1")
    assert result.returncode == 0, result.stderr
    assert [m["labels"] for m in _jsonl(out)["c1"]["messages"]] == [["secrecy"], ["secrecy"], ["trust_building"], []]


def test_import_into_the_corpus_updates_only_annotated_conversations(work, export_file, tmp_path):
    _, data = work
    labelled = tmp_path / "labelled.jsonl"
    original = json.loads(json.dumps(CONVERSATIONS))
    original[2]["messages"][0]["labels"] = ["gifts"]  # c3 is labelled in the corpus and not annotated
    original[2]["label"] = 0
    labelled.write_text("".join(json.dumps(c) + "\n" for c in original), encoding="utf-8")
    out = tmp_path / "merged.jsonl"
    result = run_cli("annotate", "import", export_file, "--out", out, "--data", labelled)
    assert result.returncode == 0, result.stderr
    merged = _jsonl(out)
    assert list(merged) == ["c1", "c2", "c3"]
    assert merged["c3"]["messages"][0]["labels"] == ["gifts"] and merged["c3"]["label"] == 0
    assert [m["labels"] for m in merged["c1"]["messages"]] == [["secrecy"], ["secrecy"], ["trust_building"], []]


def test_superseded_annotation_is_set_aside_not_counted(tasks_file, tmp_path):
    export = make_export(json.loads(tasks_file.read_text()))
    first = export[0]["annotations"][0]
    again = {**first, "id": 99, "updated_at": "2026-11-27T00:00:00Z", "result": [_result(("risk", "0"))]}
    export[0]["annotations"].append(again)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    result = run_cli("annotate", "import", path, "--out", out)
    assert result.returncode == 0, result.stderr
    c1 = _jsonl(out)["c1"]
    assert c1["meta"]["annotation"]["risk"] == {"1": 0, "2": 1}  # A's latest annotation counts
    assert c1["messages"][0]["meta"]["annotations"] == {"1": [], "2": ["secrecy"]}
    review = json.loads((tmp_path / "out.review.json").read_text(encoding="utf-8"))["review"]
    assert {"annotator": "1", "annotation_id": 1, "reason": "superseded"}.items() <= next(
        r for r in review if r["reason"] == "superseded"
    ).items()


# ---------------------------------------------------------------- agreement


def test_a_gzip_compressed_export_reads_the_same(export_file, tmp_path):
    import gzip

    packed = tmp_path / "export.json.gz"
    packed.write_bytes(gzip.compress(export_file.read_bytes()))
    for source, name in ((export_file, "plain"), (packed, "packed")):
        result = run_cli("annotate", "agreement", source, "--out-dir", tmp_path, "--name", name)
        assert result.returncode == 0, result.stderr
    plain, compressed = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("plain", "packed"))
    assert {k: v for k, v in plain.items() if k != "export"} == {k: v for k, v in compressed.items() if k != "export"}
    broken = tmp_path / "broken.json.gz"
    broken.write_bytes(b"not gzip")
    result = run_cli("annotate", "import", broken, "--out", tmp_path / "x.jsonl")
    assert result.returncode == 1 and "expected gzip-compressed" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


def test_agreement_matches_hand_computed_figures(export_file, tmp_path):
    result = run_cli("annotate", "agreement", export_file, "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "agreement.json").read_text(encoding="utf-8"))
    assert report["annotators"] == ["1", "2"]
    assert report["set_aside"] == 1 and report["messages"] == 7
    for label, alpha in EXPECTED_ALPHA.items():
        figure = report["labels"][label]
        assert figure["alpha"] == pytest.approx(alpha, abs=1e-6), label
        (pair,) = figure["kappa"]
        assert (pair["a"], pair["b"], pair["units"]) == ("1", "2", 7)
        assert pair["kappa"] == pytest.approx(EXPECTED_KAPPA[label], abs=1e-6), label
    unused = report["labels"]["deception"]
    assert unused["alpha"] is None and "no variation" in unused["alpha_note"]
    assert unused["kappa"][0]["kappa"] is None and unused["kappa"][0]["agreement"] == 1.0
    assert report["risk"]["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert report["risk"]["kappa"][0]["kappa"] == pytest.approx(0.0, abs=1e-9)
    assert report["kind"]["alpha"] == pytest.approx(1.0)
    assert report["mean_alpha"] == pytest.approx((20 / 33 + 0 + 1) / 3, abs=1e-6)
    assert [(d["conversation_id"], d["message_index"]) for d in report["disagreements"]] == [("c1", 1), ("c1", 2)]
    assert report["disagreements"][0]["labels"] == {"1": ["secrecy"], "2": []}
    assert [d["conversation_id"] for d in report["risk_disagreements"]] == ["c2"]
    markdown = (tmp_path / "agreement.md").read_text(encoding="utf-8")
    assert "| `secrecy` | 0.606 |" in markdown and "fine we had a maths test" in markdown


def test_agreement_with_one_annotator_is_undefined_not_a_crash(tasks_file, tmp_path):
    export = make_export(json.loads(tasks_file.read_text()), plan=[p for p in PLAN if p[0] == "A"])
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    result = run_cli("annotate", "agreement", path, "--out-dir", tmp_path / "reports")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "reports" / "agreement.json").read_text(encoding="utf-8"))
    assert report["labels"]["secrecy"]["alpha"] is None
    assert "two or more" in report["labels"]["secrecy"]["alpha_note"]
    assert report["labels"]["secrecy"]["kappa"] == [] and report["mean_alpha"] is None


# ------------------------------------------------------------------- select


def test_uncertainty_measures():
    thresholds = np.array([0.5, 0.2])
    p = np.array([[0.5, 0.0], [0.75, 1.0], [0.0, 0.0], [1.0, 0.6]])
    # row 0: label 0 on its threshold -> 1; row 1: (0.75-0.5)/0.5 = 0.5 and 1 -> 1 - 0.5;
    # row 2: both at 0 -> 0; row 3: label 1 (0.6-0.2)/0.8 = 0.5 -> 0.5
    assert threshold_uncertainty(p, thresholds).tolist() == pytest.approx([1.0, 0.5, 0.0, 0.5])
    assert entropy_uncertainty(np.array([[0.5, 0.5], [0.0, 1.0]])).tolist() == pytest.approx([2.0, 0.0], abs=1e-9)


def _conversation(cid: str, n: int, labelled: bool = False):
    messages = [{"author": "a", "text": "see you later", **({"labels": []} if labelled else {})} for _ in range(n)]
    return corpus.Conversation.model_validate({"conversation_id": cid, "messages": messages})


def test_selection_spreads_over_conversations_and_is_deterministic():
    conversations = [_conversation("b", 4), _conversation("a", 4), _conversation("c", 3, labelled=True)]
    scores = [np.array([0.9, 0.95, 0.99, 0.97]), np.array([0.99, 0.1, 0.2, 0.3]), np.array([1.0, 1.0, 1.0])]
    picks = pick_messages(conversations, scores, n=4, per_conversation=2)
    # "c" is labelled (not a candidate); "b" is capped at 2; the tie at 0.99 goes to id "a" first
    assert [(conversations[p.conversation_index].conversation_id, p.message_index) for p in picks] == [
        ("a", 0),
        ("b", 2),
        ("b", 3),
        ("a", 3),
    ]
    assert picks == pick_messages(conversations, scores, n=4, per_conversation=2)
    with_labelled = pick_messages(conversations, scores, n=3, per_conversation=1, include_labelled=True)
    assert [conversations[p.conversation_index].conversation_id for p in with_labelled] == ["c", "a", "b"]


def test_select_cli_writes_a_spread_deterministic_batch(lexicon_model, tmp_path):
    dev = REPO / "data" / "handwritten" / "dev.jsonl"
    outputs = []
    for name in ("one.json", "two.json"):
        result = run_cli(
            "annotate", "select", "--data", dev, "--model", lexicon_model, "--n", "9", "--out", tmp_path / name,
            "--per-conversation", "2", "--include-labelled",
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        outputs.append((tmp_path / name).read_text(encoding="utf-8"))
    assert outputs[0] == outputs[1]
    tasks = json.loads(outputs[0])
    assert sum(len(t["data"]["focus"]) for t in tasks) == 9
    assert all(1 <= len(t["data"]["focus"]) <= 2 for t in tasks) and len(tasks) >= 5
    assert len({t["data"]["conversation_id"] for t in tasks}) == len(tasks)
    assert all(t["predictions"][0]["model_version"].startswith("lexicon-") for t in tasks)
    uncertainty = [max(t["data"]["focus_uncertainty"]) for t in tasks]
    assert uncertainty == sorted(uncertainty, reverse=True)
    # every message of dev.jsonl is labelled: without --include-labelled there is nothing to choose
    result = run_cli(
        "annotate", "select", "--data", dev, "--model", lexicon_model, "--n", "5", "--out", tmp_path / "x.json"
    )
    assert result.returncode == 1 and "no candidate message" in result.stderr
    assert not (tmp_path / "x.json").exists()


# ---------------------------------------------------------------- bad input


def _broken(tasks_file, change) -> list[dict]:
    export = make_export(json.loads(tasks_file.read_text()))
    change(export)
    return export


def _foreign(export):
    export[0]["annotations"][0]["result"].append(
        {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": ["Positive"]}}
    )


def _out_of_range(export):
    export[0]["annotations"][1]["result"][0]["value"].update(start="7", end="7")


def _unknown_label(export):
    export[1]["annotations"][0]["result"][0]["value"]["paragraphlabels"] = ["grooming_stage_x"]


def _unknown_conversation(export):
    export[2]["data"]["conversation_id"] = "c9"


def _not_our_task(export):
    export[2]["data"] = {"text": "how was school today"}


@pytest.mark.parametrize(
    ("change", "task", "expected"),
    [
        (_foreign, "task 101 (conversation c1)", "not a control of the grooming-risk labeling config"),
        (_out_of_range, "task 101 (conversation c1)", "message index 7 out of range"),
        (_unknown_label, "task 102 (conversation c2)", "['grooming_stage_x'] not in the schema"),
        (_unknown_conversation, "task 103 (conversation c9)", "unknown conversation id 'c9'"),
        (_not_our_task, "task 103", "another labeling config"),
    ],
)
def test_bad_export_is_refused_naming_the_task(change, task, expected, work, tasks_file, tmp_path):
    _, data = work
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_broken(tasks_file, change)), encoding="utf-8")
    out = tmp_path / "out" / "imported.jsonl"
    result = run_cli("annotate", "import", path, "--out", out, "--data", data)
    assert result.returncode == 1, result.stdout
    assert f"{path}: {task}" in result.stderr and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()  # nothing written, not even the review list
    result = run_cli("annotate", "agreement", path, "--out-dir", tmp_path / "reports", "--data", data)
    assert result.returncode == 1 and task in result.stderr
    assert not (tmp_path / "reports").exists()


def test_an_export_that_is_not_a_task_list_is_refused(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"id": 1, "text": "hello"}), encoding="utf-8")
    result = run_cli("annotate", "import", path, "--out", tmp_path / "x.jsonl")
    assert result.returncode == 1 and "a list of tasks" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


# ------------------------------------------------------- the real Label Studio

DRIVER = r"""
import json, sys
from label_studio_sdk import LabelStudio
from label_studio_sdk.label_interface import LabelInterface

url, admin_token, annotator_token, config_path, tasks_path, plan_path, export_path, next_path = sys.argv[1:9]
config = open(config_path, encoding="utf-8").read()
tasks = json.load(open(tasks_path, encoding="utf-8"))
plan = json.load(open(plan_path, encoding="utf-8"))
clients = {"admin": LabelStudio(base_url=url, api_key=admin_token),
           "annotator": LabelStudio(base_url=url, api_key=annotator_token)}
users = {role: client.users.whoami().id for role, client in clients.items()}
admin = clients["admin"]

interface = LabelInterface(config)
prediction_errors = [e for t in tasks for p in t.get("predictions", [])
                     for e in interface.validate_prediction(p, return_errors=True)]

project = admin.projects.create(title="grooming-risk round trip", label_config=config)
imported = admin.projects.import_tasks(project.id, request=tasks, return_task_ids=True)
ids = {t.data["conversation_id"]: t.id for t in admin.tasks.list(project=project.id)}
for role, cid, result in plan:
    if result is None:
        clients[role].annotations.create(ids[cid], result=[], was_cancelled=True)
    else:
        clients[role].annotations.create(ids[cid], result=result)
export = b"".join(admin.projects.exports.download_sync(project.id, export_type="JSON", download_all_tasks=True))
open(export_path, "wb").write(export)

# the next batch from `annotate select` goes into a project of its own
next_tasks = json.load(open(next_path, encoding="utf-8"))
prediction_errors += [e for t in next_tasks for p in t["predictions"]
                      for e in interface.validate_prediction(p, return_errors=True)]
second = admin.projects.create(title="grooming-risk next batch", label_config=config)
admin.projects.import_tasks(second.id, request=next_tasks)
focus = {t.data["conversation_id"]: t.data["focus"] for t in admin.tasks.list(project=second.id)}
print(json.dumps({"users": users, "tasks": imported.task_count, "predictions": imported.prediction_count,
                  "prediction_errors": prediction_errors, "next_focus": focus}))
"""


@pytest.fixture(scope="module")
def label_studio(labelstudio_python, tmp_path_factory):
    """A real Label Studio server on 127.0.0.1 with a temporary data directory and two users
    with legacy API tokens; stopped (its whole process group) at the end."""
    binary = labelstudio_python.parent / "label-studio"
    if not binary.exists():
        subprocess.run(["make", "labelstudio-venv"], cwd=REPO, check=True)
    assert binary.exists(), "make labelstudio-venv should install the label-studio server"
    users = {
        "admin": User("admin@example.org", "admin-password-1", "admin-token-0001"),
        "annotator": User("annotator@example.org", "annotator-password-1", "annotator-token-0001"),
    }
    with local_label_studio(binary, tmp_path_factory.mktemp("labelstudio"), users) as server:
        yield {"url": server.url, "tokens": server.tokens, "root": server.root}


@pytest.mark.slow
def test_round_trip_through_a_real_label_studio(
    label_studio, labelstudio_python, work, lexicon_model, schema, tmp_path
):
    _, data = work
    config = tmp_path / "labelstudio.xml"
    config.write_text(label_studio_config(schema), encoding="utf-8")
    tasks = tmp_path / "tasks.json"
    result = run_cli("annotate", "export", "--data", data, "--out", tasks, "--model", lexicon_model)
    assert result.returncode == 0, result.stderr

    next_batch = tmp_path / "next.json"
    result = run_cli(
        "annotate", "select", "--data", data, "--model", lexicon_model, "--n", "3", "--out", next_batch,
        "--per-conversation", "1",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    roles = {"A": "admin", "B": "annotator"}
    plan = [(roles[who], cid, results) for who, cid, results in plan_results(PLAN) if who in roles]
    plan.append(("annotator", "c3", None))  # a skipped task: listed for review, c3 stays unlabelled
    plan_path = tmp_path / "plan.json"
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    export = tmp_path / "export.json"
    driver = subprocess.run(
        [str(labelstudio_python), "-c", DRIVER, label_studio["url"], label_studio["tokens"]["admin"],
         label_studio["tokens"]["annotator"], config, tasks, plan_path, export, next_batch],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert driver.returncode == 0, driver.stderr[-3000:]
    facts = json.loads(driver.stdout.strip().splitlines()[-1])
    assert facts["tasks"] == 3 and facts["predictions"] == 3
    assert facts["prediction_errors"] == []  # our predictions are valid for the labeling config
    a, b = str(facts["users"]["admin"]), str(facts["users"]["annotator"])
    selected = {t["data"]["conversation_id"]: t["data"]["focus"] for t in json.loads(next_batch.read_text())}
    assert facts["next_focus"] == selected and len(selected) == 3  # one message from each conversation

    exported = json.loads(export.read_text(encoding="utf-8"))
    assert sorted(t["data"]["conversation_id"] for t in exported) == ["c1", "c2", "c3"]
    assert all(len(t["predictions"]) == 1 for t in exported)

    out = tmp_path / "imported.jsonl"
    result = run_cli("annotate", "import", export, "--out", out, "--data", data)
    assert result.returncode == 0, result.stderr
    conversations = _jsonl(out)
    c1, c2, c3 = conversations["c1"], conversations["c2"], conversations["c3"]
    assert [m["labels"] for m in c1["messages"]] == [["secrecy"], ["secrecy"], ["trust_building"], []]
    assert [m["labels"] for m in c2["messages"]] == [["gifts"], [], []]
    assert c1["messages"][1]["meta"]["annotations"] == {a: ["secrecy"], b: []}
    assert (c1["label"], c1["kind"], c2["label"], c2["kind"], c2["flags"]) == (
        1,
        "grooming",
        1,
        "benign_peer",
        ["deadline"],
    )
    assert c2["meta"]["annotation"]["risk"] == {a: 0, b: 1}
    assert all("labels" not in m for m in c3["messages"]) and "label" not in c3
    review = json.loads((tmp_path / "imported.review.json").read_text(encoding="utf-8"))["review"]
    assert sorted((r["reason"], r["conversation_id"]) for r in review) == [
        ("cancelled", "c3"),
        ("tie", "c1"),
        ("tie", "c1"),
        ("tie", "c2"),
        ("tie", "c2"),
    ]

    result = run_cli("annotate", "agreement", export, "--out-dir", tmp_path / "reports")
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "reports" / "agreement.json").read_text(encoding="utf-8"))
    assert report["annotators"] == sorted([a, b], key=int)
    for label, alpha in EXPECTED_ALPHA.items():
        assert report["labels"][label]["alpha"] == pytest.approx(alpha, abs=1e-6), label
        assert report["labels"][label]["kappa"][0]["kappa"] == pytest.approx(EXPECTED_KAPPA[label], abs=1e-6)
    assert report["risk"]["alpha"] == pytest.approx(0.0, abs=1e-9)
    assert report["kind"]["alpha"] == pytest.approx(1.0)
    assert [(d["conversation_id"], d["message_index"]) for d in report["disagreements"]] == [("c1", 1), ("c1", 2)]
