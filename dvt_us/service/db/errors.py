"""What the database refuses, as exception types the HTTP API and the workers can map in one place."""

from __future__ import annotations


class JobNotRunningError(RuntimeError):
    """The job is not running (or not under the given worker): it was requeued, finished or never claimed."""


class UnknownStudyError(LookupError):
    """No instance of this study has been recorded."""
