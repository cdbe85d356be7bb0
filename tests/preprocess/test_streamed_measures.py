"""Streamed clip measurements (one frame read at a time) equal the whole-stack ones, bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from dvt_us.anatomy import Segment
from dvt_us.phantom import CompressionAdequacy, VeinState, sample_params, simulate_cine, simulate_still_pair
from dvt_us.preprocess.clip_features import ClipMeasures, measure_frames, track_target
from dvt_us.preprocess.vein_tracking import aligned_window, ap_diameter_px, summarise_frame
from tests.preprocess.stack_reference import _ap_diameter_px, reference_measure_clip, reference_track_target


def _streamed(labels: NDArray[np.uint8], spacing: tuple[float, float]) -> tuple[ClipMeasures, list[int]]:
    """Measures from a summary pass and a reader that hands out one frame at a time; and the frames read."""
    summaries = [summarise_frame(f) for f in labels]
    reads: list[int] = []

    def read(f: int) -> NDArray[np.uint8]:
        reads.append(f)
        return labels[f].copy()

    return measure_frames(summaries, read, spacing), reads


def _windowed(labels: NDArray[np.uint8], spacing: tuple[float, float]) -> ClipMeasures:
    """Measures from a reader that hands out only the window around every labelled pixel, as the analysis does."""
    rows, cols = np.flatnonzero(labels.any(axis=(0, 2))), np.flatnonzero(labels.any(axis=(0, 1)))
    if len(rows) == 0:
        return measure_frames([summarise_frame(f) for f in labels], lambda f: labels[f, :0, :0], spacing, (0, 0))
    r0, r1, c0, c1 = aligned_window((int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1))
    return measure_frames([summarise_frame(f) for f in labels], lambda f: labels[f, r0:r1, c0:c1].copy(), spacing,
                          (r0, c0))


def test_tied_components_are_chosen_as_in_the_whole_frame() -> None:
    """Two one-pixel veins of equal area: the first in the whole frame's label order is the target.

    OpenCV's label order depends on the parity of a crop's origin: a window from row 1 would pick the other one.
    """
    labels = np.zeros((1, 12, 12), np.uint8)
    labels[0, 2, 0] = labels[0, 1, 2] = 1
    measures = _assert_same(labels)
    assert measures.vein_top_mm[0] == 1 * 0.11, "the vein on row 1 comes first in the whole frame"
    with pytest.raises(ValueError, match="even row and column"):
        measure_frames([summarise_frame(labels[0])], lambda f: labels[f, 1:3, 0:3], (0.11, 0.09), (1, 0))


def _assert_same(labels: NDArray[np.uint8], spacing: tuple[float, float] = (0.11, 0.09)) -> ClipMeasures:
    streamed, reads = _streamed(labels, spacing)
    windowed = _windowed(labels, spacing)
    reference = reference_measure_clip(labels, spacing)
    assert streamed.found == windowed.found == reference.found
    for field in dataclasses.fields(ClipMeasures):
        got, want = getattr(streamed, field.name), getattr(reference, field.name)
        np.testing.assert_array_equal(got, want, err_msg=field.name, strict=True)
        np.testing.assert_array_equal(getattr(windowed, field.name), want, err_msg=f"{field.name}, windowed",
                                      strict=True)
    if streamed.found:
        assert sorted(reads) == list(range(len(labels))), "every frame is read back exactly once"
    return streamed


def _disc(labels: NDArray[np.uint8], centre: tuple[int, int], radius: int, value: int) -> None:
    yy, xx = np.mgrid[: labels.shape[0], : labels.shape[1]]
    labels[(yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2] = value


@pytest.mark.parametrize("state", list(VeinState))
@pytest.mark.parametrize("segment", [Segment.CFV, Segment.PTV])
def test_phantom_cines(state: VeinState, segment: Segment) -> None:
    rng = np.random.default_rng(11)
    params = sample_params(rng, segment=segment, state=state, adequacy=CompressionAdequacy.ADEQUATE,
                           shape=(160, 220), n_frames=14)
    measures = _assert_same(simulate_cine(params, rng).labels)
    assert measures.found and np.isfinite(measures.artery_depth_mm).any()


def test_vein_lost_for_some_frames() -> None:
    rng = np.random.default_rng(3)
    params = sample_params(rng, segment=Segment.CFV, state=VeinState.NORMAL, adequacy=CompressionAdequacy.ADEQUATE,
                           shape=(160, 220), n_frames=14)
    labels = simulate_cine(params, rng).labels.copy()
    labels[4:7][np.isin(labels[4:7], (1, 2))] = 0  # vein gone, artery still there
    labels[0] = 0  # nothing at all in the first frame
    measures = _assert_same(labels)
    assert measures.vein_area_mm2[4:7].max() == 0 and np.isnan(measures.vein_top_mm[4:7]).all()
    assert measures.vein_area_mm2[7:].max() > 0, "the vein is found again after the gap"


def test_split_screen_still_pair() -> None:
    """A still pair as analysed: two views of different sizes, padded into a two-frame stack."""
    rng = np.random.default_rng(5)
    params = sample_params(rng, segment=Segment.POP, state=VeinState.NONOCCLUSIVE, shape=(150, 200), n_frames=12)
    pair = simulate_still_pair(params, rng)
    first, second = pair.uncompressed_labels, pair.compressed_labels[5:, 10:]
    stack = np.zeros((2, *first.shape), np.uint8)
    stack[0], stack[1, : second.shape[0], : second.shape[1]] = first, second
    _assert_same(stack)


def test_empty_and_degenerate_clips() -> None:
    for labels in (np.zeros((0, 8, 8), np.uint8), np.zeros((5, 8, 8), np.uint8), np.full((3, 8, 8), 3, np.uint8)):
        assert not _assert_same(labels).found
    one = np.zeros((1, 20, 20), np.uint8)
    one[0, 5:9, 5:9] = 2
    assert _assert_same(one).thrombus_area_mm2[0] > 0


def test_ties_and_neighbours_pick_the_same_frames() -> None:
    """Equal target areas (the first of equals sets the artery), a neighbouring vein, two arteries.

    Tracking starts at frame 4 (the neighbour is larger there), but frame 0 has the same target area and
    comes first, so the artery is the one nearest the target of frame 0.
    """
    labels = np.zeros((5, 80, 100), np.uint8)
    for f, radius in enumerate([9, 6, 5, 6, 9]):
        _disc(labels[f], (40, 70), 3 if f == 0 else 5, 1)  # a neighbouring vein that does not compress
        _disc(labels[f], (40, 25 + 5 * f), radius, 1)  # the target, moving right
        labels[f, 40:42, 20 + 5 * f : 26 + 5 * f] = 2
        _disc(labels[f], (12, 20), 3, 3)  # artery nearest the target of frame 0
        _disc(labels[f], (20, 52), 3, 3)  # artery nearest the target of frame 4
    spacing = (0.1, 0.1)
    measures = _assert_same(labels, spacing)
    assert measures.vein_area_mm2[0] == measures.vein_area_mm2[4] == measures.vein_area_mm2.max()
    assert measures.artery_depth_mm[0] == pytest.approx(12 * spacing[0])


def test_random_label_noise() -> None:
    """Many small components of every class: the tracker's choices must match everywhere."""
    rng = np.random.default_rng(0)
    for _ in range(3):
        labels = (rng.random((8, 40, 50)) < 0.3).astype(np.uint8) * rng.integers(1, 4, (8, 40, 50), dtype=np.uint8)
        _assert_same(labels)


def test_track_target_of_a_stack() -> None:
    rng = np.random.default_rng(9)
    params = sample_params(rng, segment=Segment.PTV, state=VeinState.CHRONIC, shape=(160, 220), n_frames=10)
    vein = np.isin(simulate_cine(params, rng).labels, (1, 2))
    streamed, reference = track_target(vein), reference_track_target(vein)
    assert streamed is not None and reference is not None
    np.testing.assert_array_equal(streamed, reference)
    assert track_target(np.zeros((3, 5, 5), bool)) is None


def test_ap_diameter_matches_the_column_loop() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((30, 25)) < rng.uniform(0.05, 0.9)
        assert ap_diameter_px(mask) == _ap_diameter_px(mask)
    assert ap_diameter_px(np.zeros((4, 4), bool)) == 0.0
