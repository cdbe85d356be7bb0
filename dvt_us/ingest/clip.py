"""The typed result of reading one ultrasound instance: a :class:`Clip` (header facts, no pixels)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dvt_us.ingest.calibration import View
from dvt_us.ingest.identity import Identity
from dvt_us.ingest.problems import Problem, Severity
from dvt_us.ingest.sources import Source


class ClipKind(enum.Enum):
    """What a clip is for the analysis (DESIGN.md section 2, acquisition)."""

    COMPRESSION_CINE = "compression-cine"
    STILL = "still"
    COLOUR_DOPPLER = "colour-doppler"
    SPECTRAL_DOPPLER = "spectral-doppler"
    NOT_ANALYSABLE = "not-analysable"


@dataclass(frozen=True)
class PixelFormat:
    """How the pixels are stored: transfer syntax and Image Pixel module attributes."""

    transfer_syntax_uid: str
    encoding: str
    """Transfer syntax keyword, e.g. ``JPEGBaseline8Bit``."""
    photometric_interpretation: str
    rows: int
    columns: int
    frames: int
    samples_per_pixel: int
    bits_allocated: int
    bits_stored: int
    pixel_representation: int
    codestream_ycbcr: bool = False
    """The header says RGB but the JPEG codestream is YCbCr: decoded samples are YCbCr."""

    @property
    def is_colour(self) -> bool:
        """True for RGB, YBR and palette colour images."""
        return self.samples_per_pixel == 3 or self.photometric_interpretation == "PALETTE COLOR"


@dataclass(frozen=True)
class Clip:
    """One ultrasound instance, ready to stream frames from (see :mod:`dvt_us.preprocess.frames`).

    Frame ``i`` (0-based) is DICOM frame number ``i + 1``; ``frame_times_s[i]`` is its time from the
    first frame, from FrameTime / FrameTimeVector / CineRate, else 30 frames/s with a problem noted.
    """

    source: Source
    sop_instance_uid: str
    sop_class_uid: str
    study_instance_uid: str
    series_instance_uid: str
    identity: Identity
    pixels: PixelFormat
    views: tuple[View, ...]
    frame_times_s: tuple[float, ...]
    kind: ClipKind
    problems: tuple[Problem, ...]

    @property
    def frames(self) -> int:
        """Number of frames."""
        return self.pixels.frames

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """(row, col) spacing in mm of the first view; ``None`` if uncalibrated."""
        return self.views[0].spacing_mm if self.views else None

    @property
    def not_analysable_reason(self) -> str | None:
        """Why the clip cannot be analysed, when its kind says so."""
        if self.kind is not ClipKind.NOT_ANALYSABLE:
            return None
        errors = [p.message for p in self.problems if p.severity is Severity.ERROR]
        return "; ".join(errors) or "not analysable"
