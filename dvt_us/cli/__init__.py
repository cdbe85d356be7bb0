"""The ``dvt-us`` command line: one sub-command per job, each in its own module."""

from dvt_us.cli.main import main

__all__ = ["main"]
