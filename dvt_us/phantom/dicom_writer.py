"""Write phantom images as the DICOM a scanner sends: US (Multi-frame) Image, regions, trial attributes.

The simulated tissue image is placed on a larger black canvas, as on a scanner screen: a header band
with burned-in site, patient, date and exam text, a side band with depth ticks and settings. Only the
tissue image is inside the Sequence of Ultrasound Regions (DESIGN.md section 2); the rest is annotation
space. Truth masks are returned in the same canvas grid (``[frames, rows, cols]``, 0 outside tissue).
"""

from __future__ import annotations

import enum
import io
import uuid
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
)

from dvt_us import __version__
from dvt_us.anatomy import SEGMENTS, Laterality, Segment

_CM_UNITS = 3
_TISSUE, _COLOUR_FLOW = 1, 2
_FEMORAL_TEXT = {Segment.FV_P: "FV PROX", Segment.FV_M: "FV MID", Segment.FV_D: "FV DIST"}


class Encoding(enum.Enum):
    """Transfer syntax of a written file."""

    UNCOMPRESSED = "uncompressed"
    JPEG_BASELINE = "jpeg-baseline"


@dataclass(frozen=True)
class InstanceIdentity:
    """Who and what one written instance shows, and its UIDs (deterministic from the trial seed)."""

    subject: str
    visit: str
    visit_description: str
    study_date: str
    """YYYYMMDD."""
    side: Laterality
    segment: Segment
    coded_anatomy: bool
    """True: Laterality and AnatomicRegionSequence codes; False: only text in SeriesDescription."""
    study_instance_uid: str
    series_instance_uid: str
    sop_instance_uid: str
    series_number: int
    instance_number: int
    site: str = "S01"
    protocol: str = "DVT-US-PHANTOM"
    sponsor: str = "dvt-us phantom"


@dataclass(frozen=True)
class ScreenLayout:
    """Where the tissue image sits on the screen: margins in pixels around it."""

    top: int
    left: int
    bottom: int
    right: int
    rgb: bool
    """Write RGB (gray replicated) instead of MONOCHROME2, as many scanners do for B-mode."""

    def canvas_shape(self, tissue_shape: tuple[int, int]) -> tuple[int, int]:
        """(rows, cols) of the whole screen around a tissue image."""
        return self.top + tissue_shape[0] + self.bottom, self.left + tissue_shape[1] + self.right


@dataclass(frozen=True)
class WrittenInstance:
    """A file written, with its truth masks in the source pixel grid."""

    path: Path
    sop_instance_uid: str
    labels: NDArray[np.uint8]
    """uint8 ``[frames, rows, cols]`` over the whole image; 0 outside the tissue region."""


_UID_NAMESPACE = uuid.UUID("6f1c1f4e-3d0e-4d55-9a52-2f5a0c1b7d11")


def deterministic_uid(*parts: object) -> str:
    """A UID derived from ``parts`` (same parts, same UID): ``2.25.`` + a name-based (v5) UUID."""
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, '/'.join(str(p) for p in parts)).int}"


def sample_layout(rng: np.random.Generator) -> ScreenLayout:
    """Draw a screen layout: header band, side bands, and gray-scale or RGB storage."""
    return ScreenLayout(
        top=int(rng.integers(40, 90)),
        left=int(rng.integers(8, 70)),
        bottom=int(rng.integers(10, 50)),
        right=int(rng.integers(50, 130)),
        rgb=bool(rng.random() < 0.5),
    )


def exam_text(side: Laterality, segment: Segment) -> str:
    """How a sonographer labels the clip, e.g. ``"RT FV MID"``."""
    side_text = {Laterality.RIGHT: "RT", Laterality.LEFT: "LT"}.get(side, "")
    return f"{side_text} {_FEMORAL_TEXT.get(segment, segment.value)}".strip()


def _burn_in(canvas: NDArray[np.uint8], layout: ScreenLayout, ident: InstanceIdentity, *, tissue_rows: int,
             spacing_mm: float, settings: str) -> None:
    """Draw header text and depth ticks outside the tissue region (in place)."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    scale = max(0.35, min(0.6, layout.top / 110))
    date = f"{ident.study_date[:4]}-{ident.study_date[4:6]}-{ident.study_date[6:]}"
    lines = [f"{ident.site} VASCULAR  {ident.subject}^PHANTOM  {date}",
             f"{exam_text(ident.side, ident.segment)}  {settings}"]
    for i, line in enumerate(lines):
        y = int(14 + i * (layout.top - 14) / 2)
        cv2.putText(canvas, line, (4, y), font, scale, 230, 1, cv2.LINE_AA)
    x = layout.left + canvas.shape[1] - layout.left - layout.right + 6
    for depth_cm in range(int(tissue_rows * spacing_mm / 10) + 1):
        y = layout.top + int(depth_cm * 10 / spacing_mm)
        cv2.line(canvas, (x, y), (x + 6, y), 200, 1)
        cv2.putText(canvas, str(depth_cm), (x + 9, y + 4), font, 0.35, 200, 1, cv2.LINE_AA)


def _region(box: tuple[int, int, int, int], data_type: int, spacing_mm: float) -> Dataset:
    """A 2-D region item for ``box`` = (row0, col0, rows, cols) on the screen."""
    row0, col0, rows, cols = box
    item = Dataset()
    item.RegionSpatialFormat = 1
    item.RegionDataType = data_type
    item.RegionFlags = 0
    item.RegionLocationMinX0 = col0
    item.RegionLocationMinY0 = row0
    item.RegionLocationMaxX1 = col0 + cols - 1
    item.RegionLocationMaxY1 = row0 + rows - 1
    item.ReferencePixelX0 = cols // 2
    item.ReferencePixelY0 = 0
    item.PhysicalUnitsXDirection = _CM_UNITS
    item.PhysicalUnitsYDirection = _CM_UNITS
    item.PhysicalDeltaX = spacing_mm / 10.0
    item.PhysicalDeltaY = spacing_mm / 10.0
    return item


def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _header(ident: InstanceIdentity, multi_frame: bool, colour_flow: bool) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    sop_class = UltrasoundMultiFrameImageStorage if multi_frame else UltrasoundImageStorage
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = UID(ident.sop_instance_uid)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ident.sop_instance_uid
    ds.StudyInstanceUID = ident.study_instance_uid
    ds.SeriesInstanceUID = ident.series_instance_uid
    ds.Modality = "US"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "VASCULAR", "0011" if colour_flow else "0001"]  # 2-D (+ colour flow)
    ds.PatientOrientation = ""
    ds.Manufacturer = "dvt-us phantom"
    ds.ManufacturerModelName = "physics phantom"
    ds.SoftwareVersions = __version__
    ds.PatientName = f"{ident.subject}^PHANTOM"
    ds.PatientID = ident.subject
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = ident.study_date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = "090000"
    ds.StudyID = ident.visit
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "Lower extremity venous duplex"
    ds.SeriesNumber = ident.series_number
    ds.InstanceNumber = ident.instance_number
    ds.ClinicalTrialSponsorName = ident.sponsor
    ds.ClinicalTrialProtocolID = ident.protocol
    ds.ClinicalTrialProtocolName = "Synthetic DVT trial (phantom)"
    ds.ClinicalTrialSiteID = ident.site
    ds.ClinicalTrialSiteName = f"Phantom site {ident.site}"
    ds.ClinicalTrialSubjectID = ident.subject
    ds.ClinicalTrialTimePointID = ident.visit
    ds.ClinicalTrialTimePointDescription = ident.visit_description
    ds.BurnedInAnnotation = "YES"
    ds.SeriesDescription = exam_text(ident.side, ident.segment) if not ident.coded_anatomy else "Venous compression"
    if ident.coded_anatomy:
        if SEGMENTS[ident.segment].paired and ident.side is not Laterality.UNASSIGNED:
            ds.Laterality = ident.side.value
            ds.ImageLaterality = ident.side.value
        info = SEGMENTS[ident.segment]
        item = _code_item(info.code.value, info.code.scheme_designator, info.code.meaning)
        if info.modifier is not None:
            mod = info.modifier
            item.AnatomicRegionModifierSequence = [_code_item(mod.value, mod.scheme_designator, mod.meaning)]
        ds.AnatomicRegionSequence = [item]
    return ds


def _set_pixels(ds: Dataset, frames: NDArray[np.uint8], encoding: Encoding, quality: int) -> None:
    """Store ``[frames, rows, cols]`` gray or ``[frames, rows, cols, 3]`` RGB pixel data."""
    colour = frames.ndim == 4
    ds.Rows, ds.Columns = int(frames.shape[1]), int(frames.shape[2])
    ds.SamplesPerPixel = 3 if colour else 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    if colour:
        ds.PlanarConfiguration = 0
    if frames.shape[0] > 1:  # US Multi-frame Image; the single-frame US Image has no NumberOfFrames
        ds.NumberOfFrames = int(frames.shape[0])
    if encoding is Encoding.UNCOMPRESSED:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.PhotometricInterpretation = "RGB" if colour else "MONOCHROME2"
        ds.PixelData = np.ascontiguousarray(frames).tobytes()
        return
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality, subsampling=1)  # 4:2:2
        encoded.append(buffer.getvalue())
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PhotometricInterpretation = "YBR_FULL_422" if colour else "MONOCHROME2"
    ds.PixelData = encapsulate(encoded, has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    ds.LossyImageCompressionMethod = "ISO_10918_1"
    raw = frames.size
    ds.LossyImageCompressionRatio = f"{raw / max(1, sum(len(e) for e in encoded)):.2f}"[:16]


def write_instance(
    path: Path,
    ident: InstanceIdentity,
    tissue: NDArray[np.uint8],
    labels: NDArray[np.uint8],
    spacing_mm: float,
    *,
    layout: ScreenLayout,
    encoding: Encoding,
    frame_time_s: float | None = None,
    colour_box: tuple[int, int, int, int] | None = None,
    second_pane: tuple[NDArray[np.uint8], NDArray[np.uint8]] | None = None,
    settings_text: str = "",
    jpeg_quality: int = 90,
) -> WrittenInstance:
    """Write one instance.

    Parameters
    ----------
    tissue
        uint8 ``[frames, rows, cols]`` gray B-mode or ``[frames, rows, cols, 3]`` RGB (colour Doppler),
        the tissue image only.
    labels
        uint8 ``[frames, rows, cols]`` truth in the tissue grid.
    spacing_mm
        Isotropic pixel spacing of the tissue image.
    frame_time_s
        Time between frames; written as FrameTime for multi-frame instances.
    colour_box
        ``(top, left, bottom, right)`` of the colour-flow box in tissue pixels (exclusive ends).
    second_pane
        (tissue, labels) of a second image shown to the right of the first: a split screen, as for an
        uncompressed / compressed still pair. Each pane is its own tissue region.
    """
    panes = [(tissue, labels)] + ([second_pane] if second_pane is not None else [])
    frames, rows = tissue.shape[:2]
    if any(p.shape[:2] != (frames, rows) for p, _ in panes):
        raise ValueError("split-screen panes need the same frame count and rows")
    gap = 4
    tissue_cols = sum(p.shape[2] for p, _ in panes) + gap * (len(panes) - 1)
    canvas_rows, canvas_cols = layout.canvas_shape((rows, tissue_cols))
    screen = np.zeros((canvas_rows, canvas_cols), np.uint8)
    _burn_in(screen, layout, ident, tissue_rows=rows, spacing_mm=spacing_mm, settings=settings_text)
    colour = tissue.ndim == 4 or layout.rgb
    out = np.repeat(screen[None], frames, axis=0)
    if colour:
        out = np.repeat(out[..., None], 3, axis=-1)
    full_labels = np.zeros((frames, canvas_rows, canvas_cols), np.uint8)
    regions = []
    col0 = layout.left
    for pane, pane_labels in panes:
        cols = pane.shape[2]
        body = pane if pane.ndim == 4 or not colour else np.repeat(pane[..., None], 3, axis=-1)
        out[:, layout.top : layout.top + rows, col0 : col0 + cols] = body
        full_labels[:, layout.top : layout.top + rows, col0 : col0 + cols] = pane_labels
        regions.append(_region((layout.top, col0, rows, cols), _TISSUE, spacing_mm))
        col0 += cols + gap

    if frames > 1 and frame_time_s is None:
        raise ValueError("a multi-frame instance needs frame_time_s (FrameTime and FrameIncrementPointer are Type 1)")
    ds = _header(ident, multi_frame=frames > 1, colour_flow=colour_box is not None)
    if colour_box is not None:
        top, left, bottom, right = colour_box
        box = (layout.top + top, layout.left + left, bottom - top, right - left)
        regions.append(_region(box, _COLOUR_FLOW, spacing_mm))
    ds.SequenceOfUltrasoundRegions = regions
    if frame_time_s is not None and frames > 1:
        ds.FrameTime = f"{frame_time_s * 1000:.3f}"
        ds.CineRate = round(1.0 / frame_time_s)
        ds.FrameIncrementPointer = 0x00181063
    _set_pixels(ds, out, encoding, jpeg_quality)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return WrittenInstance(path, ident.sop_instance_uid, full_labels)
