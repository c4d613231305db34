"""Progress bars: on stderr only when it is a terminal, off with --quiet, never in outputs."""

from __future__ import annotations

import io
import os
import pty
import subprocess
from pathlib import Path

import pytest

from pipeline.core import progress as progress_module
from pipeline.core.progress import QUIET_ENV, enabled, progress, set_quiet
from tests.conftest import BIN, REPO

SYNTHESIZE = ("--conversations", "5", "--seed", "3")


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def not_quiet(monkeypatch):
    monkeypatch.delenv(QUIET_ENV, raising=False)
    set_quiet(False)
    yield
    set_quiet(False)


def test_progress_yields_the_items_unchanged_and_lazily():
    drawn = []

    def items():
        for i in range(4):
            drawn.append(i)
            yield {"i": i}

    wrapped = progress(items(), total=4, desc="x", stream=FakeTerminal())
    assert drawn == []  # nothing is asked of the iterable before the first item
    assert list(wrapped) == [{"i": 0}, {"i": 1}, {"i": 2}, {"i": 3}]
    assert list(progress([], desc="empty", stream=FakeTerminal())) == []


def test_a_bar_is_drawn_on_a_terminal():
    terminal = FakeTerminal()
    assert list(progress(range(7), desc="counting", stream=terminal)) == list(range(7))
    drawn = terminal.getvalue()
    assert "counting" in drawn and "7/7" in drawn


def test_nothing_is_drawn_on_a_stream_that_is_not_a_terminal():
    stream = io.StringIO()
    assert not enabled(stream)
    assert list(progress(range(7), desc="counting", stream=stream)) == list(range(7))
    assert stream.getvalue() == ""


def test_nothing_reaches_a_captured_stderr_or_stdout(capsys):
    # pytest's capture, like a pipe or a file, is not a terminal
    assert list(progress(range(50), total=50, desc="counting")) == list(range(50))
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_quiet_switch_and_environment_turn_bars_off(monkeypatch):
    assert enabled(FakeTerminal())
    set_quiet(True)
    terminal = FakeTerminal()
    assert not enabled(terminal)
    assert list(progress(range(3), desc="counting", stream=terminal)) == [0, 1, 2]
    assert terminal.getvalue() == ""
    set_quiet(False)
    assert enabled(FakeTerminal())
    monkeypatch.setenv(QUIET_ENV, "1")
    assert not enabled(FakeTerminal())
    monkeypatch.setenv(QUIET_ENV, "0")
    assert enabled(FakeTerminal())


def test_quiet_option_of_the_cli_sets_and_resets_the_switch(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runner = CliRunner()
    result = runner.invoke(app, ["--quiet", "schema", "check"])
    assert result.exit_code == 0, result.output
    assert progress_module.is_quiet()
    result = runner.invoke(app, ["schema", "check"])
    assert result.exit_code == 0, result.output
    assert not progress_module.is_quiet()


def _synthesize_on_a_terminal(out: Path, *options: str) -> tuple[str, str]:
    """``grooming-risk [options] synthesize`` with stderr on a pseudo-terminal: (stdout, terminal)."""
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != QUIET_ENV}
    try:
        process = subprocess.Popen(
            [str(BIN / "grooming-risk"), *options, "synthesize", *SYNTHESIZE, "--out", str(out)],
            stdout=subprocess.PIPE,
            stderr=slave,
            stdin=subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
    finally:
        os.close(slave)
    terminal = b""
    while True:  # read as it comes, so a full terminal buffer never blocks the command
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the command closed the terminal
            break
        if not chunk:
            break
        terminal += chunk
    os.close(master)
    stdout = process.stdout.read()
    process.stdout.close()
    assert process.wait(timeout=120) == 0, terminal.decode(errors="replace")
    return stdout.decode(), terminal.decode(errors="replace")


def test_synthesize_draws_on_the_terminal_and_writes_the_same_corpus(tmp_path):
    shown, quiet, piped = tmp_path / "shown.jsonl", tmp_path / "quiet.jsonl", tmp_path / "piped.jsonl"

    stdout, terminal = _synthesize_on_a_terminal(shown)
    assert "synthesize" in terminal and "5/5" in terminal  # the bar, on stderr
    assert stdout.strip() == f"wrote {shown} (5 conversations, seed 3)"  # stdout: the summary only

    stdout, terminal = _synthesize_on_a_terminal(quiet, "--quiet")
    assert terminal == ""
    assert stdout.strip() == f"wrote {quiet} (5 conversations, seed 3)"

    env = {k: v for k, v in os.environ.items() if k != QUIET_ENV}
    result = subprocess.run(
        [str(BIN / "grooming-risk"), "synthesize", *SYNTHESIZE, "--out", str(piped)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # a pipe is not a terminal: no bar

    assert shown.read_bytes() == quiet.read_bytes() == piped.read_bytes()
    assert len(shown.read_bytes().splitlines()) == 5
