"""Luminance and chroma of decoded frames: a colour frame of gray pixels takes the short way, with the same result."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from dvt_us.ingest.pixels import COLOUR_CHROMA_THRESHOLD, ColourSpace, RawFrame, colour_mask, luma_chroma


def _full_conversion(rgb: NDArray[np.uint8]) -> tuple[NDArray[np.uint8], NDArray[np.int16]]:
    """The JFIF conversion luma_chroma applies to a coloured RGB frame."""
    frame = rgb.copy()
    frame[0, 0] = (200, 10, 10)  # one red pixel: not gray, so the full conversion runs
    luma, chroma = luma_chroma(RawFrame(0, frame, ColourSpace.RGB))
    assert chroma is not None
    return luma[1:], chroma[1:]


def test_gray_rgb_gives_the_full_conversions_luma_and_no_chroma() -> None:
    levels = np.arange(256, dtype=np.uint8)
    rgb = np.repeat(np.tile(levels, (4, 1))[..., None], 3, axis=2)  # every gray level, R = G = B
    luma, chroma = luma_chroma(RawFrame(0, rgb, ColourSpace.RGB))
    full_luma, full_chroma = _full_conversion(rgb)
    assert chroma is None
    np.testing.assert_array_equal(luma[1:], full_luma, strict=True)
    np.testing.assert_array_equal(luma, np.tile(levels, (4, 1)), strict=True)
    assert not colour_mask(full_chroma).any(), "the full conversion finds no colour in gray pixels either"


def test_a_view_cut_out_of_a_frame_is_split_as_a_copy_would_be() -> None:
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (60, 80), dtype=np.uint8)
    frame = np.repeat(gray[..., None], 3, axis=2)
    crop = frame[10:50, 5:70]  # not contiguous, as view_frame passes it
    luma, chroma = luma_chroma(RawFrame(0, crop, ColourSpace.RGB))
    assert chroma is None
    np.testing.assert_array_equal(luma, gray[10:50, 5:70], strict=True)
    frame[20, 30] = (0, 0, 255)
    luma, chroma = luma_chroma(RawFrame(0, frame[10:50, 5:70], ColourSpace.RGB))
    assert chroma is not None and colour_mask(chroma)[10, 25] and colour_mask(chroma).sum() == 1


@pytest.mark.parametrize(("offset", "gray"), [(0, True), (16, True), (-16, True), (17, False), (-17, False)])
def test_ycbcr_is_gray_while_its_chroma_cannot_reach_the_colour_threshold(offset: int, gray: bool) -> None:
    rng = np.random.default_rng(1)
    ybr = np.full((30, 40, 3), 128, np.uint8)
    ybr[..., 0] = rng.integers(0, 256, (30, 40))
    ybr[7, 9, 1] = 128 + offset
    ybr[8, 9, 2] = 128 - offset
    luma, chroma = luma_chroma(RawFrame(0, ybr, ColourSpace.YBR))
    np.testing.assert_array_equal(luma, ybr[..., 0], strict=True)
    assert (chroma is None) == gray
    if chroma is not None:
        np.testing.assert_array_equal(chroma, ybr[..., 1:].astype(np.int16) - 128, strict=True)
    assert COLOUR_CHROMA_THRESHOLD**2 > 2 * 16**2, "a chroma of 16 in both Cb and Cr is never colour"
