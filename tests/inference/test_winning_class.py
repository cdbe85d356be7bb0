"""The per-pixel winning class equals numpy's argmax/max over the class axis, ties included; scores map
back to the view grid plane by plane exactly as all classes at once."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dvt_us.inference.segmenter import winning_class
from dvt_us.preprocess.model_input import Letterbox


def test_same_as_argmax_and_max() -> None:
    rng = np.random.default_rng(2)
    for classes in (1, 2, 4, 6):
        probs = rng.random((classes, 37, 53), dtype=np.float32)
        labels, best = winning_class(list(probs))
        np.testing.assert_array_equal(labels, probs.argmax(axis=0).astype(np.uint8), strict=True)
        np.testing.assert_array_equal(best, probs.max(axis=0), strict=True)


def test_the_first_of_equal_scores_wins() -> None:
    probs = np.zeros((4, 2, 3), np.float32)
    probs[:, 0, 0] = [0.2, 0.4, 0.4, 0.0]  # classes 1 and 2 tie
    probs[:, 0, 1] = [0.25, 0.25, 0.25, 0.25]
    probs[:, 1, 2] = [0.1, 0.1, 0.3, 0.3]
    labels, _ = winning_class(list(probs))
    np.testing.assert_array_equal(labels, probs.argmax(axis=0))
    assert labels[0, 0] == 1 and labels[0, 1] == 0 and labels[1, 2] == 2


@pytest.mark.parametrize("shape", [(600, 800), (90, 130), (701, 403), (128, 128), (55, 999)])
def test_planes_map_back_like_all_classes_at_once(shape: tuple[int, int]) -> None:
    """Bilinear resizing is per channel: one plane at a time gives the 4-channel resize.

    To the last bit on an idle machine; under load OpenCV splits rows across threads differently and a few
    values may differ in the last place (seen: 1,076 of 1.9 M by 6e-8), hence the float32-ulp tolerance.
    """
    box = Letterbox(*shape, 128)
    scores = np.random.default_rng(3).random((4, 128, 128), dtype=np.float32)
    r0, c0, rows, cols = box.inner
    inner = np.ascontiguousarray(scores[:, r0 : r0 + rows, c0 : c0 + cols].transpose(1, 2, 0))
    together = cv2.resize(inner, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
    planes = box.to_source_planes(scores)
    assert [p.shape for p in planes] == [shape] * 4
    np.testing.assert_allclose(np.stack(planes), together, rtol=0, atol=2.5e-7, strict=True)
    np.testing.assert_allclose(box.to_source(scores), together, rtol=0, atol=2.5e-7, strict=True)
