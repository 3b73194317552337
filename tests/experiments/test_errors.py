"""The CLI reports a UserError as one line and exit 2; anything else is a bug with a traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from configs.compose import ConfigError
from configs.errors import InputNotFoundError, OutputExistsError, UserError
from experiments import cli


def run_raising(monkeypatch, exc: BaseException) -> int:
    def handler(args: argparse.Namespace) -> int:
        raise exc

    parser = argparse.ArgumentParser(prog="vlmdata")
    parser.set_defaults(handler=handler)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    return cli.main([])


class StageError(UserError, ValueError):
    """What a stage declares: its own class, UserError first, the builtin base kept."""


@pytest.mark.parametrize(
    "exc",
    [
        UserError("params.budget: must be > 0"),
        ConfigError("params.budget: must be > 0"),
        StageError("params.budget: must be > 0"),
        InputNotFoundError("params.budget: must be > 0"),
        OutputExistsError("params.budget: must be > 0"),
    ],
    ids=lambda exc: type(exc).__name__,
)
def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys, exc):
    assert run_raising(monkeypatch, exc) == 2
    captured = capsys.readouterr()
    assert captured.err == "vlmdata: error: params.budget: must be > 0\n"
    assert captured.out == ""


def test_a_multi_line_message_and_its_notes_become_one_line(monkeypatch, capsys):
    exc = StageError("record 3:\n  turn 2 is empty")
    exc.add_note("pool.json")
    assert run_raising(monkeypatch, exc) == 2
    assert capsys.readouterr().err == "vlmdata: error: record 3:   turn 2 is empty (pool.json)\n"


@pytest.mark.parametrize(
    "exc",
    [ValueError("x"), KeyError("x"), FileNotFoundError("x"), FileExistsError("x"), OSError("x")],
    ids=lambda exc: type(exc).__name__,
)
def test_anything_else_is_a_bug_and_keeps_its_traceback(monkeypatch, capsys, exc):
    with pytest.raises(type(exc)):
        run_raising(monkeypatch, exc)
    assert capsys.readouterr().err == ""


def test_the_cli_catches_user_errors_without_loading_torch():
    code = (
        "import sys, experiments.cli; print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
