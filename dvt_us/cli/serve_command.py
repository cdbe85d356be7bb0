"""``dvt-us serve --config configs/service/default.yaml``: the DICOM node and the job loop, until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from types import FrameType

from dvt_us.cli.service_args import add_config_arguments, service_config


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``serve``."""
    add_config_arguments(parser, log_level="INFO")
    parser.add_argument("--port", type=int, default=None, help="DICOM port (overrides the config)")


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; a bad config is a usage error (exit 2)."""
    config = service_config(args, "serve")
    if config is None:
        return 2
    try:  # the service's dependencies (pynetdicom, SQLAlchemy, Dask) are the optional `service` extra
        from dvt_us.service.app import Service  # noqa: PLC0415
    except ImportError as exc:
        print(f"dvt-us serve: {exc.name} is missing: pip install 'dvt-us[service]'", file=sys.stderr)
        return 2
    stop = threading.Event()

    def on_signal(number: int, _frame: FrameType | None) -> None:
        logging.getLogger(__name__).info("signal %d: stopping", number)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        service = Service(config)
        service.start()
    except (ValueError, OSError) as exc:  # no API token, a port in use, an unwritable data folder
        print(f"dvt-us serve: {exc}", file=sys.stderr)
        return 2
    try:
        stop.wait()
    finally:
        service.stop()
    return 0
