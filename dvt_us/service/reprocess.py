"""``dvt-us reprocess``: queue stored studies for the current model version and run their jobs to completion.

Jobs are unique per (study, models key), so after a model update every study gets a new job, and with
unchanged models nothing new is queued ("already processed"). The jobs run in a
:class:`~dvt_us.service.jobs.JobRunner`, on local processes or a Dask cluster, exactly as in the service;
results go to ``DATA/results/<models key>/``, next to those of earlier versions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime

from dvt_us.service.app import make_executor
from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database, Job, JobState, UnknownStudyError
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.jobs import Clock, JobRunner, load_models, models_key, utc_now
from dvt_us.service.recovery import host_worker_prefix, reconcile_instances, recover_jobs, worker_name

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""``update(stage, done, total)``, as :func:`dvt_us.cli.progress.progress_bars` yields it."""

_TERMINAL = (JobState.DONE, JobState.FAILED)


@dataclass(frozen=True)
class ReprocessSummary:
    """What one ``dvt-us reprocess`` did, per Study Instance UID, for one models key."""

    models_key: str
    done: tuple[str, ...]
    """Studies whose job finished in this run (queued now, or queued or running before and waited for)."""
    failed: tuple[tuple[str, str], ...]
    """``(study, error)`` of the jobs that failed for good, in this run or earlier (a failed job is kept)."""
    already_processed: tuple[str, ...]
    """Studies that had a done job for this models key before the run: nothing was queued for them."""
    queued: tuple[str, ...]
    """Studies for which this run queued a new job."""

    @property
    def ok(self) -> bool:
        """True when no study's job failed."""
        return not self.failed


class _QueueOnlyDatabase(Database):
    """The database as the reprocess runner sees it: it never finds complete studies to queue on its own.

    ``JobRunner.tick`` queues every complete study for its models key; here that would ignore ``--study``.
    Reprocess queues its studies itself and the runner only claims, heartbeats and records.
    """

    def complete_studies(self, idle_s: float, now: datetime, models_key: str) -> list[str]:
        """No study: reprocess queued what it runs (see the class docstring)."""
        del idle_s, now, models_key
        return []


def _queue(db: Database, study_uids: Sequence[str], key: str, now: datetime) -> tuple[list[str], dict[str, Job]]:
    """Queue a job per study; the studies queued now, and every study's job for ``key`` (new or older)."""
    queued = [uid for uid in study_uids if db.enqueue(uid, key, now) is not None]
    jobs = {job.study_instance_uid: job for job in db.jobs() if job.models_key == key}
    return queued, {uid: jobs[uid] for uid in study_uids}


def _targets(db: Database, studies: Sequence[str]) -> list[str]:
    """The studies asked for (in order, without repeats), or every stored study, oldest first."""
    if studies:
        known = {s.study_instance_uid for s in db.studies()}
        unknown = [uid for uid in studies if uid not in known]
        if unknown:
            raise UnknownStudyError(f"no instance recorded for study {', '.join(unknown)}")
        return list(dict.fromkeys(studies))
    return [s.study_instance_uid for s in reversed(db.studies())]


def _drain(runner: JobRunner, pending: dict[int, str], progress: Progress | None) -> dict[int, Job]:
    """Tick the runner until every pending job (id: study) is done or failed; the jobs as they ended.

    ``pending`` is emptied. Then the runner claims nothing more and records what it still runs.
    """
    db, poll_s, total = runner.db, runner.config.jobs.poll_s, len(pending)
    ended: dict[int, Job] = {}
    while True:
        runner.tick()
        for job_id in list(pending):
            job = db.job(job_id)
            if job is not None and job.state in _TERMINAL:
                ended[job_id] = job
                del pending[job_id]
        if progress is not None:
            progress("studies", total - len(pending), total)
        if not pending:
            break
        time.sleep(poll_s)
    runner.capacity = 0  # claim nothing more; record what this runner still has (another key's leftovers)
    while runner.running:
        time.sleep(poll_s)
        runner.tick()
    return ended


def reprocess(config: ServiceConfig, studies: Sequence[str] = (), *, progress: Progress | None = None,
              clock: Clock = utc_now) -> ReprocessSummary:
    """Queue the studies (default: every stored study) for the current models and run their jobs to the end.

    Parameters
    ----------
    config
        The service configuration: database, data folder, models folder, ``jobs.workers`` or
        ``jobs.scheduler`` (Dask), ``jobs.max_attempts``, and the destinations results are sent to.
    studies
        Study Instance UIDs to process; empty means every study in the database.
    progress
        Called with ``("studies", finished, total)`` after each scheduling step.
    clock
        The current time (timezone-aware UTC).

    Returns
    -------
    ReprocessSummary
        Done, failed and already processed studies.

    Raises
    ------
    UnknownStudyError
        A study asked for has no instance recorded (nothing is queued then).

    Notes
    -----
    Before queueing, instances on disk but unknown to the database are recorded and the running jobs of
    dead processes on this host are queued again (:mod:`dvt_us.service.recovery`), as at service start-up.
    Jobs of these studies that are already queued or running (e.g. in a running ``dvt-us serve``) are
    waited for, whoever runs them. The runner claims the oldest queued job, as the service does, so a job
    queued for another models key can be run here too.
    """
    with ExitStack() as stack:
        db = stack.enter_context(_QueueOnlyDatabase(config.resolved_database_url,
                                                    max_attempts=config.jobs.max_attempts))
        db.upgrade()
        reconcile_instances(InstanceStore(config.data_dir), db, clock())
        recover_jobs(db, host_worker_prefix(), clock())
        key = models_key(load_models(config.models_dir))
        targets = _targets(db, studies)
        queued, jobs = _queue(db, targets, key, clock())
        already = tuple(uid for uid in targets if uid not in queued and jobs[uid].state is JobState.DONE)
        earlier_failed = {job.id: job for uid, job in jobs.items() if uid not in queued
                          and job.state is JobState.FAILED}
        pending = {job.id: uid for uid, job in jobs.items() if job.state not in _TERMINAL}
        log.info("reprocess %s: %d studies, %d queued now, %d already processed, %d waited for", key, len(targets),
                 len(queued), len(already), len(pending) - len(queued))
        ended: dict[int, Job] = {}
        if pending:
            executor, capacity = make_executor(config, stack)
            runner = JobRunner(config, db, executor, worker=worker_name(), key=key, capacity=capacity, clock=clock)
            ended = _drain(runner, pending, progress)
        ended |= earlier_failed
        done = tuple(uid for uid in targets if (j := ended.get(jobs[uid].id)) and j.state is JobState.DONE)
        failed = tuple((uid, j.error or "failed") for uid in targets
                       if (j := ended.get(jobs[uid].id)) and j.state is JobState.FAILED)
    return ReprocessSummary(models_key=key, done=done, failed=failed, already_processed=already,
                            queued=tuple(queued))
