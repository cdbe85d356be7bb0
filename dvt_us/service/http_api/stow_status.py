"""The one mapping from what can happen to a STOW-RS part to its Failure or Warning Reason (PS3.18 I.2).

The same exceptions as a C-STORE (:mod:`dvt_us.service.dimse_status`), answered in DICOMweb's terms, plus
the checks a C-STORE gets from association negotiation (SOP class, transfer syntax) and the target study
of ``POST /studies/{study}``. ``docs/conformance.md`` lists the same codes; change both together.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dvt_us.service.dimse_status import HandOnError
from dvt_us.service.instance_store import InvalidInstanceError, SopClassMismatchError, StorageFullError, StoreOutcome


class FailureReason(enum.IntEnum):
    """Failure Reason (0008,1197) values of the Failed SOP Sequence (PS3.18 Table I.2-2)."""

    PROCESSING_FAILURE = 0x0110
    """An unexpected error in dvt-us (logged with its traceback); the part is quarantined."""
    SOP_CLASS_NOT_SUPPORTED = 0x0122
    """The SOP class (Media Storage SOP Class UID) is not one the node accepts."""
    OUT_OF_RESOURCES = 0xA700
    """The data folder is full."""
    OUT_OF_RESOURCES_IO = 0xA701
    """Another I/O error while writing; nothing stored."""
    OUT_OF_RESOURCES_HAND_ON = 0xA702
    """The instance is on disk but could not be recorded for analysis; send it again."""
    DATASET_DOES_NOT_MATCH_SOP_CLASS = 0xA900
    """The dataset's SOP Class UID is not its Media Storage SOP Class UID."""
    CANNOT_UNDERSTAND = 0xC000
    """Not a Part 10 file, not parseable, a required UID missing or invalid, or not sent as application/dicom."""
    TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122
    """Referenced Transfer Syntax not supported: the node does not accept this transfer syntax for the class."""
    STUDY_INSTANCE_UID_MISMATCH = 0xC409
    """Implementation-specific (Cxxx, as dcm4chee): the instance is of another study than the one posted to."""


class WarningReason(enum.IntEnum):
    """Warning Reason (0008,1196) values of the Referenced SOP Sequence (PS3.18 Table I.2-1)."""

    ELEMENTS_DISCARDED = 0xB006
    """A SOP Instance UID already stored with a different encoded dataset: the first copy is kept."""


class UnsupportedSopClassError(Exception):
    """The part's SOP class is not one the node accepts (what association negotiation refuses for C-STORE)."""


class UnsupportedTransferSyntaxError(Exception):
    """The part's transfer syntax is not accepted for its SOP class."""


class StudyMismatchError(Exception):
    """The part's Study Instance UID is not the study of ``POST /studies/{study}``."""


class NotDicomPartError(Exception):
    """The part's Content-Type is not ``application/dicom``."""


@dataclass(frozen=True)
class FailureRule:
    """What a part that ended in ``exception`` answers, and whether its bytes are quarantined."""

    exception: type[Exception]
    reason: FailureReason
    quarantine: bool


RULES: tuple[FailureRule, ...] = (
    FailureRule(UnsupportedSopClassError, FailureReason.SOP_CLASS_NOT_SUPPORTED, quarantine=False),
    FailureRule(UnsupportedTransferSyntaxError, FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED, quarantine=False),
    FailureRule(StudyMismatchError, FailureReason.STUDY_INSTANCE_UID_MISMATCH, quarantine=False),
    FailureRule(NotDicomPartError, FailureReason.CANNOT_UNDERSTAND, quarantine=True),
    FailureRule(SopClassMismatchError, FailureReason.DATASET_DOES_NOT_MATCH_SOP_CLASS, quarantine=True),
    FailureRule(InvalidInstanceError, FailureReason.CANNOT_UNDERSTAND, quarantine=True),
    FailureRule(StorageFullError, FailureReason.OUT_OF_RESOURCES, quarantine=False),
    FailureRule(HandOnError, FailureReason.OUT_OF_RESOURCES_HAND_ON, quarantine=False),
    FailureRule(OSError, FailureReason.OUT_OF_RESOURCES_IO, quarantine=False),
    FailureRule(Exception, FailureReason.PROCESSING_FAILURE, quarantine=True),
)
"""Exceptions to Failure Reasons, most specific first. As for C-STORE, what was received and not stored is
quarantined, except when the disk is the problem, the instance is already on disk, or the instance is
sound but not for this node or this study (the sender keeps it, as with a refused presentation context)."""

OUTCOME_WARNING: dict[StoreOutcome, WarningReason | None] = {
    StoreOutcome.STORED: None,
    StoreOutcome.DUPLICATE: None,
    StoreOutcome.CONFLICTING_DUPLICATE: WarningReason.ELEMENTS_DISCARDED,
}


def rule_for(exc: Exception) -> FailureRule:
    """The first rule of :data:`RULES` whose exception type ``exc`` is an instance of."""
    return next(rule for rule in RULES if isinstance(exc, rule.exception))
