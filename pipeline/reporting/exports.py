"""Exports of the annotation schema: the annotator codebook (Markdown), the Label Studio
labeling config (XML) and a JSON Schema of the conversation format.

All three are generated from ``configs/schema.yaml`` and written by
``grooming-risk schema export --out DIR`` (the DVC stage ``schema``).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from pipeline.annotate.controls import LS_DIALOGUE, LS_FLAGS, LS_KIND, LS_MESSAGE_LABELS, LS_RISK  # noqa: F401
from pipeline.core.io import write_text_atomic
from pipeline.reporting.render import render
from pipeline.schema import Label, Schema

CODEBOOK = "codebook.md"
LABEL_STUDIO_CONFIG = "labelstudio.xml"
JSON_SCHEMA = "conversation.schema.json"

# Names of the Label Studio tags: the annotation import (issue 7) reads results by them.


# ------------------------------------------------------------------ JSON Schema


def conversation_json_schema(schema: Schema) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of one line of the conversation format, generated from the
    pydantic models that read it (``pipeline.data.corpus``), with the schema's label and flag ids."""
    from pipeline.data.corpus import Conversation

    generated = Conversation.model_json_schema(ref_template="#/$defs/{model}")
    definitions = generated.pop("$defs")
    message = definitions["Message"]
    message.pop("title", None)
    properties = generated["properties"]
    properties["messages"]["items"] = {"$ref": "#/$defs/message"}
    for field in (*properties.values(), *message["properties"].values()):
        field.pop("title", None)
        field.pop("default", None)  # absent and null mean the same
    _set_items(message["properties"]["labels"], {"enum": schema.label_ids})
    _set_items(properties["flags"], {"enum": schema.flag_ids})
    properties["kind"]["examples"] = schema.kind_ids
    generated.pop("title", None)
    generated.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:grooming-risk:conversation:v{schema.version}",
        "title": "Conversation (grooming-risk conversation format)",
        "description": (
            "One line of a JSON Lines corpus: one conversation. "
            f"Label ids from annotation schema version {schema.version}."
        ),
        "x-schema-version": schema.version,
        **generated,
        "$defs": {"message": message},
    }


def _set_items(field: dict[str, Any], items: dict[str, Any]) -> None:
    """Constrain the items of an optional list field (``anyOf: [array, null]``)."""
    for branch in field.get("anyOf", [field]):
        if branch.get("type") == "array":
            branch["items"] = items


# ------------------------------------------------------------ Label Studio config


def _hint(label: Label) -> str:
    return f"{label.name.en} / {label.name.fr}: {label.definition.en}"


def label_studio_config(schema: Schema) -> str:
    """A Label Studio labeling config: the conversation as a dialogue; any message can get
    one or more of the labels (select the message, then the labels); conversation risk,
    kind and alarm flags as choices. Result values are the schema ids (via ``alias``)."""
    view = ET.Element("View")
    ET.SubElement(view, "Header", value="Conversation $conversation_id", size="4")
    row = ET.SubElement(view, "View", style="display: flex; gap: 1.5em; align-items: flex-start")
    left = ET.SubElement(row, "View", style="flex: 3")
    ET.SubElement(
        left, "Paragraphs", name=LS_DIALOGUE, value="$messages", layout="dialogue", nameKey="author", textKey="text"
    )
    right = ET.SubElement(row, "View", style="flex: 2; position: sticky; top: 0")
    ET.SubElement(right, "Header", value="Message labels: select a message, then every label that applies", size="5")
    labels = ET.SubElement(right, "ParagraphLabels", name=LS_MESSAGE_LABELS, toName=LS_DIALOGUE, choice="multiple")
    for label in schema.labels:
        ET.SubElement(labels, "Label", value=label.id, background=label.color, hint=_hint(label))

    ET.SubElement(right, "Header", value="Conversation risk", size="5")
    risk = ET.SubElement(
        right,
        "Choices",
        name=LS_RISK,
        toName=LS_DIALOGUE,
        choice="single-radio",
        required="true",
        requiredMessage="Judge the conversation risk before submitting.",
    )
    for value in sorted(schema.conversation.label.values, key=lambda v: -v.value):
        ET.SubElement(risk, "Choice", value=f"{value.name.en} ({value.value})", alias=str(value.value))

    ET.SubElement(right, "Header", value="Kind of conversation", size="5")
    kinds = ET.SubElement(right, "Choices", name=LS_KIND, toName=LS_DIALOGUE, choice="single-radio")
    for kind in schema.conversation.kinds:
        ET.SubElement(kinds, "Choice", value=kind.id, hint=kind.definition.en)

    ET.SubElement(right, "Header", value="Alarm signals (GSMA), for triage", size="5")
    flags = ET.SubElement(right, "Choices", name=LS_FLAGS, toName=LS_DIALOGUE, choice="multiple")
    for flag in schema.conversation.flags:
        ET.SubElement(flags, "Choice", value=flag.name.en, alias=flag.id, hint=flag.definition.en)

    ET.indent(view, space="  ")
    return ET.tostring(view, encoding="unicode") + "\n"


# -------------------------------------------------------------------- codebook


CODEBOOK_LANGUAGES = [("en", "English"), ("fr", "Français")]  # the examples' languages, in order


def codebook_context(schema: Schema) -> dict[str, Any]:
    """What the codebook template lays out: the schema, and each label's sources looked up."""
    return {
        "schema": schema,
        "languages": CODEBOOK_LANGUAGES,
        "label_sources": {
            label.id: [(ref, schema.source(ref.source)) for ref in label.sources] for label in schema.labels
        },
    }


def codebook_markdown(schema: Schema) -> str:
    """Annotator guidelines, readable on their own (``templates/codebook.md.j2``)."""
    return render("codebook.md.j2", **codebook_context(schema))


# ---------------------------------------------------------------------- export


def render_exports(schema: Schema) -> dict[str, str]:
    """File name to content, for all three exports."""
    return {
        CODEBOOK: codebook_markdown(schema),
        LABEL_STUDIO_CONFIG: label_studio_config(schema),
        JSON_SCHEMA: json.dumps(conversation_json_schema(schema), indent=2, ensure_ascii=False) + "\n",
    }


def export_schema(schema: Schema, out_dir: str | Path) -> list[Path]:
    """Write the three exports into ``out_dir`` (each file atomically); return their paths."""
    contents = render_exports(schema)  # render everything before touching the disk
    paths = []
    for name, text in contents.items():
        path = Path(out_dir) / name
        write_text_atomic(path, text)
        paths.append(path)
    return paths
