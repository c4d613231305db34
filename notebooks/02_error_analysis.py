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
# # Error analysis of one evaluation
#
# From a predictions file written by `grooming-risk evaluate` (`metrics/<model>/<dataset>.predictions.json`)
# and the corpus it was computed on: the confusion per label, the model's most confident mistakes
# per label (with the message and the messages before it), and the running risk of chosen
# conversations against the alert threshold. The logic is in `pipeline.evaluation.analysis`.
#
# Inputs are the parameters below; environment variables override them (`NB_PREDICTIONS`, ...).
# Relative paths are taken from the repository root.

# %% tags=["parameters"]
import os

PREDICTIONS = os.environ.get("NB_PREDICTIONS", "metrics/tfidf/handwritten.predictions.json")
CORPUS = os.environ.get("NB_CORPUS", "")  # empty: the corpus named in the metrics file beside the predictions
TOP = int(os.environ.get("NB_TOP", "3"))  # mistakes shown per label and direction
CONTEXT = int(os.environ.get("NB_CONTEXT", "2"))  # previous messages shown with each mistake
LABELS = os.environ.get("NB_LABELS", "")  # comma-separated label ids for the mistake lists; empty: all
CONVERSATIONS = os.environ.get("NB_CONVERSATIONS", "")  # comma-separated ids to plot; empty: picked below

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from pipeline.evaluation.analysis import (
    FALSE_NEGATIVE,
    FALSE_POSITIVE,
    confusion_table,
    format_chat,
    load_predictions,
    notable_conversations,
    plot_risk,
    prediction_table,
    repo_path,
    risk_notes,
    worst_errors,
)

predictions = load_predictions(repo_path(PREDICTIONS), repo_path(CORPUS) if CORPUS else None)
print(
    f"model {predictions.model} on {predictions.dataset}: {len(predictions.conversations)} conversations "
    f"from {predictions.corpus_path}; alert threshold {predictions.risk_threshold:.3f}"
)

# %% [markdown]
# ## Confusion per label
#
# Over annotated messages: true positives, false positives, false negatives and true negatives,
# with the precision, recall and F1 that `evaluate` reports.

# %%
confusion = confusion_table(predictions)
display(confusion)
ax = confusion[["tp", "fp", "fn"]].plot.bar(figsize=(9, 4), color=["#36B37E", "#FF8B00", "#DE350B"])
ax.set(title=f"Per-label confusion: {predictions.model} on {predictions.dataset}", ylabel="messages", xlabel="")
ax.tick_params(axis="x", rotation=35)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## The most confident mistakes, per label
#
# False positives with the highest probability (the model was sure, the codebook says no) and
# false negatives with the lowest (the behaviour is there, the model did not see it), each with
# the messages before it.

# %%
table = prediction_table(predictions, context=CONTEXT)
chosen_labels = [label.strip() for label in LABELS.split(",") if label.strip()] or predictions.label_ids


def show(rows, title: str) -> None:
    print(f"  {title}: {len(rows)} shown")
    for row in rows.itertuples():
        print(f"    p={row.probability:.3f}  {row.conversation_id} [{row.message_index}]  gold {row.gold}")
        for line in row.context.splitlines():
            print(f"        | {line}")
        print(f"        > {row.author}: {row.text}")


for label in chosen_labels:
    print(f"{label}  (F1 {confusion.loc[label, 'f1']}, support {confusion.loc[label, 'support']})")
    show(worst_errors(table, label, FALSE_POSITIVE, TOP), "false positives")
    show(worst_errors(table, label, FALSE_NEGATIVE, TOP), "false negatives")
    print()

# %% [markdown]
# ## Conversations: final risk and alerts

# %%
conversations = pd.DataFrame(
    {
        "conversation_id": c.conversation_id,
        "kind": c.kind,
        "label": c.label,
        "messages": len(c.messages),
        "final risk": round(float(p.risk[-1]), 3),
        "first alert": p.alert,
    }
    for c, p in zip(predictions.conversations, predictions.predictions, strict=True)
)
conversations["alerted"] = conversations["first alert"].notna()
display(pd.crosstab(conversations["label"], conversations["alerted"], margins=True))
display(pd.crosstab(conversations["kind"], conversations["alerted"]))

# %% [markdown]
# ## Risk over time
#
# Running risk after each message for chosen conversations (by default: a missed risky one, a
# false alarm, and the latest and earliest caught ones). Dots mark the first alert, crosses the
# messages with gold labels; the dotted line is the alert threshold.

# %%
notable = notable_conversations(predictions)
print(notable)
ids = [cid.strip() for cid in CONVERSATIONS.split(",") if cid.strip()]
ids = ids or list(dict.fromkeys(cid for cid in notable.values() if cid))
plot_risk(predictions, ids)
plt.tight_layout()
plt.show()

# %%
for cid in ids:
    conversation, _ = predictions.by_id(cid)
    print(format_chat(conversation, notes=risk_notes(predictions, cid)))
    print()
