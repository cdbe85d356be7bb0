"""Entry point of ``dvt-us``: parse arguments, dispatch, and turn expected errors into clear messages."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from dvt_us import __version__
from dvt_us.cli import training_commands

_COMMANDS: dict[str, tuple[str, str]] = {  # name: (its module in dvt_us.cli, help)
    "analyze": ("analyze_command", "Analyse ultrasound studies (files, folders, zips): report.json, masks, HTML/PDF, "
                                   "DICOM SR and SEG per subject and visit."),
    "report": ("report_command", "Render the reports (HTML/PDF, DICOM SR, SEG, encapsulated PDF) of an analyze "
                                 "output folder again."),
    "inspect": ("inspect_command", "List the ultrasound instances found in files, folders and zips, with what "
                                   "dvt-us reads from them."),
    "phantom": ("phantom_command", "Generate a synthetic DVT trial (DICOM + truth) or a gallery of phantom images."),
    "score": ("score_command", "Score dvt-us analyze output against a phantom trial's truth (clip, segment and visit "
                               "level)."),
    "serve": ("serve_command", "Run the service: DICOM node (C-STORE SCP), durable job queue and workers (SQLite or "
                               "PostgreSQL, Dask)."),
    "reprocess": ("reprocess_command", "Queue the stored studies (or --study UIDs) for the current model version and "
                                       "run the jobs to completion (local processes or Dask); studies already "
                                       "processed by this version are not run again."),
    "health": ("health_command", "Check that the local service answers: HTTP API, database, DICOM node and job loop "
                                 "(exit 0 healthy, 1 not)."),
    "users": ("users_command", "Manage reader-workspace accounts (reader, adjudicator, admin): add, passwd, disable, "
                               "enable, list."),
    "audit": ("audit_command", "Re-check the hash chain of an exported audit trail (CSV or JSON Lines) offline "
                               "(exit 0 intact, 1 broken)."),
}
"""Each command's module is imported only when that command runs, so that ``dvt-us health`` (the container's
healthcheck) or ``dvt-us --help`` does not load the analysis, report and service stacks."""


def _module(name: str) -> ModuleType:
    return importlib.import_module(f"dvt_us.cli.{_COMMANDS[name][0]}")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser with every sub-command.

    Arguments are registered for ``command`` only (importing its module), or for all when it is None.
    """
    parser = argparse.ArgumentParser(
        prog="dvt-us",
        description="Duplex-ultrasound DVT analysis for clinical-trial core labs.",
    )
    parser.add_argument("--version", action="version", version=f"dvt-us {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, text) in _COMMANDS.items():
        sub = commands.add_parser(name, help=text, description=text)
        if command is None or name == command:
            _module(name).register(sub)
    for name, text in training_commands.HELP.items():
        training_commands.register(name, commands.add_parser(name, help=text, description=text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dvt-us``; returns the process exit status (0 ok, 1 problems found, 2 usage error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), "")  # "" (no command): register none
    args = build_parser(command).parse_args(argv)
    try:
        if args.command in training_commands.HELP:
            return training_commands.run(args.command, args)
        return int(_module(args.command).run(args))
    except FileNotFoundError as exc:
        print(f"dvt-us {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dvt-us {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
