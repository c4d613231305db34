"""The documentation: a short README whose links resolve, and a site that builds strictly."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from tests.conftest import BIN, REPO

README_MAX_LINES = 200
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


def _build(config_dir, site_dir) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(BIN / "mkdocs"),
            "build",
            "--strict",
            "--config-file",
            str(config_dir / "mkdocs.yml"),
            "--site-dir",
            str(site_dir),
        ],
        capture_output=True,
        text=True,
        env=ENV,
    )


def test_the_site_builds_strictly_with_every_page_and_the_codebook(tmp_path):
    result = _build(REPO, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    pages = sorted(p.stem for p in (REPO / "docs").glob("*.md"))
    for page in pages:
        built = tmp_path / "site" / ("index.html" if page == "index" else f"{page}/index.html")
        assert built.exists(), page
    assert "Labelling in Label Studio" in (tmp_path / "site" / "codebook" / "index.html").read_text(encoding="utf-8")


def test_a_broken_link_fails_the_build(tmp_path):
    """--strict is what makes the build a check: a link to a page that does not exist fails it."""
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(REPO / "docs", tmp_path / "docs")
    page = tmp_path / "docs" / "format.md"
    page.write_text(page.read_text(encoding="utf-8") + "\nSee [the old page](no-such-page.md).\n", encoding="utf-8")
    result = _build(tmp_path, tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-page.md" in result.stderr


def test_the_readme_is_short_and_its_links_resolve():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert local, "the README links to the documentation"
    missing = [t for t in local if not (REPO / t).exists()]
    assert not missing
