"""The documented layout (docs/layout.md) matches the tree, and the layers import only downwards."""

from __future__ import annotations

import ast
import re

from tests.conftest import REPO

# Top layer first: a folder may import only from the folders after it (and from itself).
LAYERS = [
    "cli",
    "experiments",
    "engines",
    "reporting",
    "evaluation",
    "tracking",
    "annotate",
    "models",
    "data",
    "schema",
    "config",
    "core",
]


def _layout_block() -> str:
    text = (REPO / "docs" / "layout.md").read_text(encoding="utf-8")
    return text.split("```", 2)[1]


def test_the_layout_page_lists_every_package_folder_and_only_those():
    listed = set(re.findall(r"^  (\w+)/", _layout_block(), flags=re.M))
    actual = {p.name for p in (REPO / "pipeline").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert listed == actual, (
        f"docs/layout.md lists {sorted(listed - actual)} not in pipeline/; misses {sorted(actual - listed)}"
    )
    assert actual == set(LAYERS)


def test_the_layout_page_names_the_top_level_folders_that_exist():
    outputs = {"models", "metrics", "plots"}  # made by `make run` (DVC outputs, git-ignored): absent in a clone
    listed = set(re.findall(r"^(\w+)/", _layout_block(), flags=re.M)) - outputs
    for folder in listed:
        assert (REPO / folder).is_dir(), f"docs/layout.md names {folder}/, which does not exist"


def _imports(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "pipeline":
                names.update(f"pipeline.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_each_layer_imports_only_the_layers_below_it():
    rank = {name: i for i, name in enumerate(LAYERS)}
    upward = []
    for layer in LAYERS:
        for path in sorted((REPO / "pipeline" / layer).rglob("*.py")):
            for module in _imports(path):
                parts = module.split(".")
                if parts[0] != "pipeline" or len(parts) < 2 or parts[1] not in rank:
                    continue
                if rank[parts[1]] < rank[layer]:
                    upward.append(f"{path.relative_to(REPO)} imports {module}")
    assert not upward, "imports against the layering:\n" + "\n".join(upward)
