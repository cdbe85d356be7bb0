"""Read one file into a :class:`~dvt_us.ingest.clip.Clip`, or reject it with a typed reason.

The header is parsed with pixel data deferred (large values are not read), then checked before any
frame is decoded: modality, UIDs, transfer syntax, dimensions, pixel data length against the Image
Pixel module, fragment counts against NumberOfFrames, truncation.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from typing import Any, BinaryIO

import cv2
import numpy as np
import pydicom
from pydicom import uid as uids
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, parse_basic_offsets, parse_fragments
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import get_expected_length

from dvt_us.ingest import calibration
from dvt_us.ingest.calibration import SPECTRAL_DOPPLER_TYPES, RegionDataType, View
from dvt_us.ingest.clip import Clip, ClipKind, PixelFormat
from dvt_us.ingest.identity import identity_from_dataset
from dvt_us.ingest.jpeg import codestream_is_ycbcr
from dvt_us.ingest.pixels import colour_mask, iter_raw_frames, luma_chroma
from dvt_us.ingest.problems import IngestError, Problem, ProblemCode, Severity
from dvt_us.ingest.sources import Source, open_source

MAX_SIDE_PIXELS = 8192
MAX_FRAMES = 20000
DEFAULT_FRAME_RATE_HZ = 30.0
_PHOTOMETRICS = {
    "MONOCHROME1", "MONOCHROME2", "RGB", "PALETTE COLOR", "YBR_FULL", "YBR_FULL_422",
    "YBR_PARTIAL_420", "YBR_PARTIAL_422", "YBR_RCT", "YBR_ICT",
}
_DEFER_BYTES = 16 * 1024
_UNDEFINED_LENGTH = 0xFFFFFFFF
_MIN_COLOUR_FRACTION = 0.01
"""Share of a view's pixels that must be colour for an image to count as colour Doppler: enough to
ignore coloured markers and text, little enough for a small colour box."""


def _read_dataset(source: Source, fh: BinaryIO) -> Dataset:
    head = fh.read(132)
    fh.seek(0)
    preamble = len(head) == 132 and head[128:132] == b"DICM"
    try:
        ds = pydicom.dcmread(fh, defer_size=_DEFER_BYTES, force=not preamble)
    except (InvalidDicomError, EOFError) as exc:
        code = ProblemCode.TRUNCATED if preamble else ProblemCode.NOT_DICOM
        raise IngestError(source.label, code, str(exc) or type(exc).__name__) from exc
    except Exception as exc:
        if not preamble:
            raise IngestError(source.label, ProblemCode.NOT_DICOM, "no DICOM preamble and not parseable") from exc
        raise IngestError(source.label, ProblemCode.UNREADABLE, f"{type(exc).__name__}: {exc}") from exc
    if not preamble:
        # A preamble-less file is accepted only if it parses into a plausible image header.
        try:
            plausible = "SOPClassUID" in ds and "Rows" in ds and "PixelData" in ds
        except Exception:
            plausible = False
        if not plausible:
            raise IngestError(source.label, ProblemCode.NOT_DICOM, "no DICOM preamble and no image header")
    return ds


def _pixel_format(source: Source, ds: Dataset) -> PixelFormat:
    meta = getattr(ds, "file_meta", None)
    tsuid = meta.get("TransferSyntaxUID") if meta is not None else None
    if tsuid is None:
        tsuid = uids.ExplicitVRLittleEndian if not ds.is_implicit_VR else uids.ImplicitVRLittleEndian
    tsuid = uids.UID(str(tsuid))
    if not tsuid.is_transfer_syntax:
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX, f"unknown transfer syntax {tsuid}")
    try:
        decoder = get_decoder(tsuid) if tsuid.is_compressed else None
    except NotImplementedError:
        decoder = None
        if tsuid.is_compressed:
            raise IngestError(source.label, ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX,
                              f"no decoder for {tsuid.name} ({tsuid})") from None
    if decoder is not None and not decoder.is_available:
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX,
                          f"no installed decoder for {tsuid.name}")
    try:
        fmt = PixelFormat(
            transfer_syntax_uid=str(tsuid),
            encoding=tsuid.keyword or str(tsuid),
            photometric_interpretation=str(ds.PhotometricInterpretation).strip(),
            rows=int(ds.Rows),
            columns=int(ds.Columns),
            frames=int(ds.get("NumberOfFrames", 1) or 1),
            samples_per_pixel=int(ds.get("SamplesPerPixel", 1)),
            bits_allocated=int(ds.BitsAllocated),
            bits_stored=int(ds.get("BitsStored", ds.BitsAllocated)),
            pixel_representation=int(ds.get("PixelRepresentation", 0)),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_PIXEL_FORMAT,
                          f"Image Pixel module incomplete or invalid: {exc}") from exc
    _check_dimensions(source, fmt)
    return fmt


def _check_dimensions(source: Source, fmt: PixelFormat) -> None:
    if not (0 < fmt.rows <= MAX_SIDE_PIXELS and 0 < fmt.columns <= MAX_SIDE_PIXELS):
        raise IngestError(source.label, ProblemCode.ABSURD_DIMENSIONS,
                          f"Rows x Columns {fmt.rows}x{fmt.columns} outside 1..{MAX_SIDE_PIXELS}")
    if not 0 < fmt.frames <= MAX_FRAMES:
        raise IngestError(source.label, ProblemCode.ABSURD_DIMENSIONS,
                          f"NumberOfFrames {fmt.frames} outside 1..{MAX_FRAMES}")
    if fmt.samples_per_pixel not in (1, 3) or fmt.bits_allocated not in (8, 16):
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_PIXEL_FORMAT,
                          f"SamplesPerPixel {fmt.samples_per_pixel}, BitsAllocated {fmt.bits_allocated}")
    if not 0 < fmt.bits_stored <= fmt.bits_allocated:
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_PIXEL_FORMAT,
                          f"BitsStored {fmt.bits_stored} with BitsAllocated {fmt.bits_allocated}")
    if fmt.photometric_interpretation not in _PHOTOMETRICS:
        raise IngestError(source.label, ProblemCode.UNSUPPORTED_PIXEL_FORMAT,
                          f"PhotometricInterpretation {fmt.photometric_interpretation!r}")


def _check_complete(source: Source, ds: Dataset, file_size: int) -> None:
    """Reject a file that ends inside an element or before its pixel data.

    pydicom stops quietly at the end of a truncated file, so this looks at where each top-level
    element with a defined length says its value ends.
    """
    for tag in list(ds.keys()):
        raw: Any = ds.get_item(tag, keep_deferred=True)
        defined = isinstance(raw, RawDataElement) and raw.length != _UNDEFINED_LENGTH
        if defined and raw.value_tell + raw.length > file_size:
            raise IngestError(source.label, ProblemCode.TRUNCATED,
                                  f"truncated: the file ends inside element {raw.tag} ({file_size} bytes)")
    if "PixelData" not in ds:
        raise IngestError(source.label, ProblemCode.NO_PIXEL_DATA,
                          "no PixelData element: the file is truncated or holds no image")


def _check_pixel_data(source: Source, ds: Dataset, fmt: PixelFormat, file_size: int) -> None:
    raw: Any = ds.get_item("PixelData", keep_deferred=True)
    compressed = uids.UID(fmt.transfer_syntax_uid).is_compressed
    deferred = isinstance(raw, RawDataElement) and raw.value is None and raw.length != _UNDEFINED_LENGTH
    if deferred:  # native pixel data not read yet: check that it lies within the file
        if raw.value_tell + raw.length > file_size:
            raise IngestError(source.label, ProblemCode.TRUNCATED,
                              f"PixelData needs {raw.length} bytes; the file ends "
                              f"{raw.value_tell + raw.length - file_size} bytes early")
        length = raw.length
    else:
        value = ds.PixelData
        length = len(value) if value is not None else 0
    if length == 0:
        raise IngestError(source.label, ProblemCode.NO_PIXEL_DATA, "PixelData is empty")
    if not compressed:
        expected = get_expected_length(ds, "bytes")
        if length < expected:
            per_frame = expected // fmt.frames
            if length % per_frame == 0:
                raise IngestError(source.label, ProblemCode.FRAME_COUNT_MISMATCH,
                                  f"NumberOfFrames is {fmt.frames} but PixelData holds {length // per_frame}")
            raise IngestError(source.label, ProblemCode.SHORT_PIXEL_DATA,
                              f"PixelData holds {length} bytes; {fmt.frames} frame(s) of "
                              f"{fmt.rows}x{fmt.columns}x{fmt.samples_per_pixel} need {expected}")
        return
    value = ds.PixelData
    try:
        offsets = parse_basic_offsets(value)
        fragments, _ = parse_fragments(value)
    except Exception as exc:
        raise IngestError(source.label, ProblemCode.TRUNCATED, f"encapsulated PixelData unreadable: {exc}") from exc
    if fragments == 0:
        raise IngestError(source.label, ProblemCode.NO_PIXEL_DATA, "encapsulated PixelData has no fragments")
    if (offsets and len(offsets) != fmt.frames) or fragments < fmt.frames:
        found = len(offsets) if offsets else fragments
        raise IngestError(source.label, ProblemCode.FRAME_COUNT_MISMATCH,
                          f"NumberOfFrames is {fmt.frames} but the encapsulated PixelData holds {found}")


def _check_jpeg_colour(ds: Dataset, fmt: PixelFormat) -> tuple[PixelFormat, list[Problem]]:
    """Trust a JPEG codestream over an ``RGB`` header that contradicts it (see :mod:`dvt_us.ingest.jpeg`)."""
    jpeg = uids.UID(fmt.transfer_syntax_uid) in (uids.JPEGBaseline8Bit, uids.JPEGExtended12Bit)
    if not (jpeg and fmt.samples_per_pixel == 3 and fmt.photometric_interpretation == "RGB"):
        return fmt, []
    first = next(generate_frames(ds.PixelData, number_of_frames=fmt.frames), b"")
    if codestream_is_ycbcr(first):
        problem = Problem(ProblemCode.PHOTOMETRIC_MISMATCH, Severity.WARNING,
                          "PhotometricInterpretation is RGB but the JPEG codestream is YCbCr: decoded as YCbCr")
        return replace(fmt, codestream_ycbcr=True), [problem]
    return fmt, []


def _number(ds: Dataset, keyword: str, problems: list[Problem]) -> float:
    """A numeric attribute, 0 when absent or unreadable (with a problem quoting the bad value)."""
    try:
        return float(ds.get(keyword) or 0)
    except (TypeError, ValueError):
        raw = ds.get_item(keyword)
        shown = getattr(raw, "value", raw)
        problems.append(Problem(ProblemCode.BAD_ATTRIBUTE, Severity.WARNING, f"{keyword} {shown!r} is not a number"))
        return 0.0


def _frame_times_s(ds: Dataset, frames: int) -> tuple[tuple[float, ...], list[Problem]]:
    if frames == 1:
        return (0.0,), []
    problems: list[Problem] = []
    try:
        vector = ds.get("FrameTimeVector")
        increments = np.atleast_1d(np.asarray(vector, dtype=float)) / 1000.0 if vector is not None else None
    except (TypeError, ValueError):
        problems.append(Problem(ProblemCode.BAD_ATTRIBUTE, Severity.WARNING, "FrameTimeVector is not numeric"))
        increments = None
    if increments is not None and increments.shape == (frames,) and (increments[1:] > 0).all():
        increments[0] = 0.0
        return tuple(np.cumsum(increments).tolist()), problems
    frame_time_ms = _number(ds, "FrameTime", problems)
    if frame_time_ms <= 0:
        rate = _number(ds, "CineRate", problems) or _number(ds, "RecommendedDisplayFrameRate", problems)
        frame_time_ms = 1000.0 / rate if rate > 0 else 0.0
    if frame_time_ms <= 0:
        frame_time_ms = 1000.0 / DEFAULT_FRAME_RATE_HZ
        problems.append(Problem(ProblemCode.NO_FRAME_TIME, Severity.WARNING,
                                f"no FrameTime, FrameTimeVector or CineRate: {DEFAULT_FRAME_RATE_HZ:g} fps assumed"))
    return tuple(i * frame_time_ms / 1000.0 for i in range(frames)), problems


def _has_colour_pixels(source: Source, fmt: PixelFormat, views: list[View]) -> bool:
    frame = next(iter_raw_frames(source, fmt, indices=[0]))
    _, chroma = luma_chroma(frame)
    if chroma is None:
        return False
    # Thin coloured graphics (markers, calipers, cursors, text) vanish under an opening; flow blobs stay.
    mask = cv2.morphologyEx(colour_mask(chroma).astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    return any(
        float(mask[v.box.row0 : v.box.row1, v.box.col0 : v.box.col1].mean()) >= _MIN_COLOUR_FRACTION for v in views
    )


def _kind(source: Source, fmt: PixelFormat, regions: list[calibration.Region], views: list[View]) -> ClipKind:
    types = {r.data_type for r in regions}
    if not views:
        return ClipKind.NOT_ANALYSABLE
    if types & SPECTRAL_DOPPLER_TYPES:
        return ClipKind.SPECTRAL_DOPPLER
    if RegionDataType.COLOR_FLOW in types:
        return ClipKind.COLOUR_DOPPLER
    if fmt.is_colour and _has_colour_pixels(source, fmt, views):
        return ClipKind.COLOUR_DOPPLER
    return ClipKind.COMPRESSION_CINE if fmt.frames > 1 else ClipKind.STILL


def _clip_from_dataset(source: Source, ds: Dataset, file_size: int) -> Clip:
    modality = str(ds.get("Modality", "")).strip()
    if modality != "US":
        raise IngestError(source.label, ProblemCode.NOT_ULTRASOUND, f"Modality is {modality or 'missing'}, not US")
    for keyword in ("SOPInstanceUID", "SOPClassUID"):
        if not str(ds.get(keyword, "")).strip():
            raise IngestError(source.label, ProblemCode.MISSING_UID, f"no {keyword}")
    _check_complete(source, ds, file_size)
    fmt = _pixel_format(source, ds)
    _check_pixel_data(source, ds, fmt, file_size)
    fmt, colour_problems = _check_jpeg_colour(ds, fmt)
    identity, problems = identity_from_dataset(ds)
    problems += colour_problems
    regions, region_problems = calibration.read_regions(ds)
    views, view_problems = calibration.views_from_dataset(ds, regions)
    view_problems = region_problems + view_problems
    frame_times, time_problems = _frame_times_s(ds, fmt.frames)
    return Clip(
        source=source,
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        study_instance_uid=str(ds.get("StudyInstanceUID", "")),
        series_instance_uid=str(ds.get("SeriesInstanceUID", "")),
        identity=identity,
        pixels=fmt,
        views=tuple(views),
        frame_times_s=frame_times,
        kind=_kind(source, fmt, regions, views),
        problems=tuple(problems + view_problems + time_problems),
    )


def read_clip(source: Source) -> Clip:
    """Read and check one file; raise :class:`IngestError` with the reason if it cannot be used.

    Elements are parsed lazily by pydicom, so any attribute access can meet a malformed value: all of
    the header reading happens inside one guard that turns such failures into ``UNREADABLE``.
    """
    try:
        file_size = source.size_bytes
        with open_source(source) as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # malformed values are reported as problems, not warnings
            ds = _read_dataset(source, fh)
            return _clip_from_dataset(source, ds, file_size)
    except IngestError:
        raise
    except (OSError, EOFError) as exc:
        raise IngestError(source.label, ProblemCode.TRUNCATED, f"{type(exc).__name__}: {exc}") from exc
    except Exception as exc:  # a malformed header must never escape as a traceback
        raise IngestError(source.label, ProblemCode.UNREADABLE, f"{type(exc).__name__}: {exc}") from exc
