"""``sr.dcm``: the visit's findings as a DICOM SR TID 1500 Measurement Report (DESIGN.md section 5).

One TID 1501 measurement group per segment finding of report.json, each with the visit's TID 1502 time
point context; the structure and every code are in docs/dicom-sr.md. :func:`findings_from_sr` reads the
groups back, so that a consumer (or a test) never has to walk the content tree itself.

SOP class: **Comprehensive SR** (1.2.840.10008.5.1.4.1.1.88.33). The content needs NUM, CODE, TEXT,
UIDREF and IMAGE items, which Enhanced SR also allows; Comprehensive SR adds 2-D spatial coordinates on the
source frames (vein outlines, a natural next step) and is what OHIF and dcmjs read as TID 1500.
Comprehensive 3D SR is not used: its SCOORD3D needs a Frame of Reference, which ultrasound cines lack.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import highdicom as hd
import pydicom
from highdicom.coding_schemes import CodingSchemeIdentificationItem
from highdicom.sr.utils import find_content_items
from pydicom.dataset import Dataset
from pydicom.sr.coding import Code
from pydicom.valuerep import DT

from dvt_us import codes
from dvt_us.anatomy import LATERALITY_CODES, SEGMENTS, Laterality, Segment
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.report.atomic import atomic_path
from dvt_us.report.dicom_common import equipment, set_trial_visit
from dvt_us.report.provenance import Provenance
from dvt_us.report.sr_content import (
    COMPRESSIBILITY_CODES,
    PATENCY_CODES,
    THROMBUS_EXTENT_CODES,
    CompressionMeasures,
    GroupContext,
    SegmentRecord,
    measurement_group,
)
from dvt_us.report.visit_folder import VisitFolder

E = TypeVar("E")

SERIES_DESCRIPTION = "dvt-us venous duplex measurements"
VERIFYING_ORGANIZATION = "dvt-us core-lab review"
"""The Verifying Organization of a final SR whose report names none (``provenance.review.verifying_organization``,
from the service's ``review.verifying_organization``)."""
DEVICE_NAMESPACE = uuid.UUID("1b7d5c2a-8e44-5f0b-b6a3-4c9e2d7f1a60")
"""Namespace of the device observer UID: ``2.25.<uuid5(software name + version)>``, stable per version."""


def private_coding_scheme() -> CodingSchemeIdentificationItem:
    """The Coding Scheme Identification Sequence (0008,0110) item declaring ``99DVTUS``."""
    return CodingSchemeIdentificationItem(
        designator=codes.PRIVATE_SCHEME, name=codes.PRIVATE_SCHEME_NAME, version=codes.PRIVATE_SCHEME_VERSION,
        responsible_organization=codes.PRIVATE_SCHEME_RESPONSIBLE_ORGANIZATION,
    )


def _time_point(visit: VisitFolder, subject: str, visit_id: str) -> hd.sr.TimePointContext:
    """TID 1502: time point and protocol time point identifier = the visit id, order among the subject's visits.

    The type (CID 6146) is Baseline for the trial's baseline visit (report.json ``is_baseline``),
    Posttreatment for a visit compared with it (both trial designs treat at baseline), and not given for
    any other (e.g. a subject whose baseline study is missing). The subject time point identifier is
    ``"<subject>/<visit>"``; the visit's description goes to Clinical Trial Time Point Description.
    """
    names = [v.path.name for v in visit.subject_visits()]
    order = names.index(visit.path.name) + 1 if visit.path.name in names else None
    kind = None
    if visit.document.get("is_baseline"):
        kind = codes.BASELINE_TIME_POINT
    elif visit.document.get("change_since_baseline") is not None:
        kind = codes.POSTTREATMENT_TIME_POINT
    return hd.sr.TimePointContext(
        time_point=visit_id,
        time_point_type=kind,
        time_point_order=order,
        subject_time_point_identifier=f"{subject}/{visit_id}",
        protocol_time_point_identifier=visit_id,
    )


def _observation_context(provenance: Provenance) -> hd.sr.ObservationContext:
    """TID 1001: the device observer is the software that made the findings (report provenance).

    The subject is the patient of the Patient module (copied from the sources), so no TID 1006 items.
    """
    key = f"{provenance.software_name} {provenance.software_version}"
    device = hd.sr.DeviceObserverIdentifyingAttributes(
        uid=f"2.25.{uuid.uuid5(DEVICE_NAMESPACE, key).int}", name=provenance.software_name,
        manufacturer_name=provenance.software_name,
        model_name=f"{provenance.software_name} {provenance.software_version}",
    )
    return hd.sr.ObservationContext(
        observer_device_context=hd.sr.ObserverContext(observer_type=hd.sr.CodedConcept.from_code(codes.DEVICE_OBSERVER),
                                                      observer_identifying_attributes=device),
    )


def build_sr(visit: VisitFolder, *, series_number: int = 900, instance_number: int = 1) -> hd.sr.ComprehensiveSR:
    """The visit's TID 1500 Measurement Report as a Comprehensive SR instance (not yet written).

    Patient, study and clinical-trial attributes come from the visit's first analysed source, so the SR
    files into that study; every analysed source is evidence (Current Requested Procedure Evidence
    Sequence for that study, Pertinent Other Evidence for any other). SOP Instance UID and Series
    Instance UID are new at each call; Content Date/Time are now. Completion COMPLETE; UNVERIFIED and
    PRELIMINARY for model output, VERIFIED (by the signer of the final read, at the signature's time) and
    FINAL for a report written from a signed read (``provenance.review``).

    Raises ``ValueError`` when the visit has no analysed source or no segment finding.
    """
    doc = visit.document
    provenance = Provenance.from_json(doc["provenance"])
    headers = visit.source_headers()
    if not headers:
        raise ValueError(f"{visit.path}: no analysed source instance to reference; no SR can be written")
    records = [SegmentRecord.from_json(s) for s in doc["segments"]]
    if not records:
        raise ValueError(f"{visit.path}: report.json has no segment finding; TID 1500 needs one group at least")
    measures = {m.sop_instance_uid: m for m in (CompressionMeasures.from_clip_json(c) for c in visit.clips) if m}
    subject, visit_id = str(doc["subject"]), str(doc["visit"])
    ctx = GroupContext(
        subject=subject, time_point=_time_point(visit, subject, visit_id), provenance=provenance,
        sop_class_uids={str(h.SOPInstanceUID): str(h.SOPClassUID) for h in headers}, measures=measures,
    )
    report = hd.sr.MeasurementReport(
        observation_context=_observation_context(provenance),
        procedure_reported=codes.LOWER_EXTREMITY_VENOUS_DUPLEX,
        imaging_measurements=[measurement_group(ctx, r) for r in records],
    )
    sr = hd.sr.ComprehensiveSR(
        evidence=headers, content=report[0], series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), instance_number=instance_number, **equipment(provenance),
        is_complete=True, series_description=SERIES_DESCRIPTION, coding_schemes=[private_coding_scheme()],
        **_verification(doc),
    )
    signed_at = _final_signature(doc)
    if signed_at is not None:  # highdicom stamps the time of writing; the signature's time is what counts
        sr.VerifyingObserverSequence[0].VerificationDateTime = DT(datetime.fromisoformat(signed_at["signed_at"]))
    set_trial_visit(sr, doc)
    return sr


def _final_signature(doc: dict[str, Any]) -> dict[str, Any] | None:
    """The signature of the read a final report was written from (``provenance.review``), or None."""
    review = doc["provenance"].get("review")
    if review is None:
        return None
    final = review["final_read"]
    signature: dict[str, Any] = next(s for s in review["signatures"]
                                     if s["slot"] == final["slot"] and s["version"] == final["version"])
    return signature


def _verification(doc: dict[str, Any]) -> dict[str, Any]:
    """UNVERIFIED and PRELIMINARY for model output; VERIFIED and FINAL by the final read's signer once signed."""
    signature = _final_signature(doc)
    if signature is None:
        return {"is_final": False, "is_verified": False}
    name = str(signature["printed_name"]).replace("^", " ")[:64]
    return {"is_final": True, "is_verified": True, "verifying_observer_name": f"{name}^",
            "verifying_organization": str(doc["provenance"]["review"].get("verifying_organization")
                                          or VERIFYING_ORGANIZATION)[:64]}


def write_sr(visit: VisitFolder, path: Path) -> Path:
    """Build the visit's SR and write it to ``path`` (atomically: a temporary file, then a rename)."""
    sr = build_sr(visit)
    with atomic_path(path) as tmp:
        sr.save_as(tmp, enforce_file_format=True)
    return path


# ---------------------------------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SrFinding:
    """One measurement group of a dvt-us SR, decoded. Lengths in mm, areas in mm², ratios 0–1.

    ``side`` comes from the finding site's laterality, so it is ``UNASSIGNED`` for the unpaired IVC;
    ``thrombus_present`` / ``occlusion`` are ``None`` when the SR says Undetermined.
    """

    tracking_identifier: str
    tracking_uid: str
    side: Laterality
    segment: Segment
    thrombus_present: bool | None
    occlusion: bool | None
    thrombus: Thrombus
    compressibility: Compressibility
    patency: Patency
    rvt: bool | None
    flagged: bool
    reader_changed: bool
    grade: int | None
    confidence: float | None
    uncompressed_diameter_mm: float | None
    residual_diameter_mm: float | None
    diameter_ratio: float | None
    uncompressed_area_mm2: float | None
    compressed_area_mm2: float | None
    area_ratio: float | None
    source_instances: tuple[str, ...]
    """SOP Instance UIDs of the group's source images (the finding's clips)."""


def _key(code: Code | hd.sr.CodedConcept) -> tuple[str, str]:
    return (str(code.scheme_designator), str(code.value))


def _decode(table: dict[E, Code], value: hd.sr.CodedConcept, what: str) -> E:
    for member, code in table.items():
        if _key(code) == _key(value):
            return member
    raise ValueError(f"SR {what}: unexpected code ({value.value}, {value.scheme_designator}, {value.meaning!r})")


_PRESENCE: dict[bool | None, Code] = {True: codes.PRESENT, False: codes.ABSENT, None: codes.UNDETERMINED}
_YES_NO: dict[bool, Code] = {True: codes.YES, False: codes.NO}


def _segment_of(site: hd.sr.FindingSite) -> Segment:
    location, modifier = _key(site.value), site.topographical_modifier
    if location == _key(codes.LOWER_LIMB):
        return Segment.UNASSIGNED
    for segment, info in SEGMENTS.items():
        wanted_modifier = None if info.modifier is None else _key(info.modifier)
        if _key(info.code) == location and wanted_modifier == (None if modifier is None else _key(modifier)):
            return segment
    raise ValueError(f"SR finding site ({site.value.value}, {site.value.scheme_designator}) with modifier "
                     f"{modifier.meaning if modifier else None!r} is not a dvt-us segment")


def _state(m: hd.sr.Measurement) -> tuple[str, str] | None:
    for item in m[0].ContentSequence:
        if _key(item.name) == _key(codes.COMPRESSION_STATE):
            return _key(item.value)
    return None


def _number(group: hd.sr.MeasurementsAndQualitativeEvaluations, name: Code, state: Code | None = None) -> float | None:
    found = [m for m in group.get_measurements(name=name) if state is None or _state(m) == _key(state)]
    if len(found) > 1:
        raise ValueError(f"SR group {group.tracking_identifier!r}: {len(found)} {name.meaning!r} measurements")
    return float(found[0].value) if found else None


def _finding(group: hd.sr.MeasurementsAndQualitativeEvaluations) -> SrFinding:
    evaluations: dict[tuple[str, str], hd.sr.CodedConcept] = {
        _key(item.name): item.value for item in find_content_items(group[0], value_type=hd.sr.ValueTypeValues.CODE)
    }

    def coded(name: Code) -> hd.sr.CodedConcept:
        if _key(name) not in evaluations:
            raise ValueError(f"SR group {group.tracking_identifier!r} has no {name.meaning!r} evaluation")
        return evaluations[_key(name)]

    sites = group.finding_sites
    if len(sites) != 1:
        raise ValueError(f"SR group {group.tracking_identifier!r}: {len(sites)} finding sites, expected 1")
    laterality = sites[0].laterality
    grade = _number(group, codes.THROMBUS_GRADE)
    return SrFinding(
        tracking_identifier=str(group.tracking_identifier), tracking_uid=str(group.tracking_uid),
        side=Laterality.UNASSIGNED if laterality is None else _decode(LATERALITY_CODES, laterality, "laterality"),
        segment=_segment_of(sites[0]),
        thrombus_present=_decode(_PRESENCE, coded(codes.THROMBUS), "thrombus"),
        occlusion=_decode(_PRESENCE, coded(codes.OCCLUSION), "occlusion"),
        thrombus=_decode(THROMBUS_EXTENT_CODES, coded(codes.THROMBUS_EXTENT), "thrombus extent"),
        compressibility=_decode(COMPRESSIBILITY_CODES, coded(codes.COMPRESSIBILITY), "compressibility"),
        patency=_decode(PATENCY_CODES, coded(codes.PATENCY), "patency"),
        rvt=(_decode(_PRESENCE, coded(codes.RESIDUAL_VEIN_THROMBOSIS), "RVT")
             if _key(codes.RESIDUAL_VEIN_THROMBOSIS) in evaluations else None),
        flagged=_decode(_YES_NO, coded(codes.FLAGGED_FOR_READER), "reader flag"),
        reader_changed=_decode(_YES_NO, coded(codes.READER_CHANGED), "reader changed"),
        grade=None if grade is None else round(grade),
        confidence=_number(group, codes.CERTAINTY_OF_FINDING),
        uncompressed_diameter_mm=_number(group, codes.VESSEL_LUMEN_DIAMETER, codes.UNCOMPRESSED),
        residual_diameter_mm=_number(group, codes.VESSEL_LUMEN_DIAMETER, codes.MAXIMAL_COMPRESSION),
        diameter_ratio=_number(group, codes.DIAMETER_RATIO),
        uncompressed_area_mm2=_number(group, codes.VESSEL_LUMEN_CROSS_SECTIONAL_AREA, codes.UNCOMPRESSED),
        compressed_area_mm2=_number(group, codes.VESSEL_LUMEN_CROSS_SECTIONAL_AREA, codes.MAXIMAL_COMPRESSION),
        area_ratio=_number(group, codes.AREA_RATIO),
        source_instances=tuple(str(s.referenced_sop_instance_uid) for s in group.source_images),
    )


def findings_from_sr(ds: Dataset) -> list[SrFinding]:
    """Decode the measurement groups of a dvt-us SR (as read by ``pydicom.dcmread``), in document order."""
    sr = hd.sr.ComprehensiveSR.from_dataset(ds)
    content = sr.content
    if not isinstance(content, hd.sr.MeasurementReport):
        raise ValueError("not a TID 1500 Measurement Report (root Content Template is not 1500)")
    return [_finding(g) for g in content.get_image_measurement_groups()]


def read_sr(path: Path) -> list[SrFinding]:
    """:func:`findings_from_sr` of the SR file at ``path``."""
    return findings_from_sr(pydicom.dcmread(path))
