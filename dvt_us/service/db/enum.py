"""The states a job moves through and the kinds of event the database writes itself."""

from __future__ import annotations

from enum import StrEnum


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
        try:
            return cls(value.strip().lower())
        except ValueError:
            valid = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown job state {value!r}; valid: {valid}") from None


class EventKind(StrEnum):
    """The kinds of event :class:`~dvt_us.service.db.Database` writes itself; other parts add their own kinds."""

    INSTANCE_RECEIVED = "instance.received"
    JOB_QUEUED = "job.queued"
    JOB_CLAIMED = "job.claimed"
    JOB_DONE = "job.done"
    JOB_RETRY = "job.retry"
    JOB_FAILED = "job.failed"
    JOB_REQUEUED = "job.requeued"
