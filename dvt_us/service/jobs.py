"""Jobs: a complete study is queued once per model version, claimed, analysed by a worker, and its results sent.

The database is the source of truth (:mod:`dvt_us.service.db`). :class:`JobRunner` is one scheduling loop:
each :meth:`~JobRunner.tick` requeues jobs whose worker died, queues the studies that have been idle for
``study_idle_s``, claims as many jobs as it has workers, heartbeats the running ones and records the
finished ones. The analysis itself, :func:`run_study`, is a plain function of picklable inputs, so the same
code runs in a local process pool or on a Dask distributed cluster (``Client.get_executor()``).
All studies analysed with one model version share one results folder, so that a later visit is compared
with its subject's baseline analysed by an earlier job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry
from dvt_us.pipeline.analyze import AnalyzeOptions, analyze, visit_dir
from dvt_us.pipeline.clip_analysis import ModelSet
from dvt_us.pipeline.trial_config import DEFAULT_TRIAL, load_trial_config
from dvt_us.report.visit_outputs import PDF_DICOM_FILE, SEG_DIR, SR_FILE
from dvt_us.service.config import ServiceConfig
from dvt_us.service.db import Database, JobNotRunningError
from dvt_us.service.result_sender import send_results
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import register_report

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def models_key(models: ModelSet) -> str:
    """The model version a study is processed with once: ``vein-seg@0.1.0+compressibility@0.1.0``."""
    return "+".join(f"{m.name}@{m.version}" for m in (models.segmentation, models.compressibility))


def load_models(models_dir: Path | None) -> ModelSet:
    """The segmentation and compressibility models of a models folder (default: the shipped ones)."""
    registry = ModelRegistry(models_dir or DEFAULT_MODELS_DIR)
    return ModelSet(registry.get("vein-seg"), registry.get("compressibility"))


@dataclass(frozen=True)
class StudyWork:
    """Everything a worker needs to analyse one study (picklable: it travels to a process or a Dask worker)."""

    study_instance_uid: str
    inputs: tuple[Path, ...]
    out_dir: Path
    models_dir: Path | None
    trial_config: Path | None


@dataclass(frozen=True)
class StudyResult:
    """What a worker wrote: ``(subject, visit, folder)`` per visit report, and the DICOM instances to send."""

    reports: tuple[tuple[str, str, Path], ...]
    dicom_outputs: tuple[Path, ...]


def run_study(work: StudyWork) -> StudyResult:
    """Analyse one study (one process, one job) into the shared results folder; raises on failure."""
    trial = load_trial_config(work.trial_config) if work.trial_config else DEFAULT_TRIAL
    findings = analyze(work.inputs, AnalyzeOptions(work.out_dir, load_models(work.models_dir), trial, jobs=1))
    reports = tuple((f.subject, f.visit, visit_dir(work.out_dir, f.subject, f.visit)) for f in findings)
    dicom: list[Path] = []
    for _, _, folder in reports:
        dicom += [p for p in (folder / SR_FILE, folder / PDF_DICOM_FILE) if p.is_file()]
        dicom += sorted((folder / SEG_DIR).glob("*.dcm"))
    return StudyResult(reports, tuple(dicom))


class JobRunner:
    """One scheduling loop over the job queue; ``executor`` runs :func:`run_study` (processes or Dask)."""

    def __init__(self, config: ServiceConfig, db: Database, executor: Executor, *, worker: str,
                 key: str, capacity: int, clock: Clock = utc_now, review: ReviewStore | None = None) -> None:
        self.config, self.db, self.executor, self.review = config, db, executor, review
        self.worker, self.key, self.capacity, self.clock = worker, key, capacity, clock
        self.results_root = config.data_dir / "results" / key
        self._running: dict[int, Future[StudyResult]] = {}

    @property
    def running(self) -> int:
        """Jobs this runner has handed to its executor and not yet recorded."""
        return len(self._running)

    def tick(self) -> None:
        """One scheduling step: requeue, queue, claim, heartbeat, record."""
        now = self.clock()
        jobs = self.config.jobs
        self.db.requeue_stale(jobs.stale_after_s, now)
        for study in self.db.complete_studies(jobs.study_idle_s, now, self.key):
            self.db.enqueue(study, self.key, now)
        for job_id in self.db.requeue_grown(jobs.study_idle_s, now, self.key):
            log.info("job %d queued again: its study received instances after it ran", job_id)
        while len(self._running) < self.capacity:
            job = self.db.claim(self.worker, now, self.key)
            if job is None:
                break
            work = StudyWork(job.study_instance_uid, tuple(self.db.study_instances(job.study_instance_uid)),
                             self.results_root, self.config.models_dir, self.config.trial_config)
            self._running[job.id] = self.executor.submit(run_study, work)
        for job_id, future in list(self._running.items()):
            if future.done():
                del self._running[job_id]
                self._record(job_id, future)
            elif not self.db.heartbeat(job_id, now, worker=self.worker):
                log.warning("job %d was taken from this worker (no heartbeat in time); its result is dropped", job_id)
                del self._running[job_id]

    def _record(self, job_id: int, future: Future[StudyResult]) -> None:
        now = self.clock()
        error = future.exception()
        try:
            if error is not None:
                log.error("job %d failed: %s: %s", job_id, type(error).__name__, error)
                self.db.fail(job_id, f"{type(error).__name__}: {error}", now, retry=True, worker=self.worker)
                return
            result = future.result()
            self.db.finish(job_id, self.results_root, result.reports, now, worker=self.worker)
        except JobNotRunningError as exc:  # requeued meanwhile: another worker owns it now
            log.warning("job %d: %s", job_id, exc)
            return
        self._send(job_id, result)
        self._to_readers(job_id)

    def _to_readers(self, job_id: int) -> None:
        """Put the job's visit reports on the readers' worklist (idempotent: a report is registered once)."""
        if self.review is None:
            return
        for record in self.db.reports(job_id):
            try:
                register_report(self.review, record, self.clock())
            except Exception:  # the analysis is done and recorded; a report the worklist refuses is logged
                log.exception("job %d: report %d not put on the reader worklist", job_id, record.id)

    def _send(self, job_id: int, result: StudyResult) -> None:
        for destination in self.config.destinations:
            sent = send_results(result.dicom_outputs, destination, self.config.dicom.ae_title)
            self.db.add_event("results.sent" if sent.ok else "results.not_sent", {
                "destination": f"{destination.ae_title}@{destination.host}:{destination.port}",
                "stored": len(sent.stored), "failed": [f"{p.name}: {why}" for p, why in sent.failed],
            }, self.clock(), job_id=job_id)

    def run(self, stop: threading.Event) -> None:
        """Tick every ``jobs.poll_s`` until ``stop`` is set; a failing tick is logged and the loop goes on."""
        while not stop.is_set():
            try:
                self.tick()
            except Exception:  # the loop must outlive a database hiccup; the error is logged, not hidden
                log.exception("job loop tick failed; retrying in %.1f s", self.config.jobs.poll_s)
            stop.wait(self.config.jobs.poll_s)
