"""The annotation schema, its validation, and its three exports."""

from __future__ import annotations

import json
import re
import subprocess
import unicodedata

import jsonschema
import pytest
import yaml

from pipeline.core.errors import DataError
from pipeline.data import corpus
from pipeline.reporting.exports import (
    CODEBOOK,
    JSON_SCHEMA,
    LABEL_STUDIO_CONFIG,
    LS_FLAGS,
    LS_KIND,
    LS_MESSAGE_LABELS,
    LS_RISK,
    conversation_json_schema,
    label_studio_config,
    render_exports,
)
from pipeline.schema import parse_schema
from pipeline.schema.safety import explicit_terms
from tests.conftest import REPO, run_cli

DATA = REPO / "tests" / "data"

SCHEMA_PATH = REPO / "configs" / "schema.yaml"
CORE = ["trust_building", "gifts", "isolation", "secrecy", "sexualisation", "sextortion"]
EXTENDED = ["risk_assessment", "media_request", "meeting_request", "deception"]


def test_the_ten_labels_with_their_groups(schema):
    assert schema.version == 1
    assert schema.label_ids == CORE + EXTENDED
    assert [lab.id for lab in schema.labels if lab.group == "core"] == CORE
    assert schema.flag_ids == ["self_harm", "known_offender", "ongoing_risk", "deadline"]
    assert {"grooming", "sextortion", "benign_peer", "benign_adult"} <= set(schema.kind_ids)


def test_every_label_is_documented_in_both_languages(schema):
    source_files = {s.file for s in schema.sources}
    for label in schema.labels:
        assert label.name.en and label.name.fr and label.definition.fr
        assert label.include and label.exclude
        for lang in ("en", "fr"):
            examples = label.examples[lang]
            assert len(examples.positive) >= 3 and len(examples.hard_negative) >= 3, (label.id, lang)
            assert all(label.id in e.labels for e in examples.positive)
            assert all(label.id not in e.labels for e in examples.hard_negative)
        assert all(schema.source(ref.source).file in source_files for ref in label.sources)


def _plain(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def test_cited_sources_and_sections_exist_in_the_documents(schema):
    """Each cited section is a heading of its document (tests/data/source_headings.yaml holds the
    headings of the documents in shared/sources/, not their text)."""
    documents = yaml.safe_load((DATA / "source_headings.yaml").read_text(encoding="utf-8"))
    for source in schema.sources:
        assert source.file in documents, source.file
        headings = [set(re.findall(r"\w+", _plain(h))) for h in documents[source.file]["headings"]]
        for section in source.sections:  # headings may drop accents ("DEFINITION", "Delinquants")
            words = {w for w in re.findall(r"\w+", _plain(section)) if len(w) > 3}
            assert words and any(words <= heading for heading in headings), (source.file, section)


def test_examples_are_non_explicit(schema):
    texts = [e.text for lab in schema.labels for ex in lab.examples.values() for e in [*ex.positive, *ex.hard_negative]]
    assert len(texts) >= 10 * 2 * 6
    offending = [t for t in texts if explicit_terms(t)]
    assert offending == []


def _problems(text: str) -> list:
    with pytest.raises(DataError) as excinfo:
        parse_schema(text, "schema.yaml")
    return excinfo.value.problems


def test_duplicate_label_id_is_reported_at_its_line():
    text = SCHEMA_PATH.read_text(encoding="utf-8").replace("- id: gifts\n", "- id: trust_building\n", 1)
    problems = _problems(text)
    assert any("duplicate id 'trust_building'" in p.message for p in problems)
    dup = next(p for p in problems if "duplicate id" in p.message)
    assert dup.field == "labels[1].id"
    assert text.splitlines()[dup.line - 1].strip() == "- id: trust_building"


def test_unknown_label_in_an_example_is_reported():
    data = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    data["labels"][2]["examples"]["en"]["positive"][0]["labels"].append("grooming_stage_x")
    problems = _problems(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    assert any(
        p.field == "labels[2].examples.en.positive[0].labels" and "grooming_stage_x" in p.message for p in problems
    )


def test_missing_french_name_is_reported_at_its_line():
    data = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    del data["labels"][3]["name"]["fr"]
    text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
    problems = _problems(text)
    assert [p.field for p in problems] == ["labels[3].name.fr"]
    assert "name:" in text.splitlines()[problems[0].line - 1]


def test_missing_example_language_is_reported():
    data = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    del data["labels"][0]["examples"]["fr"]
    problems = _problems(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    assert [(p.field, "missing ['fr']" in p.message) for p in problems] == [("labels[0].examples", True)]


def test_too_few_examples_is_reported():
    data = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))
    data["labels"][5]["examples"]["fr"]["hard_negative"] = data["labels"][5]["examples"]["fr"]["hard_negative"][:2]
    problems = _problems(yaml.safe_dump(data, allow_unicode=True, sort_keys=False))
    assert [p.field for p in problems] == ["labels[5].examples.fr.hard_negative"]


def test_bad_schema_fails_the_export_cleanly(tmp_path):
    bad = tmp_path / "schema.yaml"
    bad.write_text(
        SCHEMA_PATH.read_text(encoding="utf-8").replace("group: core", "group: central", 1), encoding="utf-8"
    )
    out = tmp_path / "exports"
    result = run_cli("schema", "export", "--schema", bad, "--out", out)
    assert result.returncode == 1
    assert re.search(rf"{re.escape(str(bad))}:\d+: labels\[0\]\.group: ", result.stderr), result.stderr
    assert not out.exists()


# ------------------------------------------------------------------- exports


def test_export_cli_writes_the_three_files(tmp_path, schema):
    result = run_cli("schema", "export", "--out", tmp_path / "out")
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == sorted([CODEBOOK, LABEL_STUDIO_CONFIG, JSON_SCHEMA])
    assert (tmp_path / "out" / CODEBOOK).read_text(encoding="utf-8") == render_exports(schema)[CODEBOOK]


def test_json_schema_validates_the_sample(schema):
    validator = jsonschema.Draft202012Validator(conversation_json_schema(schema))
    jsonschema.Draft202012Validator.check_schema(validator.schema)
    # the format's examples (shared/examples/sample.jsonl) and the example of its spec
    # (shared/spec/conversation-format.md), copied here
    for path in (DATA / "sample.jsonl", DATA / "spec_example.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert list(validator.iter_errors(json.loads(line))) == []
        assert corpus.read_conversations(path)  # and the reader takes them
    labels = validator.schema["$defs"]["message"]["properties"]["labels"]
    array = next(branch for branch in labels["anyOf"] if branch.get("type") == "array")
    assert array["items"]["enum"] == schema.label_ids


def test_the_json_schema_is_generated_from_the_reader_models(schema):
    """Every field the reader knows is in the JSON Schema, with the reader's own description."""
    from pipeline.data.corpus import Conversation, Message

    exported = conversation_json_schema(schema)
    assert set(exported["properties"]) == set(Conversation.model_fields)
    assert set(exported["$defs"]["message"]["properties"]) == set(Message.model_fields)
    assert exported["properties"]["language"]["description"] == Conversation.model_fields["language"].description


@pytest.mark.parametrize(
    "document",
    [
        {"conversation_id": "c", "messages": [{"author": "a", "text": "x", "labels": ["groming"]}]},
        {"conversation_id": "c", "messages": []},
        {"conversation_id": "c", "messages": [{"text": "x"}]},
        {"conversation_id": "c", "label": True, "messages": [{"author": "a", "text": "x"}]},
        {"conversation_id": "c", "label": 2, "messages": [{"author": "a", "text": "x"}]},
        {"conversation_id": "c", "lable": 1, "messages": [{"author": "a", "text": "x"}]},
        {"conversation_id": "c", "flags": ["panic"], "messages": [{"author": "a", "text": "x"}]},
        {"conversation_id": "c", "messages": [{"author": "a", "text": "x", "time": "yesterday"}]},
    ],
)
def test_json_schema_and_reader_reject_the_same_documents(document, schema, tmp_path):
    validator = jsonschema.Draft202012Validator(conversation_json_schema(schema))
    assert list(validator.iter_errors(document)), "JSON Schema accepted a bad document"
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps(document) + "\n", encoding="utf-8")
    with pytest.raises(DataError):
        corpus.read_conversations(path)


def test_committed_codebook_is_up_to_date(schema):
    """docs/codebook.md is the export, committed so annotators can read it without running anything."""
    committed = (REPO / "docs" / "codebook.md").read_text(encoding="utf-8")
    assert committed == render_exports(schema)[CODEBOOK], "run: grooming-risk schema export --out docs/ (codebook)"


def test_codebook_covers_every_label_and_rule(schema):
    text = render_exports(schema)[CODEBOOK]
    for label in schema.labels:
        assert f"## `{label.id}`" in text
        assert label.definition.en in text and label.definition.fr in text
        assert all(rule in text for rule in label.include + label.exclude)
        assert label.examples["fr"].hard_negative[0].text in text
    for step in schema.guidelines.decision_order:
        assert step in text


LS_INSPECT = r"""
import json, sys
from label_studio_sdk.label_interface import LabelInterface
config = open(sys.argv[1], encoding="utf-8").read()
interface = LabelInterface(config)
interface.validate()
out = {}
for name, control in interface._controls.items():
    # the SDK reports a choice's alias (what results carry) as its label
    out[name] = {"tag": control.tag, "to_name": control.to_name, "labels": sorted(control.labels or [])}
print(json.dumps(out))
"""


@pytest.mark.slow
def test_label_studio_accepts_the_config(labelstudio_python, schema, tmp_path):
    config = tmp_path / LABEL_STUDIO_CONFIG
    config.write_text(label_studio_config(schema), encoding="utf-8")
    result = subprocess.run([str(labelstudio_python), "-c", LS_INSPECT, str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    controls = json.loads(result.stdout)
    assert controls[LS_MESSAGE_LABELS]["tag"] == "ParagraphLabels"
    assert controls[LS_MESSAGE_LABELS]["to_name"] == ["dialogue"]
    assert controls[LS_MESSAGE_LABELS]["labels"] == sorted(schema.label_ids)
    assert controls[LS_RISK]["labels"] == ["0", "1"]
    assert controls[LS_KIND]["labels"] == sorted(schema.kind_ids)
    assert controls[LS_FLAGS]["labels"] == sorted(schema.flag_ids)


@pytest.mark.slow
def test_label_studio_rejects_a_broken_config(labelstudio_python, schema, tmp_path):
    """The check above can fail: a config whose labels point at no object is refused."""
    config = tmp_path / "broken.xml"
    config.write_text(label_studio_config(schema).replace('toName="dialogue"', 'toName="nowhere"', 1), encoding="utf-8")
    result = subprocess.run([str(labelstudio_python), "-c", LS_INSPECT, str(config)], capture_output=True, text=True)
    assert result.returncode != 0
    assert "nowhere" in result.stderr
