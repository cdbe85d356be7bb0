"""What can be wrong with an input file, as data: problem codes, warnings, and the typed ingest error.

A :class:`Problem` is attached to a clip and reported (a stale region box, no calibration); an
:class:`IngestError` rejects one file with a reason, and ingestion goes on with the others.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Severity(enum.Enum):
    """How much a problem matters to the analysis of the clip."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class ProblemCode(enum.Enum):
    """Why a file was rejected or a clip flagged; stable strings for reports and the JSON output."""

    NOT_DICOM = "not-dicom"
    IGNORED = "ignored"
    UNREADABLE = "unreadable"
    TRUNCATED = "truncated"
    NOT_ULTRASOUND = "not-ultrasound"
    NO_PIXEL_DATA = "no-pixel-data"
    SHORT_PIXEL_DATA = "short-pixel-data"
    FRAME_COUNT_MISMATCH = "frame-count-mismatch"
    UNSUPPORTED_TRANSFER_SYNTAX = "unsupported-transfer-syntax"
    UNSUPPORTED_PIXEL_FORMAT = "unsupported-pixel-format"
    ABSURD_DIMENSIONS = "absurd-dimensions"
    DECODE_FAILED = "decode-failed"
    MISSING_UID = "missing-uid"
    STALE_REGION = "stale-region"
    NO_REGIONS = "no-ultrasound-regions"
    UNCALIBRATED = "uncalibrated"
    NO_FRAME_TIME = "no-frame-time"
    SEGMENT_UNASSIGNED = "segment-unassigned"
    SIDE_UNASSIGNED = "side-unassigned"
    SUBJECT_UNASSIGNED = "subject-unassigned"
    VISIT_FROM_DATE = "visit-from-study-date"
    CONFLICTING_ANATOMY = "conflicting-anatomy"
    NO_TISSUE_VIEW = "no-tissue-view"
    PHOTOMETRIC_MISMATCH = "photometric-mismatch"
    BAD_ATTRIBUTE = "bad-attribute"


@dataclass(frozen=True)
class Problem:
    """One thing a reader or PACS admin should know about an input."""

    code: ProblemCode
    severity: Severity
    message: str

    def __str__(self) -> str:
        return f"{self.severity.value}: {self.code.value}: {self.message}"


class IngestError(Exception):
    """A file that cannot be used, with the reason; raised by the readers, collected by :func:`ingest`.

    Parameters
    ----------
    source
        What the user would call the file: a path, or ``archive.zip!member`` for a zip member.
    code
        Why, as a stable code.
    message
        Why, in words that name the offending attribute or value.
    """

    def __init__(self, source: str, code: ProblemCode, message: str) -> None:
        super().__init__(f"{source}: {code.value}: {message}")
        self.source = source
        self.code = code
        self.message = message
