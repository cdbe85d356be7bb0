"""The content of the dvt-us SR: report.json as typed records, and one TID 1501 group per segment finding.

report.json is converted once, here, into small frozen dataclasses (:class:`SegmentRecord`,
:class:`CompressionMeasures`; :class:`~dvt_us.report.provenance.Provenance`); everything downstream works
on those. The codes are
in :mod:`dvt_us.codes`; the tree they make is drawn in docs/dicom-sr.md.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import highdicom as hd
from pydicom.sr.coding import Code

from dvt_us import codes
from dvt_us.anatomy import LATERALITY_CODES, SEGMENTS, Segment
from dvt_us.findings.segment_findings import SegmentFindings
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.report.json_report import segment_findings_from_json
from dvt_us.report.provenance import ModelInfo, Provenance

TRACKING_NAMESPACE = uuid.UUID("6f1f3b0e-3c1a-5d7e-9a51-2f0d9c3e8b47")
"""Namespace of the name-based (UUID v5) tracking UIDs: ``2.25.<uuid5(subject side segment)>``."""

COMPRESSIBILITY_CODES: dict[Compressibility, Code] = {
    Compressibility.COMPRESSIBLE: codes.COMPRESSIBLE,
    Compressibility.PARTIAL: codes.PARTIALLY_COMPRESSIBLE,
    Compressibility.NONCOMPRESSIBLE: codes.NONCOMPRESSIBLE,
    Compressibility.INDETERMINATE: codes.UNDETERMINED,
}
PATENCY_CODES: dict[Patency, Code] = {
    Patency.PATENT: codes.PATENT,
    Patency.PARTIALLY_PATENT: codes.PARTIALLY_PATENT,
    Patency.OCCLUDED: codes.OCCLUDED,
    Patency.INDETERMINATE: codes.UNDETERMINED,
}
THROMBUS_EXTENT_CODES: dict[Thrombus, Code] = {
    Thrombus.NONE: codes.NO_THROMBUS,
    Thrombus.NONOCCLUSIVE: codes.NONOCCLUSIVE_THROMBUS,
    Thrombus.OCCLUSIVE: codes.OCCLUSIVE_THROMBUS,
    Thrombus.INDETERMINATE: codes.UNDETERMINED,
}


# ---------------------------------------------------------------------------------------------------
# report.json, typed
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CompressionMeasures:
    """Measurements of one compression clip (report.json ``clips[i].measurements``); mm, mm², ratios.

    Frames are 0-based indices into the source instance (DICOM frame number − 1). A value the pipeline
    could not measure is ``None`` (``null`` in the JSON).
    """

    sop_instance_uid: str
    frames: int
    """Number of frames of the source instance (report.json ``clips[i].frames``)."""
    uncompressed_frame: int
    max_compression_frame: int
    baseline_area_mm2: float | None
    min_area_mm2: float | None
    area_ratio: float | None
    uncompressed_diameter_mm: float | None
    residual_diameter_mm: float | None
    diameter_ratio: float | None
    thrombus_area_fraction: float | None
    calibrated: bool = True
    """False when the clip had no spacing: its lengths and areas are pixels and are not written in mm."""

    @classmethod
    def from_clip_json(cls, clip: Mapping[str, Any]) -> CompressionMeasures | None:
        """The measurements of a clip entry, or ``None`` when the clip has none (not a compression clip)."""
        m = clip.get("measurements")
        if not m or m.get("uncompressed_frame") is None or m.get("max_compression_frame") is None:
            return None

        def number(key: str) -> float | None:
            value = m.get(key)
            return None if value is None else float(value)

        return cls(
            sop_instance_uid=str(clip["sop_instance_uid"]), frames=int(clip["frames"]),
            uncompressed_frame=int(m["uncompressed_frame"]), max_compression_frame=int(m["max_compression_frame"]),
            baseline_area_mm2=number("baseline_area_mm2"), min_area_mm2=number("min_area_mm2"),
            area_ratio=number("area_ratio"), uncompressed_diameter_mm=number("uncompressed_diameter_mm"),
            residual_diameter_mm=number("residual_diameter_mm"), diameter_ratio=number("diameter_ratio"),
            thrombus_area_fraction=number("thrombus_area_fraction"), calibrated=bool(clip["calibrated"]),
        )


@dataclass(frozen=True)
class SegmentRecord(SegmentFindings):
    """One segment finding of report.json (``segments[i]``): its findings, and whether a reader changed them."""

    reader_changed: bool = False

    @classmethod
    def from_json(cls, entry: Mapping[str, Any]) -> SegmentRecord:
        """Convert a ``segments[i]`` object; raises ``ValueError`` quoting an unknown enum value."""
        findings = segment_findings_from_json(entry)
        return cls(**{f.name: getattr(findings, f.name) for f in dataclasses.fields(findings)},
                   reader_changed=bool(entry["reader_changed"]))

    @property
    def tracking_identifier(self) -> str:
        """``"<side> <segment>"`` (``"L FV-M"``); the unpaired IVC is just ``"IVC"``."""
        if self.segment is not Segment.UNASSIGNED and not SEGMENTS[self.segment].paired:
            return str(self.segment.value)
        return f"{self.side.value} {self.segment.value}"

    def measured_clip_measures(self, measures: Mapping[str, CompressionMeasures]) -> CompressionMeasures | None:
        """The clip whose diameters the segment reports (its most severe determinate clip), if any."""
        return measures.get(self.measured_clip) if self.measured_clip is not None else None


def tracking_uid(subject: str, record: SegmentRecord) -> str:
    """A tracking UID that is the same for a subject's segment at every visit (TID 4108, longitudinal).

    Name-based: ``2.25.`` + the integer of UUID v5 of ``"<subject> <tracking identifier>"``.
    """
    return f"2.25.{uuid.uuid5(TRACKING_NAMESPACE, f'{subject} {record.tracking_identifier}').int}"


# ---------------------------------------------------------------------------------------------------
# TID 1501 measurement group of one segment
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GroupContext:
    """What every measurement group of one SR shares."""

    subject: str
    time_point: hd.sr.TimePointContext
    provenance: Provenance
    sop_class_uids: Mapping[str, str]
    """SOPClassUID of every analysed source instance, by SOP Instance UID (the SR's evidence)."""
    measures: Mapping[str, CompressionMeasures]
    """Compression measurements by SOP Instance UID."""


def finding_site(record: SegmentRecord) -> hd.sr.FindingSite:
    """The segment's SCT code (CID 12110/12114) with laterality (CID 244) and CID 12116 modifier.

    The IVC has no laterality; an unassigned segment is coded as the (lateralised) lower limb.
    """
    side = LATERALITY_CODES.get(record.side)
    if record.segment is Segment.UNASSIGNED:
        return hd.sr.FindingSite(codes.LOWER_LIMB, laterality=side)
    info = SEGMENTS[record.segment]
    return hd.sr.FindingSite(info.code, laterality=side if info.paired else None,
                             topographical_modifier=info.modifier)


def _algorithm(model: ModelInfo) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(name=model.name, version=model.version,
                                         parameters=[f"sha256={model.sha256}"])


def software_algorithm(provenance: Provenance) -> hd.sr.AlgorithmIdentification:
    """TID 4019 of the software, with each model (name, version, sha256) as an algorithm parameter."""
    return hd.sr.AlgorithmIdentification(
        name=provenance.software_name, version=provenance.software_version,
        parameters=[f"{m.name} {m.version} sha256={m.sha256}" for m in provenance.models],
    )


def _images(ctx: GroupContext, uid: str, frames: Sequence[int], n_frames: int) -> list[hd.sr.SourceImageForMeasurement]:
    """A Source of Measurement reference; 1-based frame numbers only for a multi-frame source."""
    numbers = sorted({f + 1 for f in frames}) if n_frames > 1 else None
    return [hd.sr.SourceImageForMeasurement(ctx.sop_class_uids[uid], uid, referenced_frame_numbers=numbers)]


def _measurement(ctx: GroupContext, name: Code, value: float | None, unit: Code, *, model: ModelInfo | None,
                 images: list[hd.sr.SourceImageForMeasurement] | None = None,
                 state: Code | None = None) -> list[hd.sr.Measurement]:
    """A TID 300 measurement (empty list when ``value`` is None); ``state`` becomes a row-2 concept modifier.

    ``model`` None: made by the software's rules, identified as the software (TID 4019 with the models).
    """
    if value is None:
        return []
    algorithm = software_algorithm(ctx.provenance) if model is None else _algorithm(model)
    m = hd.sr.Measurement(name=name, value=value, unit=unit, algorithm_id=algorithm,
                          referenced_images=images or None)
    if state is not None:
        modifier = hd.sr.CodeContentItem(name=codes.COMPRESSION_STATE, value=state,
                                         relationship_type=hd.sr.RelationshipTypeValues.HAS_CONCEPT_MOD)
        m[0].ContentSequence.insert(0, modifier)
    return [m]


def _measurements(ctx: GroupContext, record: SegmentRecord) -> list[hd.sr.Measurement]:
    seg, clf = ctx.provenance.segmentation, ctx.provenance.classifier
    clip = record.measured_clip_measures(ctx.measures)
    m = _measurement
    out: list[hd.sr.Measurement] = []
    if clip is not None and clip.sop_instance_uid in ctx.sop_class_uids:
        uid, n = clip.sop_instance_uid, clip.frames
        before = _images(ctx, uid, [clip.uncompressed_frame], n)
        after = _images(ctx, uid, [clip.max_compression_frame], n)
        both = _images(ctx, uid, [clip.uncompressed_frame, clip.max_compression_frame], n)
        if clip.calibrated:  # an uncalibrated clip measures pixels: only its ratios are written
            out += m(ctx, codes.VESSEL_LUMEN_DIAMETER, clip.uncompressed_diameter_mm, codes.MILLIMETER, model=seg,
                     images=before, state=codes.UNCOMPRESSED)
            out += m(ctx, codes.VESSEL_LUMEN_DIAMETER, clip.residual_diameter_mm, codes.MILLIMETER, model=seg,
                     images=after, state=codes.MAXIMAL_COMPRESSION)
            out += m(ctx, codes.VESSEL_LUMEN_CROSS_SECTIONAL_AREA, clip.baseline_area_mm2, codes.SQUARE_MILLIMETER,
                     model=seg, images=before, state=codes.UNCOMPRESSED)
            out += m(ctx, codes.VESSEL_LUMEN_CROSS_SECTIONAL_AREA, clip.min_area_mm2, codes.SQUARE_MILLIMETER,
                     model=seg, images=after, state=codes.MAXIMAL_COMPRESSION)
        out += m(ctx, codes.DIAMETER_RATIO, record.diameter_ratio, codes.RATIO, model=seg, images=both)
        out += m(ctx, codes.AREA_RATIO, clip.area_ratio, codes.RATIO, model=seg, images=both)
        out += m(ctx, codes.THROMBUS_AREA_FRACTION, clip.thrombus_area_fraction, codes.RATIO, model=seg,
                 images=after)
    else:  # a reader's value without the clip it came from: no image reference to give
        out += m(ctx, codes.VESSEL_LUMEN_DIAMETER, record.residual_diameter_mm, codes.MILLIMETER, model=seg,
                 state=codes.MAXIMAL_COMPRESSION)
        out += m(ctx, codes.DIAMETER_RATIO, record.diameter_ratio, codes.RATIO, model=seg)
    out += m(ctx, codes.FLOW_FILL_FRACTION, record.flow_fill_fraction, codes.RATIO, model=seg)
    if record.grade is not None:  # a rule over the segment's clips (DESIGN.md section 4): the software's
        out += m(ctx, codes.THROMBUS_GRADE, float(record.grade), codes.NO_UNITS, model=None)
    # The classifier's probability when the segment has a compression clip; else the flow rule's 1.0 / 0.0.
    has_compression = any(uid in ctx.measures for uid in record.clips)
    out += m(ctx, codes.CERTAINTY_OF_FINDING, record.confidence, codes.RATIO, model=clf if has_compression else None)
    return out


def _present(value: bool | None) -> Code:
    return codes.UNDETERMINED if value is None else (codes.PRESENT if value else codes.ABSENT)


def _evaluations(record: SegmentRecord) -> list[hd.sr.QualitativeEvaluation]:
    thrombus = None if record.thrombus is Thrombus.INDETERMINATE else record.thrombus is not Thrombus.NONE
    occlusion = None if record.thrombus is Thrombus.INDETERMINATE else record.thrombus is Thrombus.OCCLUSIVE
    pairs: list[tuple[Code, Code]] = [
        (codes.THROMBUS, _present(thrombus)),
        (codes.OCCLUSION, _present(occlusion)),
        (codes.THROMBUS_EXTENT, THROMBUS_EXTENT_CODES[record.thrombus]),
        (codes.COMPRESSIBILITY, COMPRESSIBILITY_CODES[record.compressibility]),
        (codes.PATENCY, PATENCY_CODES[record.patency]),
    ]
    if record.rvt is not None:
        pairs.append((codes.RESIDUAL_VEIN_THROMBOSIS, _present(record.rvt)))
    pairs += [
        (codes.FLAGGED_FOR_READER, codes.YES if record.flagged else codes.NO),
        (codes.READER_CHANGED, codes.YES if record.reader_changed else codes.NO),
    ]
    return [hd.sr.QualitativeEvaluation(name, value) for name, value in pairs]


def measurement_group(ctx: GroupContext, record: SegmentRecord) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    """TID 1501 group of one segment finding: tracking, time point, finding site, measurements, evaluations.

    Source images of the group are the finding's clips that the SR has as evidence (analysed sources).
    """
    sources = [hd.sr.SourceImageForMeasurementGroup(ctx.sop_class_uids[uid], uid)
               for uid in record.clips if uid in ctx.sop_class_uids]
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=tracking_uid(ctx.subject, record),
                                                     identifier=record.tracking_identifier),
        time_point_context=ctx.time_point,
        algorithm_id=software_algorithm(ctx.provenance),
        finding_sites=[finding_site(record)],
        measurements=_measurements(ctx, record),
        qualitative_evaluations=_evaluations(record),
        source_images=sources or None,
    )
