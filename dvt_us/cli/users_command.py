"""``dvt-us users add|passwd|disable|enable|list``: reader-workspace accounts, from the service's own machine.

The command line acts as the system (audited as such); the password is asked twice on the terminal, or read
from the first line of standard input with ``--password-stdin`` (scripts).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from dvt_us.cli.service_args import add_config_arguments, service_config

ROLES = ("reader", "adjudicator", "admin")


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``users``."""
    add_config_arguments(parser, log_level="WARNING")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = actions.add_parser("add", help="create an account")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="printed name, as signatures show it (e.g. 'Dr Ann Reader')")
    add.add_argument("--role", required=True, choices=ROLES)
    passwd = actions.add_parser("passwd", help="set a password (revokes the user's sessions)")
    for action in (add, passwd):
        action.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd.add_argument("username")
    for name, text in (("disable", "disable an account (revokes its sessions)"), ("enable", "enable it again")):
        actions.add_parser(name, help=text).add_argument("username")
    actions.add_parser("list", help="every account")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise ValueError("the two passwords differ")
    return first


def run(args: argparse.Namespace) -> int:
    """Carry out the action; 0 done, 1 refused (taken username, weak password, unknown user), 2 bad config."""
    config = service_config(args, "users")
    if config is None:
        return 2
    from dvt_us.service.db import Database  # noqa: PLC0415 (the service extra)
    from dvt_us.service.review import accounts  # noqa: PLC0415
    from dvt_us.service.review.errors import ReviewError  # noqa: PLC0415
    from dvt_us.service.review.store import ReviewStore  # noqa: PLC0415

    now = datetime.now(UTC)
    config.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    with Database(config.resolved_database_url, max_attempts=config.jobs.max_attempts) as db:
        db.upgrade()
        store = ReviewStore(db, config.review)
        try:
            if args.action == "add":
                user = accounts.add_user(store, None, args.username, args.name, args.role,
                                         password=_password(args), now=now)
                print(f"added {user.username} ({user.role.value}, {user.printed_name})")
            elif args.action == "passwd":
                accounts.set_password(store, None, args.username, _password(args), now)
                print(f"password of {args.username} set; its sessions are revoked")
            elif args.action in ("disable", "enable"):
                user = accounts.set_disabled(store, None, args.username, args.action == "disable", now)
                print(f"{user.username} {'disabled' if user.disabled else 'enabled'}")
            else:
                for user in accounts.users(store, None):
                    state = "disabled" if user.disabled else "active"
                    print(f"{user.username}\t{user.role.value}\t{state}\t{user.printed_name}")
        except (ReviewError, ValueError) as exc:
            print(f"dvt-us users {args.action}: {exc}", file=sys.stderr)
            return 1
    return 0
