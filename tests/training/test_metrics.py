"""Confidence intervals of the evaluation metrics."""

from __future__ import annotations

import numpy as np
import pytest

from training.metrics import (
    GROUPS,
    classification_intervals,
    dice,
    dice_intervals,
    overlap_counts,
    proportion_interval,
)


def _clip(rng: np.random.Generator, miss: float) -> tuple[np.ndarray, np.ndarray]:
    """A clip whose truth is a vein (1) and an artery (3); the prediction loses a share ``miss`` of the vein."""
    truth = np.zeros((4, 32, 32), np.uint8)
    truth[:, 4:20, 4:20] = 1
    truth[:, 22:30, 22:30] = 3
    pred = truth.copy()
    pred[(truth == 1) & (rng.random(truth.shape) < miss)] = 0
    return pred, truth


def test_overlap_counts_are_intersection_prediction_and_truth_per_group() -> None:
    truth = np.array([[0, 1, 1, 2, 3]])
    pred = np.array([[1, 1, 2, 2, 0]])
    counts = overlap_counts(pred, truth)
    assert list(GROUPS) == ["vein", "lumen", "thrombus", "artery"]
    assert counts.tolist() == [[3, 4, 3], [1, 2, 2], [1, 2, 1], [0, 0, 1]]


def test_dice_intervals_hold_the_pooled_dice_and_narrow_with_more_clips() -> None:
    rng = np.random.default_rng(1)
    clips = [_clip(rng, miss) for miss in rng.uniform(0.0, 0.6, 40)]
    counts = np.stack([overlap_counts(p, t) for p, t in clips])
    pooled = dice(np.concatenate([p for p, _ in clips]), np.concatenate([t for _, t in clips]), GROUPS["vein"])
    few, many = dice_intervals(counts[:8]), dice_intervals(counts)
    low, high = many["dice_vein"]
    assert low < pooled < high
    assert few["dice_vein"][1] - few["dice_vein"][0] > high - low
    assert many["dice_artery"] == pytest.approx([1.0, 1.0])  # every clip's artery is exact: no spread
    assert many["dice_thrombus"] is None  # no thrombus predicted or true
    assert dice_intervals(counts[:1])["dice_vein"] is None  # one clip: nothing to resample


def test_a_rare_group_keeps_its_interval_when_some_resamples_miss_it() -> None:
    counts = np.zeros((20, len(GROUPS), 3), np.int64)
    thrombus = list(GROUPS).index("thrombus")
    counts[3, thrombus] = (40, 50, 60)  # Dice 0.727
    counts[11, thrombus] = (10, 30, 20)  # Dice 0.4; about (19/20)^20 of resamples hold neither clip
    low, high = dice_intervals(counts)["dice_thrombus"]
    assert 0.4 <= low < 0.5 < high <= 0.73


def test_wilson_interval_of_a_proportion() -> None:
    low, high = proportion_interval(9, 10)
    assert (low, high) == pytest.approx((0.5958, 0.9821), abs=1e-4)
    assert proportion_interval(0, 0) is None


def test_classification_intervals_count_from_the_confusion_matrix() -> None:
    # rows truth, columns call: compressible, partial, noncompressible, indeterminate
    confusion = np.array([[18, 1, 0, 1], [1, 4, 1, 0], [0, 0, 6, 0], [2, 0, 0, 6]])
    ci = classification_intervals(confusion)
    assert ci["accuracy"] == pytest.approx(proportion_interval(34, 40))
    assert ci["abnormal_sensitivity"] == pytest.approx(proportion_interval(11, 12))  # partial called noncompr. counts
    assert ci["abnormal_specificity"] == pytest.approx(proportion_interval(19, 20))
    assert ci["indeterminate_recall"] == pytest.approx(proportion_interval(6, 8))
