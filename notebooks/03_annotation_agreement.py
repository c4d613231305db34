# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Annotation agreement
#
# From a Label Studio JSON export (see README, *Annotation with Label Studio*): per label,
# Krippendorff's alpha and Cohen's kappa for each pair of annotators, a chart, and the messages
# annotators disagree on, shown in their conversation. The figures are those of
# `grooming-risk annotate agreement` (`pipeline.annotate`).
#
# Inputs are the parameters below; environment variables override them (`NB_EXPORT`, `NB_DATA`).
# Relative paths are taken from the repository root.

# %% tags=["parameters"]
import os

EXPORT = os.environ.get("NB_EXPORT", "data/annotation/batch-01.export.json")
DATA = os.environ.get("NB_DATA", "")  # the corpus the tasks came from (ids and texts are checked); empty: none

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from pipeline.annotate import agreement_report, read_export
from pipeline.data.corpus import read_conversations
from pipeline.evaluation.analysis import format_chat, repo_path
from pipeline.schema import load_schema

schema = load_schema()
known = None
if DATA:
    corpus = read_conversations(repo_path(DATA), label_ids=schema.label_ids, flag_ids=schema.flag_ids)
    known = {c.conversation_id: c for c in corpus}
tasks = read_export(repo_path(EXPORT), schema, known, repo_path(DATA) if DATA else None)
report = agreement_report(tasks, schema.label_ids, schema.kind_ids, export=EXPORT)
print(
    f"{report['tasks']} tasks, {report['tasks_annotated']} annotated "
    f"({report['tasks_annotated_by_two_or_more']} by two or more); annotators {', '.join(report['annotators'])}; "
    f"{report['messages']} messages; {report['set_aside']} annotations set aside (cancelled or superseded)"
)

# %% [markdown]
# ## Per label
#
# Alpha is nominal, over messages rated by two or more annotators; undefined (NaN, with the
# reason) when there is nothing to agree on, e.g. a label nobody used.

# %%
per_label = pd.DataFrame(
    {
        label: {
            "alpha": figure["alpha"],
            "messages rated by two": figure["units_rated_by_two"],
            "positive ratings": figure["positive_ratings"],
            "note": figure["alpha_note"] or "",
        }
        for label, figure in report["labels"].items()
    }
).T
per_label["alpha"] = per_label["alpha"].astype(float)
display(per_label)
print(f"mean alpha over the {report['labels_with_alpha']} labels where it is defined: {report['mean_alpha']}")

kappa = pd.DataFrame(
    [
        {
            "label": label,
            "pair": f"{pair['a']}-{pair['b']}",
            **{k: pair[k] for k in ("kappa", "agreement", "units", "note")},
        }
        for label, figure in report["labels"].items()
        for pair in figure["kappa"]
    ]
)
if len(kappa):
    display(kappa.pivot(index="label", columns="pair", values="kappa").reindex(schema.label_ids).astype(float).round(3))
else:
    print("one annotator only: no pair to compare")

# %%
fig, ax = plt.subplots(figsize=(9, 4.2))
x = np.arange(len(per_label))
ax.bar(x, per_label["alpha"].fillna(0), color="#4C9AFF", label="Krippendorff's alpha")
for i, value in enumerate(per_label["alpha"]):
    if np.isnan(value):
        ax.text(i, 0.02, "undefined", rotation=90, ha="center", va="bottom", fontsize=7, color="grey")
for pair, rows in kappa.groupby("pair") if len(kappa) else []:
    values = rows.set_index("label")["kappa"].reindex(per_label.index).astype(float)
    ax.plot(x, values, "o", label=f"Cohen's kappa {pair}")
ax.axhline(0.667, color="black", linestyle=":", linewidth=0.8, label="0.667 (tentative conclusions)")
ax.set_xticks(x, per_label.index, rotation=35, ha="right", fontsize=8)
lowest = float(kappa["kappa"].astype(float).min()) if len(kappa) and kappa["kappa"].notna().any() else 0.0
ax.set(ylim=(min(-0.1, lowest - 0.05), 1.05), ylabel="agreement", title="Agreement per label")
ax.legend(fontsize=7)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Conversation level: risk and kind

# %%
display(
    pd.DataFrame(
        {
            name: {
                "alpha": report[name]["alpha"],
                "conversations rated by two": report[name]["units_rated_by_two"],
                "kappa (pairs)": "; ".join(f"{p['a']}-{p['b']}: {p['kappa']}" for p in report[name]["kappa"]),
                "note": report[name]["alpha_note"] or "",
            }
            for name in ("risk", "kind")
        }
    ).T
)
display(pd.DataFrame(report["risk_disagreements"]))

# %% [markdown]
# ## Messages with disagreement
#
# Each one in its conversation: the note after a message lists every annotator's labels where
# they differ.

# %%
disagreements = pd.DataFrame(report["disagreements"])
display(disagreements)
by_task = {task.conversation.conversation_id: task for task in tasks}
for cid, rows in disagreements.groupby("conversation_id", sort=False) if len(disagreements) else []:
    notes = [""] * len(by_task[cid].conversation.messages)
    for row in rows.itertuples():
        notes[row.message_index] = "; ".join(f"{who}: {', '.join(v) or '[]'}" for who, v in row.labels.items())
    print(format_chat(by_task[cid].conversation, notes=notes, labels=False))
    print()
