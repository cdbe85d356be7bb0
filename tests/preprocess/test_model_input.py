"""Model input channels: neighbouring frames and the clip extremes that tell a collapsing vein from a thrombosed one."""

from __future__ import annotations

import numpy as np
import pytest

from dvt_us.preprocess.model_input import InputSpec, frame_input, model_frames


def _cine(collapses: bool, frames: int = 12) -> np.ndarray:
    """Echoic speckle with a dark round vein at the centre that flattens to nothing under compression, or stays."""
    rng = np.random.default_rng(1)
    rows, cols = np.mgrid[:120, :160]
    out = []
    for f in range(frames):
        squeeze = (f / (frames - 1)) if collapses else 0.0  # 0 open .. 1 flat
        half_depth = 20.0 * (1.0 - squeeze) + 1e-3
        inside = ((cols - 80) / 20.0) ** 2 + ((rows - 60) / half_depth) ** 2 < 1.0
        image = rng.rayleigh(60.0, (120, 160))
        image[inside] = rng.rayleigh(4.0, int(inside.sum()))
        out.append(np.clip(image, 0, 255).astype(np.uint8))
    return np.stack(out)


def test_clip_extremes_show_whether_the_vein_collapsed() -> None:
    spec = InputSpec(64, context=1, clip_extremes=True)
    patent, _ = model_frames(_cine(collapses=True), spec)
    thrombosed, _ = model_frames(_cine(collapses=False), spec)
    assert patent.shape == thrombosed.shape == (12, 5, 64, 64)
    centre = (slice(28, 36), slice(28, 36))  # the vein's centre in the 64-px letterbox
    # Frame 0 looks the same: an open dark vein either way.
    assert patent[0, 1][centre].mean() < -1.0 and thrombosed[0, 1][centre].mean() < -1.0
    # The maximum over the clip (channel 3) is echoic where the vein collapsed and dark where it did not.
    assert patent[0, 3][centre].mean() > 0.0
    assert thrombosed[0, 3][centre].mean() < -1.0
    # The extremes are the same for every frame of a clip; the frame channels are not.
    np.testing.assert_array_equal(patent[0, 3:], patent[-1, 3:])
    assert not np.array_equal(patent[0, 1], patent[-1, 1])


def test_old_manifests_have_no_clip_extremes_and_missing_extremes_are_refused() -> None:
    spec = InputSpec.from_preprocessing({"size": 128, "context": 1})
    assert spec == InputSpec(128, 1, clip_extremes=False) and spec.channels == 3
    assert InputSpec.from_preprocessing({"size": 128, "context": 0, "clip_extremes": True}).channels == 3
    single = np.zeros((4, 64, 64), np.float32)
    with pytest.raises(ValueError, match="clip extremes"):
        frame_input(single, 0, InputSpec(64, 1, clip_extremes=True))
