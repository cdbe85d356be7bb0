"""The words of a finding (DESIGN.md section 4), as enums, and the thresholds that define them."""

from __future__ import annotations

import enum


class Compressibility(enum.Enum):
    """Clip or segment compressibility."""

    COMPRESSIBLE = "compressible"
    """Walls coapt: residual AP diameter ≤ 10 % of uncompressed."""
    PARTIAL = "partial"
    NONCOMPRESSIBLE = "noncompressible"
    """Residual AP diameter ≥ 90 % of uncompressed."""
    INDETERMINATE = "indeterminate"
    """Vein not found, poor quality, or inadequate compression."""


class Thrombus(enum.Enum):
    """Thrombus in a segment."""

    NONE = "none"
    NONOCCLUSIVE = "non-occlusive"
    OCCLUSIVE = "occlusive"
    INDETERMINATE = "indeterminate"


class Patency(enum.Enum):
    """Segment patency (CLOUT: patent = flow with normal or partial compressibility)."""

    PATENT = "patent"
    PARTIALLY_PATENT = "partially patent"
    OCCLUDED = "occluded"
    INDETERMINATE = "indeterminate"


COMPRESSIBLE_MAX_DIAMETER_RATIO = 0.10
NONCOMPRESSIBLE_MIN_DIAMETER_RATIO = 0.90
OCCLUSIVE_MIN_THROMBUS_FRACTION = 0.90
RVT_MIN_DIAMETER_RATIO = 0.40
"""Residual vein thrombosis (Prandoni): compressed / uncompressed diameter above 40 %."""


def compressibility_from_ratio(diameter_ratio: float) -> Compressibility:
    """The measured class of a compression from its residual / uncompressed AP diameter ratio."""
    if diameter_ratio <= COMPRESSIBLE_MAX_DIAMETER_RATIO:
        return Compressibility.COMPRESSIBLE
    if diameter_ratio >= NONCOMPRESSIBLE_MIN_DIAMETER_RATIO:
        return Compressibility.NONCOMPRESSIBLE
    return Compressibility.PARTIAL
