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


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def _example_lines(examples) -> list[str]:
    lines = []
    for example in examples:
        labels = ", ".join(f"`{lab}`" for lab in example.labels) or "`[]`"
        note = f" *{example.note}*" if example.note else ""
        lines.append(f"- “{example.text}” → {labels}.{note}")
    return lines


def codebook_markdown(schema: Schema) -> str:
    """Annotator guidelines, readable on their own."""
    g = schema.guidelines
    out: list[str] = [
        f"# Annotation codebook — grooming-risk schema version {schema.version}",
        "",
        "Generated from `configs/schema.yaml` by `grooming-risk schema export`; edit the YAML, not this file.",
        "",
        "This codebook tells annotators how to mark, message by message, the behaviours that "
        "child-protection organisations (ECPAT, GSMA) document in online grooming and sextortion. "
        "It is a research instrument: labels describe text, they are not findings about people.",
        "",
        "## How to annotate",
        "",
        f"- **Unit.** {g.unit}",
        f"- **Author.** {g.author_rule}",
        f"- **Several labels.** {g.multi_label}",
        f"- **The child's messages.** {g.child_messages}",
        f"- **Context.** {g.context}",
        "",
        "### Decision order for ambiguous cases",
        "",
        *[f"{i}. {step}" for i, step in enumerate(g.decision_order, start=1)],
        "",
        "## Labels at a glance",
        "",
        "| id | English | Français | group | usual phase |",
        "|---|---|---|---|---|",
        *[
            f"| `{lab.id}` | {lab.name.en} | {lab.name.fr} | {lab.group} | {lab.progression.phase} |"
            for lab in schema.labels
        ],
        "",
        "Core labels are the stages of the design card; extended labels are further indicators "
        "documented in the same sources.",
        "",
    ]
    for label in schema.labels:
        out += [
            f"## `{label.id}` — {label.name.en} / {label.name.fr}",
            "",
            f"*Group:* {label.group}. *Usual phase:* {label.progression.phase}. {label.progression.note}",
            "",
            f"**Definition.** {label.definition.en}",
            "",
            f"**Définition.** {label.definition.fr}",
            "",
            "**Label it when:**",
            "",
            _bullets(label.include),
            "",
            "**Do not label it when:**",
            "",
            _bullets(label.exclude),
            "",
        ]
        for lang, title in (("en", "English"), ("fr", "Français")):
            examples = label.examples[lang]
            out += [
                f"**Examples ({title}).** Positive:",
                "",
                *_example_lines(examples.positive),
                "",
                "Hard negatives (not this label):",
                "",
                *_example_lines(examples.hard_negative),
                "",
            ]
        out += ["**Sources.**", ""]
        for ref in label.sources:
            source = schema.source(ref.source)
            point = f": {ref.point}" if ref.point else ""
            out.append(f"- {source.publisher}, *{source.title}* (`{source.file}`), section “{ref.section}”{point}")
        out.append("")

    conv = schema.conversation
    out += [
        "## Conversation level",
        "",
        f"**Risk (`label`).** {conv.label.definition.en}",
        "",
        f"*Français :* {conv.label.definition.fr}",
        "",
        conv.label.rule,
        "",
        "| value | English | Français |",
        "|---|---|---|",
        *[f"| `{v.value}` | {v.name.en} | {v.name.fr} |" for v in conv.label.values],
        "",
        "**Kind (`kind`).**",
        "",
        "| id | risk | definition |",
        "|---|---|---|",
        *[f"| `{k.id}` | {'—' if k.risk is None else k.risk} | {k.definition.en} |" for k in conv.kinds],
        "",
        "**Alarm signals (`flags`), for triage.** Optional; tick every one that the conversation shows. "
        "Any of them calls for the standard referral procedure (law enforcement, child protection services).",
        "",
        "| id | English | Français | definition |",
        "|---|---|---|---|",
        *[f"| `{f.id}` | {f.name.en} | {f.name.fr} | {f.definition.en} |" for f in conv.flags],
        "",
        "## Labelling in Label Studio",
        "",
        "The project exports a labeling config (`labelstudio.xml`) built from this codebook. Each task is "
        "one whole conversation: the dialogue on the left (author, then message, in order), the labels "
        "on the right.",
        "",
        "1. Read the whole dialogue on the left first.",
        "2. To label a message, first click every label that applies in the *Message labels* panel, then "
        "select the message's text (a few words are enough; the label applies to the whole message). Hover a "
        "label to see its definition. To add or remove a label later, click the highlighted region and change "
        "its labels. A selection that runs over several messages gives its labels to each of them, so select "
        "one message at a time unless they all show the behaviour. A message you do not select is recorded as "
        "`[]` (annotated, no behaviour): in a submitted task, every message counts as judged.",
        "3. Judge the *Conversation risk* (required), the *Kind* and any *Alarm signals*.",
        "4. **Submit** when you have judged the whole conversation. Use the comment box for anything you are "
        "unsure of; it is read during adjudication. To change a submitted task, open it again and **Update** "
        "your annotation rather than submitting a second one (only your latest counts).",
        "5. **Skip** a task you cannot judge (a language you do not read, a conversation you know, content "
        "you must not see): a skipped task counts for nobody and is listed for review, never silently "
        "dropped. Drafts that are never submitted are not exported.",
        "",
        "**Pre-annotations.** Tasks may arrive with a model's suggestions already drawn (*predictions*: the "
        "message labels over the model's thresholds and a conversation risk). They are hypotheses, often "
        "wrong, never evidence: check each one, delete the wrong ones, add what the model missed, and judge "
        "the risk yourself. Accepting a suggestion unchecked makes agreement figures meaningless.",
        "",
        "**Next batches.** Tasks chosen by `annotate select` carry a `focus` column in the Data Manager: the "
        "messages the model was least sure of. Label the whole conversation as usual, with extra care on "
        "those messages.",
        "",
        "Every annotator's labels are kept. Where annotators differ, a rule decides the final labels "
        "(majority by default) and the ties go to a review list; agreement figures (Krippendorff's alpha, "
        "Cohen's kappa) are computed per label.",
        "",
        "## Sources",
        "",
        *[
            f"- `{s.id}`: {s.publisher}, *{s.title}*, file `{s.file}`; sections: {', '.join(s.sections)}"
            for s in schema.sources
        ],
        "",
        "The sources are in French; this codebook paraphrases them.",
        "",
        "## Changelog",
        "",
        *[f"- **Version {e.version}** ({e.date}): " + " ".join(e.changes) for e in schema.changelog],
        "",
    ]
    return "\n".join(out)


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
