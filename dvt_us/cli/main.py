"""Entry point of ``dvt-us``: parse arguments, dispatch, and turn expected errors into clear messages."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dvt_us import __version__
from dvt_us.cli import (
    analyze_command,
    audit_command,
    health_command,
    inspect_command,
    phantom_command,
    report_command,
    reprocess_command,
    score_command,
    serve_command,
    training_commands,
    users_command,
)

_COMMANDS = {"analyze": analyze_command, "report": report_command, "inspect": inspect_command,
             "phantom": phantom_command, "score": score_command, "serve": serve_command,
             "reprocess": reprocess_command, "health": health_command,
             "users": users_command, "audit": audit_command}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="dvt-us",
        description="Duplex-ultrasound DVT analysis for clinical-trial core labs.",
    )
    parser.add_argument("--version", action="version", version=f"dvt-us {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in _COMMANDS.items():
        module.register(commands.add_parser(name, help=module.HELP, description=module.HELP))
    for name, text in training_commands.HELP.items():
        training_commands.register(name, commands.add_parser(name, help=text, description=text))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dvt-us``; returns the process exit status (0 ok, 1 problems found, 2 usage error)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command in training_commands.HELP:
            return training_commands.run(args.command, args)
        return int(_COMMANDS[args.command].run(args))
    except FileNotFoundError as exc:
        print(f"dvt-us {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dvt-us {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
