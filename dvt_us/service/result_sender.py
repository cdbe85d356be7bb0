"""Send a job's DICOM results (SR, SEG, encapsulated PDF) to the configured destinations by C-STORE.

One association per destination and attempt; only the presentation contexts the files need are proposed
(their SOP class in their own transfer syntax). A destination that refuses or is unreachable is tried
again after a pause, up to ``attempts`` times; instances it has already acknowledged are not sent again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.presentation import PresentationContext, build_context

from dvt_us.service.config import RemoteAE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SendResult:
    """What one destination acknowledged: instances stored (status 0x0000 or a warning) and those not."""

    destination: RemoteAE
    stored: tuple[Path, ...]
    failed: tuple[tuple[Path, str], ...] = field(default=())
    """(file, why) for each file the destination did not accept after every attempt."""

    @property
    def ok(self) -> bool:
        """True when every file was acknowledged."""
        return not self.failed


def _contexts(datasets: Sequence[Dataset]) -> list[PresentationContext]:
    needed = sorted({(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID)) for ds in datasets})
    return [build_context(sop, ts) for sop, ts in needed]


def _send_once(files: Sequence[Path], destination: RemoteAE, calling_ae_title: str,
               timeout_s: float) -> dict[Path, str | None]:
    """One association: ``{file: None if acknowledged else why not}``."""
    datasets = [pydicom.dcmread(f) for f in files]
    ae = AE(ae_title=calling_ae_title)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = timeout_s
    assoc = ae.associate(destination.host, destination.port, _contexts(datasets), ae_title=destination.ae_title)
    if not assoc.is_established:
        return dict.fromkeys(files, "association rejected or aborted")
    outcome: dict[Path, str | None] = {}
    try:
        for path, ds in zip(files, datasets, strict=True):
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code is None:
                outcome[path] = "no response (connection lost or timed out)"
            elif code == 0x0000 or 0xB000 <= code <= 0xBFFF:  # success, or warning: stored
                outcome[path] = None
            else:
                outcome[path] = f"C-STORE status 0x{code:04X}"
    finally:
        assoc.release()
    return outcome


def send_results(files: Sequence[Path], destination: RemoteAE, calling_ae_title: str, *, attempts: int = 3,
                 pause_s: float = 5.0, timeout_s: float = 30.0,
                 sleep: Callable[[float], None] = time.sleep) -> SendResult:
    """C-STORE ``files`` to ``destination``, retrying what was not acknowledged, with a pause between tries."""
    pending = list(files)
    stored: list[Path] = []
    why: dict[Path, str] = {}
    for attempt in range(1, attempts + 1):
        if not pending:
            break
        if attempt > 1:
            sleep(pause_s)
        try:
            outcome = _send_once(pending, destination, calling_ae_title, timeout_s)
        except (OSError, RuntimeError) as exc:  # unreachable host, socket errors
            outcome = dict.fromkeys(pending, f"{type(exc).__name__}: {exc}")
        stored += [p for p in pending if outcome[p] is None]
        why = {p: reason for p, reason in outcome.items() if reason is not None}
        pending = list(why)
        log.info("C-STORE to %s@%s:%d attempt %d: %d stored, %d pending", destination.ae_title, destination.host,
                 destination.port, attempt, len(files) - len(pending), len(pending))
    return SendResult(destination, tuple(stored), tuple((p, why[p]) for p in pending))
