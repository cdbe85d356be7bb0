"""The DICOM node PACS routes studies to: Verification and Storage SCP (pynetdicom), in threads.

Handlers are thin (STYLE.md habit 7): a C-STORE is checked cheaply, written durably by the
:class:`~dvt_us.service.instance_store.InstanceStore`, handed on by ``on_stored`` and answered; nothing is
decoded or analysed on the association thread. Every status comes from :mod:`dvt_us.service.dimse_status`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from pydicom import uid as uids
from pydicom.dataset import Dataset
from pydicom.filereader import _read_file_meta_info, read_preamble
from pynetdicom import AE, evt, register_uid
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.dsutils import encode_file_meta
from pynetdicom.events import Event, EventHandlerType
from pynetdicom.service_class import StorageServiceClass
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]
from pynetdicom.transport import ThreadedAssociationServer

from dvt_us.service import receive_spool
from dvt_us.service.config import DicomNodeConfig
from dvt_us.service.dimse_status import (
    OUTCOME_STATUS,
    StoreStatus,
    hand_on,
    response,
    rule_for,
)
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance

LOGGER = logging.getLogger(__name__)

MAX_ASSOCIATIONS = 20
"""Concurrent associations accepted; more are refused by pynetdicom (transient, local limit exceeded)."""

NATIVE_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uids.ExplicitVRLittleEndian, uids.ImplicitVRLittleEndian, uids.DeflatedExplicitVRLittleEndian,
    uids.ExplicitVRBigEndian,
)
COMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    uids.JPEGBaseline8Bit, uids.JPEGExtended12Bit, uids.JPEGLossless, uids.JPEGLosslessSV1,
    uids.JPEGLSLossless, uids.JPEGLSNearLossless, uids.JPEG2000Lossless, uids.JPEG2000,
    uids.HTJ2KLossless, uids.HTJ2KLosslessRPCL, uids.HTJ2K, uids.RLELossless,
)
"""Every compressed transfer syntax the ingest reader has a decoder for (a test keeps this honest)."""
IMAGE_TRANSFER_SYNTAXES = NATIVE_TRANSFER_SYNTAXES + COMPRESSED_TRANSFER_SYNTAXES

ULTRASOUND_IMAGE_STORAGE_RETIRED = "1.2.840.10008.5.1.4.1.1.6"
ULTRASOUND_MULTIFRAME_IMAGE_STORAGE_RETIRED = "1.2.840.10008.5.1.4.1.1.3"
IMAGE_STORAGE: tuple[str, ...] = (
    uids.UltrasoundImageStorage, uids.UltrasoundMultiFrameImageStorage,
    ULTRASOUND_IMAGE_STORAGE_RETIRED, ULTRASOUND_MULTIFRAME_IMAGE_STORAGE_RETIRED,
    uids.SecondaryCaptureImageStorage, uids.MultiFrameGrayscaleByteSecondaryCaptureImageStorage,
    uids.MultiFrameGrayscaleWordSecondaryCaptureImageStorage, uids.MultiFrameTrueColorSecondaryCaptureImageStorage,
    uids.SegmentationStorage,
)
"""Storage SOP classes accepted with every transfer syntax above."""
_RETIRED_STORAGE = {
    ULTRASOUND_IMAGE_STORAGE_RETIRED: "UltrasoundImageStorageRetired",
    ULTRASOUND_MULTIFRAME_IMAGE_STORAGE_RETIRED: "UltrasoundMultiFrameImageStorageRetired",
}
"""Retired classes older scanners still send; pynetdicom serves them once registered as storage."""
DOCUMENT_STORAGE: tuple[str, ...] = (uids.ComprehensiveSRStorage, uids.EncapsulatedPDFStorage)
"""Storage SOP classes accepted with the native transfer syntaxes only (they hold no pixel data)."""


class NodeState(enum.Enum):
    """Where a :class:`DicomNode` is in its life; it is started once."""

    CREATED = "created"
    RUNNING = "running"
    STOPPED = "stopped"


class Refusal(enum.Enum):
    """Why an association is refused, as the A-ASSOCIATE-RJ (result, source, reason/diagnostic) of PS3.8 9.3.4."""

    CALLING_AE_NOT_RECOGNISED = (0x01, 0x01, 0x03)
    """Rejected permanent; DICOM UL service-user; calling-AE-title-not-recognized."""
    LOW_DISK = (0x02, 0x03, 0x01)
    """Rejected transient; DICOM UL service-provider (presentation); temporary-congestion."""

    @property
    def result(self) -> int:
        """1 permanent, 2 transient."""
        return self.value[0]

    @property
    def source(self) -> int:
        """1 service user, 2 service provider (ACSE), 3 service provider (presentation)."""
        return self.value[1]

    @property
    def reason(self) -> int:
        """The reason/diagnostic, meaningful with :attr:`source`."""
        return self.value[2]


@dataclass(frozen=True)
class Admission:
    """The association acceptance policy: who may send, and how much free disk a new association needs."""

    allowed_calling_ae_titles: frozenset[str]
    """Empty: any calling AE title."""
    min_free_disk_mb: float

    def refusal(self, calling_ae_title: str, free_disk_mb: float) -> Refusal | None:
        """Why an association from ``calling_ae_title`` is refused now, or ``None`` to accept it."""
        if self.allowed_calling_ae_titles and calling_ae_title.strip() not in self.allowed_calling_ae_titles:
            return Refusal.CALLING_AE_NOT_RECOGNISED
        if free_disk_mb < self.min_free_disk_mb:
            return Refusal.LOW_DISK
        return None


def _calling_ae(event: Event) -> str:
    return receive_spool.calling_ae_title(event.assoc)


def _file_meta(event: Event, calling_ae_title: str) -> bytes:
    """Preamble, ``DICM`` and the File Meta Information that the received dataset is stored after.

    Built from the C-STORE request (Media Storage SOP Class/Instance UID from the Affected SOP Class/Instance
    UID, Transfer Syntax from the presentation context, pynetdicom's Implementation Class UID) plus Source
    Application Entity Title = the calling AE. The dataset follows exactly as sent. The same bytes begin the
    spooled file (:func:`dvt_us.service.receive_spool.spooled_file_meta`), which the store then links into place.
    """
    meta = event.file_meta
    meta.SourceApplicationEntityTitle = calling_ae_title
    return b"".join((b"\x00" * 128, b"DICM", encode_file_meta(meta)))


def _received_part10(event: Event, file_meta: bytes) -> bytes:
    """The whole received instance in memory (only to quarantine a refused one); empty if none was received."""
    spooled = event.dataset_path
    if not spooled.is_file():
        return b""
    with spooled.open("rb") as fp:
        read_preamble(fp, force=True)
        _read_file_meta_info(fp)
        return file_meta + fp.read()


class DicomNode:
    """Verification and Storage SCP in front of an :class:`InstanceStore`.

    Parameters
    ----------
    config
        AE title, host, port (0 picks a free one), allow-list, free-disk watermark, PDU size, timeout.
    store
        Where instances are written durably before their C-STORE is answered.
    on_stored
        Called on the association thread once per instance after it is on disk (``duplicate=True`` for a
        second copy). It must only enqueue; if it raises, the instance stays on disk and the C-STORE is
        answered 0xA702 (refused, out of resources) so that the sender retries; the retry is a duplicate and
        is handed on again.
    """

    def __init__(self, config: DicomNodeConfig, store: InstanceStore,
                 on_stored: Callable[[StoredInstance], None]) -> None:
        self._config = config
        self._store = store
        self._on_stored = on_stored
        self._admission = Admission(frozenset(config.allowed_calling_ae_titles), float(config.min_free_disk_mb))
        self._ae: AE | None = None
        self._server: ThreadedAssociationServer | None = None
        self.state = NodeState.CREATED

    @property
    def port(self) -> int:
        """The bound TCP port; only while running."""
        if self._server is None:
            raise RuntimeError(f"the DICOM node is {self.state.value}, not running")
        return int(self._server.server_address[1])

    def _application_entity(self) -> AE:
        for uid, keyword in _RETIRED_STORAGE.items():
            register_uid(uid, keyword, StorageServiceClass)
        ae = AE(ae_title=self._config.ae_title)
        ae.maximum_pdu_size = self._config.max_pdu_bytes
        ae.network_timeout = self._config.network_timeout_s
        ae.acse_timeout = self._config.network_timeout_s
        ae.dimse_timeout = self._config.network_timeout_s
        ae.maximum_associations = MAX_ASSOCIATIONS
        ae.add_supported_context(Verification, list(NATIVE_TRANSFER_SYNTAXES))
        for sop_class in IMAGE_STORAGE:
            ae.add_supported_context(sop_class, list(IMAGE_TRANSFER_SYNTAXES))
        for sop_class in DOCUMENT_STORAGE:
            ae.add_supported_context(sop_class, list(NATIVE_TRANSFER_SYNTAXES))
        return ae

    def start(self) -> int:
        """Start listening (pynetdicom server threads) and return the bound port; does not block."""
        if self.state is not NodeState.CREATED:
            raise RuntimeError(f"the DICOM node is {self.state.value}; a node is started once")
        handlers: list[EventHandlerType] = [
            (evt.EVT_REQUESTED, self._on_requested),
            (evt.EVT_ACCEPTED, self._on_accepted),
            (evt.EVT_C_ECHO, self._on_c_echo),
            (evt.EVT_C_STORE, self._on_c_store),
            (evt.EVT_CONN_CLOSE, self._on_closed),
        ]
        address = (self._config.host, self._config.port)
        receive_spool.enable(self._store.spool_dir)
        receive_spool.sweep(self._store.spool_dir, self._spool_idle_s)
        self._ae = self._application_entity()
        self._server = self._ae.start_server(address, block=False, evt_handlers=handlers)
        self.state = NodeState.RUNNING
        LOGGER.info("DICOM node %s listening on %s:%d", self._config.ae_title, self._config.host, self.port)
        return self.port

    def stop(self, drain_s: float = 10.0) -> None:
        """Stop listening, let associations in progress finish for up to ``drain_s`` seconds, abort the rest.

        An aborted association gets no response for the C-STORE it was sending, so nothing is acknowledged
        that is not on disk. Idempotent.
        """
        if self._server is not None and self._ae is not None:
            self._server.shutdown()
            deadline = time.monotonic() + drain_s
            for association in self._ae.active_associations:
                association.join(max(0.0, deadline - time.monotonic()))
            self._ae.shutdown()
            LOGGER.info("DICOM node %s stopped", self._config.ae_title)
        self._server = None
        self._ae = None
        self.state = NodeState.STOPPED

    def __enter__(self) -> Self:
        if self.state is NodeState.CREATED:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # Handlers, on pynetdicom's association threads.

    def _on_requested(self, event: Event) -> None:
        """A-ASSOCIATE-RQ: refuse here (before negotiation) by calling AE title or low free disk."""
        primitive = event.assoc.requestor.primitive
        calling = str(getattr(primitive, "calling_ae_title", "")).strip()
        try:
            free_disk_mb = self._store.free_disk_mb()
        except OSError:
            LOGGER.exception("free disk of %s cannot be read; counted as none", self._store.root)
            free_disk_mb = 0.0
        refusal = self._admission.refusal(calling, free_disk_mb)
        if refusal is None:
            return
        LOGGER.warning("association from %s (%s) refused: %s", calling, event.assoc.requestor.address,
                       refusal.name.lower().replace("_", " "))
        event.assoc.acse.send_reject(refusal.result, refusal.source, refusal.reason)
        evt.trigger(event.assoc, evt.EVT_REJECTED, {})
        event.assoc.kill()  # as pynetdicom does for its own refusals: waits until the peer has the A-ASSOCIATE-RJ

    def _on_accepted(self, event: Event) -> None:
        LOGGER.info("association from %s (%s:%s) accepted", _calling_ae(event), event.assoc.requestor.address,
                    event.assoc.requestor.port)

    @property
    def _spool_idle_s(self) -> float:
        """How long a spooled dataset goes unwritten before it counts as an aborted transfer's.

        Twice the network timeout: the association of a transfer that stalled that long has ended.
        """
        return 2 * float(self._config.network_timeout_s)

    def _on_closed(self, event: Event) -> None:
        """Connection closed (released, aborted or timed out): remove what aborted transfers left in the spool."""
        try:
            receive_spool.sweep(self._store.spool_dir, self._spool_idle_s)
        except OSError:
            LOGGER.exception("the spool %s cannot be swept", self._store.spool_dir)

    def _on_c_echo(self, event: Event) -> int:
        LOGGER.info("C-ECHO from %s", _calling_ae(event))
        return int(StoreStatus.SUCCESS)

    def _on_c_store(self, event: Event) -> Dataset:
        """C-STORE: store durably, hand on, answer; never raises (every exception becomes a status)."""
        calling = _calling_ae(event)
        request = event.request
        sop_instance = str(request.AffectedSOPInstanceUID) if isinstance(request, C_STORE) else "?"
        file_meta = b""
        try:
            file_meta = _file_meta(event, calling)
            receipt = self._store.put_spooled(event.dataset_path, file_meta, calling,
                                              expected_sop_class_uid=str(event.context.abstract_syntax))
            hand_on(self._on_stored, receipt.instance)
        except Exception as exc:  # the one place a C-STORE failure becomes a status (dimse_status.RULES)
            return self._refuse(exc, event, file_meta, calling, sop_instance)
        status = OUTCOME_STATUS[receipt.outcome]
        LOGGER.info("C-STORE %s from %s: 0x%04X %s (%s, %d bytes)", sop_instance, calling, status,
                    receipt.outcome.value, receipt.instance.transfer_syntax_uid, receipt.instance.size_bytes)
        comment = "" if receipt.quarantined is None else "differs from the stored copy; first kept"
        return response(status, comment)

    def _refuse(self, exc: Exception, event: Event, file_meta: bytes, calling: str, sop_instance: str) -> Dataset:
        rule = rule_for(exc)
        quarantined = ""
        if rule.quarantine and file_meta:
            try:
                data = _received_part10(event, file_meta)
            except Exception:  # the refusal is answered whatever the spool holds
                LOGGER.exception("the refused C-STORE %s from %s cannot be read back to quarantine", sop_instance,
                                 calling)
                data = b""
            quarantined = self._store.quarantine_or_log(data, str(exc), calling) if data else ""
        unexpected = rule.exception is Exception
        LOGGER.log(logging.ERROR if unexpected else logging.WARNING, "C-STORE %s from %s: 0x%04X %s: %s%s",
                   sop_instance, calling, rule.status, rule.status.name, exc, quarantined, exc_info=unexpected)
        return response(rule.status, str(exc))
