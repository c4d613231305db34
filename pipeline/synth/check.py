"""Check one language's grammar: ``python -m pipeline.synth.check en [fr] [--variety N]``.

``--variety N`` also lists the templates that can produce fewer than N distinct texts.
"""

from __future__ import annotations

import argparse
import sys

from pipeline.errors import DataError
from pipeline.synth.grammar import count_variants, load_grammar


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.synth.check")
    parser.add_argument("languages", nargs="*", default=["en", "fr"])
    parser.add_argument("--variety", type=int, default=0, help="list templates with fewer variants than this")
    args = parser.parse_args(argv)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
