"""The synthetic corpus: grammar, determinism, scenario shapes, variety, noise, data card."""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
from collections import Counter
from datetime import datetime

import pytest

from pipeline.config import load_params
from pipeline.core.errors import DataError
from pipeline.data import corpus
from pipeline.data.synth.generator import SynthConfig, Synthesizer, synthesize
from pipeline.data.synth.grammar import (
    MIN_LABEL_TEMPLATES,
    SYNTH_DIR,
    TemplateSyntaxError,
    load_grammar,
    parse_template,
)
from pipeline.data.synth.noise import NOISE_EMOJI, NoiseRates, add_noise
from tests.conftest import REPO, run_cli, run_console_script

LANGUAGES = ("en", "fr")


def _config(**changes) -> SynthConfig:
    """params.yaml's synthesize section with the templates generator, the subject of this file
    (the scripted generator, the default, is tested in test_synth_scripts.py)."""
    settings = {**load_params(REPO / "params.yaml").synthesize.model_dump(), "generator": "templates"}
    settings.update(changes)
    return SynthConfig.model_validate(settings)


@pytest.fixture(scope="module")
def default_corpus(schema) -> list[corpus.Conversation]:
    """The default-size corpus as `make run` generated it with the templates generator."""
    params = load_params(REPO / "params.yaml")
    return list(synthesize(_config(), params.seed))


# ------------------------------------------------------------------ grammar


def test_template_syntax():
    assert parse_template("{greeting} {name}") != parse_template("{greeting}, {name}")
    for bad in ("{unclosed", "stray}", "{}", "{two words}", "{a|{b}"):
        with pytest.raises(TemplateSyntaxError):
            parse_template(bad)


@pytest.mark.parametrize("language", LANGUAGES)
def test_grammar_loads_with_enough_templates(language, schema):
    grammar = load_grammar(language, families=8)
    for label in schema.label_ids:
        templates = grammar.pools[label]
        assert len(templates) >= MIN_LABEL_TEMPLATES, (language, label)
        assert {t.family for t in templates} == set(range(8))  # every family can voice every label
        assert all(label in t.labels for t in templates)


def test_grammar_problems_name_file_and_line(tmp_path, schema):
    root = tmp_path / "synth"
    shutil.copytree(SYNTH_DIR / "en", root / "en")
    extra = root / "en" / "labels_z.yaml"
    extra.write_text('gifts:\n  - "here, a gift for you"\n  - "{nosuchslot} for you"\n  - "{a|b"\n', encoding="utf-8")
    with pytest.raises(DataError) as excinfo:
        load_grammar("en", root=root)
    found = {(p.path, p.line, p.field) for p in excinfo.value.problems}
    assert (str(extra), 3, "gifts.1") in found  # the unknown slot
    assert (str(extra), 4, "gifts.2") in found  # the unclosed brace


def test_grammar_check_command():
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "pipeline.data.synth.check", "en", "fr"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("en: ok")


# -------------------------------------------------------------- determinism


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path):
    """The same seed gives the same bytes in another process (another hash seed) too."""
    args = ("synthesize", "--params", REPO / "params.yaml", "--conversations", "40")
    for name, seed, run in (("a", 7, run_cli), ("b", 7, run_console_script), ("c", 8, run_cli)):
        env = {**os.environ, "PYTHONHASHSEED": "1"} if run is run_console_script else None
        result = run(*args, "--seed", seed, "--out", tmp_path / f"{name}.jsonl", env=env)
        assert result.returncode == 0, result.stderr
    a, b, c = ((tmp_path / f"{n}.jsonl").read_bytes() for n in "abc")
    assert a == b
    assert a != c
    assert len(corpus.read_conversations(tmp_path / "a.jsonl")) == 40  # and it is valid


def test_a_conversation_does_not_depend_on_corpus_size():
    small = list(synthesize(_config(conversations=5), seed=3))
    large = list(synthesize(_config(conversations=20), seed=3))
    assert small == large[:5]


def test_bad_params_are_reported(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text("base: {seed: 1}\nsynthesize: {kinds: {grooming: 1, smuggling: 1}}\n", encoding="utf-8")
    result = run_cli("synthesize", "--params", params, "--out", tmp_path / "x.jsonl")
    assert result.returncode == 1
    assert "smuggling" in result.stderr
    assert not (tmp_path / "x.jsonl").exists()


# ---------------------------------------------------------- scenario shapes


def _by_kind(conversations):
    out: dict[str, list] = {}
    for c in conversations:
        out.setdefault(c.kind, []).append(c)
    return out


def test_every_message_is_labelled_and_kinds_are_consistent(default_corpus, schema):
    kinds = _by_kind(default_corpus)
    assert set(kinds) == {"grooming", "sextortion", "benign_peer", "benign_adult", "benign_hard_negative"}
    for conv in default_corpus:
        assert conv.source == "synthetic" and conv.language in LANGUAGES
        assert all(m.labels is not None for m in conv.messages)
        assert len({m.author for m in conv.messages}) == 2  # both participants write
        assert conv.meta["template_family"].startswith(conv.language)
        assert all(m.meta["template"].startswith(conv.language + ".") for m in conv.messages)
        if conv.kind.startswith("benign"):
            assert conv.label == 0 and conv.suspects is None
            assert all(m.labels == [] for m in conv.messages)
        else:
            assert conv.label == 1 and conv.suspects
            suspect = conv.suspects[0]
            assert any(m.labels for m in conv.messages)
            assert all(not m.labels for m in conv.messages if m.author != suspect)  # the child's messages are []


def test_grooming_is_slow_and_starts_with_rapport(default_corpus):
    grooming = _by_kind(default_corpus)["grooming"]
    lengths = [len(c.messages) for c in grooming]
    assert sum(15 <= n <= 60 for n in lengths) / len(lengths) > 0.9
    assert max(lengths) <= 62
    opens_with_rapport = 0
    adjacent = labelled = 0
    for conv in grooming:
        first = next(m for m in conv.messages if m.labels)
        assert {"trust_building", "deception"} & set(first.labels), first
        opens_with_rapport += "trust_building" in first.labels
        for prev, nxt in zip(conv.messages, conv.messages[1:], strict=False):
            labelled += bool(prev.labels)
            adjacent += bool(prev.labels) and bool(nxt.labels)
    assert opens_with_rapport > 0.6 * len(grooming)
    assert adjacent / labelled < 0.25  # small talk and replies separate most labelled messages
    stage_sets = {frozenset(lab for m in c.messages for lab in m.labels) for c in grooming}
    assert len(stage_sets) > 20  # not every stage every time
    hours = [(_t(c.messages[-1]) - _t(c.messages[0])).total_seconds() / 3600 for c in grooming]
    assert statistics.median(hours) > 24  # over days


def test_sextortion_escalates_within_few_messages(default_corpus):
    sextortion = _by_kind(default_corpus)["sextortion"]
    for conv in sextortion:
        first = next(i for i, m in enumerate(conv.messages) if "sextortion" in m.labels)
        assert first <= 10
        assert sum("sextortion" in m.labels for m in conv.messages) >= 2
    with_deadline = [c for c in sextortion if "deadline" in (c.flags or [])]
    assert len(with_deadline) > 0.4 * len(sextortion)
    hours = [(_t(c.messages[-1]) - _t(c.messages[0])).total_seconds() / 3600 for c in sextortion]
    assert statistics.median(hours) < 12  # sudden


def test_child_replies_vary(default_corpus):
    pools = Counter()
    for conv in default_corpus:
        if conv.kind in ("grooming", "sextortion"):
            for m in conv.messages:
                if m.author != conv.suspects[0]:
                    pools[m.meta["template"].split(".")[1]] += 1
    for pool in ("child_eager", "child_hesitant", "child_refusing", "child_disclosing", "child_help", "child_panic"):
        assert pools[pool] > 20, pools


def test_benign_kinds_use_hard_negatives(default_corpus):
    hard = _by_kind(default_corpus)["benign_hard_negative"]
    used = Counter(m.meta["template"].split(".")[1] for c in hard for m in c.messages)
    assert sum(n for pool, n in used.items() if pool.startswith("hn_")) > 0.5 * sum(used.values())
    assert len([p for p in used if p.startswith("hn_")]) == 10


def test_a_conversation_draws_from_one_template_family(default_corpus):
    families = 8
    for conv in default_corpus[:300]:
        family = int(conv.meta["template_family"].split("-f")[1])
        assert {int(m.meta["template"].rsplit(".", 1)[1]) % families for m in conv.messages} == {family}


def test_both_languages_are_written_natively(default_corpus):
    languages = Counter(c.language for c in default_corpus)
    assert abs(languages["en"] - languages["fr"]) <= 1
    french = re.compile(r"\b(tu|t'es|je|c'est|pas|mdr|tkt|jsp|ton|ta|tes|est|une|les)\b", re.IGNORECASE)
    fr_texts = [m.text for c in default_corpus if c.language == "fr" for m in c.messages]
    en_texts = [m.text for c in default_corpus if c.language == "en" for m in c.messages]
    assert sum(bool(french.search(t)) for t in fr_texts) / len(fr_texts) > 0.5
    assert sum(bool(french.search(t)) for t in en_texts) / len(en_texts) < 0.05


def test_variety_minimums_of_the_default_corpus(default_corpus, schema):
    """At least 40 templates and 1,000 distinct messages per label and language."""
    templates: dict[tuple, set] = {}
    distinct: dict[tuple, set] = {}
    for conv in default_corpus:
        for m in conv.messages:
            for label in m.labels:
                templates.setdefault((label, conv.language), set()).add(m.meta["template"])
                distinct.setdefault((label, conv.language), set()).add(m.text)
    for label in schema.label_ids:
        for language in LANGUAGES:
            assert len(templates[(label, language)]) >= 40, (label, language)
            assert len(distinct[(label, language)]) >= 1000, (label, language, len(distinct[(label, language)]))


def test_variety_without_any_noise(schema):
    """Variety comes from the grammar, not from typos: distinct clean messages per template."""
    clean = _config(conversations=600, noise={k: 0 for k in NoiseRates.model_fields})
    per_template: dict[str, set] = {}
    for conv in synthesize(clean, seed=11):
        for m in conv.messages:
            per_template.setdefault(m.meta["template"], set()).add(m.text)
    used = [texts for t, texts in per_template.items() if t.split(".")[1] in schema.label_ids]
    multi = [texts for texts in used if len(texts) > 1]
    assert len(multi) / len(used) > 0.5


def _t(message) -> datetime:
    return datetime.fromisoformat(message.time)


# -------------------------------------------------------------------- noise


def _clean_and_noisy(**rates):
    zero = {k: 0.0 for k in NoiseRates.model_fields}
    clean = list(synthesize(_config(conversations=60, noise=zero), seed=5))
    noisy = list(synthesize(_config(conversations=60, noise={**zero, **rates}), seed=5))
    pairs = [
        (a.text, b.text)
        for ca, cb in zip(clean, noisy, strict=True)
        for a, b in zip(ca.messages, cb.messages, strict=True)
    ]
    assert [len(c.messages) for c in clean] == [len(c.messages) for c in noisy]  # same conversations
    return pairs


def test_noise_emoji():
    pairs = _clean_and_noisy(emoji=1.0)
    assert all(noisy.startswith(clean) and noisy.split()[-1] in NOISE_EMOJI for clean, noisy in pairs if clean)


def test_noise_casing():
    pairs = _clean_and_noisy(casing=1.0)
    assert all(noisy in (clean.lower(), clean.upper()) for clean, noisy in pairs)
    assert any(noisy != clean for clean, noisy in pairs)


def test_noise_punctuation():
    pairs = _clean_and_noisy(punctuation=1.0)
    assert not any(re.search(r"[.!?,;:]$", noisy) for _, noisy in pairs)


def test_noise_typos_and_abbreviations():
    typos = _clean_and_noisy(typos=1.0)
    assert sum(c != n for c, n in typos) / len(typos) > 0.5
    abbreviated = _clean_and_noisy(abbreviations=1.0)
    assert sum(c != n for c, n in abbreviated) / len(abbreviated) > 0.1


def test_add_noise_unit():
    import random

    rates = NoiseRates(typos=0, casing=0, punctuation=0, abbreviations=1, emoji=0)
    assert add_noise(random.Random(0), "are you ok because it's late", "en", rates) != "are you ok because it's late"
    assert add_noise(random.Random(0), "je sais pas pourquoi", "fr", rates) in ("jsp pourquoi", "je sais pas pk")
    nothing = NoiseRates(typos=0, casing=0, punctuation=0, abbreviations=0, emoji=0)
    assert add_noise(random.Random(0), "Hello, there!", "en", nothing) == "Hello, there!"


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_label_noise(rate):
    conversations = list(synthesize(_config(conversations=80, label_noise=rate), seed=9))
    messages = [m for c in conversations for m in c.messages]
    altered = [m for m in messages if "clean_labels" in m.meta]
    assert all(m.labels != m.meta["clean_labels"] for m in altered)
    share = len(altered) / len(messages)
    assert abs(share - rate) < 0.06
    if rate == 0:
        assert not altered


# ---------------------------------------------------------------- data card


def test_corpus_stats_by_hand(sample_path, tmp_path):
    result = run_cli("corpus-stats", sample_path, "--out-dir", tmp_path)
    assert result.returncode == 0, result.stderr
    stats = json.loads((tmp_path / "corpus_stats_sample.json").read_text(encoding="utf-8"))
    assert (stats["conversations"], stats["messages"], stats["distinct_messages"]) == (3, 9, 9)
    assert stats["kinds"] == {"benign_peer": 1, "grooming": 1, "unknown": 1}
    assert stats["languages"] == {"en": 2, "fr": 1}
    assert stats["conversation_length_messages"]["median"] == 3
    assert stats["labels"]["gifts"]["messages"] == 1
    assert stats["labels"]["gifts"]["en"]["distinct_messages"] == 1
    markdown = (tmp_path / "corpus_stats_sample.md").read_text(encoding="utf-8")
    assert "| `secrecy` | 1 |" in markdown


def test_synthesizer_reuses_one_grammar_per_language():
    synth = Synthesizer(_config(conversations=2), seed=1)
    assert set(synth.grammars) == set(LANGUAGES)
