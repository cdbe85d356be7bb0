"""``seg/<SOPInstanceUID>.dcm``: one DICOM Segmentation (BINARY) of each analysed clip's masks.

Segments 1 vein lumen, 2 thrombus, 3 artery are the labels of ``masks/<SOPInstanceUID>.npz``; each SEG frame
is one segment on one source frame, in the source pixel grid, and empty frames are left out, except the last
source frame of segment 1, kept so that the SEG says how many frames its source has (a reader gets the whole
``[frames, rows, cols]`` stack back from the SEG alone).

Ultrasound without a Frame of Reference (highdicom issue #284)
-------------------------------------------------------------
US cines have no Frame of Reference, and highdicom 0.28 builds a SEG without one only for a single source
frame (``Segmentation`` raises "Only a single frame is supported when the source image has no Frame of
Reference UID"). Fabricating a Frame of Reference would be wrong: it would oblige Plane Position/Orientation
(Patient) per frame, and every frame of a hand-held cine would then claim one position in one patient
coordinate system, which viewers read as a (degenerate) volume. Instead this module writes the layout that
PS3.3 A.51.5.1 prescribes when there is no Frame of Reference, which is the layout highdicom itself writes for
a single frame, extended by one time dimension:

- no Frame of Reference module, no Pixel Measures, Plane Position or Plane Orientation functional groups
  (they are conditional on a Frame of Reference; the Shared Functional Groups item is empty, as highdicom's);
- per frame a Derivation Image item naming the source instance and its Referenced Frame Number (multi-frame
  sources), Spatial Locations Preserved YES: the SEG frame is pixel for pixel the source frame (same Rows,
  Columns), so the source's Sequence of Ultrasound Regions calibrates it, region by region. A single Pixel
  Spacing would misstate a split-screen or annotation-space pixel, which is why US keeps spacing per region;
- dimensions (ReferencedSegmentNumber in SegmentIdentificationSequence, TemporalPositionIndex in
  FrameContentSequence), TemporalPositionIndex being the source frame number: frames of a cine differ in
  time, not in space.

highdicom reads these files (``hd.seg.segread``; ``get_pixels_by_source_frame``), which
:func:`masks_from_seg` uses. When highdicom supports multi-frame sources without a Frame of Reference,
:func:`build_seg` can call ``hd.seg.Segmentation`` instead; the tests compare with highdicom's own output for
the single-frame colour Doppler case.

Memory
------
highdicom keeps the label array, makes a boolean plane per frame and segment, appends each packed plane to a
list and joins the list: the label stack plus about twice the packed output. Here one histogram pass finds
the non-empty planes, each is packed into one preallocated buffer, and :func:`build_seg` drops its reference
to the stack before copying the buffer into the Pixel Data bytes: the peak is the mask stack plus the packed
output (3 segments: at most 3/8 of the stack) plus one plane.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.uid import ExplicitVRLittleEndian, SegmentationStorage

from dvt_us import codes as dvt_codes
from dvt_us.anatomy import LATERALITY_CODES, SEGMENTS, Laterality, Segment
from dvt_us.report.atomic import atomic_path
from dvt_us.report.dicom_common import equipment, set_trial_visit
from dvt_us.report.labels import ARTERY, LABEL_NAMES, LABEL_RGB, LUMEN, THROMBUS
from dvt_us.report.provenance import Provenance
from dvt_us.report.visit_folder import VisitFolder


@dataclass(frozen=True)
class _Label:
    number: int
    name: str
    category: Code
    kind: Code
    in_vein: bool
    """Whether the clip's vein is the segment's anatomic region (the artery lies beside it)."""
    rgb: tuple[int, int, int]
    """The report overlays' colour (:data:`dvt_us.report.labels.LABEL_RGB`)."""


LABELS: tuple[_Label, ...] = (
    _Label(LUMEN, LABEL_NAMES[LUMEN], dvt_codes.ANATOMICAL_STRUCTURE, dvt_codes.LUMEN_OF_BLOOD_VESSEL, True,
           LABEL_RGB[LUMEN]),
    _Label(THROMBUS, LABEL_NAMES[THROMBUS], dvt_codes.MORPHOLOGICALLY_ABNORMAL_STRUCTURE, dvt_codes.THROMBUS, True,
           LABEL_RGB[THROMBUS]),
    _Label(ARTERY, LABEL_NAMES[ARTERY], dvt_codes.ANATOMICAL_STRUCTURE, dvt_codes.ARTERY, False, LABEL_RGB[ARTERY]),
)


def build_seg(
    visit: VisitFolder, sop_instance_uid: str, *, series_number: int = 901,
    series_instance_uid: str | None = None, instance_number: int = 1,
) -> hd.seg.Segmentation:
    """The SEG of one analysed clip's masks.

    Parameters
    ----------
    visit
        The visit folder; ``masks/<sop_instance_uid>.npz`` and ``sources/<sop_instance_uid>.dcm`` are read.
    sop_instance_uid
        SOPInstanceUID of the analysed source clip.
    series_number, series_instance_uid, instance_number
        SeriesNumber (0020,0011), SeriesInstanceUID (0020,000E) (new when ``None``) and InstanceNumber
        (0020,0013); :func:`write_segs` gives every SEG of a visit the same series.

    Returns
    -------
    highdicom.seg.Segmentation
        New SOP Instance UID, ContentDate/Time now, patient and study of the source, frames in segment
        order, then source frame order.

    Raises
    ------
    KeyError
        The clip is not in report.json or was not analysed.
    ValueError
        The masks do not match the source grid or hold labels other than 0–3.
    """
    clip = _analysed_clip(visit, sop_instance_uid)
    source = visit.source_header(sop_instance_uid)
    masks = visit.masks(sop_instance_uid)
    source_frames = int(source.get("NumberOfFrames", 1) or 1)
    if masks.shape != (source_frames, source.Rows, source.Columns):
        raise ValueError(f"{sop_instance_uid}: masks {masks.shape}, source grid "
                         f"{(source_frames, source.Rows, source.Columns)} [frames, rows, cols]")
    planes = _planes(masks)
    seg = _header(visit.document["provenance"], clip, source, series_number=series_number,
                  series_instance_uid=series_instance_uid or hd.UID(), instance_number=instance_number)
    set_trial_visit(seg, visit.document)
    reference = seg.SourceImageSequence[0]
    organization = hd.UID()
    seg.DimensionOrganizationSequence = [_item(DimensionOrganizationUID=organization)]
    seg.DimensionIndexSequence = [
        _item(DimensionOrganizationUID=organization, DimensionIndexPointer=0x0062000B,
              FunctionalGroupPointer=0x0062000A, DimensionDescriptionLabel="Referenced Segment Number"),
        _item(DimensionOrganizationUID=organization, DimensionIndexPointer=0x00209128,
              FunctionalGroupPointer=0x00209111, DimensionDescriptionLabel="Source Frame Number"),
    ]
    seg.SharedFunctionalGroupsSequence = [Dataset()]
    multi_frame = source_frames > 1
    seg.PerFrameFunctionalGroupsSequence = [_frame_item(reference, number, frame + 1, multi_frame=multi_frame)
                                            for number, frame in planes]
    seg.NumberOfFrames = len(planes)
    packed = _pack(masks, planes)
    del masks  # the bytes copy below then costs no more than the mask stack did
    seg.PixelData = packed.tobytes()
    del packed
    return hd.seg.Segmentation.from_dataset(seg, copy=False)


def write_segs(visit: VisitFolder, out_dir: Path) -> list[Path]:
    """Write ``out_dir/<source SOPInstanceUID>.dcm`` for every analysed clip, in report order.

    All SEGs of one call share a new series (SeriesNumber 901); each file appears only when complete.

    Returns
    -------
    list[pathlib.Path]
        The files written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    series = hd.UID()
    written: list[Path] = []
    for number, uid in enumerate(_analysed_clips(visit), 1):
        seg = build_seg(visit, uid, series_instance_uid=series, instance_number=number)
        path = out_dir / f"{uid}.dcm"
        with atomic_path(path) as tmp:
            seg.save_as(tmp, enforce_file_format=True)
        written.append(path)
    return written


def masks_from_seg(ds: Dataset, *, number_of_frames: int | None = None) -> NDArray[np.uint8]:
    """The label map of a SEG written by :func:`build_seg`, in the source pixel grid.

    Parameters
    ----------
    ds
        The SEG (a ``pydicom.Dataset`` or ``highdicom.seg.Segmentation``; a Dataset is not modified).
    number_of_frames
        NumberOfFrames of the source, when known. ``None``: up to the last referenced source frame, which for
        a SEG of :func:`build_seg` is the source's last frame (always encoded, see ``_planes``).

    Returns
    -------
    numpy.ndarray
        uint8 ``[frames, rows, cols]``: 0 background, else the segment number (1 lumen, 2 thrombus,
        3 artery); frames with no segment are 0.
    """
    seg = ds if isinstance(ds, hd.seg.Segmentation) else hd.seg.Segmentation.from_dataset(ds, copy=True)
    sources = {uids[2] for uids in seg.get_source_image_uids()}
    if len(sources) != 1:
        raise ValueError(f"SEG references {len(sources)} source instances, expected one")
    (source,) = sources
    items = [item.DerivationImageSequence[0].SourceImageSequence[0] for item in seg.PerFrameFunctionalGroupsSequence]
    if not any("ReferencedFrameNumber" in item for item in items):
        labels = seg.get_pixels_by_source_instance([source], combine_segments=True, dtype=np.uint8)
        return np.asarray(labels, np.uint8)
    last = max(int(item.ReferencedFrameNumber) for item in items)
    frames = number_of_frames if number_of_frames is not None else last
    if frames < last:
        raise ValueError(f"SEG references frame {last} of a source with {frames} frames")
    labels = seg.get_pixels_by_source_frame(source, list(range(1, frames + 1)), combine_segments=True,
                                           assert_missing_frames_are_empty=True, dtype=np.uint8)
    return np.asarray(labels, np.uint8)


# ---------------------------------------------------------------------------------------------------


def _analysed_clips(visit: VisitFolder) -> dict[str, dict[str, Any]]:
    """The clips of report.json that were analysed and have masks, by SOPInstanceUID, in report order."""
    return {c["sop_instance_uid"]: c for c in visit.clips if c["analysed"] and c.get("mask")}


def _analysed_clip(visit: VisitFolder, sop_instance_uid: str) -> dict[str, Any]:
    analysed = _analysed_clips(visit)
    if sop_instance_uid not in analysed:
        raise KeyError(f"{sop_instance_uid} is not an analysed clip of {visit.path}; analysed: "
                       f"{', '.join(analysed) or 'none'}")
    return analysed[sop_instance_uid]


def _header(provenance: dict[str, Any], clip: dict[str, Any], source: Dataset, *, series_number: int,
            series_instance_uid: str, instance_number: int) -> hd.SOPClass:
    """Everything but the frames: patient/study of the source, series, equipment, image, segments, references.

    The algorithm is report.json's segmentation model (``provenance.models[0]``, vein-seg), as in the SR.
    """
    software = Provenance.from_json(provenance)
    model = software.segmentation
    seg = hd.SOPClass(
        study_instance_uid=source.StudyInstanceUID, series_instance_uid=series_instance_uid,
        series_number=series_number, sop_instance_uid=hd.UID(), sop_class_uid=SegmentationStorage,
        instance_number=instance_number, modality="SEG", **equipment(software),
        device_serial_number=software.software_version, transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=f"{software.software_name} vein segmentation",
    )
    seg.copy_patient_and_study_information(source)
    if "SpecificCharacterSet" in source:
        seg.SpecificCharacterSet = source.SpecificCharacterSet
    seg.PatientOrientation = source.get("PatientOrientation", "")
    seg.ImageType = ["DERIVED", "PRIMARY"]
    seg.ContentLabel = "VEIN_SEG"
    seg.ContentDescription = f"{model.name} {model.version}: {clip['side']} {clip['segment']}"[:64]
    seg.ContentCreatorName = ""
    seg.ImageComments = (f"{software.software_name} {software.software_version}; model {model.name} "
                         f"{model.version} sha256 {model.sha256}; {provenance.get('trained_on', '')}")
    seg.LossyImageCompression = source.get("LossyImageCompression", "00")
    for keyword in ("LossyImageCompressionRatio", "LossyImageCompressionMethod"):
        if seg.LossyImageCompression == "01" and keyword in source:
            setattr(seg, keyword, source[keyword].value)
    reference = _item(ReferencedSOPClassUID=source.SOPClassUID, ReferencedSOPInstanceUID=source.SOPInstanceUID)
    seg.ReferencedSeriesSequence = [_item(SeriesInstanceUID=source.SeriesInstanceUID,
                                          ReferencedInstanceSequence=[_copy(reference)])]
    seg.SourceImageSequence = [reference]
    seg.SamplesPerPixel, seg.PhotometricInterpretation = 1, "MONOCHROME2"
    seg.Rows, seg.Columns = source.Rows, source.Columns
    seg.BitsAllocated, seg.BitsStored, seg.HighBit, seg.PixelRepresentation = 1, 1, 0, 0
    seg.PresentationLUTShape = "IDENTITY"
    seg.SegmentationType = "BINARY"
    seg.SegmentsOverlap = "NO"
    algorithm = hd.AlgorithmIdentificationSequence(model.name, dvt_codes.ARTIFICIAL_INTELLIGENCE, model.version)
    seg.SegmentSequence = [_segment_description(label, clip, algorithm) for label in LABELS]
    return seg


def _planes(masks: NDArray[np.uint8]) -> list[tuple[int, int]]:
    """``(segment number, 0-based frame)`` of every non-empty plane, segment-major; one pass over the stack.

    When the last source frame has no label, its (empty) segment 1 plane is kept: the SEG then says how many
    frames the source has (:func:`masks_from_seg`), and a clip with no label at all still has one frame.
    """
    present = np.zeros((masks.shape[0], 256), bool)
    for f, frame in enumerate(masks):
        present[f] = np.bincount(frame.ravel(), minlength=256) > 0
    stray = np.flatnonzero(present[:, len(LABELS) + 1 :].any(axis=0))
    if stray.size:
        raise ValueError(f"labels {(stray + len(LABELS) + 1).tolist()} outside 0–{len(LABELS)}")
    if not present[-1, 1 : len(LABELS) + 1].any():
        present[-1, LABELS[0].number] = True
    return [(label.number, f) for label in LABELS for f in np.flatnonzero(present[:, label.number]).tolist()]


def _pack(masks: NDArray[np.uint8], planes: Sequence[tuple[int, int]]) -> NDArray[np.uint8]:
    """Pixel Data of a BINARY SEG: planes bit-packed back to back (PS3.5 8.1.1, little bit order), even length.

    Frames are not byte-aligned when rows × cols is not a multiple of 8: a frame then starts inside the
    previous one's last byte.
    """
    pixels = masks.shape[1] * masks.shape[2]
    nbytes = (len(planes) * pixels + 7) // 8
    out = np.zeros(nbytes + nbytes % 2, np.uint8)
    bit = 0
    for number, frame in planes:
        flat = (masks[frame] == number).ravel()
        byte, offset = divmod(bit, 8)
        if offset:
            head = min(8 - offset, pixels)
            out[byte] |= np.packbits(np.concatenate([np.zeros(offset, bool), flat[:head]]), bitorder="little")[0]
            flat, byte = flat[head:], byte + 1
        packed = np.packbits(flat, bitorder="little")
        out[byte : byte + packed.size] = packed
        bit += pixels
    return out


def _frame_item(reference: Dataset, segment: int, frame_number: int, *, multi_frame: bool) -> Dataset:
    """Per-frame functional groups: Derivation Image, Frame Content and Segment Identification."""
    source = _copy(reference)
    if multi_frame:
        source.ReferencedFrameNumber = frame_number
    source.SpatialLocationsPreserved = "YES"
    source.PurposeOfReferenceCodeSequence = [hd.sr.CodedConcept.from_code(dvt_codes.SOURCE_IMAGE_FOR_PROCESSING)]
    derivation = _item(SourceImageSequence=[source],
                       DerivationCodeSequence=[hd.sr.CodedConcept.from_code(dvt_codes.SEGMENTATION_DERIVATION)])
    return _item(
        DerivationImageSequence=[derivation],
        FrameContentSequence=[_item(DimensionIndexValues=[segment, frame_number], TemporalPositionIndex=frame_number)],
        SegmentIdentificationSequence=[_item(ReferencedSegmentNumber=segment)],
    )


def _segment_description(label: _Label, clip: dict[str, Any], algorithm: Any) -> hd.seg.SegmentDescription:
    """Segment Sequence item; the anatomic region is the clip's vein (with laterality and level) when known."""
    side = LATERALITY_CODES.get(Laterality(clip["side"]))
    segment = Segment.parse(clip["segment"])
    vein = SEGMENTS.get(segment)
    description = hd.seg.SegmentDescription(
        segment_number=label.number, segment_label=label.name, segmented_property_category=label.category,
        segmented_property_type=label.kind, algorithm_type="AUTOMATIC", algorithm_identification=algorithm,
        anatomic_regions=[vein.code] if label.in_vein and vein is not None else None,
        display_color=hd.color.CIELabColor.from_rgb(*label.rgb),
    )
    if label.in_vein and vein is not None:
        modifiers = [m for m in (side if vein.paired else None, vein.modifier) if m is not None]
        if modifiers:
            description.AnatomicRegionSequence[0].AnatomicRegionModifierSequence = [
                hd.sr.CodedConcept.from_code(m) for m in modifiers]
    elif side is not None:
        property_type = description.SegmentedPropertyTypeCodeSequence[0]
        property_type.SegmentedPropertyTypeModifierCodeSequence = [hd.sr.CodedConcept.from_code(side)]
    return description


def _item(**attributes: Any) -> Dataset:
    item = Dataset()
    for keyword, value in attributes.items():
        setattr(item, keyword, value)
    return item


def _copy(item: Dataset) -> Dataset:
    return _item(**{element.keyword: element.value for element in item})
