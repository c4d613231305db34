"""Helpers to point at the YAML line behind a validation error."""

from __future__ import annotations

from typing import Any

import yaml

Loc = tuple[str | int, ...]

# libyaml's parser when PyYAML was built with it (the wheels are): the same documents and marks,
# many times quicker than the pure-Python one on the synthesis scripts.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_with_nodes(text: str) -> tuple[Any, yaml.Node | None]:
    """The data in ``text`` (as ``yaml.safe_load``) and its node tree, for line numbers, in one
    parse. Raises ``yaml.YAMLError`` (with ``problem_mark``) on invalid YAML."""
    loader = _SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    return data, node


def format_loc(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def line_of(root: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest YAML node along ``loc`` (a pydantic error location)."""
    node = root
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            pair = next(((k, v) for k, v in node.value if getattr(k, "value", None) == part), None)
            if pair is None:
                break
            node, line = pair[1], pair[0].start_mark.line + 1  # the key's line reads best
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line
