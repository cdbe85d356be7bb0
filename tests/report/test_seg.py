"""seg/<SOPInstanceUID>.dcm: DICOM SEG of each analysed clip, validated by dciodvfy and read back by highdicom."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tracemalloc
from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
import pytest
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes as pydicom_codes

from dvt_us import codes
from dvt_us.anatomy import SEGMENTS, Segment
from dvt_us.report.seg import build_seg, masks_from_seg, write_segs
from dvt_us.report.visit_folder import VisitFolder
from tests.report.conftest import dciodvfy_errors

ACCEPTED_WARNINGS: set[str] = set()
"""dciodvfy has nothing to warn about; a new warning fails the test."""


@pytest.fixture(scope="module")
def written(visits: list[VisitFolder], tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """The SEGs of each visit, by visit folder name."""
    out = tmp_path_factory.mktemp("seg")
    return {v.path.name: write_segs(v, out / v.path.name) for v in visits}


def _analysed(visit: VisitFolder) -> list[dict[str, object]]:
    return [c for c in visit.clips if c["analysed"] and c["mask"]]


def _clip_of_kind(visit: VisitFolder, kind: str) -> str:
    return str(next(c["sop_instance_uid"] for c in _analysed(visit) if c["kind"] == kind))


def test_one_seg_per_analysed_clip_in_one_series_of_the_source_study(
    visits: list[VisitFolder], written: dict[str, list[Path]]
) -> None:
    series: set[str] = set()
    for visit in visits:
        paths = written[visit.path.name]
        assert [p.name for p in paths] == [f"{c['sop_instance_uid']}.dcm" for c in _analysed(visit)]
        assert sorted(p.name for p in paths[0].parent.iterdir()) == sorted(p.name for p in paths), "tmp file left"
        segs = [pydicom.dcmread(p) for p in paths]
        visit_series = {s.SeriesInstanceUID for s in segs}
        assert len(visit_series) == 1 and not visit_series & series, "one new series per visit"
        series |= visit_series
        assert [int(s.InstanceNumber) for s in segs] == list(range(1, len(segs) + 1))
        assert len({s.SOPInstanceUID for s in segs}) == len(segs)
        for path, seg in zip(paths, segs, strict=True):
            source = visit.source_header(path.stem)
            assert seg.SOPClassUID == pydicom.uid.SegmentationStorage and seg.Modality == "SEG"
            assert int(seg.SeriesNumber) == 901 and seg.SOPInstanceUID != source.SOPInstanceUID
            for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber",
                            "ClinicalTrialSubjectID", "ClinicalTrialTimePointID"):
                assert seg[keyword].value == source[keyword].value, keyword
            assert seg.ContentDate >= source.StudyDate


def test_rendering_again_gives_new_instances(visits: list[VisitFolder], tmp_path: Path) -> None:
    first, again = (write_segs(visits[0], tmp_path / name) for name in ("first", "again"))
    a, b = (pydicom.dcmread(paths[0]) for paths in (first, again))
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.SeriesInstanceUID != b.SeriesInstanceUID
    assert a.PixelData == b.PixelData and a.StudyInstanceUID == b.StudyInstanceUID


def test_every_seg_passes_dciodvfy(dciodvfy: str, written: dict[str, list[Path]]) -> None:
    for paths in written.values():
        for path in paths:
            errors, warnings = dciodvfy_errors(dciodvfy, path)
            assert errors == [], f"{path.name}: {errors}"
            assert set(warnings) == ACCEPTED_WARNINGS, f"{path.name}: {warnings}"


@pytest.mark.parametrize("kind", ["compression-cine", "colour-doppler"])
def test_masks_round_trip_bit_for_bit(visits: list[VisitFolder], written: dict[str, list[Path]], kind: str) -> None:
    for visit in visits:
        uid = _clip_of_kind(visit, kind)
        path = next(p for p in written[visit.path.name] if p.stem == uid)
        seg = hd.seg.segread(path)
        expected = visit.masks(uid)
        assert set(np.unique(expected)) >= {0, 1, 3}, "a clip without vein and artery proves little"
        back = masks_from_seg(seg)
        assert back.dtype == np.uint8 and back.shape == expected.shape
        np.testing.assert_array_equal(back, expected)
        # A plain pydicom Dataset reads the same, and is left as it was.
        ds = pydicom.dcmread(path)
        np.testing.assert_array_equal(masks_from_seg(ds), expected)
        assert type(ds) is pydicom.FileDataset


def test_every_clip_round_trips(visits: list[VisitFolder], written: dict[str, list[Path]]) -> None:
    for visit in visits:
        for path in written[visit.path.name]:
            np.testing.assert_array_equal(masks_from_seg(hd.seg.segread(path)), visit.masks(path.stem), path.name)


def test_each_frame_references_its_source_frame(visits: list[VisitFolder], written: dict[str, list[Path]]) -> None:
    for visit in visits:
        for path in written[visit.path.name]:
            seg = hd.seg.segread(path)
            source = visit.source_header(path.stem)
            masks = visit.masks(path.stem)
            multi_frame = masks.shape[0] > 1
            seen = []
            for i, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
                ref = item.DerivationImageSequence[0].SourceImageSequence[0]
                assert ref.ReferencedSOPInstanceUID == source.SOPInstanceUID
                assert ref.ReferencedSOPClassUID == source.SOPClassUID and ref.SpatialLocationsPreserved == "YES"
                frame = int(ref.ReferencedFrameNumber) if multi_frame else 1
                assert ("ReferencedFrameNumber" in ref) == multi_frame
                segment = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
                content = item.FrameContentSequence[0]
                assert list(content.DimensionIndexValues) == [segment, frame]
                assert int(content.TemporalPositionIndex) == frame
                # The SEG frame is the source frame's label, pixel for pixel.
                np.testing.assert_array_equal(seg.get_frame(i + 1), masks[frame - 1] == segment)
                seen.append((segment, frame))
            assert seen == sorted(seen), "segment-major, then source frame order"
            present = {(s, f + 1) for s in (1, 2, 3) for f in range(masks.shape[0]) if (masks[f] == s).any()}
            last_empty = {(1, masks.shape[0])} if not masks[-1].any() else set()
            assert set(seen) == present | last_empty, "empty frames are omitted (but for the last, see seg.py)"


def test_geometry_is_the_source_grid_without_a_frame_of_reference(
    visits: list[VisitFolder], written: dict[str, list[Path]]
) -> None:
    path = written[visits[0].path.name][1]
    seg = pydicom.dcmread(path)
    source = visits[0].source_header(path.stem)
    assert "FrameOfReferenceUID" not in source and "FrameOfReferenceUID" not in seg
    assert (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
    assert seg.SharedFunctionalGroupsSequence[0] == Dataset()
    for item in seg.PerFrameFunctionalGroupsSequence:
        assert not {"PixelMeasuresSequence", "PlanePositionSequence", "PlaneOrientationSequence"} & set(item.dir())
    pointers = [(d.DimensionIndexPointer, d.FunctionalGroupPointer) for d in seg.DimensionIndexSequence]
    assert pointers == [(0x0062000B, 0x0062000A), (0x00209128, 0x00209111)]
    assert seg.SegmentationType == "BINARY" and seg.BitsAllocated == 1


def test_segments_are_coded_with_the_clip_anatomy_and_the_model(visits: list[VisitFolder],
                                                                 written: dict[str, list[Path]]) -> None:
    for visit in visits:
        model = next(m for m in visit.document["provenance"]["models"] if m["name"] == "vein-seg")
        for clip in _analysed(visit):
            seg = hd.seg.segread(next(p for p in written[visit.path.name] if p.stem == clip["sop_instance_uid"]))
            assert seg.segment_numbers == [1, 2, 3]
            lumen, thrombus, artery = (seg.get_segment_description(n) for n in (1, 2, 3))
            assert (lumen.segment_label, thrombus.segment_label, artery.segment_label) == (
                "vein lumen", "thrombus", "artery")
            assert lumen.segmented_property_category == pydicom_codes.SCT.AnatomicalStructure
            assert lumen.segmented_property_type == pydicom_codes.SCT.LumenOfBloodVessel
            assert thrombus.segmented_property_category == pydicom_codes.SCT.MorphologicallyAbnormalStructure
            assert thrombus.segmented_property_type == codes.THROMBUS
            assert artery.segmented_property_type == pydicom_codes.SCT.Artery
            for description in (lumen, thrombus, artery):
                algorithm = description.algorithm_identification[0]
                assert (algorithm.AlgorithmName, algorithm.AlgorithmVersion) == (model["name"], model["version"])
                assert algorithm.AlgorithmFamilyCodeSequence[0].CodeValue == "123110"
                assert description.algorithm_type.value == "AUTOMATIC"
            info = SEGMENTS[Segment.parse(str(clip["segment"]))]
            side = {"R": codes.RIGHT, "L": codes.LEFT}[str(clip["side"])]
            for description in (lumen, thrombus):
                (region,) = description.AnatomicRegionSequence
                assert (region.CodeValue, region.CodingSchemeDesignator) == (info.code.value, "SCT")
                modifiers = {m.CodeValue for m in region.AnatomicRegionModifierSequence}
                assert modifiers == {side.value} | ({info.modifier.value} if info.modifier else set())
            assert "AnatomicRegionSequence" not in artery
            artery_type = artery.SegmentedPropertyTypeCodeSequence[0]
            assert artery_type.SegmentedPropertyTypeModifierCodeSequence[0].CodeValue == side.value
            assert model["sha256"] in seg.ImageComments


def test_unpaired_and_unassigned_segments(visits: list[VisitFolder], tmp_path: Path) -> None:
    """The IVC has no laterality; a clip of unassigned segment has no region but keeps its side."""
    root = tmp_path / "visit"
    shutil.copytree(visits[0].path, root, ignore=shutil.ignore_patterns("key_frames"))
    doc = json.loads((root / "report.json").read_text())
    cines = [c for c in doc["clips"] if c["analysed"] and c["kind"] == "compression-cine"]
    cines[0].update(segment="IVC", side="R")
    cines[1].update(segment="unassigned", side="L")
    (root / "report.json").write_text(json.dumps(doc))
    visit = VisitFolder.open(root)
    ivc = build_seg(visit, cines[0]["sop_instance_uid"]).SegmentSequence[0]
    (region,) = ivc.AnatomicRegionSequence
    assert region.CodeValue == codes.INFERIOR_VENA_CAVA.value and "AnatomicRegionModifierSequence" not in region
    loose = build_seg(visit, cines[1]["sop_instance_uid"]).SegmentSequence
    for description in loose:
        assert "AnatomicRegionSequence" not in description
        modifier = description.SegmentedPropertyTypeCodeSequence[0].SegmentedPropertyTypeModifierCodeSequence[0]
        assert modifier.CodeValue == codes.LEFT.value


def test_single_frame_seg_matches_what_highdicom_builds(visits: list[VisitFolder]) -> None:
    """For the one case highdicom supports (no Frame of Reference, one source frame) our SEG is highdicom's."""
    visit = visits[0]
    uid = _clip_of_kind(visit, "colour-doppler")
    ours = build_seg(visit, uid)
    descriptions = [hd.seg.SegmentDescription.from_dataset(d) for d in ours.SegmentSequence]
    theirs = hd.seg.Segmentation(
        [visit.source_header(uid)], visit.masks(uid), "BINARY", descriptions, hd.UID(), 901, hd.UID(), 1,
        "dvt-us", "dvt-us", "0.1.0", "0.1.0", omit_empty_frames=True,
    )
    assert ours.NumberOfFrames == theirs.NumberOfFrames
    if (ours.NumberOfFrames * ours.Rows * ours.Columns + 7) // 8 % 2:  # odd: one pad byte
        # highdicom 0.28.2 pads odd Pixel Data with b"0" (0x30); PS3.5 7.1 wants 0x00.
        assert ours.PixelData[-1:] == b"\x00" and theirs.PixelData[-1:] in (b"0", b"\x00")
    assert ours.PixelData[:-1] == theirs.PixelData[:-1]
    for a, b in zip(ours.PerFrameFunctionalGroupsSequence, theirs.PerFrameFunctionalGroupsSequence, strict=True):
        assert a.DerivationImageSequence == b.DerivationImageSequence
        assert a.SegmentIdentificationSequence == b.SegmentIdentificationSequence
    assert ours.ReferencedSeriesSequence == theirs.ReferencedSeriesSequence
    assert ours.SourceImageSequence == theirs.SourceImageSequence
    ours_pointers = [d.DimensionIndexPointer for d in ours.DimensionIndexSequence]
    assert [d.DimensionIndexPointer for d in theirs.DimensionIndexSequence] == ours_pointers[:1]
    # What we add: the time dimension (above), PatientOrientation (dciodvfy requires it), provenance comments.
    extra = set(ours.dir()) - set(theirs.dir())
    assert extra == {"ContentCreatorName", "ImageComments", "PatientOrientation", "SeriesDescription"}
    assert set(theirs.dir()) - set(ours.dir()) == {"ContributingEquipmentSequence"}


# ---------------------------------------------------------------------------------------------------
# Edge cases on a copy of a visit with made-up masks.
# ---------------------------------------------------------------------------------------------------


def _visit_with_masks(visit: VisitFolder, uid: str, masks: NDArray[np.uint8], root: Path) -> VisitFolder:
    """A copy of ``visit`` whose clip ``uid`` has ``masks`` (and a source header of that grid)."""
    shutil.copytree(visit.path, root, ignore=shutil.ignore_patterns("key_frames"))
    header = pydicom.dcmread(root / "sources" / f"{uid}.dcm")
    header.NumberOfFrames, header.Rows, header.Columns = masks.shape
    header.save_as(root / "sources" / f"{uid}.dcm")
    np.savez_compressed(root / "masks" / f"{uid}.npz", labels=masks)
    return VisitFolder.open(root)


def test_frames_that_do_not_fill_whole_bytes_and_an_empty_last_frame(visits: list[VisitFolder],
                                                                      tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    masks = rng.integers(0, 4, (6, 13, 11), dtype=np.uint8)  # 143 pixels: frames start mid-byte
    masks[2] = 0
    masks[-1] = 0
    uid = _clip_of_kind(visits[0], "compression-cine")
    visit = _visit_with_masks(visits[0], uid, masks, tmp_path / "visit")
    seg = build_seg(visit, uid)
    assert len(seg.PixelData) % 2 == 0
    path = tmp_path / "odd.dcm"
    seg.save_as(path)
    back = masks_from_seg(hd.seg.segread(path))
    np.testing.assert_array_equal(back, masks)
    assert back.shape[0] == 6, "the empty last frame still counts"


def test_bad_masks_and_clips_are_refused(visits: list[VisitFolder], tmp_path: Path) -> None:
    visit = visits[0]
    uid = _clip_of_kind(visit, "compression-cine")
    stray = visit.masks(uid).copy()
    stray[0, 0, 0] = 7
    with pytest.raises(ValueError, match=r"labels \[7\] outside"):
        build_seg(_visit_with_masks(visit, uid, stray, tmp_path / "stray"), uid)
    with pytest.raises(KeyError, match="not an analysed clip"):
        build_seg(visit, "1.2.3")
    wrong = tmp_path / "wrong"
    shutil.copytree(visit.path, wrong)
    np.savez_compressed(wrong / "masks" / f"{uid}.npz", labels=np.zeros((2, 3, 4), np.uint8))
    with pytest.raises(ValueError, match="source grid"):
        build_seg(VisitFolder.open(wrong), uid)


@dataclasses.dataclass(frozen=True)
class _HeldMasks(VisitFolder):
    """A visit whose masks are already in memory (so that only build_seg's own allocations are traced)."""

    held: NDArray[np.uint8] = dataclasses.field(default_factory=lambda: np.zeros((1, 1, 1), np.uint8))

    def masks(self, sop_instance_uid: str) -> NDArray[np.uint8]:
        return self.held


def test_memory_beyond_the_masks_is_the_packed_output(visits: list[VisitFolder], tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    frames, rows, cols = 120, 400, 500
    masks = np.zeros((frames, rows, cols), np.uint8)
    for f in range(frames):  # three blobs per frame, every label present: 3 × 120 packed frames
        masks[f, 50:150, 50 + f : 150 + f] = 1
        masks[f, 200:260, 100:160] = 2
        masks[f, 300:380, 300:380] = 3
    masks[:, ::7, ::5] = rng.integers(0, 4, masks[:, ::7, ::5].shape, dtype=np.uint8)
    uid = _clip_of_kind(visits[0], "compression-cine")
    copy = _visit_with_masks(visits[0], uid, masks[:1], tmp_path / "visit")
    header = pydicom.dcmread(copy.path / "sources" / f"{uid}.dcm")
    header.NumberOfFrames = frames
    header.save_as(copy.path / "sources" / f"{uid}.dcm")
    visit = _HeldMasks(copy.path, masks)
    _ = visit.document  # parse report.json before tracing
    packed = 3 * frames * rows * cols // 8
    tracemalloc.start()
    try:
        seg = build_seg(visit, uid)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(seg.PixelData) == packed
    # The packed buffer and its bytes copy, plus one plane and bookkeeping; a boolean stack per segment
    # (what a naive ``masks == label`` over the whole cine costs) would add masks.nbytes per segment.
    assert peak < 2 * packed + 4 * rows * cols + 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
