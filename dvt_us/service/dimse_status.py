"""The one mapping from what can happen to a C-STORE to the DIMSE status the node answers with.

Two tables: :data:`OUTCOME_STATUS` for instances that were stored (or already were), and :data:`RULES`
for exceptions, first match wins. ``docs/conformance.md`` lists the same statuses for PACS administrators;
change both together.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dvt_us.service.instance_store import (
    InvalidInstanceError,
    SopClassMismatchError,
    StorageFullError,
    StoreOutcome,
)
from dvt_us.service.instances import StoredInstance

LOGGER = logging.getLogger("dvt_us.service.dicom_node")
MAX_ERROR_COMMENT_CHARS = 64
"""Error Comment (0000,0902) is LO: at most 64 characters."""


class StoreStatus(enum.IntEnum):
    """The C-STORE response statuses the node sends (PS3.4 Annex B.2.3, PS3.7 Annex C)."""

    SUCCESS = 0x0000
    WARNING_ELEMENTS_DISCARDED = 0xB006
    """Warning: received, but not used as sent (a conflicting copy of a stored SOP Instance UID)."""
    OUT_OF_RESOURCES = 0xA700
    """Failure (Refused): the data folder is full."""
    OUT_OF_RESOURCES_IO = 0xA701
    """Failure (Refused): another I/O error while writing; nothing stored."""
    OUT_OF_RESOURCES_HAND_ON = 0xA702
    """Failure (Refused): the instance is on disk but could not be handed on for analysis; send it again."""
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    """Failure: the dataset's SOP Class UID is not the presentation context's abstract syntax."""
    CANNOT_UNDERSTAND = 0xC000
    """Failure: not parseable, or a required UID missing or invalid."""
    CANNOT_UNDERSTAND_INTERNAL = 0xC100
    """Failure: an unexpected error in the node (logged with its traceback); the data is quarantined."""


class HandOnError(Exception):
    """The instance is stored, but ``on_stored`` (the hand-on to the job queue) raised."""


def hand_on(on_stored: Callable[[StoredInstance], None], instance: StoredInstance) -> None:
    """Call ``on_stored`` for a stored instance; its failure becomes :class:`HandOnError` (the sender retries)."""
    try:
        on_stored(instance)
    except Exception as exc:
        LOGGER.error("%s is on disk at %s but on_stored raised", instance.sop_instance_uid, instance.path)
        raise HandOnError(f"stored, not queued for analysis; send again ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class StatusRule:
    """What a C-STORE that ended in ``exception`` answers, and whether the received data is quarantined."""

    exception: type[Exception]
    status: StoreStatus
    quarantine: bool


RULES: tuple[StatusRule, ...] = (
    StatusRule(SopClassMismatchError, StoreStatus.DATASET_DOES_NOT_MATCH_SOP_CLASS, quarantine=True),
    StatusRule(InvalidInstanceError, StoreStatus.CANNOT_UNDERSTAND, quarantine=True),
    StatusRule(StorageFullError, StoreStatus.OUT_OF_RESOURCES, quarantine=False),
    StatusRule(HandOnError, StoreStatus.OUT_OF_RESOURCES_HAND_ON, quarantine=False),
    StatusRule(OSError, StoreStatus.OUT_OF_RESOURCES_IO, quarantine=False),
    StatusRule(Exception, StoreStatus.CANNOT_UNDERSTAND_INTERNAL, quarantine=True),
)
"""Exceptions to statuses, most specific first. Quarantine keeps what was received when it was not stored;
it is skipped when the disk is the problem or when the instance is already on disk."""

OUTCOME_STATUS: dict[StoreOutcome, StoreStatus] = {
    StoreOutcome.STORED: StoreStatus.SUCCESS,
    StoreOutcome.DUPLICATE: StoreStatus.SUCCESS,
    StoreOutcome.CONFLICTING_DUPLICATE: StoreStatus.WARNING_ELEMENTS_DISCARDED,
}


def rule_for(exc: Exception) -> StatusRule:
    """The first rule of :data:`RULES` whose exception type ``exc`` is an instance of."""
    return next(rule for rule in RULES if isinstance(exc, rule.exception))


def response(status: StoreStatus, comment: str = "") -> Dataset:
    """The status dataset a pynetdicom C-STORE handler returns: Status and, if given, Error Comment."""
    ds = Dataset()
    ds.Status = int(status)
    if comment and status is not StoreStatus.SUCCESS:
        text = comment.encode("ascii", "replace").decode("ascii").replace("\\", "/")
        ds.ErrorComment = text[:MAX_ERROR_COMMENT_CHARS]
    return ds
