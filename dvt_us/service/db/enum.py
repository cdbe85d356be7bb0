"""The states a job moves through and the kinds of event the database writes itself."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

_E = TypeVar("_E", bound=StrEnum)


def parse_enum(kind: type[_E], value: str, what: str) -> _E:
    """The member of ``kind`` named by ``value`` (case and spaces ignored), or a ValueError listing the valid ones."""
    try:
        return kind(value.strip().lower())
    except ValueError:
        valid = ", ".join(m.value for m in kind)
        raise ValueError(f"unknown {what} {value!r}; valid: {valid}") from None


class JobState(StrEnum):
    """Where a job stands; stored in ``jobs.state`` as the lower-case value.

    ``queued`` → ``running`` (claimed by a worker) → ``done`` or ``failed``; a running job whose worker failed
    with a retry, or whose heartbeat went stale, goes back to ``queued`` while attempts remain.
    """

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @classmethod
    def parse(cls, value: str) -> JobState:
        """The state named by ``value`` (e.g. from a query string), or a ValueError that lists the valid ones."""
        return parse_enum(cls, value, "job state")


class EventKind(StrEnum):
    """The kinds of event :class:`~dvt_us.service.db.Database` writes itself; other parts add their own kinds."""

    INSTANCE_RECEIVED = "instance.received"
    JOB_QUEUED = "job.queued"
    JOB_CLAIMED = "job.claimed"
    JOB_DONE = "job.done"
    JOB_RETRY = "job.retry"
    JOB_FAILED = "job.failed"
    JOB_REQUEUED = "job.requeued"
