"""The pixels a model sees: letterboxed, normalised B-mode with neighbouring frames as channels.

One definition for training (``training/``) and serving (``dvt_us.inference``), parameterised by
:class:`InputSpec`, which is saved in each model's manifest so that inference rebuilds exactly what
training did. Geometry: a view ``[rows, cols]`` is scaled by one factor to fit ``size x size`` and
centred with zero padding; :meth:`Letterbox.to_source` maps class scores back to the view grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

_EPS = 1e-3


@dataclass(frozen=True)
class InputSpec:
    """Preprocessing parameters of a segmentation model (stored in its manifest)."""

    size: int = 160
    """Square input side in pixels."""
    context: int = 1
    """Neighbouring frames on each side given as channels: ``2 * context + 1`` channels."""

    def __post_init__(self) -> None:
        if not 32 <= self.size <= 1024 or self.size % 16:
            raise ValueError(f"size must be a multiple of 16 in 32..1024, got {self.size}")
        if not 0 <= self.context <= 4:
            raise ValueError(f"context must lie in 0..4, got {self.context}")

    @property
    def channels(self) -> int:
        """Input channels: the frame and its neighbours."""
        return 2 * self.context + 1


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


def model_frames(bmodes: NDArray[np.uint8], spec: InputSpec) -> tuple[NDArray[np.float32], Letterbox]:
    """Model input for every frame of a view: ``[frames, channels, size, size]`` float32.

    Parameters
    ----------
    bmodes
        uint8 ``[frames, rows, cols]`` B-mode of one view, in frame order.
    spec
        Input size and temporal context; at the clip ends the nearest frame is repeated.
    """
    frames, rows, cols = bmodes.shape
    box = Letterbox(rows, cols, spec.size)
    single = np.stack([box.to_model(normalise(f)) for f in bmodes])
    index = np.clip(np.arange(frames)[:, None] + np.arange(-spec.context, spec.context + 1)[None, :], 0, frames - 1)
    return np.ascontiguousarray(single[index]), box
