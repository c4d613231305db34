"""Scenario shapes of the synthetic corpus, built from the template grammar.

Each conversation comes from its own random generator, seeded by (seed, index), so the
corpus is byte-identical for the same seed and params whatever the order of generation.
Scenario kinds (``synthesize.kinds`` in params.yaml):

- ``grooming``: slow, over days; rapport first, then gifts, supervision probing, secrecy
  and isolation as the relationship deepens, progressive sexualisation, sometimes a
  media or meeting request; not every stage every time.
- ``sextortion``: sudden, over minutes (GSMA): brief rapport and a media request, or a cold
  claim, then threats, demands for money or images, deadlines and "tell no one".
- ``benign_peer``, ``benign_adult`` (coach, teacher, relative, school nurse) and
  ``benign_hard_negative`` (surprise parties, birthday gifts, homework photos, trades,
  strict parents...): every message labelled ``[]``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pipeline.config.data import CONVERSATION_KINDS, SynthConfig
from pipeline.data.corpus import Conversation, Message
from pipeline.data.synth.grammar import HARD_NEGATIVE_THEMES, Grammar, Template, load_grammar
from pipeline.data.synth.noise import add_noise

KINDS = CONVERSATION_KINDS
ADULT_ROLES = ("coach", "teacher", "relative", "nurse")
PERSONAS = {  # how a targeted child tends to reply: weights over reply pools
    "eager": {"child_eager": 6, "child_hesitant": 2, "smalltalk_child": 3, "child_disclosing": 1},
    "hesitant": {
        "child_hesitant": 5,
        "child_eager": 2,
        "child_refusing": 2,
        "smalltalk_child": 2,
        "child_disclosing": 1,
    },
    "refusing": {"child_refusing": 5, "child_hesitant": 3, "smalltalk_child": 2, "child_help": 1},
    "mixed": {"child_eager": 3, "child_hesitant": 3, "child_refusing": 2, "smalltalk_child": 3, "child_disclosing": 1},
}
GENERATOR_VERSION = 1


def conversation_start(config: SynthConfig, seed: int, index: int) -> tuple[random.Random, str, str, int, datetime]:
    """What every generator draws first for conversation ``index``: its own random generator
    (seeded by seed and index, so a conversation does not depend on the corpus size), its
    language (round-robin), kind, template family and start time."""
    rng = random.Random(f"grooming-risk-synth:{seed}:{index}")
    language = config.languages[index % len(config.languages)]
    kind = rng.choices(list(config.kinds), [config.kinds[k] for k in config.kinds])[0]
    family = rng.randrange(config.families)
    start = datetime.fromisoformat(config.start) + timedelta(days=rng.randrange(300), minutes=rng.randrange(8 * 60))
    return rng, language, kind, family, start


def corrupt_labels(rng: random.Random, labels: list[str], label_ids: list[str]) -> list[str]:
    """Label noise for robustness experiments: drop a label, or add a wrong one."""
    if labels and rng.random() < 0.5:
        dropped = rng.choice(labels)
        return [lab for lab in labels if lab != dropped]
    wrong = [lab for lab in label_ids if lab not in labels]
    return sorted(set(labels) | {rng.choice(wrong)}, key=label_ids.index)


def finished_messages(
    rng: random.Random, drafts: list[dict], language: str, config: SynthConfig, label_ids: list[str]
) -> list[Message]:
    """Draft messages (author, time, text, labels, template) as Messages: label noise at
    ``config.label_noise`` (the clean labels kept in meta), then surface noise. Shared by both
    generators, so the same rates mean the same thing."""
    messages = []
    for m in drafts:
        labels = m["labels"]
        message_meta = {"template": m["template"]}
        if config.label_noise and rng.random() < config.label_noise:
            message_meta["clean_labels"] = labels
            labels = corrupt_labels(rng, labels, label_ids)
        messages.append(
            Message(
                author=m["author"],
                time=m["time"],
                labels=labels,
                meta=message_meta,
                text=add_noise(rng, m["text"], language, config.noise),
            )
        )
    return messages


@dataclass
class _Draft:
    """A conversation being written: messages as (author, text, labels, template, flags)."""

    rng: random.Random
    grammar: Grammar
    family: int
    clock: datetime
    messages: list[dict] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)

    def say(self, author: str, template: Template, gap_minutes: float) -> None:
        self.clock += timedelta(minutes=gap_minutes)
        self.messages.append(
            {
                "author": author,
                "text": self.grammar.render(self.rng, template),
                "labels": list(template.labels),
                "template": template.id,
                "time": self.clock.replace(microsecond=0).isoformat(),
            }
        )
        self.flags.update(template.flags)

    def pick(self, pool: str, **where) -> Template:
        """A template of this conversation's family, preferring ones not used yet in it."""
        candidates = self.grammar.templates(pool, self.family, **where)
        fresh = [t for t in candidates if t.id not in self.used]
        template = self.rng.choice(fresh or candidates)
        self.used.add(template.id)
        return template


class Synthesizer:
    """Builds conversations; holds one validated grammar per language."""

    def __init__(self, config: SynthConfig, seed: int):
        self.config = config
        self.seed = seed
        self.grammars = {lang: load_grammar(lang, families=config.families) for lang in config.languages}
        from pipeline.schema import load_schema

        self.label_ids = load_schema().label_ids

    def conversations(self) -> Iterator[Conversation]:
        for index in range(self.config.conversations):
            yield self.conversation(index)

    def conversation(self, index: int) -> Conversation:
        rng, language, kind, family, start = conversation_start(self.config, self.seed, index)
        draft = _Draft(rng, self.grammars[language], family, start)
        a, b = (f"u{rng.getrandbits(32):08x}" for _ in range(2))
        meta = getattr(self, f"_{kind}")(draft, a, b)
        risky = kind in ("grooming", "sextortion")
        messages = finished_messages(rng, draft.messages, language, self.config, self.label_ids)
        return Conversation(
            conversation_id=f"syn-{language}-{index:06d}",
            language=language,
            source="synthetic",
            kind=kind,
            label=int(risky),
            suspects=[a] if risky else None,
            flags=sorted(draft.flags) or None,
            messages=messages,
            meta={"template_family": f"{language}-f{family:02d}", "generator": f"synth-v{GENERATOR_VERSION}", **meta},
        )

    # ------------------------------------------------------------- scenarios

    def _grooming(self, d: _Draft, offender: str, child: str) -> dict:
        rng = d.rng
        persona = rng.choice(list(PERSONAS))
        early = ["trust_building"] * rng.randint(1, 2)
        early += [s for s, p in (("gifts", 0.55), ("risk_assessment", 0.55)) if rng.random() < p]
        rng.shuffle(early)
        early.insert(0, "trust_building")  # rapport comes first
        if rng.random() < 0.4:  # a false identity is usually claimed at the start
            early.insert(rng.randint(0, 1), "deception")
        middle = [
            s
            for s, p in (
                ("secrecy", 0.75),
                ("isolation", 0.6),
                ("gifts", 0.3),
                ("risk_assessment", 0.35),
                ("trust_building", 0.5),
                ("deception", 0.25),
                ("isolation", 0.4),  # isolation often returns as the relationship deepens
            )
            if rng.random() < p
        ]
        rng.shuffle(middle)
        levels = sorted(rng.sample([1, 2, 3], rng.randint(1, 3))) if rng.random() < 0.7 else []
        late = [("sexualisation", level) for level in levels]
        late += [
            (s, None)
            for s, p in (("media_request", 0.5), ("meeting_request", 0.5), ("secrecy", 0.25), ("meeting_request", 0.2))
            if rng.random() < p
        ]
        if len(late) > 1 and rng.random() < 0.3:  # sometimes a request comes before the last remark
            late[-1], late[-2] = late[-2], late[-1]
        beats = [(s, None) for s in early + middle] + late

        target = rng.randint(*self.config.grooming_messages)
        # Each beat is an offender message plus usually a reply; small talk fills the rest.
        filler = max(0, target - 2 * len(beats))
        slots = [0] * (len(beats) + 1)
        for _ in range(filler):
            slots[rng.randrange(len(slots))] += 1
        ended_by_child = False
        for i, (stage, level) in enumerate(beats):
            self._smalltalk(d, offender, child, slots[i], gap=rng.uniform(60, 60 * 30))
            where = {"level": level} if level else {}
            d.say(offender, d.pick(stage, **where), gap_minutes=rng.uniform(1, 60 * 20))
            if rng.random() < 0.85:
                reply_pool = rng.choices(list(PERSONAS[persona]), list(PERSONAS[persona].values()))[0]
                d.say(child, d.pick(reply_pool), gap_minutes=rng.uniform(0.2, 8))
                # A child who pushes back late in the chat sometimes ends it there.
                if reply_pool == "child_help" and 2 * i >= len(beats) and len(d.messages) >= 12 and rng.random() < 0.5:
                    ended_by_child = True
                    break
        if not ended_by_child:
            self._smalltalk(d, offender, child, slots[-1], gap=rng.uniform(5, 120))
        return {"scenario": "grooming", "persona": persona, "stages": [s for s, _ in beats]}

    def _sextortion(self, d: _Draft, offender: str, child: str) -> dict:
        rng = d.rng
        opening = "rapport" if rng.random() < 0.55 else "cold_claim"
        if opening == "rapport":
            if rng.random() < 0.5:
                d.say(offender, d.pick("deception"), gap_minutes=0)
                d.say(child, d.pick(rng.choice(["child_eager", "smalltalk_child"])), gap_minutes=rng.uniform(0.5, 10))
            for _ in range(rng.randint(1, 2)):
                d.say(
                    offender,
                    d.pick(rng.choice(["trust_building", "smalltalk_offender"])),
                    gap_minutes=rng.uniform(1, 90),
                )
                d.say(
                    child,
                    d.pick(rng.choice(["child_eager", "smalltalk_child", "child_hesitant"])),
                    gap_minutes=rng.uniform(0.3, 10),
                )
            d.say(offender, d.pick("media_request"), gap_minutes=rng.uniform(1, 60))
            d.say(child, d.pick(rng.choice(["child_hesitant", "child_eager"])), gap_minutes=rng.uniform(0.5, 10))
            d.say(offender, d.pick("sextortion", role=rng.choice(["claim", "threat"])), gap_minutes=rng.uniform(2, 180))
        else:
            d.say(offender, d.pick("sextortion", role="claim"), gap_minutes=0)
        escalation = ["threat", rng.choice(["demand_money", "demand_money", "demand_images"])]
        tail = [r for r, p in (("deadline", 0.7), ("silence", 0.6), ("threat", 0.5)) if rng.random() < p]
        rng.shuffle(tail)
        escalation += tail
        target = rng.randint(*self.config.sextortion_messages)
        while len(d.messages) + 2 * len(escalation) < target:  # longer chats repeat threats and demands
            escalation.append(rng.choice(["threat", "demand_money", "demand_images", "deadline", "silence"]))
        helped = False
        for role in escalation:
            reply = rng.choices(["child_panic", "child_refusing", "child_help", "child_hesitant"], [6, 2, 1, 1])[0]
            d.say(child, d.pick(reply), gap_minutes=rng.uniform(0.2, 4))
            helped = helped or reply == "child_help"
            d.say(offender, d.pick("sextortion", role=role), gap_minutes=rng.uniform(0.2, 6))
        if not helped:
            d.flags.add("ongoing_risk")  # contact continues and the child has not sought help
        return {"scenario": "sextortion", "opening": opening, "roles": escalation}

    def _smalltalk(self, d: _Draft, offender: str, child: str, count: int, gap: float) -> None:
        for k in range(count):
            author, pool = (offender, "smalltalk_offender") if d.rng.random() < 0.5 else (child, "smalltalk_child")
            d.say(author, d.pick(pool), gap_minutes=gap if k == 0 else d.rng.uniform(0.2, 6))

    @staticmethod
    def _turns(rng: random.Random, a: str, b: str, count: int) -> list[str]:
        """Who writes each message: mostly alternating, sometimes twice in a row; both write."""
        authors = [a, b]
        for _ in range(count - 2):
            last = authors[-1]
            authors.append(last if rng.random() < 0.3 else (b if last == a else a))
        return authors[:count] if count >= 2 else authors

    def _benign_peer(self, d: _Draft, a: str, b: str) -> dict:
        rng = d.rng
        theme = rng.choice(HARD_NEGATIVE_THEMES) if rng.random() < 0.35 else None
        for author in self._turns(rng, a, b, rng.randint(*self.config.benign_messages)):
            pool = theme if theme and rng.random() < 0.25 else "peer_chat"
            d.say(author, d.pick(pool), gap_minutes=rng.uniform(0.2, 30))
        return {"scenario": "benign_peer", "theme": theme}

    def _benign_adult(self, d: _Draft, adult: str, child: str) -> dict:
        rng = d.rng
        role = rng.choice(ADULT_ROLES)
        extra = {"relative": "hn_birthday_gift", "coach": "hn_family_photo", "teacher": "hn_homework_photo"}.get(role)
        for i in range(rng.randint(*self.config.benign_messages)):
            if i % 2 == 0:
                pool = extra if extra and rng.random() < 0.2 else f"benign_{role}"
                d.say(adult, d.pick(pool), gap_minutes=rng.uniform(5, 60 * 24))
            else:
                d.say(
                    child,
                    d.pick(rng.choice(["benign_child_reply", "benign_child_reply", "smalltalk_child"])),
                    gap_minutes=rng.uniform(0.5, 60),
                )
        return {"scenario": "benign_adult", "role": role}

    def _benign_hard_negative(self, d: _Draft, a: str, b: str) -> dict:
        rng = d.rng
        themes = rng.sample(HARD_NEGATIVE_THEMES, rng.randint(2, 3))
        for author in self._turns(rng, a, b, rng.randint(*self.config.benign_messages)):
            pool = rng.choice(themes) if rng.random() < 0.6 else "peer_chat"
            d.say(author, d.pick(pool), gap_minutes=rng.uniform(0.2, 45))
        return {"scenario": "benign_hard_negative", "themes": themes}


def synthesize(config: SynthConfig, seed: int) -> Iterator[Conversation]:
    """All conversations of the corpus, in order, from the generator the config names (counted
    on a progress bar on a terminal's stderr)."""
    from pipeline.core.progress import progress

    if config.generator == "scripts":
        from pipeline.data.synth.scripted import ScriptedSynthesizer

        conversations = ScriptedSynthesizer(config, seed).conversations()
    else:
        conversations = Synthesizer(config, seed).conversations()
    return progress(conversations, total=config.conversations, desc="synthesize", unit="conv")
