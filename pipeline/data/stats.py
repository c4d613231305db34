"""Corpus statistics: the data card of a corpus (``grooming-risk corpus-stats``).

Counts per kind, language and label; distinct messages; message and conversation lengths;
and a hard-negative measure: how much of each label's characteristic vocabulary also
appears in benign conversations. A corpus where benign text never uses the words of risky
text teaches a model to match words, not behaviours.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from pipeline.data.corpus import Conversation

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?", re.UNICODE)
CUE_WORDS = 50  # characteristic words per label
STOPWORDS_FROM_TOP = 100  # the most frequent words overall stand in for a stopword list


def _tokens(text: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(text)]


def _describe(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"min": 0, "median": 0, "mean": 0, "p90": 0, "max": 0}
    ordered = sorted(values)
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max": ordered[-1],
    }


def corpus_stats(conversations: Iterable[Conversation], label_ids: Sequence[str]) -> dict[str, Any]:
    kinds: Counter = Counter()
    languages: Counter = Counter()
    risk: Counter = Counter()
    label_messages: Counter = Counter()
    distinct: dict[tuple[str, str], set[str]] = defaultdict(set)
    all_texts: set[str] = set()
    conversation_lengths: list[int] = []
    message_words: list[int] = []
    word_counts: Counter = Counter()
    label_words: dict[tuple[str, str], Counter] = defaultdict(Counter)
    benign_vocab: dict[str, set[str]] = defaultdict(set)
    n_conversations = n_messages = 0
    for conv in conversations:
        n_conversations += 1
        language = conv.language or "unknown"
        kinds[conv.kind or "unknown"] += 1
        languages[language] += 1
        risk[str(conv.label)] += 1
        conversation_lengths.append(len(conv.messages))
        benign = conv.label == 0
        for message in conv.messages:
            n_messages += 1
            tokens = _tokens(message.text)
            message_words.append(len(tokens))
            word_counts.update(tokens)
            all_texts.add(message.text)
            if benign:
                benign_vocab[language].update(tokens)
            for label in message.labels or []:
                label_messages[label] += 1
                distinct[(label, language)].add(message.text)
                label_words[(label, language)].update(tokens)

    stop = {w for w, _ in word_counts.most_common(STOPWORDS_FROM_TOP)}
    per_label = {}
    for label in label_ids:
        row: dict[str, Any] = {"messages": label_messages.get(label, 0)}
        for language in sorted(languages):
            counts = label_words.get((label, language), Counter())
            cues = [w for w, _ in counts.most_common() if w not in stop][:CUE_WORDS]
            shared = [w for w in cues if w in benign_vocab.get(language, set())]
            row[language] = {
                "distinct_messages": len(distinct.get((label, language), ())),
                "cue_words_in_benign": round(len(shared) / len(cues), 3) if cues else None,
                "top_cues": cues[:10],
            }
        per_label[label] = row
    return {
        "conversations": n_conversations,
        "messages": n_messages,
        "distinct_messages": len(all_texts),
        "kinds": dict(sorted(kinds.items())),
        "languages": dict(sorted(languages.items())),
        "risk": dict(sorted(risk.items())),
        "conversation_length_messages": _describe(conversation_lengths),
        "message_length_words": _describe(message_words),
        "labels": per_label,
        "hard_negative_measure": (
            f"share of each label's {CUE_WORDS} most frequent words (after the {STOPWORDS_FROM_TOP} most frequent "
            "words of the corpus) that also occur in benign (label 0) conversations of the same language"
        ),
    }


def stats_markdown(stats: dict[str, Any], title: str) -> str:
    languages = list(stats["languages"])
    out = [
        f"# Corpus statistics: {title}",
        "",
        f"{stats['conversations']} conversations, {stats['messages']} messages, "
        f"{stats['distinct_messages']} distinct message texts.",
        "",
        "| kind | conversations |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in stats["kinds"].items()],
        "",
        "| language | conversations |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in stats["languages"].items()],
        "",
        "| risk label | conversations |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in stats["risk"].items()],
        "",
        "| length | min | median | mean | p90 | max |",
        "|---|---|---|---|---|---|",
    ]
    for name, key in (
        ("messages per conversation", "conversation_length_messages"),
        ("words per message", "message_length_words"),
    ):
        d = stats[key]
        out.append(f"| {name} | {d['min']} | {d['median']} | {d['mean']} | {d['p90']} | {d['max']} |")
    header = " | ".join(f"distinct ({lang}) | cues in benign ({lang})" for lang in languages)
    out += ["", f"| label | messages | {header} |", "|---|---|" + "---|---|" * len(languages)]
    for label, row in stats["labels"].items():
        cells = " | ".join(
            f"{row[lang]['distinct_messages']} | {row[lang]['cue_words_in_benign']}" for lang in languages
        )
        out.append(f"| `{label}` | {row['messages']} | {cells} |")
    out += [
        "",
        f"*Cues in benign*: the {stats['hard_negative_measure']}. Higher means benign text shares more of the "
        "label's vocabulary, so a model must learn behaviour rather than words.",
        "",
    ]
    return "\n".join(out)
