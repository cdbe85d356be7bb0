"""Every ultrasound file of pydicom and pydicom-data decodes to the right shape and calibration."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.pixels import apply_color_lut, convert_color_space

from dvt_us.ingest import Calibration, ClipKind, ColourSpace, ProblemCode, Source, iter_raw_frames, read_clip
from dvt_us.preprocess import iter_frames
from tests.conftest import US_FILES


def decode_all(path) -> np.ndarray:
    clip = read_clip(Source(path))
    return np.stack([f.pixels for f in iter_raw_frames(clip.source, clip.pixels)])


@pytest.mark.parametrize("name", sorted(US_FILES))
def test_decodes_to_the_right_shape(us_file, name: str) -> None:
    frames, rows, cols, samples = US_FILES[name]
    clip = read_clip(Source(us_file(name)))
    assert clip.frames == frames
    decoded = decode_all(clip.source.path)
    expected = (frames, rows, cols) if samples == 1 else (frames, rows, cols, 3)
    assert decoded.shape == expected
    assert decoded.dtype == np.uint8
    assert decoded.std() > 1, "a decoded image should not be flat"
    # B-mode crops stream with the view shapes.
    for frame in iter_frames(clip, indices=[frames - 1]):
        assert [v.bmode.shape for v in frame.views] == [v.box.shape for v in clip.views]
        assert frame.index == frames - 1


@pytest.mark.parametrize(
    ("lossless", "reference"),
    [
        ("US1_J2KR.dcm", "US1_UNCR.dcm"),
        ("examples_jpeg2k.dcm", "US1_UNCR.dcm"),
        ("OBXXXX1A_rle.dcm", "OBXXXX1A.dcm"),
        ("OBXXXX1A_expb.dcm", "OBXXXX1A.dcm"),
        ("OBXXXX1A_rle_2frame.dcm", "OBXXXX1A_2frame.dcm"),
        ("OBXXXX1A_expb_2frame.dcm", "OBXXXX1A_2frame.dcm"),
        ("gdcm-US-ALOKA-16_big.dcm", "gdcm-US-ALOKA-16.dcm"),
        ("color-pl.dcm", "color-px.dcm"),
        ("US1_J2KI.dcm", "US1_UNCI.dcm"),  # UNCI is the decompressed J2KI: equal once decoded
    ],
)
def test_lossless_twins_equal_bit_for_bit(us_file, lossless: str, reference: str) -> None:
    np.testing.assert_array_equal(decode_all(us_file(lossless)), decode_all(us_file(reference)))


def test_palette_matches_pydicom_lut(us_file) -> None:
    path = us_file("gdcm-US-ALOKA-16.dcm")
    ds = pydicom.dcmread(path)
    expected = (apply_color_lut(ds.pixel_array, ds) >> 8).astype(np.uint8)
    np.testing.assert_array_equal(decode_all(path)[0], expected)


def test_ybr_jpeg_luma_matches_pydicom_rgb(us_file) -> None:
    path = us_file("color3d_jpeg_baseline.dcm")
    clip = read_clip(Source(path))
    first = next(iter_raw_frames(clip.source, clip.pixels, [5]))
    assert first.colour_space is ColourSpace.YBR
    ds = pydicom.dcmread(path)
    rgb = pydicom.pixels.pixel_array(ds, index=5, raw=True, decoding_plugin="pillow")
    np.testing.assert_array_equal(first.pixels, rgb)
    back = convert_color_space(first.pixels, "YBR_FULL", "RGB")
    luma = next(iter_frames(clip, [5])).views[0].bmode
    expected = 0.299 * back[..., 0] + 0.587 * back[..., 1] + 0.114 * back[..., 2]
    box = clip.views[0].box
    diff = np.abs(luma.astype(float) - expected[box.row0 : box.row1, box.col0 : box.col1])
    assert float((diff <= 2).mean()) > 0.999  # RGB clipping of saturated colour moves a few pixels more


def test_split_screen_is_two_calibrated_views(us_file) -> None:
    clip = read_clip(Source(us_file("gdcm-US-ALOKA-16.dcm")))
    assert len(clip.views) == 2
    assert clip.views[0].box.col1 <= clip.views[1].box.col0
    for view in clip.views:
        assert view.calibration is Calibration.ULTRASOUND_REGION
        assert view.spacing_mm == pytest.approx((0.38265, 0.38265), rel=1e-4)
    assert clip.kind is ClipKind.STILL


def test_stale_region_is_clamped_with_a_warning(us_file) -> None:
    clip = read_clip(Source(us_file("examples_palette.dcm")))
    assert ProblemCode.STALE_REGION in {p.code for p in clip.problems}
    (view,) = clip.views
    assert (view.box.row1, view.box.col1) == (350, 800)
    assert view.spacing_mm == pytest.approx((0.26229, 0.26229), rel=1e-4)


def test_missing_calibration_is_flagged(us_file) -> None:
    clip = read_clip(Source(us_file("US1_UNCR.dcm")))
    codes = {p.code for p in clip.problems}
    assert {ProblemCode.NO_REGIONS, ProblemCode.UNCALIBRATED} <= codes
    assert clip.spacing_mm is None
    assert clip.views[0].calibration is Calibration.UNCALIBRATED


def test_cine_has_frame_times_and_kind(us_file) -> None:
    clip = read_clip(Source(us_file("color3d_jpeg_baseline.dcm")))
    assert clip.kind is ClipKind.COMPRESSION_CINE
    assert clip.frame_times_s[1] == pytest.approx(0.033333, rel=1e-4)
    assert len(clip.frame_times_s) == 120


def test_colour_doppler_is_recognised_from_pixels(us_file) -> None:
    clip = read_clip(Source(us_file("US1_UNCR.dcm")))
    assert clip.kind is ClipKind.COLOUR_DOPPLER
    frame = next(iter_frames(clip))
    flow = frame.views[0].colour_flow
    assert flow is not None
    assert 0.01 < float((flow != 0).mean()) < 0.5
    # a gray B-mode image with a coloured marker is not colour Doppler
    assert read_clip(Source(us_file("OBXXXX1A.dcm"))).kind is ClipKind.STILL
