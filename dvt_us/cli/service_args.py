"""What the service commands (``serve``, ``reprocess``) share: their config arguments and how they are read."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from pydantic import ValidationError

from dvt_us.service.config import ServiceConfig, load_service_config

CONFIG_ENV = "DVT_US_CONFIG"
"""The service config file used when ``--config`` is not given (the container image sets it)."""


def add_config_arguments(parser: argparse.ArgumentParser, log_level: str) -> None:
    """``--config``, ``--scheduler`` and ``--log-level``."""
    default = os.environ.get(CONFIG_ENV) or None
    parser.add_argument("--config", type=Path, default=Path(default) if default else None,
                        help=f"service YAML (default: ${CONFIG_ENV}, else the embedded defaults)")
    parser.add_argument("--scheduler", default=None, help="Dask scheduler tcp://HOST:PORT (overrides the config)")
    parser.add_argument("--log-level", default=log_level, choices=["DEBUG", "INFO", "WARNING", "ERROR"])


def service_config(args: argparse.Namespace, command: str) -> ServiceConfig | None:
    """The config with the command line's overrides, logging set up; ``None`` (reason on stderr) when invalid."""
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = load_service_config(args.config) if args.config else ServiceConfig()
    except (ValidationError, ValueError) as exc:
        print(f"dvt-us {command}: {args.config}: {exc}", file=sys.stderr)
        return None
    if args.scheduler:
        config = config.model_copy(update={"jobs": config.jobs.model_copy(update={"scheduler": args.scheduler})})
    if getattr(args, "port", None) is not None:
        config = config.model_copy(update={"dicom": config.dicom.model_copy(update={"port": args.port})})
    return config
