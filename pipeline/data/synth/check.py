"""Check one language's grammar: ``python -m pipeline.data.synth.check en [fr] [--variety N]``.

``--variety N`` also lists the templates that can produce fewer than N distinct texts.
``--scripts`` checks the scenario scripts of the scripted generator instead
(``configs/synth/scripts/<lang>/``, or ``--scripts-dir DIR``/<lang>/).
"""

from __future__ import annotations

import argparse
import sys

from pipeline.core.errors import DataError
from pipeline.data.synth.grammar import count_variants, load_grammar


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.data.synth.check")
    parser.add_argument("languages", nargs="*", default=["en", "fr"])
    parser.add_argument("--variety", type=int, default=0, help="list templates with fewer variants than this")
    parser.add_argument("--scripts", action="store_true", help="check the scenario scripts, not the grammar")
    parser.add_argument("--scripts-dir", default=None, help="folder holding <lang>/<kind>.yaml scripts")
    args = parser.parse_args(argv)
    if args.scripts or args.scripts_dir:
        return check_scripts(args.languages, args.scripts_dir)
    status = 0
    for language in args.languages:
        try:
            grammar = load_grammar(language)
        except DataError as exc:
            print(exc.render(limit=200), file=sys.stderr)
            status = 1
            continue
        counts = ", ".join(f"{pool}={len(templates)}" for pool, templates in grammar.pools.items())
        print(f"{language}: ok: {len(grammar.slots)} slots; {counts}")
        if args.variety:
            for templates in grammar.pools.values():
                for template in templates:
                    variants = count_variants(template.parts, grammar.slots)
                    if variants < args.variety:
                        print(f"  low variety ({variants}): {template.id}: {template.text}")
    return status


def check_scripts(languages: list[str], folder: str | None = None) -> int:
    """Validate the five scripts of each language; print a summary or every problem."""
    from pipeline.data.synth.scripts import load_scripts

    status = 0
    for language in languages:
        try:
            scripts = load_scripts(language, folder)
        except DataError as exc:
            print(exc.render(limit=100_000), file=sys.stderr)
            print(f"{language}: {len(exc.problems)} problem(s) in the scripts", file=sys.stderr)
            status = 1
            continue
        counts = "; ".join(
            f"{kind}: {len(s.moves)} moves, {len(s.topics)} topics, {len(s.arc)} phases" for kind, s in scripts.items()
        )
        print(f"{language}: scripts ok: {counts}")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
