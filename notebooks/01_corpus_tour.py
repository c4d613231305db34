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
# # A tour of the corpus
#
# What the conversations look like: a few examples printed as chat with their message labels,
# then the kinds, languages, label counts and lengths, with the corpus statistics of
# `pipeline.data.stats` (the `reports/corpus_stats_<name>.json` that `grooming-risk corpus-stats` writes).
# Every text in the default corpus is invented and non-explicit.
#
# Inputs are the parameters below; environment variables override them (`NB_CORPUS`, ...).
# Relative paths are taken from the repository root.

# %% tags=["parameters"]
import os

CORPUS = os.environ.get("NB_CORPUS", "data/synthetic/corpus.jsonl")
STATS = os.environ.get("NB_STATS", "reports/corpus_stats_synthetic.json")  # empty or missing: computed here
EXAMPLES_PER_KIND = int(os.environ.get("NB_EXAMPLES_PER_KIND", "1"))
MAX_MESSAGES = int(os.environ.get("NB_MAX_MESSAGES", "16"))  # messages shown per example
SEED = int(os.environ.get("NB_SEED", "0"))  # which examples are drawn

# %%
import json
import random

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from pipeline.data.corpus import read_conversations, to_message_frame
from pipeline.data.stats import corpus_stats
from pipeline.evaluation.analysis import format_chat, repo_path
from pipeline.schema import load_schema

schema = load_schema()
conversations = read_conversations(repo_path(CORPUS), label_ids=schema.label_ids, flag_ids=schema.flag_ids)
print(f"{len(conversations)} conversations read from {CORPUS} (schema version {schema.version})")

# %% [markdown]
# ## Example conversations
#
# One chat per kind (more with `EXAMPLES_PER_KIND`). `*` marks a suspect's messages; the labels
# in brackets are the gold message labels (what the author does); `[]` shows as nothing.

# %%
rng = random.Random(SEED)
by_kind: dict[str, list] = {}
for conversation in conversations:
    by_kind.setdefault(conversation.kind or "unknown", []).append(conversation)
for _kind, items in sorted(by_kind.items()):
    for conversation in rng.sample(items, min(EXAMPLES_PER_KIND, len(items))):
        print(format_chat(conversation, max_messages=MAX_MESSAGES))
        print()

# %% [markdown]
# ## Corpus statistics
#
# Read from the statistics file when it matches the corpus, else computed with
# `pipeline.data.stats.corpus_stats` (the same function `corpus-stats` runs).

# %%
stats_path = repo_path(STATS) if STATS else None
stats = None
if stats_path is not None and stats_path.exists():
    stats = json.loads(stats_path.read_text(encoding="utf-8"))
    if stats["conversations"] != len(conversations):
        print(f"{STATS} describes {stats['conversations']} conversations, not this corpus: computing instead")
        stats = None
    else:
        print(f"statistics from {STATS}")
if stats is None:
    stats = corpus_stats(conversations, schema.label_ids)
    print("statistics computed from the corpus")
print(
    f"{stats['conversations']} conversations, {stats['messages']} messages, "
    f"{stats['distinct_messages']} distinct message texts"
)
counts = pd.concat(
    {
        name: pd.Series(stats[key])
        for name, key in (("kind", "kinds"), ("language", "languages"), ("risk label", "risk"))
    }
)
display(counts.rename("conversations").to_frame())
display(
    pd.DataFrame(
        [stats["conversation_length_messages"], stats["message_length_words"]],
        index=["messages per conversation", "words per message"],
    )
)

# %% [markdown]
# ## Labels
#
# Messages per label, and the hard-negative measure: the share of a label's most frequent
# words that benign conversations of the same language also use (high: a model has to learn
# the behaviour, not the words).

# %%
languages = list(stats["languages"])
labels = pd.DataFrame(
    {
        "messages": {label: row["messages"] for label, row in stats["labels"].items()},
        **{
            f"cues in benign ({lang})": {
                label: row[lang]["cue_words_in_benign"] for label, row in stats["labels"].items()
            }
            for lang in languages
        },
        **{
            f"top cues ({lang})": {
                label: ", ".join(row[lang]["top_cues"][:6]) for label, row in stats["labels"].items()
            }
            for lang in languages
        },
    }
)
display(labels)

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
labels["messages"].plot.barh(ax=left, color="#4C9AFF")
left.invert_yaxis()
left.set(title="Labelled messages per label", xlabel="messages")
labels[[f"cues in benign ({lang})" for lang in languages]].astype(float).plot.barh(ax=right)
right.invert_yaxis()
right.set(title="Label vocabulary also used in benign conversations", xlabel="share of top words", xlim=(0, 1))
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Lengths and where the labels fall
#
# Conversation length by kind, and the position of each label's messages within their
# conversation (0 = first message, 1 = last): grooming stages come in an order, sextortion is sudden.

# %%
frame = to_message_frame(conversations)
frame["conversation_length"] = frame.groupby("conversation_id")["message_index"].transform("size")
frame["position"] = frame["message_index"] / (frame["conversation_length"] - 1).clip(lower=1)
lengths = frame.drop_duplicates("conversation_id")[["kind", "language", "conversation_length"]]
positions = frame[frame["labels"].map(bool)].explode("labels")

fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
kinds = sorted(lengths["kind"].dropna().unique())
left.boxplot([lengths.loc[lengths["kind"] == k, "conversation_length"] for k in kinds])
left.set_xticks(range(1, len(kinds) + 1), kinds)
left.set(title="Messages per conversation", ylabel="messages")
left.tick_params(axis="x", rotation=30, labelsize=8)
present = [label for label in schema.label_ids if label in set(positions["labels"])]
if present:
    right.boxplot([positions.loc[positions["labels"] == label, "position"] for label in present])
    right.set_xticks(range(1, len(present) + 1), present)
right.set(title="Relative position of labelled messages", ylabel="position in conversation", ylim=(-0.02, 1.02))
right.tick_params(axis="x", rotation=45, labelsize=8)
fig.tight_layout()
plt.show()

# %%
display(pd.crosstab(lengths["kind"], lengths["language"], margins=True))
