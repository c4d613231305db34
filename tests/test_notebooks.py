"""The notebooks (jupytext percent scripts in notebooks/) run from start to end on small pipeline
outputs, in a kernel of this venv's Python, and show what they are for."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from unittest import mock

import jupytext
import pytest
from nbclient import NotebookClient

from pipeline.annotate.tasks import conversation_task
from pipeline.data.corpus import Conversation
from pipeline.reporting.exports import LS_DIALOGUE, LS_KIND, LS_MESSAGE_LABELS, LS_RISK
from tests.conftest import REPO

NOTEBOOKS = REPO / "notebooks"
KERNEL = "python3"


@pytest.fixture(scope="module")
def outputs(small_pipeline_outputs):
    """tests/small_outputs.py's outputs, built once per session (conftest.py)."""
    return small_pipeline_outputs


@pytest.fixture(scope="module")
def jupyter_path(tmp_path_factory) -> Path:
    """A kernelspec named python3 that runs this venv's Python, found first through JUPYTER_PATH
    (so no kernel needs installing by hand, and no user-level spec is picked instead)."""
    root = tmp_path_factory.mktemp("jupyter")
    spec = root / "kernels" / KERNEL
    spec.mkdir(parents=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    (spec / "kernel.json").write_text(
        json.dumps({"argv": argv, "display_name": "Python 3 (test venv)", "language": "python"}), encoding="utf-8"
    )
    return root


def execute(name: str, jupyter_path: Path, **params: str):
    """Run a notebook with its NB_* parameters set; return the executed notebook and its text output."""
    notebook = jupytext.read(NOTEBOOKS / name)
    env = {"JUPYTER_PATH": str(jupyter_path), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    env.update({f"NB_{key.upper()}": str(value) for key, value in params.items()})
    with mock.patch.dict(os.environ, env):
        NotebookClient(notebook, kernel_name=KERNEL, timeout=240, resources={"metadata": {"path": str(REPO)}}).execute()
    text, images = [], 0
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                text.append(output["text"])
            data = output.get("data", {})
            images += "image/png" in data
            text.append(data.get("text/plain", ""))
    return notebook, "\n".join(text), images


def test_notebooks_are_percent_scripts_with_a_parameters_cell():
    names = sorted(p.name for p in NOTEBOOKS.glob("*.py"))
    assert names == ["01_corpus_tour.py", "02_error_analysis.py", "03_annotation_agreement.py"]
    for name in names:
        notebook = jupytext.read(NOTEBOOKS / name)
        assert notebook.metadata["jupytext"]["text_representation"]["format_name"] == "percent"
        tagged = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and "os.environ.get(" in tagged[0].source


@pytest.mark.slow
def test_corpus_tour(outputs, jupyter_path):
    _, text, images = execute("01_corpus_tour.py", jupyter_path, corpus=outputs["corpus"], stats=outputs["stats"])
    assert "60 conversations read" in text
    assert f"statistics from {outputs['stats']}" in text
    stats = json.loads(outputs["stats"].read_text(encoding="utf-8"))
    assert f"{stats['messages']} messages, {stats['distinct_messages']} distinct message texts" in text
    ids = [json.loads(line)["conversation_id"] for line in outputs["corpus"].read_text(encoding="utf-8").splitlines()]
    assert sum(f"{cid} | kind=" in text for cid in ids) >= 3  # example chats, one per kind
    assert images >= 2


@pytest.mark.slow
def test_error_analysis(outputs, jupyter_path):
    predictions = outputs["metrics"] / "test.predictions.json"
    _, text, images = execute("02_error_analysis.py", jupyter_path, predictions=predictions, top=2)
    document = json.loads(predictions.read_text(encoding="utf-8"))
    test_corpus = outputs["processed"] / "test.jsonl"  # found through the metrics file beside the predictions
    assert f"model lexicon on test: {len(document['conversations'])} conversations from {test_corpus}" in text
    assert re.search(r"tp\s+fp\s+fn\s+tn\s+precision\s+recall\s+f1", text)  # the confusion table
    assert "false positives" in text and "false negatives" in text
    alerted = [r["conversation_id"] for r in document["conversations"] if r["alert"] is not None]
    if alerted:
        assert "FIRST ALERT" in text
    assert images >= 2  # confusion bars and risk over time


# Two annotators label two conversations; hand-computed as in tests/test_annotate.py:
# secrecy, A = 1,1,0,0,0,0,0 and B = 1,0,0,0,0,0,0: alpha = 20/33 (0.606); they differ on c1
# messages 1 (A: secrecy) and 2 (A: trust_building).
CONVERSATIONS = [
    {
        "conversation_id": "c1",
        "language": "en",
        "messages": [
            {"author": "a1", "text": "how was practice today"},
            {"author": "k1", "text": "tiring but fun"},
            {"author": "a1", "text": "you can always talk to me"},
            {"author": "k1", "text": "ok thanks"},
        ],
    },
    {
        "conversation_id": "c2",
        "language": "en",
        "messages": [
            {"author": "a2", "text": "i got you some coins for the game"},
            {"author": "k2", "text": "thanks"},
            {"author": "a2", "text": "good luck tomorrow"},
        ],
    },
]
PLAN = {
    ("c1", 1): [(0, 1, ["secrecy"]), (2, 2, ["trust_building"]), "1", "grooming"],
    ("c1", 2): [(0, 0, ["secrecy"]), "1", "grooming"],
    ("c2", 1): [(0, 0, ["gifts"]), "0", "benign_peer"],
    ("c2", 2): [(0, 0, ["gifts"]), "1", "benign_peer"],
}


def _results(items) -> list[dict]:
    (*regions, risk, kind) = items
    results = [
        {
            "id": f"r{start}{end}",
            "from_name": LS_MESSAGE_LABELS,
            "to_name": LS_DIALOGUE,
            "type": "paragraphlabels",
            "value": {
                "start": str(start),
                "end": str(end),
                "startOffset": 0,
                "endOffset": 2,
                "paragraphlabels": labels,
            },
        }
        for start, end, labels in regions
    ]
    for control, value in ((LS_RISK, risk), (LS_KIND, kind)):
        results.append(
            {
                "id": control,
                "from_name": control,
                "to_name": LS_DIALOGUE,
                "type": "choices",
                "value": {"choices": [value]},
            }
        )
    return results


def label_studio_export(path: Path) -> Path:
    tasks = []
    for task_id, raw in enumerate(CONVERSATIONS, start=1):
        task = conversation_task(Conversation.model_validate(raw))
        cid = raw["conversation_id"]
        annotations = [
            {
                "id": 10 * task_id + user,
                "completed_by": user,
                "result": _results(PLAN[(cid, user)]),
                "was_cancelled": False,
            }
            for user in (1, 2)
        ]
        tasks.append({"id": task_id, "annotations": annotations, "predictions": [], **task})
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


@pytest.mark.slow
def test_annotation_agreement(tmp_path, jupyter_path):
    export = label_studio_export(tmp_path / "export.json")
    _, text, images = execute("03_annotation_agreement.py", jupyter_path, export=export)
    assert "2 tasks, 2 annotated (2 by two or more); annotators 1, 2" in text
    assert "0.606" in text  # secrecy alpha
    assert "[ 1] k1: tiring but fun  <- 1: secrecy; 2: []" in text  # a disagreement, in its conversation
    assert "[ 2] a1: you can always talk to me  <- 1: trust_building; 2: []" in text
    assert images >= 1
