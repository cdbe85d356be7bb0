"""Write synthetic ultrasound with trial attributes and anatomy, ingest it, get the same identity back."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from dvt_us import codes
from dvt_us.anatomy import Laterality, Segment
from dvt_us.ingest import ClipKind, Origin, ProblemCode, Source, ingest, iter_raw_frames, read_clip
from dvt_us.preprocess import iter_frames
from tests.dicom_factory import UltrasoundSpec, frames_for, jpeg_baseline, ultrasound_dataset, write


@pytest.mark.parametrize(
    ("anatomy", "modifier", "segment"),
    [
        (codes.COMMON_FEMORAL_VEIN, None, Segment.CFV),
        (codes.FEMORAL_VEIN, codes.PROXIMAL, Segment.FV_P),
        (codes.FEMORAL_VEIN, codes.MIDDLE, Segment.FV_M),
        (codes.FEMORAL_VEIN, codes.DISTAL, Segment.FV_D),
        (codes.POPLITEAL_VEIN, None, Segment.POP),
        (codes.PROFUNDA_FEMORIS_VEIN, codes.PROXIMAL, Segment.PFV),
        (codes.INFERIOR_VENA_CAVA, None, Segment.IVC),
        (codes.FEMORAL_VEIN, None, Segment.UNASSIGNED),  # level unknown: never guessed
    ],
)
def test_coded_identity_round_trips(tmp_path: Path, anatomy, modifier, segment: Segment) -> None:
    spec = UltrasoundSpec(subject="DEF-017", visit="D10", side="L", anatomy=anatomy, modifier=modifier)
    path = write(ultrasound_dataset(spec), tmp_path / "clip.dcm")
    clip = read_clip(Source(path))
    assert clip.identity.subject == "DEF-017"
    assert clip.identity.subject_origin is Origin.CODED
    assert clip.identity.visit == "D10"
    assert clip.identity.side is Laterality.LEFT
    assert clip.identity.segment is segment
    assert clip.identity.site == "S01"
    assert clip.kind is ClipKind.COMPRESSION_CINE
    assert clip.spacing_mm == pytest.approx((0.1, 0.1))


@pytest.mark.parametrize(
    ("text", "segment", "side"),
    [
        ("RT CFV COMP", Segment.CFV, Laterality.RIGHT),
        ("Left femoral vein mid", Segment.FV_M, Laterality.LEFT),
        ("LT SFV PROX", Segment.FV_P, Laterality.LEFT),
        ("R POPV", Segment.POP, Laterality.RIGHT),
        ("right deep femoral vein", Segment.PFV, Laterality.RIGHT),
        ("L FV", Segment.UNASSIGNED, Laterality.LEFT),
        ("CFV / POP", Segment.UNASSIGNED, Laterality.UNASSIGNED),
        ("", Segment.UNASSIGNED, Laterality.UNASSIGNED),
    ],
)
def test_text_fallback(tmp_path: Path, text: str, segment: Segment, side: Laterality) -> None:
    spec = UltrasoundSpec(side=None, series_description=text)
    clip = read_clip(Source(write(ultrasound_dataset(spec), tmp_path / "clip.dcm")))
    assert clip.identity.segment is segment
    assert clip.identity.side is side
    if segment is Segment.UNASSIGNED:
        assert {ProblemCode.SEGMENT_UNASSIGNED, ProblemCode.CONFLICTING_ANATOMY} & {p.code for p in clip.problems}
    else:
        assert clip.identity.segment_origin is Origin.TEXT


def test_patient_id_and_study_date_fallbacks(tmp_path: Path) -> None:
    spec = UltrasoundSpec(subject=None, visit=None, patient_id="P-9", study_date="20240311")
    clip = read_clip(Source(write(ultrasound_dataset(spec), tmp_path / "clip.dcm")))
    assert (clip.identity.subject, clip.identity.subject_origin) == ("P-9", Origin.FALLBACK)
    assert (clip.identity.visit, clip.identity.visit_origin) == ("DATE-20240311", Origin.FALLBACK)


@pytest.mark.parametrize("encoding", ["jpeg-baseline", RLELossless, JPEGLSLossless, JPEG2000Lossless])
def test_encodings_round_trip(tmp_path: Path, encoding: str) -> None:
    spec = UltrasoundSpec(frames=3)
    ds = ultrasound_dataset(spec)
    if encoding == "jpeg-baseline":
        ds = jpeg_baseline(ds, quality=95)
    else:
        ds.compress(encoding)
    clip = read_clip(Source(write(ds, tmp_path / "clip.dcm")))
    decoded = np.stack([f.pixels for f in iter_raw_frames(clip.source, clip.pixels)])
    original = frames_for(spec)
    if encoding == "jpeg-baseline":
        assert np.abs(decoded.astype(int) - original).mean() < 3
    else:
        np.testing.assert_array_equal(decoded, original)


def test_grouping_subject_visit_study_and_zip(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    visits = [("BASELINE", "20250101"), ("D10", "20250111"), ("M6", "20250701")]
    for subject in ("DEF-002", "DEF-001"):
        for visit, date in reversed(visits):
            study = UltrasoundSpec(subject=subject, visit=visit, study_date=date).study_uid
            for side in ("R", "L"):
                spec = UltrasoundSpec(subject=subject, visit=visit, study_date=date, side=side, study_uid=study,
                                      anatomy=codes.COMMON_FEMORAL_VEIN)
                write(ultrasound_dataset(spec), folder / subject / visit / f"{side}.dcm")
    (folder / "notes.txt").write_text("not DICOM")
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder))
    for inputs in ([folder], [archive]):
        result = ingest(inputs)
        assert [s.subject for s in result.subjects] == ["DEF-001", "DEF-002"]
        for subject in result.subjects:
            assert [v.visit for v in subject.visits] == ["BASELINE", "D10", "M6"]
            for visit in subject.visits:
                assert len(visit.studies) == 1
                assert {c.identity.side for c in visit.clips} == {Laterality.LEFT, Laterality.RIGHT}
        assert len(result.skipped) == 1 and result.skipped[0].source.endswith("notes.txt")
        assert not result.rejected
        # frames stream from zip members too
        clip = result.clips[0]
        assert sum(1 for _ in iter_frames(clip)) == clip.frames


def test_same_instance_twice_is_one_clip(tmp_path: Path) -> None:
    ds = ultrasound_dataset(UltrasoundSpec())
    write(ds, tmp_path / "a.dcm")
    write(ds, tmp_path / "b.dcm")
    result = ingest([tmp_path])
    assert len(result.clips) == 1
    assert [c.source.path.name for c in result.duplicates] == ["b.dcm"]


def test_colour_flow_map_sign_and_region(tmp_path: Path) -> None:
    spec = UltrasoundSpec(frames=1, rgb=True, colour_region=(40, 30, 100, 80))
    pixels = frames_for(spec)
    pixels[0, 40:50, 50:60] = (200, 10, 10)  # red blob: flow towards the probe
    pixels[0, 60:70, 50:60] = (10, 10, 200)  # blue blob
    clip = read_clip(Source(write(ultrasound_dataset(spec, pixels), tmp_path / "cd.dcm")))
    assert clip.kind is ClipKind.COLOUR_DOPPLER
    view = clip.views[0]
    assert view.colour_flow_box is not None
    flow = next(iter_frames(clip)).views[0].colour_flow
    assert flow is not None
    r0, c0 = view.box.row0, view.box.col0
    assert (flow[40 - r0 : 50 - r0, 50 - c0 : 60 - c0] > 0.3).all()
    assert (flow[60 - r0 : 70 - r0, 50 - c0 : 60 - c0] < -0.3).all()
    assert int((flow != 0).sum()) == 200


def test_jpeg_labelled_rgb_but_ycbcr_is_read_as_ycbcr(tmp_path: Path) -> None:
    spec = UltrasoundSpec(frames=2, rgb=True)
    ds = jpeg_baseline(ultrasound_dataset(spec), quality=95)
    ds.PhotometricInterpretation = "RGB"  # as some scanners write it: the codestream is JFIF YCbCr
    with pytest.warns(UserWarning, match="JFIF"):
        clip = read_clip(Source(write(ds, tmp_path / "mislabelled.dcm")))
        assert ProblemCode.PHOTOMETRIC_MISMATCH in {p.code for p in clip.problems}
        assert clip.kind is ClipKind.COMPRESSION_CINE, "a gray cine must not look like colour Doppler"
        bmode = next(iter_frames(clip)).views[0].bmode
    box = clip.views[0].box
    expected = frames_for(spec)[0, box.row0 : box.row1, box.col0 : box.col1, 0]
    assert np.abs(bmode.astype(int) - expected).mean() < 3
