"""Spatial calibration and views from the Sequence of Ultrasound Regions (0018,6011).

A *view* is one tissue region of an image (RegionSpatialFormat 1 = 2-D, RegionDataType 1 = tissue):
a split-screen image has two. Spacing is PhysicalDeltaY/X in mm, used only when PhysicalUnits are
3 (cm). Region boxes written by scanners can be stale after the image was resized: they are clamped
to the image with a warning. Without regions the whole image is one view, calibrated from
PixelSpacing if present, else *uncalibrated* and flagged.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydicom.dataset import Dataset

from dvt_us.ingest.problems import Problem, ProblemCode, Severity

CM_UNITS = 3
"""PhysicalUnitsX/YDirection value for centimetres (PS3.3 C.8.5.5.1.15)."""
_MIN_VIEW_PIXELS = 16


class RegionDataType(enum.IntEnum):
    """RegionDataType (0018,6014) values that change how a clip is read (PS3.3 C.8.5.5.1.2)."""

    NONE = 0
    TISSUE = 1
    COLOR_FLOW = 2
    PW_SPECTRAL_DOPPLER = 3
    CW_SPECTRAL_DOPPLER = 4


SPECTRAL_DOPPLER_TYPES = frozenset({RegionDataType.PW_SPECTRAL_DOPPLER, RegionDataType.CW_SPECTRAL_DOPPLER})


class Calibration(enum.Enum):
    """Where a view's spacing came from."""

    ULTRASOUND_REGION = "ultrasound-region"
    PIXEL_SPACING = "pixel-spacing"
    UNCALIBRATED = "uncalibrated"


@dataclass(frozen=True)
class PixelBox:
    """A rectangle in the source pixel grid; ``row1``/``col1`` are exclusive."""

    row0: int
    col0: int
    row1: int
    col1: int

    def __post_init__(self) -> None:
        if self.row1 <= self.row0 or self.col1 <= self.col0:
            raise ValueError(f"empty pixel box {self}")

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, cols) of the box."""
        return self.row1 - self.row0, self.col1 - self.col0

    def intersect(self, other: PixelBox) -> PixelBox | None:
        """The overlap of two boxes, or None when they do not overlap."""
        r0, c0 = max(self.row0, other.row0), max(self.col0, other.col0)
        r1, c1 = min(self.row1, other.row1), min(self.col1, other.col1)
        return PixelBox(r0, c0, r1, c1) if r1 > r0 and c1 > c0 else None


@dataclass(frozen=True)
class Region:
    """One item of the Sequence of Ultrasound Regions, as written in the file."""

    spatial_format: int
    data_type: int
    box: PixelBox
    """As written (RegionLocationMin/Max, made exclusive), before clamping to the image."""
    units_x: int
    units_y: int
    delta_x: float
    delta_y: float


@dataclass(frozen=True)
class View:
    """One tissue region of an image, clamped to the image.

    ``spacing_mm`` is (row, col) spacing in millimetres, ``None`` when uncalibrated.
    ``colour_flow_box`` is the part of the view covered by a colour-flow region, if any.
    """

    index: int
    box: PixelBox
    spacing_mm: tuple[float, float] | None
    calibration: Calibration
    colour_flow_box: PixelBox | None = None


def read_regions(ds: Dataset) -> tuple[list[Region], list[Problem]]:
    """Parse SequenceOfUltrasoundRegions; an item that cannot be read is dropped with a problem."""
    regions, problems = [], []
    for n, item in enumerate(ds.get("SequenceOfUltrasoundRegions", [])):
        try:
            box = PixelBox(
                int(item.RegionLocationMinY0),
                int(item.RegionLocationMinX0),
                int(item.RegionLocationMaxY1) + 1,
                int(item.RegionLocationMaxX1) + 1,
            )
            regions.append(
                Region(
                    spatial_format=int(item.get("RegionSpatialFormat", 0) or 0),
                    data_type=int(item.get("RegionDataType", 0) or 0),
                    box=box,
                    units_x=int(item.get("PhysicalUnitsXDirection", 0) or 0),
                    units_y=int(item.get("PhysicalUnitsYDirection", 0) or 0),
                    delta_x=float(item.get("PhysicalDeltaX", 0.0) or 0.0),
                    delta_y=float(item.get("PhysicalDeltaY", 0.0) or 0.0),
                )
            )
        except (AttributeError, TypeError, ValueError) as exc:
            problems.append(Problem(ProblemCode.BAD_ATTRIBUTE, Severity.WARNING,
                                    f"ultrasound region {n + 1} unreadable and ignored: {exc}"))
    return regions, problems


def _region_spacing_mm(region: Region) -> tuple[float, float] | None:
    # PhysicalDelta may be negative (an axis that runs against the pixel index); spacing is its size.
    if region.units_x == CM_UNITS and region.units_y == CM_UNITS and region.delta_x and region.delta_y:
        return abs(region.delta_y) * 10.0, abs(region.delta_x) * 10.0
    return None


def _pixel_spacing_mm(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        try:
            value = [float(v) for v in ds.get(keyword) or []]
        except (TypeError, ValueError):
            continue  # a malformed optional attribute: treated as absent, flagged as uncalibrated
        if len(value) == 2 and value[0] > 0 and value[1] > 0:
            return value[0], value[1]
    return None


def views_from_dataset(ds: Dataset, regions: list[Region]) -> tuple[list[View], list[Problem]]:
    """The tissue views of an image and the calibration problems found on the way."""
    rows, cols = int(ds.Rows), int(ds.Columns)
    image = PixelBox(0, 0, rows, cols)
    problems: list[Problem] = []
    tissue = [r for r in regions if r.spatial_format == 1 and r.data_type == RegionDataType.TISSUE]
    colour = [r for r in regions if r.data_type == RegionDataType.COLOR_FLOW]
    if not regions and "SequenceOfUltrasoundRegions" in ds and len(ds.SequenceOfUltrasoundRegions):
        # Regions were declared but none could be read: do not fall back to the whole screen.
        return [], [Problem(ProblemCode.NO_TISSUE_VIEW, Severity.ERROR,
                            "the Sequence of Ultrasound Regions holds no readable region")]
    if not regions:
        spacing = _pixel_spacing_mm(ds)
        problems.append(
            Problem(ProblemCode.NO_REGIONS, Severity.WARNING,
                    "no Sequence of Ultrasound Regions: the whole image is analysed, annotations included")
        )
        if spacing is None:
            problems.append(Problem(ProblemCode.UNCALIBRATED, Severity.WARNING,
                                    "no calibration: measurements in pixels only"))
        cal = Calibration.PIXEL_SPACING if spacing else Calibration.UNCALIBRATED
        return [View(0, image, spacing, cal)], problems
    if not tissue and colour:
        # Some scanners describe a colour Doppler image by its colour-flow region alone.
        tissue = [r for r in colour if r.spatial_format == 1]
    views: list[View] = []
    for region in tissue:
        clamped = region.box.intersect(image)
        if clamped != region.box:
            problems.append(
                Problem(ProblemCode.STALE_REGION, Severity.WARNING,
                        f"region box rows {region.box.row0}-{region.box.row1 - 1}, cols {region.box.col0}-"
                        f"{region.box.col1 - 1} lies outside the {rows}x{cols} image; clamped")
            )
        if clamped is None or min(clamped.shape) < _MIN_VIEW_PIXELS:
            continue
        spacing = _region_spacing_mm(region)
        if spacing is None:
            problems.append(Problem(ProblemCode.UNCALIBRATED, Severity.WARNING,
                                    f"tissue region {len(views)} has no spatial calibration in cm"))
        flow_boxes = [b for c in colour if (b := c.box.intersect(clamped)) is not None]
        views.append(
            View(
                index=len(views),
                box=clamped,
                spacing_mm=spacing,
                calibration=Calibration.ULTRASOUND_REGION if spacing else Calibration.UNCALIBRATED,
                colour_flow_box=flow_boxes[0] if flow_boxes else None,
            )
        )
    if not views:
        problems.append(Problem(ProblemCode.NO_TISSUE_VIEW, Severity.ERROR,
                                "no 2-D tissue region lies inside the image"))
    return views, problems
