"""``dvt-us reprocess --config CONFIG [--scheduler tcp://...] [--study UID ...]``: run stored studies again.

Queues every stored study (or the ones named) for the current model version and runs the jobs to the end,
on local processes or a Dask cluster; exit 0 when every study's job is done, 1 when some failed, 2 for a
usage error (bad config, unknown study).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dvt_us.cli.main import main as dvt_us_main
from dvt_us.cli.progress import progress_bars
from dvt_us.cli.service_args import add_config_arguments, service_config


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``reprocess``."""
    add_config_arguments(parser, log_level="WARNING")
    parser.add_argument("--study", action="append", default=[], metavar="UID",
                        help="Study Instance UID to process (repeat for more; default: every stored study)")


def run(args: argparse.Namespace) -> int:
    """Reprocess and print a summary; 0 all done, 1 some failed, 2 usage error."""
    config = service_config(args, "reprocess")
    if config is None:
        return 2
    try:  # the service's dependencies (pynetdicom, SQLAlchemy, Dask) are the optional `service` extra
        from dvt_us.service.db import UnknownStudyError  # noqa: PLC0415
        from dvt_us.service.reprocess import reprocess  # noqa: PLC0415
    except ImportError as exc:
        print(f"dvt-us reprocess: {exc.name} is missing: pip install 'dvt-us[service]'", file=sys.stderr)
        return 2
    try:
        with progress_bars() as update:
            summary = reprocess(config, args.study, progress=update)
    except UnknownStudyError as exc:
        print(f"dvt-us reprocess: {exc}", file=sys.stderr)
        return 2
    print(f"reprocess with {summary.models_key}: "
          f"{len(summary.done)} done, {len(summary.failed)} failed, {len(summary.already_processed)} already processed"
          f" ({len(summary.queued)} queued now)")
    for study, error in summary.failed:
        print(f"  failed {study}: {error}")
    return 0 if summary.ok else 1


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m dvt_us.cli.reprocess_command``: the same as ``dvt-us reprocess``."""
    return dvt_us_main(["reprocess", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
