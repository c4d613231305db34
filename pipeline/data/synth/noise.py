"""Surface noise for synthetic messages: typos, casing, punctuation, abbreviations, emoji.

Real chat is messy; a model that only ever saw clean template output would learn the
templates' punctuation and spelling. Each knob is a per-message probability (``params.yaml``,
``synthesize.noise``); all randomness comes from the conversation's own generator.
"""

from __future__ import annotations

import random
import re
from functools import cache

from pipeline.config.data import NoiseRates  # noqa: F401  (re-exported)

ABBREVIATIONS = {
    "en": {
        "you": "u", "your": "ur", "you're": "ur", "are": "r", "because": "bc", "please": "pls", "really": "rly",
        "okay": "ok", "people": "ppl", "tonight": "tonite", "with": "w", "what": "wat", "thanks": "thx",
        "before": "b4", "great": "gr8", "tomorrow": "tmrw", "probably": "prob", "something": "smth",
        "i don't know": "idk", "right now": "rn", "to be honest": "tbh", "see you": "cya", "oh my god": "omg",
        "by the way": "btw", "not gonna lie": "ngl", "laughing": "lol",
    },
    "fr": {
        "c'est": "c", "je ne sais pas": "jsp", "je sais pas": "jsp", "t'inquiète": "tkt", "s'il te plaît": "stp",
        "beaucoup": "bcp", "pourquoi": "pk", "quoi": "koi", "toujours": "tjrs", "aujourd'hui": "auj",
        "je suis": "chui", "salut": "slt", "rien": "r1", "bonjour": "bjr", "demain": "dem1", "quand": "qd",
        "tout le monde": "tlm", "vraiment": "vrmt", "d'accord": "dac", "pas de problème": "pas de pb",
        "qu'est-ce que": "qu'est ce que", "tu es": "t'es", "il y a": "ya", "je t'aime": "jtm",
    },
}  # fmt: skip
NOISE_EMOJI = ("😂", "😅", "🙂", "😊", "😭", "🤔", "👀", "🔥", "💯", "🙄", "😎", "🥲", "✨", "👍")
_APOSTROPHE = re.compile(r"(?<=\w)['’](?=\w)")
_TRAILING_PUNCT = re.compile(r"[.!?,;:]+$")


def _typo(rng: random.Random, text: str) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 1)
    operation = rng.randrange(3)
    if operation == 0:  # swap two neighbouring letters
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    elif operation == 1:  # drop a letter
        word = word[:j] + word[j + 1 :]
    else:  # double a letter
        word = word[:j] + word[j] + word[j:]
    words[i] = word
    return " ".join(words)


@cache
def _abbreviation_patterns(language: str) -> list[tuple[re.Pattern, re.Pattern, str]]:
    """Per phrase of the language's table, in its order: a pattern to find it in the lowered
    text, one to replace it case-blind, and its abbreviation (compiled once, not per message)."""
    return [
        (
            re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)"),
            re.compile(rf"(?<!\w){re.escape(phrase)}(?!\w)", re.I),
            short,
        )
        for phrase, short in ABBREVIATIONS.get(language, {}).items()
    ]


def _abbreviate(rng: random.Random, text: str, language: str) -> str:
    lowered = text.lower()
    found = [(replace, short) for find, replace, short in _abbreviation_patterns(language) if find.search(lowered)]
    if not found:
        return text
    replace, short = rng.choice(found)
    return replace.sub(short, text, count=1)


def add_noise(rng: random.Random, text: str, language: str, rates: NoiseRates) -> str:
    """Apply each kind of noise with its own probability."""
    draws = [rng.random() for _ in range(5)]
    if draws[0] < rates.abbreviations:
        text = _abbreviate(rng, text, language)
    if draws[1] < rates.typos:
        text = _typo(rng, text)
    if draws[2] < rates.punctuation:
        text = (
            _APOSTROPHE.sub("", _TRAILING_PUNCT.sub("", text)) if rng.random() < 0.5 else _TRAILING_PUNCT.sub("", text)
        )
    if draws[3] < rates.casing:
        text = text.lower() if rng.random() < 0.85 else text.upper()
    if draws[4] < rates.emoji and text:
        text = f"{text} {rng.choice(NOISE_EMOJI)}"
    return text
