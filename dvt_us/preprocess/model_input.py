"""The pixels a model sees: letterboxed, normalised B-mode with neighbouring frames as channels.

Optionally two more channels carry the whole clip: the per-pixel maximum and minimum over its frames.
Acute thrombus can be as anechoic as blood, so one frame cannot tell them apart; what tells them apart is
the compression: a patent vein collapses, and tissue echoes sweep over its lumen (bright in the maximum),
while a thrombosed vein stays open and dark in every frame.

One definition for training (``training/``) and serving (``dvt_us.inference``), parameterised by
:class:`InputSpec`, which is saved in each model's manifest so that inference rebuilds exactly what
training did. Geometry: a view ``[rows, cols]`` is scaled by one factor to fit ``size x size`` and
centred with zero padding; :meth:`Letterbox.to_source` maps class scores back to the view grid.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

_EPS = 1e-3
CLIP_DTYPE = np.float16
"""How a whole clip in model geometry is held (training data; serving with clip extremes): half the memory."""


@dataclass(frozen=True)
class InputSpec:
    """Preprocessing parameters of a segmentation model (stored in its manifest)."""

    size: int = 160
    """Square input side in pixels."""
    context: int = 1
    """Neighbouring frames on each side given as channels: ``2 * context + 1`` frame channels."""
    clip_extremes: bool = False
    """Add the clip's per-pixel temporal maximum and minimum as two channels (after the frame channels)."""

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 1024 or self.size % 16:
            raise ValueError(f"size must be a multiple of 16 in 32..1024, got {self.size}")
        if not 0 <= self.context <= 4:
            raise ValueError(f"context must lie in 0..4, got {self.context}")

    @classmethod
    def from_preprocessing(cls, preprocessing: Mapping[str, Any]) -> InputSpec:
        """The spec a model manifest's ``preprocessing`` block records."""
        extremes = preprocessing.get("clip_extremes", False)
        if not isinstance(extremes, bool):
            raise ValueError(f"preprocessing.clip_extremes must be true or false, got {extremes!r}")
        return cls(size=int(preprocessing["size"]), context=int(preprocessing["context"]), clip_extremes=extremes)

    @property
    def channels(self) -> int:
        """Input channels: the frame and its neighbours, then the clip extremes if used."""
        return 2 * self.context + 1 + (2 if self.clip_extremes else 0)


@dataclass(frozen=True)
class Letterbox:
    """How a ``[rows, cols]`` view sits in the ``size x size`` model input."""

    rows: int
    cols: int
    size: int

    @property
    def scale(self) -> float:
        """Model pixels per view pixel."""
        return self.size / max(self.rows, self.cols)

    @property
    def inner(self) -> tuple[int, int, int, int]:
        """(row0, col0, rows, cols) of the resized view inside the input."""
        rows = max(1, round(self.rows * self.scale))
        cols = max(1, round(self.cols * self.scale))
        return (self.size - rows) // 2, (self.size - cols) // 2, rows, cols

    def to_model(self, image: NDArray[np.float32]) -> NDArray[np.float32]:
        """Resize and pad one ``[rows, cols]`` image into ``[size, size]`` (area interpolation)."""
        r0, c0, rows, cols = self.inner
        out = np.zeros((self.size, self.size), np.float32)
        out[r0 : r0 + rows, c0 : c0 + cols] = cv2.resize(image, (cols, rows), interpolation=cv2.INTER_AREA)
        return out

    def to_source(self, scores: NDArray[np.float32]) -> NDArray[np.float32]:
        """Map class scores ``[classes, size, size]`` back to ``[classes, rows, cols]`` (bilinear)."""
        return np.stack(self.to_source_planes(scores))

    def to_source_planes(self, scores: NDArray[np.float32]) -> list[NDArray[np.float32]]:
        """Like :meth:`to_source`, one ``[rows, cols]`` plane per class (resized one by one, no stacked copy)."""
        r0, c0, rows, cols = self.inner
        return [np.asarray(cv2.resize(plane[r0 : r0 + rows, c0 : c0 + cols], (self.cols, self.rows),
                                      interpolation=cv2.INTER_LINEAR), np.float32) for plane in scores]

    def labels_to_model(self, labels: NDArray[np.uint8]) -> NDArray[np.uint8]:
        """Resize a label map ``[rows, cols]`` into the input grid (nearest neighbour), for training."""
        r0, c0, rows, cols = self.inner
        out = np.zeros((self.size, self.size), np.uint8)
        out[r0 : r0 + rows, c0 : c0 + cols] = cv2.resize(labels, (cols, rows), interpolation=cv2.INTER_NEAREST)
        return out


def normalise(bmode: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Zero-mean, unit-variance intensities of one B-mode view (robust to gain and dynamic range)."""
    image = bmode.astype(np.float32)
    return (image - float(image.mean())) / (float(image.std()) + _EPS)


def clip_extremes(single: NDArray[np.floating]) -> NDArray[np.float32]:
    """``[2, size, size]``: per-pixel maximum and minimum over a clip's frames ``[frames, size, size]``."""
    return np.stack([single.max(axis=0), single.min(axis=0)]).astype(np.float32)


def frame_input(single: NDArray[np.floating], index: int, spec: InputSpec,
                extremes: NDArray[np.float32] | None = None) -> NDArray[np.float32]:
    """``[channels, size, size]`` model input of frame ``index`` of a clip in model geometry.

    ``single`` holds the clip's normalised, letterboxed frames ``[frames, size, size]``; at the clip ends
    the nearest frame is repeated. ``extremes`` (from :func:`clip_extremes`) is required when
    ``spec.clip_extremes`` is set.
    """
    picks = np.clip(np.arange(index - spec.context, index + spec.context + 1), 0, len(single) - 1)
    frames = single[picks].astype(np.float32)
    if not spec.clip_extremes:
        return frames
    if extremes is None:
        raise ValueError("this input needs the clip extremes")
    return np.concatenate([frames, extremes])


def model_frames(bmodes: NDArray[np.uint8], spec: InputSpec) -> tuple[NDArray[np.float32], Letterbox]:
    """Model input for every frame of a view: ``[frames, channels, size, size]`` float32.

    Parameters
    ----------
    bmodes
        uint8 ``[frames, rows, cols]`` B-mode of one view, in frame order.
    spec
        Input size, temporal context (at the clip ends the nearest frame is repeated) and clip extremes.
    """
    frames, rows, cols = bmodes.shape
    box = Letterbox(rows, cols, spec.size)
    single = np.stack([box.to_model(normalise(f)) for f in bmodes])
    extremes = None
    if spec.clip_extremes:  # a whole clip is held as float16, as training holds it (CLIP_DTYPE)
        single = single.astype(CLIP_DTYPE)
        extremes = clip_extremes(single)
    return np.stack([frame_input(single, i, spec, extremes) for i in range(frames)]), box
