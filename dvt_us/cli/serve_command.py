"""``dvt-us serve --config configs/service/default.yaml``: the DICOM node and the job loop, until stopped."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from dvt_us.service.config import ServiceConfig, load_service_config

HELP = "Run the service: DICOM node (C-STORE SCP), durable job queue and workers (SQLite or PostgreSQL, Dask)."


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``serve``."""
    parser.add_argument("--config", type=Path, default=None, help="service YAML (default: embedded defaults)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler tcp://HOST:PORT (overrides the config)")
    parser.add_argument("--port", type=int, default=None, help="DICOM port (overrides the config)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def _config(args: argparse.Namespace) -> ServiceConfig:
    config = load_service_config(args.config) if args.config else ServiceConfig()
    if args.scheduler:
        config = config.model_copy(update={"jobs": config.jobs.model_copy(update={"scheduler": args.scheduler})})
    if args.port is not None:
        config = config.model_copy(update={"dicom": config.dicom.model_copy(update={"port": args.port})})
    return config


def run(args: argparse.Namespace) -> int:
    """Serve until SIGINT or SIGTERM; a bad config is a usage error (exit 2)."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = _config(args)
    except (ValidationError, ValueError) as exc:
        print(f"dvt-us serve: {args.config}: {exc}", file=sys.stderr)
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
