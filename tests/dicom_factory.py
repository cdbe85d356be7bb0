"""Build small, valid ultrasound DICOM files for tests: trial attributes, coded anatomy, regions, encodings."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.sr.coding import Code
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)


def pydicom_data_roots() -> list[Path]:
    """Folders holding pydicom's own test files and those of the pydicom-data package."""
    import data_store
    import pydicom.data

    return [Path(pydicom.data.__file__).parent / "test_files", Path(data_store.__file__).parent / "data"]


@dataclass
class UltrasoundSpec:
    """What to put in a synthetic ultrasound instance."""

    frames: int = 4
    rows: int = 120
    cols: int = 160
    subject: str | None = "DEF-001"
    patient_id: str = "PAT-001"
    visit: str | None = "BASELINE"
    study_date: str = "20250102"
    side: str | None = "R"
    anatomy: Code | None = None
    modifier: Code | None = None
    series_description: str = ""
    regions: list[tuple[int, int, int, int]] | None = field(default_factory=lambda: [(10, 20, 149, 109)])
    """(x0, y0, x1, y1) inclusive tissue regions in pixels; None writes no region sequence."""
    spacing_cm: float = 0.01
    colour_region: tuple[int, int, int, int] | None = None
    rgb: bool = False
    frame_time_ms: float | None = 40.0
    seed: int = 0
    study_uid: str = field(default_factory=generate_uid)


def frames_for(spec: UltrasoundSpec) -> np.ndarray:
    """Deterministic pixel data ``[frames, rows, cols(, 3)]`` uint8 with some structure and noise."""
    rng = np.random.default_rng(spec.seed)
    yy, xx = np.mgrid[0 : spec.rows, 0 : spec.cols]
    base = ((xx + 2 * yy) % 200).astype(np.uint8)
    frames = np.stack([base + rng.integers(0, 50, base.shape, dtype=np.uint8) for _ in range(spec.frames)])
    if spec.rgb:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    return frames


def _code_item(code: Code) -> Dataset:
    item = Dataset()
    item.CodeValue = code.value
    item.CodingSchemeDesignator = code.scheme_designator
    item.CodeMeaning = code.meaning
    return item


def _region(box: tuple[int, int, int, int], data_type: int, spacing_cm: float) -> Dataset:
    item = Dataset()
    item.RegionSpatialFormat = 1
    item.RegionDataType = data_type
    item.RegionFlags = 0
    item.RegionLocationMinX0, item.RegionLocationMinY0, item.RegionLocationMaxX1, item.RegionLocationMaxY1 = box
    item.PhysicalUnitsXDirection = 3
    item.PhysicalUnitsYDirection = 3
    item.PhysicalDeltaX = spacing_cm
    item.PhysicalDeltaY = spacing_cm
    return item


def ultrasound_dataset(spec: UltrasoundSpec, pixels: np.ndarray | None = None) -> Dataset:
    """An uncompressed US Multi-frame Image dataset (explicit VR little endian)."""
    pixels = frames_for(spec) if pixels is None else pixels
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.StudyInstanceUID = spec.study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "US"
    ds.PatientID = spec.patient_id
    ds.StudyDate = spec.study_date
    if spec.subject:
        ds.ClinicalTrialSponsorName = "dvt-us tests"
        ds.ClinicalTrialProtocolID = "DEFIANCE-LIKE"
        ds.ClinicalTrialSiteID = "S01"
        ds.ClinicalTrialSubjectID = spec.subject
    if spec.visit:
        ds.ClinicalTrialTimePointID = spec.visit
    if spec.side:
        ds.Laterality = spec.side
    if spec.series_description:
        ds.SeriesDescription = spec.series_description
    if spec.anatomy is not None:
        item = _code_item(spec.anatomy)
        if spec.modifier is not None:
            item.AnatomicRegionModifierSequence = [_code_item(spec.modifier)]
        ds.AnatomicRegionSequence = [item]
    if spec.regions is not None:
        regions = [_region(box, 1, spec.spacing_cm) for box in spec.regions]
        if spec.colour_region:
            regions.append(_region(spec.colour_region, 2, spec.spacing_cm))
        ds.SequenceOfUltrasoundRegions = regions
    if spec.frame_time_ms is not None:
        ds.FrameTime = spec.frame_time_ms
    ds.NumberOfFrames = pixels.shape[0]
    ds.Rows, ds.Columns = pixels.shape[1:3]
    ds.SamplesPerPixel = 3 if pixels.ndim == 4 else 1
    ds.PhotometricInterpretation = "RGB" if pixels.ndim == 4 else "MONOCHROME2"
    if pixels.ndim == 4:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    return ds


def jpeg_baseline(ds: Dataset, quality: int = 90) -> Dataset:
    """Re-encode an 8-bit dataset as JPEG baseline (Pillow), YBR_FULL_422 for colour."""
    frames = ds.pixel_array if int(ds.NumberOfFrames) > 1 else ds.pixel_array[None]
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality, subsampling=1)
        encoded.append(buffer.getvalue())
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    if ds.SamplesPerPixel == 3:
        ds.PhotometricInterpretation = "YBR_FULL_422"
    return ds


def write(ds: Dataset, path: Path) -> Path:
    """Save with a preamble and file meta; returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ultrasound(path: Path, spec: UltrasoundSpec | None = None) -> Path:
    """Write an uncompressed synthetic US instance to ``path``."""
    return write(ultrasound_dataset(spec or UltrasoundSpec()), path)


def read_back(path: Path) -> Dataset:
    """Read a written file, for assertions."""
    return pydicom.dcmread(path)


def jpeg_with_broken_last_frame(path: Path, frames: int = 3) -> Path:
    """A JPEG baseline cine written to ``path`` whose last frame's JPEG headers are wiped (it cannot decode)."""
    written = write(jpeg_baseline(ultrasound_dataset(UltrasoundSpec(frames=frames))), path)
    data = bytearray(written.read_bytes())
    last_soi = data.rfind(b"\xff\xd8")
    data[last_soi + 2 : last_soi + 400] = bytes(398)
    written.write_bytes(bytes(data))
    return written
