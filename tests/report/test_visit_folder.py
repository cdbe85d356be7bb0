"""What analyze keeps beside report.json for the renderers: key frames and source headers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dvt_us.ingest import Source, read_clip
from dvt_us.ingest.calibration import PixelBox
from dvt_us.preprocess import iter_frames
from dvt_us.report.visit_folder import KeyFrames, VisitFolder


def test_every_analysed_clip_has_key_frames_and_a_header(visits: list[VisitFolder]) -> None:
    for visit in visits:
        for clip in visit.clips:
            uid = clip["sop_instance_uid"]
            key = visit.key_frames(uid)
            assert (key is not None) == clip["analysed"]
            if key is None:
                continue
            header = visit.source_header(uid)
            assert header.SOPInstanceUID == uid and "PixelData" not in header
            assert header.StudyInstanceUID in visit.document["studies"]
            if clip["kind"] == "colour-doppler":
                assert key.names == ("flow",) and key.colour_flow is not None
                assert np.count_nonzero(key.colour_flow) > 0
            else:
                expected = clip["key_frames"]
                assert key.names == ("uncompressed", "max_compression")
                assert key.frames == (expected["uncompressed"], expected["max_compression"])
            masks = visit.masks(uid)
            for name in key.names:
                assert key.mask_crop(masks, name).shape == key.boxes[key.index(name)].shape
            # The uncompressed key frame shows the vein (at maximal compression a normal vein has coapted).
            assert np.isin(key.mask_crop(masks, key.names[0]), (1, 2)).any(), f"{uid}: no vein in the key frame"


def test_key_frames_are_the_decoded_tissue_region(visits: list[VisitFolder], phantom_trial: Path) -> None:
    visit = visits[0]
    clip = next(c for c in visit.clips if c["kind"] == "compression-cine")
    source = next(p for p in (phantom_trial / "dicom").rglob("*.dcm")
                  if read_clip(Source(p)).sop_instance_uid == clip["sop_instance_uid"])
    decoded = read_clip(Source(source))
    key = visit.key_frames(clip["sop_instance_uid"])
    assert key is not None and key.spacings_mm == (decoded.spacing_mm, decoded.spacing_mm)
    frames = {f.index: f for f in iter_frames(decoded, list(key.frames))}
    for i, frame in enumerate(key.frames):
        view = frames[frame].views[0]
        assert key.boxes[i] == view.view.box
        np.testing.assert_array_equal(key.bmode[i], view.bmode)
        # Only the tissue region is kept: it is smaller than the image, whose rest is annotation space.
        assert key.bmode[i].shape != (decoded.pixels.rows, decoded.pixels.columns)


def test_key_frames_round_trip_to_the_same_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    key = KeyFrames(("uncompressed", "max_compression"), (0, 7), (PixelBox(10, 20, 50, 80), PixelBox(10, 20, 50, 80)),
                    rng.integers(0, 255, (2, 40, 60), dtype=np.uint8), None, ((0.1, 0.12), None))
    key.save(tmp_path / "a.npz")
    key.save(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    back = KeyFrames.load(tmp_path / "a.npz")
    assert back.names == key.names and back.frames == key.frames and back.boxes == key.boxes
    assert back.spacings_mm == key.spacings_mm and back.colour_flow is None
    assert back.spacing_of("max_compression") is None
    np.testing.assert_array_equal(back.bmode, key.bmode)
    with pytest.raises(KeyError, match="present: uncompressed, max_compression"):
        key.index("flow")


def test_visits_of_a_subject_are_in_date_order(visits: list[VisitFolder]) -> None:
    baseline, d10 = visits
    assert [v.path.name for v in d10.subject_visits()] == ["BASELINE", "D10"]
    assert [v.path.name for v in d10.visits_so_far()] == ["BASELINE", "D10"]
    assert [v.path.name for v in baseline.visits_so_far()] == ["BASELINE"]


def test_a_folder_without_report_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a dvt-us visit folder"):
        VisitFolder.open(tmp_path)
