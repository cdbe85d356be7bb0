"""After the last signature: write a study's final outputs, then send them to the PACS destinations.

The reader workspace calls :meth:`Finaliser.submit` when a signature makes a study final. The final visit
folder (report.json from the signed read, HTML/PDF, SR, SEG) is written off the request thread, one study at
a time, and only once it is written are its DICOM instances sent, each send audited. At start-up,
:meth:`Finaliser.resume` submits the final studies whose final outputs are missing or older than their
final read (the service stopped in between).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from dvt_us.service.config import RemoteAE, ServiceConfig
from dvt_us.service.result_sender import SendResult, send_results
from dvt_us.service.review import audit
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.errors import ReviewConflictError
from dvt_us.service.review.final_outputs import FinalOutputs, write_final_outputs
from dvt_us.service.review.models import ReviewStudyRow
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import latest_versions

log = logging.getLogger(__name__)

Sender = Callable[[Sequence[Path], RemoteAE, str], SendResult]


def _send(files: Sequence[Path], destination: RemoteAE, calling_ae_title: str) -> SendResult:
    return send_results(files, destination, calling_ae_title)


def final_dicom_files(final: FinalOutputs) -> list[Path]:
    """The DICOM instances of a final folder that go to PACS: SR, encapsulated PDF, SEGs."""
    outputs = final.outputs
    return [p for p in (outputs.sr, outputs.pdf_dicom) if p is not None] + list(outputs.segs)


class Finaliser:
    """Writes final outputs and sends them, one study at a time on its own thread."""

    def __init__(self, config: ServiceConfig, store: ReviewStore, clock: Callable[[], datetime], *,
                 send: Sender = _send) -> None:
        self.config, self.store, self.clock, self._send = config, store, clock, send
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dvt-us-final")

    def submit(self, study_id: int) -> Future[FinalOutputs | None]:
        """Queue the study's final outputs (the workspace's ``on_final``); the future says how it went."""
        future = self._pool.submit(self.finalise, study_id)

        def logged(done: Future[FinalOutputs | None]) -> None:
            if done.exception() is not None:
                log.error("final outputs of review study %d failed: %s", study_id, done.exception())

        future.add_done_callback(logged)
        return future

    def finalise(self, study_id: int) -> FinalOutputs | None:
        """Write the final folder, then send its DICOM instances to every destination (each send audited).

        None, and nothing sent, when the final read changed while the folder was written: the signature that
        changed it queued the next write.
        """
        try:
            final = write_final_outputs(self.store, None, study_id, self.config.resolved_final_dir, self.clock())
        except ReviewConflictError as exc:
            log.info("review study %d: %s", study_id, exc)
            return None
        files = final_dicom_files(final)
        for destination in self.config.destinations:
            sent = self._send(files, destination, self.config.dicom.ae_title)
            with self.store.write() as session:
                audit.append(session, audit.SYSTEM_ACTOR, "final.send" if sent.ok else "final.send_failed",
                             f"study:{study_id}", {
                                 "destination": f"{destination.ae_title}@{destination.host}:{destination.port}",
                                 "stored": [p.name for p in sent.stored],
                                 "failed": [f"{p.name}: {why}" for p, why in sent.failed],
                                 "content_sha256": final.content_sha256}, now=self.clock())
        return final

    def pending(self) -> list[int]:
        """Final studies whose final folder is missing or was written from another read than the final one."""
        with self.store.read() as session:
            rows = session.scalars(select(ReviewStudyRow).where(ReviewStudyRow.state == ReviewState.FINAL)
                                   .order_by(ReviewStudyRow.id)).all()
            due = []
            for row in rows:
                final = latest_versions(session, row.id, signed_only=True).get(row.final_slot) \
                    if row.final_slot is not None else None
                if row.final_folder is None or (final is not None and final.content_sha256 != row.final_content_sha256):
                    due.append(row.id)
        return due

    def resume(self) -> list[int]:
        """Submit every :meth:`pending` study (start-up); their ids."""
        due = self.pending()
        for study_id in due:
            log.info("review study %d is final without its final outputs: writing them now", study_id)
            self.submit(study_id)
        return due

    def close(self) -> None:
        """Finish what is queued, then stop the thread."""
        self._pool.shutdown(wait=True)
