"""Write the writers' briefs for the authored corpus (data/authored/briefs.jsonl).

One brief per conversation to write: language, kind, platform, child age, persona, child
reaction, pacing and target length, dealt from a seeded RNG so the variety asked for in
issue 12 is planned (and checkable) before anything is written. Each writer writes in one
language only, natively; the split is by writer (see data/authored/README.md).

    python tools/authoring/make_briefs.py --out data/authored/briefs.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

SEED = 20261130

# writer -> (language, split, kind counts: grooming, sextortion, peer, adult, hard negative)
WRITERS = {
    "w01": ("en", "train", (23, 12, 12, 10, 19)),
    "w02": ("en", "train", (23, 12, 12, 10, 19)),
    "w03": ("en", "valid", (14, 7, 8, 7, 12)),
    "w04": ("en", "test", (18, 9, 10, 8, 15)),
    "w05": ("en", "test", (18, 9, 10, 8, 15)),
    "w06": ("fr", "train", (23, 12, 12, 10, 19)),
    "w07": ("fr", "train", (23, 12, 12, 10, 19)),
    "w08": ("fr", "valid", (14, 7, 8, 7, 12)),
    "w09": ("fr", "test", (18, 9, 10, 8, 15)),
    "w10": ("fr", "test", (18, 9, 10, 8, 15)),
    # Added after annotation: the annotators moved 21 of the 104 peer conversations to hard
    # negatives, leaving 95 peer conversations by the gold kind; two more writers add everyday
    # peer chat (training split).
    "w11": ("en", "train", (0, 0, 8, 0, 0)),
    "w12": ("fr", "train", (0, 0, 8, 0, 0)),
}
KINDS = ("grooming", "sextortion", "benign_peer", "benign_adult", "benign_hard_negative")
PLATFORMS = ("game_chat", "community_server", "social_dm", "sms")
REACTIONS = ("chatty", "wary", "resisting", "asks_for_help", "goes_quiet")
GROOMING_PERSONAS = ("older_friend", "fake_peer", "gamer_currency", "model_scout", "known_adult")
SEXTORTION_PATHS = (
    ("sudden", "sextortion_scammer"),
    ("sudden", "fake_peer"),
    ("after_grooming", "older_friend"),
    ("after_grooming", "fake_peer"),
    ("after_grooming", "gamer_currency"),
    ("after_grooming", "model_scout"),
    ("sudden", "known_adult"),
)
SEXTORTION_DEMANDS = ("money", "gift_cards", "more_images", "game_currency", "money_then_more")
PEER_PERSONAS = (
    "school_friend",
    "classmate",
    "teammate",
    "online_game_friend",
    "cousin_same_age",
    "sibling",
    "teen_couple_same_age",
    "group_chat_friends",
)
ADULT_PERSONAS = (
    "parent",
    "grandparent",
    "aunt_or_uncle",
    "coach",
    "teacher",
    "tutor",
    "youth_worker",
    "music_teacher",
    "older_sibling_adult",
)
# Each label's innocent look-alike (issue 12's examples first).
HARD_NEGATIVES = (
    ("secrecy", "secrets between friends: a surprise party, a crush told in confidence"),
    ("gifts", "gifts or game currency between peers, a birthday present"),
    ("risk_assessment", "a parent asking whether the child is home alone, or who is home"),
    ("meeting_request", "a coach or parent arranging a pick-up or a meeting place"),
    ("media_request", "friends sharing photos of homework, an outfit, a pet or a drawing"),
    ("sexualisation", "romance or a crush between teenagers of the same age"),
    ("secrecy", "'don't tell anyone I failed' or another embarrassment kept between friends"),
    ("isolation", "friends falling out, 'they're not real friends', venting about parents"),
    ("trust_building", "an ordinary kind, supportive friend or relative"),
    ("deception", "a prank, a role-play character, or a friend using a new account"),
    ("sextortion", "a friend jokingly threatening to post an embarrassing photo, a game bet"),
    ("media_request", "a teacher or club asking for a video of a performance for parents"),
    ("meeting_request", "friends planning to meet at the cinema or park"),
    ("gifts", "a parent or relative sending money for lunch or a top-up, openly"),
)
GROOMING_PACING = ("slow_over_days", "slow_over_weeks", "fast_one_evening", "two_or_three_days")


def target_length(rng: random.Random, kind: str) -> int:
    """Messages to aim for: most conversations 11-35, a few very short and a few long."""
    bucket = rng.choices(["6-10", "11-20", "21-35", "36-60", "61-120"], [12, 38, 33, 12, 5])[0]
    low, high = map(int, bucket.split("-"))
    if kind == "sextortion" and low > 60:  # sextortion is short and sudden
        low, high = 36, 60
    return rng.randint(low, high)


def make_briefs(seed: int = SEED) -> list[dict]:
    briefs: list[dict] = []
    for writer, (language, _split, counts) in WRITERS.items():
        rng = random.Random(f"{seed}:{writer}")
        number = 0
        for kind, count in zip(KINDS, counts, strict=True):
            for i in range(count):
                number += 1
                brief = {
                    "brief_id": f"{writer}-{number:03d}",
                    "writer": writer,
                    "language": language,
                    "kind": kind,
                    "platform": PLATFORMS[(i + rng.randrange(4)) % 4],
                    "child_age": rng.randint(9, 17),
                    "length": target_length(rng, kind),
                }
                if kind == "grooming":
                    brief["persona"] = GROOMING_PERSONAS[i % len(GROOMING_PERSONAS)]
                    brief["pacing"] = rng.choice(GROOMING_PACING)
                    brief["child_reaction"] = REACTIONS[(i + rng.randrange(5)) % 5]
                    brief["child_age"] = rng.randint(10, 16)
                elif kind == "sextortion":
                    pacing, persona = SEXTORTION_PATHS[(i + rng.randrange(7)) % 7]
                    brief.update(
                        persona=persona,
                        pacing=pacing,
                        demand=rng.choice(SEXTORTION_DEMANDS),
                        child_reaction=REACTIONS[(i + rng.randrange(5)) % 5],
                        child_age=rng.randint(12, 17),
                    )
                elif kind == "benign_peer":
                    brief["persona"] = PEER_PERSONAS[(i + rng.randrange(8)) % 8]
                    brief["pacing"] = rng.choice(("one_sitting", "over_a_day", "over_days"))
                elif kind == "benign_adult":
                    brief["persona"] = ADULT_PERSONAS[(i + rng.randrange(9)) % 9]
                    brief["pacing"] = rng.choice(("one_sitting", "over_a_day", "over_days"))
                else:
                    lookalike, theme = HARD_NEGATIVES[(i + rng.randrange(14)) % 14]
                    brief.update(
                        persona="peer_or_adult_as_fits",
                        lookalike=lookalike,
                        theme=theme,
                        pacing=rng.choice(("one_sitting", "over_a_day")),
                    )
                briefs.append(brief)
    return briefs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    briefs = make_briefs(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(b, ensure_ascii=False) + "\n" for b in briefs))
    print(f"{len(briefs)} briefs -> {args.out}")


if __name__ == "__main__":
    main()
