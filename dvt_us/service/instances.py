"""What the DICOM node hands on for each instance it has written durably to disk."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path


@dataclass(frozen=True)
class StoredInstance:
    """One received instance, on disk (fsync'ed and renamed into place) before its C-STORE is acknowledged."""

    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    path: Path
    """Absolute path of the Part 10 file in the instance store."""
    size_bytes: int
    calling_ae_title: str
    received_at: datetime
    """When the instance was written (timezone-aware UTC)."""
    duplicate: bool = False
    """True when an instance with this SOP Instance UID was already stored (the old file is kept)."""
