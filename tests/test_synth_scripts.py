"""The scripted generator: script loading and validation, and the conversations it writes.

The fixture scripts (tests/data/synth_scripts/en/) are tiny, so they load with relaxed minimums.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from pipeline.core.errors import DataError
from pipeline.data import corpus
from pipeline.data.synth import scripts as scripts_module
from pipeline.data.synth.check import main as check_main
from pipeline.data.synth.generator import SynthConfig, synthesize
from pipeline.data.synth.noise import NoiseRates
from pipeline.data.synth.scripted import ScriptedSynthesizer
from pipeline.data.synth.scripts import KINDS, MINIMUMS, RELAXED, Script, load_scripts
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "data" / "synth_scripts"
NO_NOISE = {k: 0.0 for k in NoiseRates.model_fields}
FAMILIES = 2


@pytest.fixture(scope="module")
def fixture_scripts() -> dict[str, Script]:
    return load_scripts("en", FIXTURES, minimums=RELAXED)


def _config(**changes) -> SynthConfig:
    settings = {
        "conversations": 120,
        "languages": ["en"],
        "families": FAMILIES,
        "grooming_messages": (6, 20),
        "sextortion_messages": (4, 12),
        "benign_messages": (4, 12),
        "noise": NO_NOISE,
        **changes,
    }
    return SynthConfig.model_validate(settings)


def _generate(fixture_scripts, seed: int = 1, **changes) -> list[corpus.Conversation]:
    synth = ScriptedSynthesizer(_config(**changes), seed, scripts={"en": fixture_scripts})
    return list(synth.conversations())


@pytest.fixture(scope="module")
def generated(fixture_scripts) -> list[corpus.Conversation]:
    return _generate(fixture_scripts)


# ------------------------------------------------------------------ loading


def test_fixture_scripts_load(fixture_scripts):
    assert set(fixture_scripts) == set(KINDS)
    grooming = fixture_scripts["grooming"]
    assert grooming.kind == "grooming" and grooming.language == "en"
    assert grooming.entities["child"] == ["Maya", "Leo", "Noor"]
    assert [p.phase for p in grooming.arc] == ["rapport", "secrecy"]
    assert grooming.moves[0].replies["quiet"] == []
    assert grooming.moves[0].react["refuse"].labels == ["trust_building"]
    assert grooming.mover(grooming.moves[0]) == "adult"
    peer = fixture_scripts["benign_peer"]
    assert [peer.mover(m) for m in peer.moves] == ["a", "b"]
    assert peer.profiles == {}


def test_minimums_apply_by_default():
    with pytest.raises(DataError) as excinfo:
        load_scripts("en", FIXTURES)  # the fixture is far below SCRIPTS.md's minimums
    messages = [p.message for p in excinfo.value.problems]
    assert any(f"expected at least {MINIMUMS.move_say} alternatives" in m for m in messages)
    assert any(f"expected at least {MINIMUMS.risky_topics} topics" in m for m in messages)
    assert any(f"expected at least {MINIMUMS.benign_moves} moves" in m for m in messages)


def _hostile(tmp_path: Path, kind: str, old: str, new: str, count: int = 1) -> Path:
    """A copy of the fixture folder with one edit in one file; returns the edited file."""
    root = tmp_path / "scripts"
    if not root.exists():
        shutil.copytree(FIXTURES, root)
    path = root / "en" / f"{kind}.yaml"
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return path


def _problems(tmp_path: Path) -> list:
    with pytest.raises(DataError) as excinfo:
        load_scripts("en", tmp_path / "scripts", minimums=RELAXED)
    return excinfo.value.problems


def _line(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if needle in line)


def _find(problems, path: Path, field: str):
    found = [p for p in problems if p.path == str(path) and p.field == field]
    assert found, [str(p) for p in problems]
    return found[0]


def test_unknown_label(tmp_path):
    path = _hostile(tmp_path, "grooming", "labels: [trust_building]", "labels: [trust_bulding]")
    problem = _find(_problems(tmp_path), path, "moves[0].labels")
    assert problem.line == _line(path, "trust_bulding")
    assert "unknown label(s) ['trust_bulding']" in problem.message and "praise_skill" in problem.message
    assert str(problem).startswith(f"{path}:{problem.line}: moves[0].labels: ")


def test_label_in_a_benign_file(tmp_path):
    path = _hostile(tmp_path, "benign_adult", "    phase: logistics\n", "    phase: logistics\n    labels: [gifts]\n")
    problem = _find(_problems(tmp_path), path, "moves[0].labels")
    assert "benign files carry no labels" in problem.message
    assert problem.line == _line(path, "labels: [gifts]")


def test_label_on_a_reaction_in_a_benign_file(tmp_path):
    path = _hostile(
        tmp_path, "benign_peer", '        say: ["thanks"', '        labels: [gifts]\n        say: ["thanks"'
    )
    problem = _find(_problems(tmp_path), path, "moves[1].react.accept.labels")
    assert "benign files carry no labels" in problem.message


def test_label_on_a_topic_turn(tmp_path):
    path = _hostile(
        tmp_path, "grooming", "      - speaker: adult\n", "      - speaker: adult\n        labels: [gifts]\n"
    )
    problem = _find(_problems(tmp_path), path, "topics[0].turns[1].labels")
    assert "topic lines carry no labels" in problem.message
    assert problem.line == _line(path, "labels: [gifts]")


def test_unknown_placeholder_and_other_braces(tmp_path):
    path = _hostile(tmp_path, "grooming", '"{game} probably"', '"{gaem} probably"')
    _hostile(tmp_path, "grooming", '"the big one?"', '"the {big|small} one?"')
    problems = _problems(tmp_path)
    unknown = _find(problems, path, "topics[1].turns[1].say[0]")
    assert "unknown placeholder(s) ['{gaem}']" in unknown.message and "'game'" in unknown.message
    assert unknown.line == _line(path, "{gaem}")
    braces = _find(problems, path, "topics[0].turns[1].say[1]")
    assert "unexpected brace" in braces.message


def test_phase_without_moves_and_move_outside_the_arc(tmp_path):
    path = _hostile(
        tmp_path,
        "grooming",
        "profiles:",
        "  - {phase: isolation, moves: [1, 2], topic_turns: [0, 2], gap_minutes: [1, 5]}\nprofiles:",
    )
    _hostile(
        tmp_path,
        "grooming",
        "    phase: secrecy\n    labels: [risk_assessment]",
        "    phase: secrcy\n    labels: [risk_assessment]",
    )
    problems = _problems(tmp_path)
    phase = _find(problems, path, "arc[2].phase")
    assert "phase 'isolation' has no moves" in phase.message
    assert phase.line == _line(path, "phase: isolation")
    stray = _find(problems, path, "moves[3].phase")
    assert "not in the arc" in stray.message and "who_is_home" in stray.message


def test_bad_speakers(tmp_path):
    path = _hostile(tmp_path, "benign_peer", "      - speaker: b\n", "      - speaker: child\n")
    _hostile(tmp_path, "benign_peer", "    by: b\n", "    by: adult\n")
    child = _hostile(tmp_path, "grooming", "      - speaker: adult\n", "      - speaker: a\n")
    problems = _problems(tmp_path)
    turn = _find(problems, path, "topics[0].turns[1].speaker")
    assert "expected a speaker of benign_peer files, one of ['a', 'b'], found 'child'" in turn.message
    assert turn.line == _line(path, "speaker: child")
    assert "one of ['a', 'b']" in _find(problems, path, "moves[1].by").message
    assert "['adult', 'child']" in _find(problems, child, "topics[0].turns[1].speaker").message


def test_child_lines_carry_no_labels(tmp_path):
    path = _hostile(
        tmp_path,
        "grooming",
        '    phase: rapport\n    labels: [trust_building]\n    say: ["i get',
        '    phase: rapport\n    by: child\n    labels: [trust_building]\n    say: ["i get',
    )
    assert "a child's line carries no labels" in _find(_problems(tmp_path), path, "moves[1].labels").message


def test_replies_reactions_and_profiles(tmp_path):
    path = _hostile(
        tmp_path, "grooming", '      deflect: ["lol no", "just luck"]', '      maybe: ["lol no", "just luck"]'
    )
    _hostile(
        tmp_path,
        "grooming",
        "      quiet: []\n    react:\n      accept:",
        '      quiet: ["..."]\n    react:\n      accept:',
    )
    _hostile(
        tmp_path,
        "grooming",
        '      ask_why: ["why", "how come"]\n',
        '      ask_why: ["why", "how come"]\n    react:\n      deflect:\n        say: ["ok"]\n',
    )
    _hostile(tmp_path, "grooming", "resisting: {accept: 1", "resisting: {acept: 1")
    _hostile(tmp_path, "grooming", "chatty: {accept: 6", "chatty: {accept: -6")
    problems = _problems(tmp_path)
    assert "unknown reply type" in _find(problems, path, "moves[0].replies.maybe").message
    assert "expected an empty list" in _find(problems, path, "moves[0].replies.quiet").message
    assert "has no 'deflect' reply" in _find(problems, path, "moves[1].react.deflect").message
    assert "unknown reply type(s) ['acept']" in _find(problems, path, "profiles.resisting").message
    assert "non-negative weights" in _find(problems, path, "profiles.chatty").message


def test_yaml_pitfalls_and_structure(tmp_path):
    path = _hostile(tmp_path, "sextortion", 'refuse: ["no you dont", "leave me alone"]', "refuse: [no, leave me alone]")
    _hostile(
        tmp_path,
        "sextortion",
        "    phase: threat\n    labels: [sextortion, secrecy]",
        "    phase: threat\n    label: [sextortion, secrecy]",
    )
    problems = _problems(tmp_path)
    boolean = _find(problems, path, "moves[0].replies.refuse[0]")
    assert "expected a string" in boolean.message and "quote it" in boolean.message
    unknown = _find(problems, path, "moves[2].label")
    assert "unknown field" in unknown.message and "'labels'" in unknown.message


def test_file_level_problems(tmp_path):
    kind = _hostile(tmp_path, "benign_peer", "kind: benign_peer", "kind: benign_adult")
    (tmp_path / "scripts" / "en" / "benign_hard_negative.yaml").unlink()
    broken = _hostile(tmp_path, "benign_adult", "arc:\n", "arc:\n  - [unclosed\n")
    problems = _problems(tmp_path)
    assert "expected 'benign_peer'" in _find(problems, kind, "kind").message
    missing = str(tmp_path / "scripts" / "en" / "benign_hard_negative.yaml")
    assert any(p.path == missing and "file not found" in p.message for p in problems)
    assert any(p.path == str(broken) and p.field == "(yaml)" for p in problems)


def test_every_problem_is_reported_at_once(tmp_path):
    grooming = _hostile(tmp_path, "grooming", "labels: [trust_building]", "labels: [nope]")
    peer = _hostile(tmp_path, "benign_peer", "{friend}", "{pal}")
    sextortion = _hostile(tmp_path, "sextortion", "flags: [deadline]", "flags: [deadlines]")
    problems = _problems(tmp_path)
    assert {str(grooming), str(peer), str(sextortion)} <= {p.path for p in problems}


def test_check_command_validates_scripts(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(scripts_module, "MINIMUMS", RELAXED)
    assert check_main(["en", "--scripts-dir", str(FIXTURES)]) == 0
    assert capsys.readouterr().out.startswith("en: scripts ok: grooming: 4 moves")
    path = _hostile(tmp_path, "grooming", "labels: [trust_building]", "labels: [nope]")
    assert check_main(["en", "--scripts", "--scripts-dir", str(tmp_path / "scripts")]) == 1
    err = capsys.readouterr().err
    assert f"{path}:{_line(path, '[nope]')}: moves[0].labels: " in err


# ------------------------------------------------------------------ generation


def _parse(template: str) -> tuple[str, str, str, int]:
    """meta.template -> (kind, move or topic id, part, alternative index)."""
    language, kind, item, *part, k = template.split(".")
    assert language == "en"
    return kind, item, ".".join(part), int(k)


def _alternatives(script: Script, item: str, part: str) -> list[str]:
    if part.startswith("turn"):
        topic = next(t for t in script.topics if t.id == item)
        return topic.turns[int(part[4:])].say
    move = next(m for m in script.moves if m.id == item)
    if part == "say":
        return move.say
    what, reply_type = part.split(".")
    return move.replies[reply_type] if what == "reply" else move.react[reply_type].say


def _pattern(text: str, entities: dict[str, list[str]]) -> re.Pattern:
    """A line with placeholders as a regex whose named groups capture the entity values."""
    out, seen = "", set()
    for piece in re.split(r"(\{[a-z_]+\})", text):
        name = piece[1:-1] if re.fullmatch(r"\{[a-z_]+\}", piece) else None
        if name is None:
            out += re.escape(piece)
        elif name in seen:
            out += f"(?P={name})"
        else:
            out += f"(?P<{name}>{'|'.join(map(re.escape, entities[name]))})"
            seen.add(name)
    return re.compile(out + "$")


def test_same_seed_same_corpus_other_seed_other_corpus(fixture_scripts):
    a = [corpus.dumps(c) for c in _generate(fixture_scripts, seed=7, noise=NoiseRates().model_dump())]
    b = [corpus.dumps(c) for c in _generate(fixture_scripts, seed=7, noise=NoiseRates().model_dump())]
    c = [corpus.dumps(c) for c in _generate(fixture_scripts, seed=8, noise=NoiseRates().model_dump())]
    assert a == b
    assert a != c


def test_a_conversation_does_not_depend_on_corpus_size(fixture_scripts):
    assert _generate(fixture_scripts, conversations=5) == _generate(fixture_scripts, conversations=20)[:5]


def test_shape_of_the_corpus(generated, fixture_scripts):
    assert {c.kind for c in generated} == set(KINDS)
    for index, conv in enumerate(generated):
        assert conv.conversation_id == f"syn-en-{index:06d}"
        assert conv.source == "synthetic" and conv.language == "en"
        family = conv.meta["template_family"]
        assert re.fullmatch(r"en-f0[01]", family)
        assert conv.meta["generator"] == "scripts-v1" and conv.meta["scenario"] == conv.kind
        arc = [p.phase for p in fixture_scripts[conv.kind].arc]
        assert conv.meta["phases"] == [p for p in arc if p in conv.meta["phases"]]  # in arc order
        assert all(m.meta["template"].startswith(f"en.{conv.kind}.") for m in conv.messages)
        assert len({m.author for m in conv.messages}) <= 2
        times = [m.time for m in conv.messages]
        assert times == sorted(times)


def test_message_counts_respect_the_config(generated):
    limits = {"grooming": (6, 20), "sextortion": (4, 12)}
    for conv in generated:
        low, high = limits.get(conv.kind, (4, 12))
        assert low <= len(conv.messages) <= high, (conv.kind, len(conv.messages))


def test_benign_conversations_have_no_labels(generated):
    for conv in generated:
        if conv.kind.startswith("benign"):
            assert conv.label == 0 and conv.suspects is None
            assert all(m.labels == [] for m in conv.messages)
            assert conv.meta["profile"] in (None, "polite")
        else:
            assert conv.label == 1 and len(conv.suspects) == 1
            assert any(m.labels for m in conv.messages)
            assert all(m.labels == [] for m in conv.messages if m.author != conv.suspects[0])
            assert conv.meta["profile"] in fixture_profiles(conv.kind)


def fixture_profiles(kind: str) -> set[str]:
    return {"grooming": {"chatty", "resisting"}, "sextortion": {"panicking", "resisting"}}[kind]


def test_texts_come_from_their_templates_with_one_value_per_entity(generated, fixture_scripts):
    """Without noise, each text is its alternative with entities substituted, the same everywhere."""
    used_children = set()
    for conv in generated:
        script = fixture_scripts[conv.kind]
        values: dict[str, str] = {}
        for m in conv.messages:
            kind, item, part, k = _parse(m.meta["template"])
            match = _pattern(_alternatives(script, item, part)[k], script.entities).match(m.text)
            assert match, (m.meta["template"], m.text)
            for name, value in match.groupdict().items():
                assert value in script.entities[name]
                assert values.setdefault(name, value) == value, (conv.conversation_id, name)
        used_children.add(values.get("child"))
    assert {"Maya", "Leo", "Noor"} <= used_children  # drawn per conversation, not once for all


def test_replies_follow_their_move_and_reactions_follow_replies(generated, fixture_scripts):
    reactions = 0
    for conv in generated:
        script = fixture_scripts[conv.kind]
        parsed = [_parse(m.meta["template"]) for m in conv.messages]
        moves_played = [item for _, item, part, _ in parsed if part == "say"]
        assert len(moves_played) == len(set(moves_played))  # distinct moves (the fixture has enough)
        assert moves_played == conv.meta["moves"]
        for i, (_, item, part, _) in enumerate(parsed):
            if part.startswith("reply."):
                assert parsed[i - 1][1:3] == (item, "say")
                assert conv.messages[i].author != conv.messages[i - 1].author
            if part.startswith("react."):
                reply_type = part.split(".")[1]
                before = parsed[i - 1][1:3]
                silent = not _move(script, item).replies[reply_type]  # quiet: a reaction to no reply
                assert before == (item, "say" if silent else f"reply.{reply_type}"), (conv.conversation_id, part)
                mover_line = next(j for j in range(i - 1, -1, -1) if parsed[j][1:3] == (item, "say"))
                assert conv.messages[i].author == conv.messages[mover_line].author
                reactions += 1
    assert reactions > 10


def _move(script: Script, move_id: str):
    return next(m for m in script.moves if m.id == move_id)


def test_topics_run_in_order_at_least_two_turns(generated):
    for conv in generated:
        turns = [
            (item, int(part[4:]))
            for _, item, part, _ in map(_parse, (m.meta["template"] for m in conv.messages))
            if part.startswith("turn")
        ]
        runs: list[list[tuple[str, int]]] = []
        for topic, j in turns:
            if j == 0:
                runs.append([(topic, j)])
            else:
                assert runs and runs[-1][-1] == (topic, j - 1), (conv.conversation_id, turns)
                runs[-1].append((topic, j))
        assert all(len(run) >= 2 for run in runs), (conv.conversation_id, turns)


def test_moves_come_between_topics(generated):
    """A move never interrupts a topic: the talk around it is not two turns of one topic in a row."""
    moves = 0
    for conv in generated:
        parsed = [_parse(m.meta["template"]) for m in conv.messages]
        for i, (_, _, part, _) in enumerate(parsed):
            if part != "say":
                continue
            moves += 1
            before = next((p for p in reversed(parsed[:i]) if p[2].startswith("turn")), None)
            after = next((p for p in parsed[i:] if p[2].startswith("turn")), None)
            if before and after:
                assert not (before[1] == after[1] and int(after[2][4:]) == int(before[2][4:]) + 1), (
                    conv.conversation_id,
                    [p[1:3] for p in parsed],
                )
    assert moves > 100


def test_a_conversation_uses_its_family_when_the_family_has_alternatives(generated, fixture_scripts):
    fallbacks = 0
    for conv in generated:
        family = int(conv.meta["template_family"].split("-f")[1])
        script = fixture_scripts[conv.kind]
        for m in conv.messages:
            _, item, part, k = _parse(m.meta["template"])
            count = len(_alternatives(script, item, part))
            if any(j % FAMILIES == family for j in range(count)):
                assert k % FAMILIES == family, (conv.meta["template_family"], m.meta["template"])
            else:
                fallbacks += 1  # e.g. a one-line list in family 1
    assert fallbacks > 0


def test_flags(generated):
    sextortion = [c for c in generated if c.kind == "sextortion"]
    assert sextortion
    for conv in sextortion:
        templates = [m.meta["template"] for m in conv.messages]
        refused = any(".reply.refuse." in t for t in templates)
        assert ("ongoing_risk" in (conv.flags or [])) == (not refused)
        assert ("deadline" in (conv.flags or [])) == any(".demand_money.say." in t for t in templates)
    assert all(not c.flags for c in generated if c.kind != "sextortion")


def test_conversations_round_trip_through_the_format(generated, tmp_path, schema):
    path = tmp_path / "scripted.jsonl"
    assert corpus.write_conversations(path, generated) == len(generated)
    assert corpus.read_conversations(path) == generated


def test_noise_is_applied_like_the_template_generator(fixture_scripts):
    clean = _generate(fixture_scripts, conversations=40)
    noisy = _generate(fixture_scripts, conversations=40, noise={**NO_NOISE, "emoji": 1.0})
    for a, b in zip(clean, noisy, strict=True):
        assert [m.meta for m in a.messages] == [m.meta for m in b.messages]
        assert all(nm.text.startswith(cm.text + " ") for cm, nm in zip(a.messages, b.messages, strict=True))


def test_label_noise_is_recorded(fixture_scripts):
    conversations = _generate(fixture_scripts, conversations=60, label_noise=0.5)
    altered = [m for c in conversations for m in c.messages if "clean_labels" in m.meta]
    assert altered and all(m.labels != m.meta["clean_labels"] for m in altered)


def test_synthesize_dispatches_on_the_generator(monkeypatch):
    assert SynthConfig().generator == "templates" and SynthConfig().scripts_dir is None
    monkeypatch.setattr(scripts_module, "MINIMUMS", RELAXED)
    config = _config(conversations=6, generator="scripts", scripts_dir=str(FIXTURES))
    conversations = list(synthesize(config, seed=3))
    assert len(conversations) == 6 and all(c.meta["generator"] == "scripts-v1" for c in conversations)
    with pytest.raises(ValueError):
        SynthConfig(generator="other")


def test_scripted_generator_reports_script_problems(monkeypatch, tmp_path):
    _hostile(tmp_path, "grooming", "labels: [trust_building]", "labels: [nope]")
    monkeypatch.setattr(scripts_module, "MINIMUMS", RELAXED)
    with pytest.raises(DataError, match=r"grooming\.yaml:\d+: moves\[0\]\.labels"):
        ScriptedSynthesizer(_config(generator="scripts", scripts_dir=str(tmp_path / "scripts")), seed=1)


# ------------------------------------------------------------------ the project's scripts


@pytest.mark.parametrize("language", ["en", "fr"])
def test_project_scripts_load_when_complete(language):
    """configs/synth/scripts/<lang>/ holds the five scripts and they pass the validator."""
    folder = scripts_module.SCRIPTS_DIR / language
    assert all((folder / f"{kind}.yaml").is_file() for kind in KINDS), folder
    scripts = load_scripts(language)
    config = _config(conversations=50, languages=[language], families=8, noise=NoiseRates().model_dump())
    conversations = list(ScriptedSynthesizer(config, seed=1, scripts={language: scripts}).conversations())
    assert {c.kind for c in conversations} <= set(KINDS)


def test_the_default_corpus_has_the_shapes_the_fact_sheets_describe():
    """params.yaml's corpus (scripts, 400 conversations): risky conversations carry labels, only on
    the suspect's lines; benign ones carry none; sextortion unfolds in hours, grooming over days."""
    from pipeline.config import load_params

    params = load_params(REPO / "params.yaml")
    assert params.synthesize.generator == "scripts"
    config = SynthConfig.model_validate({**params.synthesize.model_dump(), "conversations": 400})
    conversations = list(synthesize(config, params.seed))
    assert {c.language for c in conversations} == {"en", "fr"}
    spans: dict[str, list[float]] = {}
    for conversation in conversations:
        labelled = [m for m in conversation.messages if m.labels]
        if conversation.label == 1:
            assert labelled, conversation.conversation_id
            assert {m.author for m in labelled} == set(conversation.suspects)
        else:
            assert not labelled and conversation.kind.startswith("benign")
        times = [datetime.fromisoformat(m.time) for m in conversation.messages]
        spans.setdefault(conversation.kind, []).append((times[-1] - times[0]).total_seconds() / 3600)
    median = {kind: sorted(hours)[len(hours) // 2] for kind, hours in spans.items()}
    assert median["sextortion"] < 6 < 24 < median["grooming"]
