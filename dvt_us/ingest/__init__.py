"""DICOM in: find, check and group ultrasound instances; stream their frames.

The first stage of the data flow (DESIGN.md section 1). Nothing here runs a model.
"""

from dvt_us.ingest.calibration import Calibration, PixelBox, View
from dvt_us.ingest.clip import Clip, ClipKind, PixelFormat
from dvt_us.ingest.grouping import IngestResult, Rejected, Study, Subject, Visit, group_clips, ingest
from dvt_us.ingest.identity import Identity, Origin
from dvt_us.ingest.pixels import ColourSpace, RawFrame, iter_raw_frames
from dvt_us.ingest.problems import IngestError, Problem, ProblemCode, Severity
from dvt_us.ingest.reader import read_clip
from dvt_us.ingest.sources import Source, find_sources

__all__ = [
    "Calibration",
    "Clip",
    "ClipKind",
    "ColourSpace",
    "Identity",
    "IngestError",
    "IngestResult",
    "Origin",
    "PixelBox",
    "PixelFormat",
    "Problem",
    "ProblemCode",
    "RawFrame",
    "Rejected",
    "Severity",
    "Source",
    "Study",
    "Subject",
    "View",
    "Visit",
    "find_sources",
    "group_clips",
    "ingest",
    "iter_raw_frames",
    "read_clip",
]
