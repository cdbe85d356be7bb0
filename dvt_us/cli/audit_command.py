"""``dvt-us audit verify-csv|verify-jsonl FILE``: re-check an exported audit trail on its own, without the service.

Every entry's hash is recomputed from the file and every link of the chain checked, so a sponsor can check
an export offline. Exit 0 when the chain is intact, 1 when an entry does not check out, 2 when the file is not
an audit trail export (an empty one included).

The chain proves the file consistent, not that it is the trail: whoever edits an entry can recompute every
later hash. So the last line names the head (last seq and hash), to compare with the live chain's (the audit
page's Verify) or a copy kept elsewhere.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``audit``."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("verify-csv", "re-check a CSV export (the audit page's 'Download CSV')"),
                       ("verify-jsonl", "re-check a JSON Lines export (the audit page's 'Download JSON Lines')")):
        actions.add_parser(name, help=text, description=text).add_argument("file", type=Path)


def run(args: argparse.Namespace) -> int:
    """Verify ``args.file``; print one line; 0 intact, 1 broken, 2 not an export."""
    from dvt_us.service.review import audit  # noqa: PLC0415 (the service extra)

    try:
        with args.file.open(encoding="utf-8", newline="") as exported:
            result = (audit.verify_csv(csv.reader(exported)) if args.action == "verify-csv"
                      else audit.verify_jsonl(exported))
    except (OSError, ValueError, csv.Error) as exc:  # UnicodeDecodeError is a ValueError
        print(f"dvt-us audit {args.action}: {args.file}: {exc}", file=sys.stderr)
        return 2
    if not result.intact:
        print(f"dvt-us audit {args.action}: {args.file}: broken: {result.problem}", file=sys.stderr)
        return 1
    if result.entries == 0:
        print(f"dvt-us audit {args.action}: {args.file}: no entries: not an export of an audit trail",
              file=sys.stderr)
        return 2
    print(f"dvt-us audit {args.action}: {args.file}: intact, {result.entries} entries; head: seq "
          f"{result.entries}, hash {result.head_hash} (compare with the live chain's)")
    return 0
