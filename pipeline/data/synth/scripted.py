"""The scripted generator (``synthesize.generator: scripts``): conversations from scenario scripts.

A conversation walks its kind's arc (``configs/synth/scripts/<lang>/<kind>.yaml``, described in
``configs/synth/scripts/SCRIPTS.md``): each phase that plays contributes a few distinct moves
(the mover's line, the other side's reply of a type drawn from the conversation's profile,
the mover's reaction to that reply) and turns of ordinary talk, taken topic by topic in
order, before, between and after the moves. Entities (names, the game, the gift...) are
drawn once per conversation and substituted in every line.

As in ``generator.py``: each conversation has its own random generator seeded by (seed,
index), so the corpus is identical for the same seed and scripts whatever the order of
generation; languages go round-robin; a conversation draws its phrasing from one template
family (alternative k of a list belongs to family k mod ``families``; a list without an
alternative for the family falls back to all of them); surface noise is ``add_noise``.
Every message records its source in ``meta.template``:
``<lang>.<kind>.<move or topic id>.<say | reply.TYPE | react.TYPE | turnN>.<k>``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pipeline.core.errors import DataError
from pipeline.data.corpus import Conversation
from pipeline.data.synth.generator import SynthConfig, conversation_start, finished_messages
from pipeline.data.synth.scripts import RISKY_KINDS, Move, Phase, Script, Topic, load_scripts, render

GENERATOR = "scripts-v1"
MID_TOPIC_WEIGHT = 0.0  # how likely a move interrupts a topic, relative to coming between topics


@dataclass
class _Unit:
    """One move as played: the line, the reply type drawn (None: no reply), and whether a reaction follows."""

    move: Move
    reply_type: str | None
    has_reply: bool
    has_reaction: bool

    @property
    def size(self) -> int:
        return 1 + self.has_reply + self.has_reaction


@dataclass
class _PhasePlan:
    phase: Phase
    units: list[_Unit]
    turns: int  # topic turns in this phase


@dataclass
class _Draft:
    """A conversation being written: messages as dicts, in order."""

    rng: random.Random
    script: Script
    family: int
    families: int
    values: dict[str, str]
    authors: dict[str, str]
    clock: datetime
    messages: list[dict] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)

    def pick(self, alternatives: list[str]) -> int:
        """The index of an alternative of this conversation's family (any, if the family has none)."""
        own = [k for k in range(len(alternatives)) if k % self.families == self.family]
        return self.rng.choice(own or range(len(alternatives)))

    def say(
        self,
        speaker: str,
        alternatives: list[str],
        template: str,
        gap: tuple[float, float],
        labels: list[str] = (),
        flags: list[str] = (),
    ) -> None:
        k = self.pick(alternatives)
        if self.messages:  # the first message opens the conversation at its start time
            self.clock += timedelta(minutes=self.rng.uniform(*gap))
        self.messages.append(
            {
                "author": self.authors[speaker],
                "text": render(alternatives[k], self.values),
                "labels": list(labels) if self.script.risky else [],
                "template": f"{self.script.language}.{self.script.kind}.{template}.{k}",
                "time": self.clock.replace(microsecond=0).isoformat(),
            }
        )
        self.flags.update(flags)


class ScriptedSynthesizer:
    """Builds conversations from scenario scripts; holds the validated scripts of each language."""

    def __init__(self, config: SynthConfig, seed: int, scripts: dict[str, dict[str, Script]] | None = None):
        self.config = config
        self.seed = seed
        self.kind_names = list(config.kinds)
        if scripts is None:
            needed = [k for k in self.kind_names if config.kinds[k] > 0]
            folder = _scripts_folder(config.scripts_dir)
            scripts, problems = {}, []
            for language in config.languages:
                try:
                    scripts[language] = load_scripts(language, folder, kinds=needed)
                except DataError as exc:
                    problems += exc.problems
            if problems:
                raise DataError(problems)
        self.scripts = scripts
        from pipeline.schema import load_schema

        self.label_ids = load_schema().label_ids

    def conversations(self) -> Iterator[Conversation]:
        for index in range(self.config.conversations):
            yield self.conversation(index)

    def conversation(self, index: int) -> Conversation:
        rng, language, kind, family, start = conversation_start(self.config, self.seed, index)
        a, b = (f"u{rng.getrandbits(32):08x}" for _ in range(2))
        script = self.scripts[language][kind]
        first, second = script.speakers
        values = {name: rng.choice(options) for name, options in script.entities.items()}
        profile = rng.choice(list(script.profiles)) if script.profiles else None
        draft = _Draft(
            rng, script, family, self.config.families, values, {first: a, second: b}, start
        )  # a is the adult in adult/child kinds
        plans = self._plan(rng, script, profile)
        refused = self._write(draft, plans)
        risky = kind in RISKY_KINDS
        if kind == "sextortion" and not refused:
            draft.flags.add("ongoing_risk")  # contact continues and the child never said no
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
            meta={
                "template_family": f"{language}-f{family:02d}",
                "generator": GENERATOR,
                "scenario": kind,
                "profile": profile,
                "phases": [p.phase.phase for p in plans if p.units or p.turns],
                "moves": [u.move.id for p in plans for u in p.units],
            },
        )

    # ------------------------------------------------------------- planning

    def _limits(self, kind: str) -> tuple[int, int]:
        if kind == "grooming":
            return self.config.grooming_messages
        if kind == "sextortion":
            return self.config.sextortion_messages
        return self.config.benign_messages

    def _plan(self, rng: random.Random, script: Script, profile: str | None) -> list[_PhasePlan]:
        """Which phases play, which moves and replies, how many topic turns; within the message range."""
        plans: list[_PhasePlan] = []
        used: set[str] = set()
        for phase in script.arc:
            if phase.chance < 1 and rng.random() >= phase.chance:
                continue
            pool = script.moves_in(phase.phase)
            count = min(rng.randint(*phase.moves), len(pool))
            fresh = [m for m in pool if m.id not in used]
            stale = [m for m in pool if m.id in used]
            chosen = rng.sample(fresh, min(count, len(fresh)))
            chosen += rng.sample(stale, count - len(chosen))  # repeats only when the phase has run out
            used.update(m.id for m in chosen)
            units = [self._unit(rng, script, move, profile) for move in chosen]
            plans.append(_PhasePlan(phase, units, rng.randint(*phase.topic_turns)))
        if not plans:  # every phase skipped: talk only, in the first phase's pace
            plans.append(_PhasePlan(script.arc[0], [], 0))

        low, high = self._limits(script.kind)
        total = sum(u.size for p in plans for u in p.units) + sum(p.turns for p in plans)
        while total > high:  # too long: shorten the talk, but keep about a turn of talk per move
            turns = sum(p.turns for p in plans)
            moves = sum(len(p.units) for p in plans)
            if turns and (turns > moves or moves <= 1):
                rng.choice([p for p in plans if p.turns]).turns -= 1
                total -= 1
            elif moves > 1:  # drop a move from the busiest phase, keeping one move at least
                busiest = max(len(p.units) for p in plans)
                plan = rng.choice([p for p in plans if len(p.units) == busiest])
                total -= plan.units.pop(rng.randrange(len(plan.units))).size
            else:
                break
        talkative = [p for p in plans if p.phase.topic_turns[1] > 0] or plans  # phases that have talk at all
        while total < low:  # pad with talk
            rng.choice(talkative).turns += 1
            total += 1
        turns = sum(p.turns for p in plans)
        longest = max(len(t.turns) for t in script.topics)
        if turns == 1 or (turns % 2 and longest < 3):  # a topic, once started, runs at least 2 turns
            plan = next((p for p in talkative if p.turns), None) or next(p for p in plans if p.turns)
            plan.turns += 1 if total < high else -1
        return plans

    def _unit(self, rng: random.Random, script: Script, move: Move, profile: str | None) -> _Unit:
        types = list(move.replies)
        if not types:
            return _Unit(move, None, False, False)
        replier = script.other(script.mover(move))
        weights = [1.0] * len(types)
        if profile is not None and replier != "adult":  # profiles say how the child (or a peer) replies
            chosen = [script.profiles[profile].get(t, 0.0) for t in types]
            if sum(chosen) > 0:
                weights = chosen
        reply_type = rng.choices(types, weights)[0]
        has_reply = reply_type != "quiet" and bool(move.replies[reply_type])
        return _Unit(move, reply_type, has_reply, reply_type in move.react)

    # ------------------------------------------------------------- writing

    def _topic_turns(self, rng: random.Random, script: Script, count: int) -> list[tuple[Topic, int, bool, bool]]:
        """``count`` topic turns in order: (topic, turn index, starts a topic, ends it); topics get >= 2 turns."""
        out: list[tuple[Topic, int, bool, bool]] = []
        used: set[str] = set()
        remaining = count
        last = None
        while remaining > 0:
            unused = [t for t in script.topics if t.id not in used]
            choices = unused or [t for t in script.topics if t is not last] or script.topics
            if remaining == 3:  # a 2-turn topic would leave a lone turn: prefer a longer one
                choices = [t for t in choices if len(t.turns) >= 3] or [t for t in script.topics if len(t.turns) >= 3]
                choices = choices or unused or script.topics
            topic = last = rng.choice(choices)
            used.add(topic.id)
            take = min(len(topic.turns), remaining)  # a topic runs to its end, or to the end of the talk
            if remaining - take == 1 and take > 2:
                take -= 1  # leave 2 turns, not a lone one, for the next topic
            out += [(topic, j, j == 0, j == take - 1) for j in range(take)]
            remaining -= take
        return out

    def _write(self, d: _Draft, plans: list[_PhasePlan]) -> bool:
        """Write the planned conversation into the draft; whether the child ever refused."""
        rng = d.rng
        script = d.script
        stream = self._topic_turns(rng, script, sum(p.turns for p in plans))
        # Phases share out the talk at topic boundaries (the nearest one to each planned cut), so
        # that a topic does not straddle two phases' moves.
        starts = [j for j, turn in enumerate(stream) if turn[2]] + [len(stream)]
        cuts, at = [0], 0
        for plan in plans:
            at += plan.turns
            cuts.append(min(starts, key=lambda b, at=at: (abs(b - at), b)))
        refused = False
        for plan, begin, end in zip(plans, cuts, cuts[1:], strict=False):
            turns = stream[begin:end]
            # Where the moves go among the phase's turns: between topics, not in the middle of one
            # (unless the phase's turns are all inside one topic).
            positions = list(range(len(turns) + 1))
            weights = [1.0 if self._between_topics(turns, p) else MID_TOPIC_WEIGHT for p in positions]
            if not any(weights):
                weights = [1.0] * len(positions)
            slots = sorted(rng.choices(positions, weights, k=len(plan.units)))
            gap = plan.phase.gap_minutes
            units = iter(plan.units)
            for position in range(len(turns) + 1):
                for _ in range(slots.count(position)):
                    refused |= self._play(d, next(units), gap)
                if position < len(turns):
                    topic, j, _, _ = turns[position]
                    turn = topic.turns[j]
                    d.say(turn.speaker, turn.say, f"{topic.id}.turn{j}", gap)
        return refused

    @staticmethod
    def _between_topics(turns: list[tuple[Topic, int, bool, bool]], position: int) -> bool:
        """Whether a move at ``position`` of a phase's turns comes between two topics."""
        if not turns:
            return True
        if position < len(turns):
            return turns[position][2]  # the turn there starts a topic
        return turns[-1][3]  # after the phase's last turn, which ends its topic

    def _play(self, d: _Draft, unit: _Unit, gap: tuple[float, float]) -> bool:
        script = d.script
        move = unit.move
        mover = script.mover(move)
        replier = script.other(mover)
        d.say(mover, move.say, f"{move.id}.say", gap, move.labels, move.flags)
        if unit.has_reply:
            d.say(replier, move.replies[unit.reply_type], f"{move.id}.reply.{unit.reply_type}", gap)
        if unit.has_reaction:
            reaction = move.react[unit.reply_type]
            d.say(mover, reaction.say, f"{move.id}.react.{unit.reply_type}", gap, reaction.labels, reaction.flags)
        return replier == "child" and unit.reply_type == "refuse"


def _scripts_folder(scripts_dir: str | None) -> Path | None:
    """``synthesize.scripts_dir``, relative to the project root (None: configs/synth/scripts)."""
    if scripts_dir is None:
        return None
    from pipeline.core.paths import REPO_ROOT

    path = Path(scripts_dir)
    return path if path.is_absolute() else REPO_ROOT / path
