"""The ``dvt-us`` entry point: every command registers, and a command loads only its own module."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from dvt_us.cli.main import _COMMANDS, build_parser, main


def test_every_command_registers_its_arguments() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name in _COMMANDS:
        own = [a for a in commands.choices[name]._actions if not isinstance(a, argparse._HelpAction)]
        assert own, f"{name} registered no arguments"


def test_a_command_imports_only_its_own_module() -> None:
    """``dvt-us health`` is the container's healthcheck: it must not load the analysis or report stacks."""
    probe = ("import contextlib, io, sys\n"
             "from dvt_us.cli.main import main\n"
             "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
             "    main(['health', '--help'])\n"
             "print(sorted(m for m in sys.modules if m.startswith('dvt_us.cli.') and m.endswith('_command')))\n"
             "print(any(m in sys.modules for m in ('onnxruntime', 'weasyprint', 'dvt_us.pipeline.analyze')))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    commands, heavy = done.stdout.splitlines()
    assert commands == "['dvt_us.cli.health_command']"
    assert heavy == "False"


def test_an_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["analyse"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'analyse'" in capsys.readouterr().err
