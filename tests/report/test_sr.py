"""sr.dcm: the TID 1500 Measurement Report of a visit, written, validated by dciodvfy and read back."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import highdicom as hd
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as pydicom_codes

from dvt_us import codes
from dvt_us.anatomy import SEGMENTS, Laterality, Segment
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.report.sr import SrFinding, build_sr, findings_from_sr, read_sr, write_sr
from dvt_us.report.sr_content import SegmentRecord
from dvt_us.report.visit_folder import VisitFolder
from tests.report.conftest import dciodvfy_errors

ACCEPTED_WARNINGS = {
    # dciodvfy knows only the standard's coding schemes; 99DVTUS is declared in the Coding Scheme
    # Identification Sequence, which dciodvfy does not consult (docs/dicom-sr.md).
    "Warning - Unrecognized defined term <99DVTUS> for value 1 of attribute <Coding Scheme Designator>",
}


@pytest.fixture(scope="module")
def written(visits: list[VisitFolder], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The SR of each visit, by visit id."""
    out = tmp_path_factory.mktemp("sr")
    return {v.document["visit"]: write_sr(v, out / v.path.name / "sr.dcm") for v in visits}


def _groups(path: Path) -> list[hd.sr.MeasurementsAndQualitativeEvaluations]:
    sr = hd.sr.srread(path)
    assert isinstance(sr, hd.sr.ComprehensiveSR)
    assert isinstance(sr.content, hd.sr.MeasurementReport)
    groups: list[hd.sr.MeasurementsAndQualitativeEvaluations] = sr.content.get_image_measurement_groups()
    return groups


def _item(items: Any, name: Any) -> Dataset:
    found = [i for i in items if i.ConceptNameCodeSequence[0].CodeValue == name.value
             and i.ConceptNameCodeSequence[0].CodingSchemeDesignator == name.scheme_designator]
    assert len(found) == 1, f"{name.meaning}: {len(found)} items"
    return found[0]


def _code(item: Dataset) -> tuple[str, str]:
    code = item.ConceptCodeSequence[0]
    return (code.CodingSchemeDesignator, code.CodeValue)


def _key(code: Any) -> tuple[str, str]:
    return (code.scheme_designator, code.value)


# ---------------------------------------------------------------------------------------------------
# Validity
# ---------------------------------------------------------------------------------------------------


def test_every_sr_passes_dciodvfy(written: dict[str, Path], dciodvfy: str) -> None:
    assert set(written) == {"BASELINE", "D10"}
    for visit, path in written.items():
        errors, warnings = dciodvfy_errors(dciodvfy, path)
        assert errors == [], f"{visit}: {errors}"
        assert set(warnings) == ACCEPTED_WARNINGS, f"{visit}: new dciodvfy warnings {set(warnings) - ACCEPTED_WARNINGS}"


def test_write_is_atomic_and_leaves_no_temporary_file(visits: list[VisitFolder], tmp_path: Path) -> None:
    path = write_sr(visits[0], tmp_path / "out" / "sr.dcm")
    assert path == tmp_path / "out" / "sr.dcm"
    assert sorted(p.name for p in path.parent.iterdir()) == ["sr.dcm"]
    ds = pydicom.dcmread(path)
    assert ds.file_meta.MediaStorageSOPClassUID == ds.SOPClassUID == pydicom.uid.ComprehensiveSRStorage


def test_sr_files_into_the_study_of_the_first_analysed_source(visits: list[VisitFolder],
                                                              written: dict[str, Path]) -> None:
    for visit in visits:
        ds = pydicom.dcmread(written[visit.document["visit"]])
        first = visit.source_headers()[0]
        assert ds.StudyInstanceUID == first.StudyInstanceUID
        for keyword in ("PatientID", "PatientName", "StudyID", "ClinicalTrialSubjectID", "ClinicalTrialProtocolID",
                        "ClinicalTrialSiteID"):
            assert ds[keyword].value == first[keyword].value, keyword
        assert ds.Modality == "SR" and ds.SeriesNumber == 900 and ds.InstanceNumber == 1
        assert ds.ContentDate and ds.ContentTime
        assert (ds.CompletionFlag, ds.VerificationFlag) == ("COMPLETE", "UNVERIFIED")
        schemes = {item.CodingSchemeDesignator for item in ds.CodingSchemeIdentificationSequence}
        assert codes.PRIVATE_SCHEME in schemes


def test_every_analysed_source_is_evidence(visits: list[VisitFolder], written: dict[str, Path]) -> None:
    for visit in visits:
        sr = hd.sr.srread(written[visit.document["visit"]])
        evidence = {sop for _, _, sop, _ in sr.get_evidence()}
        analysed = {c["sop_instance_uid"] for c in visit.clips if c["analysed"]}
        assert analysed and evidence == analysed


def test_new_uids_at_each_rendering_and_stable_tracking_uids(visits: list[VisitFolder]) -> None:
    first, second = build_sr(visits[0]), build_sr(visits[0])
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.SeriesInstanceUID != second.SeriesInstanceUID
    assert first.StudyInstanceUID == second.StudyInstanceUID
    # A segment keeps its tracking UID across visits (longitudinal tracking, TID 4108); segments differ.
    by_visit = [{f.tracking_identifier: f.tracking_uid for f in findings_from_sr(build_sr(v))} for v in visits]
    common = set(by_visit[0]) & set(by_visit[1])
    assert common
    assert all(by_visit[0][t] == by_visit[1][t] for t in common)
    assert len(set(by_visit[0].values())) == len(by_visit[0])


# ---------------------------------------------------------------------------------------------------
# Round trip
# ---------------------------------------------------------------------------------------------------


def _close(got: float | None, want: float | None) -> bool:
    """Equal within 1e-9 relative (NUM keeps a 64-bit Floating Point Value beside the 16-character DS)."""
    if got is None or want is None:
        return got is None and want is None
    return bool(got == pytest.approx(want, rel=1e-9))


def _expected_side(record: SegmentRecord) -> Laterality:
    unpaired = record.segment is not Segment.UNASSIGNED and not SEGMENTS[record.segment].paired
    return Laterality.UNASSIGNED if unpaired else record.side


def test_findings_round_trip(visits: list[VisitFolder], written: dict[str, Path]) -> None:
    for visit in visits:
        found = read_sr(written[visit.document["visit"]])
        records = [SegmentRecord.from_json(s) for s in visit.document["segments"]]
        assert len(found) == len(records) > 0
        for got, want in zip(found, records, strict=True):
            where = f"{visit.document['visit']} {want.tracking_identifier}"
            assert (got.segment, got.side) == (want.segment, _expected_side(want)), where
            assert got.tracking_identifier == want.tracking_identifier
            assert got.thrombus is want.thrombus, where
            if want.thrombus is Thrombus.INDETERMINATE:
                assert (got.thrombus_present, got.occlusion) == (None, None), where
            else:
                assert got.thrombus_present is (want.thrombus is not Thrombus.NONE), where
                assert got.occlusion is (want.thrombus is Thrombus.OCCLUSIVE), where
            assert got.compressibility is want.compressibility, where
            assert got.patency is want.patency, where
            assert (got.grade, got.rvt, got.flagged, got.reader_changed) == (
                want.grade, want.rvt, want.flagged, want.reader_changed), where
            assert _close(got.residual_diameter_mm, want.residual_diameter_mm), where
            assert _close(got.diameter_ratio, want.diameter_ratio), where
            assert _close(got.confidence, want.confidence), where
            assert got.source_instances == want.clips, where


def test_the_round_trip_covers_the_interesting_cases(visits: list[VisitFolder], written: dict[str, Path]) -> None:
    """The phantom must exercise what the round trip compares, or the comparison proves little."""
    found = [f for path in written.values() for f in read_sr(path)]
    assert {f.compressibility for f in found} >= {Compressibility.COMPRESSIBLE, Compressibility.INDETERMINATE}
    assert any(f.thrombus_present for f in found) and any(f.thrombus_present is False for f in found)
    assert any(f.residual_diameter_mm is not None for f in found)
    assert any(f.residual_diameter_mm is None for f in found)


def test_diameters_and_areas_match_the_measured_clip(visits: list[VisitFolder], written: dict[str, Path]) -> None:
    checked = 0
    for visit in visits:
        clips = {c["sop_instance_uid"]: c for c in visit.clips}
        segments = {f"{s['side']} {s['segment']}": s for s in visit.document["segments"]}
        for got in read_sr(written[visit.document["visit"]]):
            measured_clip = segments[got.tracking_identifier].get("measured_clip")
            if got.residual_diameter_mm is None:
                assert got.uncompressed_diameter_mm is None and got.area_ratio is None
                assert measured_clip is None or not clips[measured_clip]["calibrated"]
                continue
            assert measured_clip in got.source_instances, got.tracking_identifier
            m = clips[measured_clip]["measurements"]
            assert got.residual_diameter_mm == pytest.approx(m["residual_diameter_mm"], rel=1e-9)
            assert got.uncompressed_diameter_mm == pytest.approx(m["uncompressed_diameter_mm"], rel=1e-9)
            assert got.uncompressed_area_mm2 == pytest.approx(m["baseline_area_mm2"], rel=1e-9)
            assert got.compressed_area_mm2 == pytest.approx(m["min_area_mm2"], rel=1e-9)
            assert got.area_ratio == pytest.approx(m["area_ratio"], rel=1e-9)
            # Uncompressed and residual are told apart by the compression state, not by order: swapped, the
            # stored ratio (residual / uncompressed) would be the inverse of theirs.
            assert got.diameter_ratio == pytest.approx(m["diameter_ratio"], rel=1e-9)
            assert got.diameter_ratio == pytest.approx(got.residual_diameter_mm / got.uncompressed_diameter_mm)
            checked += 1
    assert checked > 0


def test_an_uncalibrated_clip_gives_ratios_but_no_millimetres(visits: list[VisitFolder], tmp_path: Path) -> None:
    chosen: dict[str, Any] = {}

    def edit(doc: dict[str, Any]) -> None:
        segment = next(s for s in doc["segments"] if s.get("measured_clip"))
        clip = next(c for c in doc["clips"] if c["sop_instance_uid"] == segment["measured_clip"])
        clip.update(calibrated=False, spacing_mm=None)
        segment["residual_diameter_mm"] = None  # as the findings report an uncalibrated clip
        chosen.update(segment)

    visit = _edited_visit(visits[0], tmp_path, edit)
    got = next(f for f in read_sr(write_sr(visit, tmp_path / "sr.dcm"))
               if f.tracking_identifier == f"{chosen['side']} {chosen['segment']}")
    assert got.residual_diameter_mm is None and got.uncompressed_diameter_mm is None
    assert got.uncompressed_area_mm2 is None and got.compressed_area_mm2 is None
    assert got.diameter_ratio == pytest.approx(chosen["diameter_ratio"])


def test_measurements_reference_their_key_frames(visits: list[VisitFolder], written: dict[str, Path]) -> None:
    checked = 0
    for visit in visits:
        clips = {c["sop_instance_uid"]: c for c in visit.clips}
        for group in _groups(written[visit.document["visit"]]):
            for m in group.get_measurements(name=codes.VESSEL_LUMEN_DIAMETER):
                state = _code(_item(m[0].ContentSequence, codes.COMPRESSION_STATE))
                (image,) = m.referenced_images
                clip = clips[image.referenced_sop_instance_uid]
                frame = clip["key_frames"]["uncompressed" if state == _key(codes.UNCOMPRESSED) else "max_compression"]
                assert image.referenced_frame_numbers == [frame + 1]
                algorithm = _item(m[0].ContentSequence, hd.sr.CodedConcept("111001", "DCM", "Algorithm Name"))
                assert algorithm.TextValue == visit.document["provenance"]["models"][0]["name"]
                assert m.unit == codes.MILLIMETER
                checked += 1
    assert checked > 0


# ---------------------------------------------------------------------------------------------------
# Context and anatomy
# ---------------------------------------------------------------------------------------------------


def _time_point(group: hd.sr.MeasurementsAndQualitativeEvaluations) -> dict[str, Any]:
    items = group[0].ContentSequence
    order = _item(items, hd.sr.CodedConcept("126073", "DCM", "Time Point Order"))
    return {
        "time_point": _item(items, hd.sr.CodedConcept("C2348792", "UMLS", "Time Point")).TextValue,
        "protocol": _item(items, hd.sr.CodedConcept("126071", "DCM", "Protocol Time Point Identifier")).TextValue,
        "type": _code(_item(items, hd.sr.CodedConcept("126072", "DCM", "Time Point Type"))),
        "order": int(order.MeasuredValueSequence[0].NumericValue),
    }


def test_time_point_context_says_the_visit(written: dict[str, Path]) -> None:
    expected = {
        "BASELINE": {"time_point": "BASELINE", "protocol": "BASELINE", "type": _key(codes.BASELINE_TIME_POINT),
                     "order": 1},
        "D10": {"time_point": "D10", "protocol": "D10", "type": _key(codes.POSTTREATMENT_TIME_POINT), "order": 2},
    }
    for visit, path in written.items():
        groups = _groups(path)
        assert groups
        for group in groups:
            assert _time_point(group) == expected[visit], visit
        ds = pydicom.dcmread(path)
        assert ds.ClinicalTrialTimePointID == visit
    assert pydicom.dcmread(written["D10"]).ClinicalTrialTimePointDescription == "Day 10"


def test_finding_sites_carry_laterality_and_segment_modifier(written: dict[str, Path]) -> None:
    femoral = 0
    for path in written.values():
        for group, finding in zip(_groups(path), read_sr(path), strict=True):
            (site,) = group.finding_sites
            info = SEGMENTS[finding.segment]
            assert _key(site.value) == _key(info.code)
            assert site.laterality is not None, finding.tracking_identifier
            assert _key(site.laterality) == _key(codes.RIGHT if finding.tracking_identifier[0] == "R" else codes.LEFT)
            if finding.segment in (Segment.FV_P, Segment.FV_M, Segment.FV_D):
                femoral += 1
                assert site.topographical_modifier is not None
                assert _key(site.topographical_modifier) == _key(info.modifier)
            elif info.modifier is None:
                assert site.topographical_modifier is None
    assert femoral > 0, "the phantom protocol images the femoral vein: FV-* groups expected"


def _edited_visit(visit: VisitFolder, tmp_path: Path, edit: Callable[[dict[str, Any]], None]) -> VisitFolder:
    """A copy of ``visit`` (alone under its subject) whose report.json ``edit`` changed in place."""
    dst = tmp_path / visit.path.parent.name / visit.path.name
    shutil.copytree(visit.path, dst)
    doc = json.loads((dst / "report.json").read_text())
    edit(doc)
    (dst / "report.json").write_text(json.dumps(doc))
    return VisitFolder.open(dst)


def test_unpaired_and_unassigned_segments(visits: list[VisitFolder], tmp_path: Path, dciodvfy: str) -> None:
    """The IVC has no laterality; an unassigned segment is the lateralised lower limb. Both read back."""

    def edit(doc: dict[str, Any]) -> None:
        doc["segments"][0].update(segment="IVC", side="R")
        doc["segments"][1].update(segment="unassigned", side="L")

    path = write_sr(_edited_visit(visits[0], tmp_path, edit), tmp_path / "sr.dcm")
    errors, warnings = dciodvfy_errors(dciodvfy, path)
    assert errors == [] and set(warnings) == ACCEPTED_WARNINGS
    sr = pydicom.dcmread(path)
    ivc, loose = findings_from_sr(sr)[:2]
    assert (ivc.tracking_identifier, ivc.segment, ivc.side) == ("IVC", Segment.IVC, Laterality.UNASSIGNED)
    assert (loose.tracking_identifier, loose.segment, loose.side) == ("L unassigned", Segment.UNASSIGNED,
                                                                      Laterality.LEFT)
    groups = hd.sr.ComprehensiveSR.from_dataset(sr).content.get_image_measurement_groups()
    ivc_site, loose_site = (g.finding_sites[0] for g in groups[:2])
    assert ivc_site.laterality is None and _key(ivc_site.value) == _key(codes.INFERIOR_VENA_CAVA)
    assert _key(loose_site.value) == _key(codes.LOWER_LIMB)


# ---------------------------------------------------------------------------------------------------
# The reader refuses what it does not understand
# ---------------------------------------------------------------------------------------------------


def _first_evaluation(ds: Dataset, name: Any) -> Dataset:
    groups = _item(ds.ContentSequence, pydicom_codes.DCM.ImagingMeasurements).ContentSequence
    return _item(groups[0].ContentSequence, name)


def test_reader_rejects_an_unknown_compressibility_code(written: dict[str, Path]) -> None:
    ds = pydicom.dcmread(written["D10"])
    item = _first_evaluation(ds, codes.COMPRESSIBILITY)
    item.ConceptCodeSequence[0].CodeValue = "SQUISHY"
    with pytest.raises(ValueError, match="SQUISHY"):
        findings_from_sr(ds)


def test_reader_rejects_a_group_without_thrombus(written: dict[str, Path]) -> None:
    ds = pydicom.dcmread(written["BASELINE"])
    groups = _item(ds.ContentSequence, pydicom_codes.DCM.ImagingMeasurements).ContentSequence
    content = groups[0].ContentSequence
    content.remove(_item(content, codes.THROMBUS))
    with pytest.raises(ValueError, match="Thrombus"):
        findings_from_sr(ds)


def test_report_json_with_an_unknown_value_is_refused() -> None:
    entry = {"side": "R", "segment": "CFV", "compressibility": "squishy", "thrombus": "none", "patency": "patent",
             "grade": 0, "rvt": None, "confidence": 0.5, "flagged": False, "reader_changed": False, "clips": []}
    with pytest.raises(ValueError, match="squishy"):
        SegmentRecord.from_json(entry)


def test_reader_changed_is_written(visits: list[VisitFolder], tmp_path: Path) -> None:
    """A reader's change shows in the SR (the flag is coded, not dropped)."""

    def edit(doc: dict[str, Any]) -> None:
        doc["segments"][0].update(reader_changed=True, compressibility=Compressibility.NONCOMPRESSIBLE.value,
                                  patency=Patency.OCCLUDED.value)

    found: list[SrFinding] = findings_from_sr(build_sr(_edited_visit(visits[1], tmp_path, edit)))
    assert found[0].reader_changed is True
    assert (found[0].compressibility, found[0].patency) == (Compressibility.NONCOMPRESSIBLE, Patency.OCCLUDED)
    assert all(f.reader_changed is False for f in found[1:])


def test_model_output_is_unverified_and_a_signed_final_report_verified(visits: list[VisitFolder], tmp_path: Path,
                                                                       dciodvfy: str) -> None:
    """Until a reader signs, the SR is UNVERIFIED/PRELIMINARY; written from a signed read, VERIFIED/FINAL."""
    model = build_sr(visits[0])
    assert (model.VerificationFlag, model.PreliminaryFlag) == ("UNVERIFIED", "PRELIMINARY")
    assert "VerifyingObserverSequence" not in model

    def signed(doc: dict[str, Any]) -> None:
        signature = {"printed_name": "Dr Ada Adjudicator", "username": "ada", "meaning": "adjudicator",
                     "signed_at": "2026-12-01T09:30:15.250000+00:00", "content_sha256": "0" * 64}
        doc["provenance"]["review"] = {
            "how": "adjudicated", "rules": {},
            "final_read": {"slot": "adjudication", "version": 2, "read_id": 3, "content_sha256": "0" * 64},
            "signatures": [{"slot": "read_1", "version": 1, **signature, "printed_name": "Dr Ann Reader"},
                           {"slot": "adjudication", "version": 1, **signature, "printed_name": "Old Signer"},
                           {"slot": "adjudication", "version": 2, **signature}]}

    path = write_sr(_edited_visit(visits[0], tmp_path, signed), tmp_path / "sr.dcm")
    errors, warnings = dciodvfy_errors(dciodvfy, path)
    assert errors == [] and set(warnings) <= ACCEPTED_WARNINGS
    final = pydicom.dcmread(path)
    assert (final.VerificationFlag, final.PreliminaryFlag) == ("VERIFIED", "FINAL")
    [observer] = final.VerifyingObserverSequence
    assert str(observer.VerifyingObserverName) == "Dr Ada Adjudicator^"
    assert observer.VerificationDateTime.startswith("20261201093015.25")
