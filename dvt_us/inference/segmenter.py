"""Segment a stream of B-mode frames of one view with the segmentation model, in batches.

Frames arrive one at a time (from :func:`dvt_us.preprocess.iter_frames`); each is normalised and
letterboxed once, kept in a small ring for the neighbouring-frame channels, and sent in batches.
A model that also sees the clip's extremes (``clip_extremes`` in its manifest) needs every frame first:
then the clip is held in model geometry as float16 like the training data (32 KiB per frame at 128),
never at source size. Labels come back in the view's own pixel grid.
"""

from __future__ import annotations

import itertools
import operator
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from dvt_us.inference.registry import ModelError, ModelManifest
from dvt_us.inference.sessions import run_logits, softmax
from dvt_us.preprocess.model_input import (
    CLIP_DTYPE,
    InputSpec,
    Letterbox,
    clip_extremes,
    frame_input,
    normalise,
)


@dataclass(frozen=True)
class FrameSegmentation:
    """Labels of one frame in the view grid, and the model's mean confidence over the vein pixels."""

    index: int
    labels: NDArray[np.uint8]
    """uint8 ``[rows, cols]``: 0 background, 1 vein lumen, 2 thrombus, 3 artery."""
    vein_confidence: float
    """Mean winning-class probability over pixels labelled vein (lumen or thrombus); 0 if none."""


def input_spec(manifest: ModelManifest) -> InputSpec:
    """The preprocessing the model was trained with (from its manifest), checked against its input shape."""
    if manifest.task != "segmentation" or len(manifest.labels) != 4:
        raise ModelError(f"{manifest.name} {manifest.version} is a {manifest.task} model with labels "
                         f"{list(manifest.labels)}, not a 4-label segmentation model")
    pre = manifest.preprocessing
    spec = InputSpec.from_preprocessing(pre)
    if list(manifest.input_shape[1:]) != [spec.channels, spec.size, spec.size]:
        raise ModelError(f"{manifest.name} {manifest.version}: input shape {list(manifest.input_shape)} does not "
                         f"match its preprocessing ({spec.channels} channels of {spec.size}x{spec.size})")
    return spec


CPU_BATCH = 4
"""Frames per ONNX Runtime call on the CPU. On this project's 2-core reference machine, 4 frames of 128x128
gave 8-10 % more frames/s than 16 on one thread (each of two workers) and about as much on two threads: a
batch's activations then stay in the core's caches (``benchmarks/inference_benchmark.py`` prints the one-thread
figures)."""
GPU_BATCH = 64
"""Frames per call with the CUDA execution provider, which needs large batches to fill the device (not yet
measured: no GPU has been lent to this project)."""


def batch_size_for(session: ort.InferenceSession) -> int:
    """The frames per call that suit the session's execution provider."""
    return GPU_BATCH if session.get_providers()[0] == "CUDAExecutionProvider" else CPU_BATCH


def winning_class(planes: Sequence[NDArray[np.float32]]) -> tuple[NDArray[np.uint8], NDArray[np.float32]]:
    """Per pixel, the class with the highest score (the first of equals) and that score.

    ``planes[c]`` holds the scores ``[rows, cols]`` of class ``c``. The same as ``argmax`` and ``max`` over
    the stacked ``[classes, rows, cols]``, several times faster on a 600x800 view: the planes are compared
    one after the other, each contiguous, instead of striding across the class axis.
    """
    best = np.array(planes[0], np.float32)
    labels = np.zeros(best.shape, np.uint8)
    for c, plane in enumerate(planes[1:], start=1):
        # Labels so far are all below c: where this class wins, max(label, c) is c; elsewhere max(label, 0).
        np.maximum(labels, (plane > best).view(np.uint8) * np.uint8(c), out=labels)
        np.maximum(best, plane, out=best)
    return labels, best


def _decode(scores: NDArray[np.float32], box: Letterbox, index: int) -> FrameSegmentation:
    labels, best = winning_class(box.to_source_planes(scores))
    vein = (labels == 1) | (labels == 2)
    confidence = float(best[vein].mean()) if vein.any() else 0.0
    return FrameSegmentation(index, labels, confidence)


def segment_frames(
    frames: Iterable[NDArray[np.uint8]],
    session: ort.InferenceSession,
    manifest: ModelManifest,
    batch_size: int | None = None,
) -> Iterator[FrameSegmentation]:
    """Segment frames ``[rows, cols]`` (uint8, one view, in order); yields one result per frame, in order.

    Memory holds ``batch_size + 2 * context`` model inputs, whatever the clip length, unless the model
    uses the clip extremes (then every frame in model geometry). ``batch_size`` defaults to
    :func:`batch_size_for` the session.
    """
    spec = input_spec(manifest)
    batch_size = batch_size_for(session) if batch_size is None else batch_size
    if spec.clip_extremes:  # the one-view case of segment_views, which holds the clip
        for (segmentation,) in segment_views(((frame,) for frame in frames), 1, session, manifest, batch_size):
            yield segmentation
        return
    k = spec.context
    ring: deque[NDArray[np.float32]] = deque()
    box: Letterbox | None = None
    first = 0  # index of ring[0]
    next_out = 0
    total = 0

    def flush(box: Letterbox, last: bool) -> Iterator[FrameSegmentation]:
        nonlocal next_out, first
        ready = total if last else total - k  # frames whose right neighbours have arrived
        while next_out < ready:
            stop = min(ready, next_out + batch_size)
            batch = np.stack([
                np.stack([ring[min(max(i + d, 0), total - 1) - first] for d in range(-k, k + 1)])
                for i in range(next_out, stop)
            ])
            probs = softmax(run_logits(session, manifest, batch), axis=1)
            for j, i in enumerate(range(next_out, stop)):
                yield _decode(probs[j], box, i)
            next_out = stop
            while first < next_out - k:  # drop frames no longer needed as left context
                ring.popleft()
                first += 1

    for frame in frames:
        if box is None:
            box = Letterbox(frame.shape[0], frame.shape[1], spec.size)
        ring.append(box.to_model(normalise(frame)))
        total += 1
        if total - k - next_out >= batch_size:
            yield from flush(box, last=False)
    if box is not None:
        yield from flush(box, last=True)


def segment_views(
    frames: Iterable[Sequence[NDArray[np.uint8]]],
    views: int,
    session: ort.InferenceSession,
    manifest: ModelManifest,
    batch_size: int | None = None,
) -> Iterator[tuple[FrameSegmentation, ...]]:
    """Segment every view of each frame (``frames`` yields one uint8 ``[rows, cols]`` per view, in order).

    Yields one tuple per frame. Each frame is read once; with the clip extremes the views are gathered
    in model geometry side by side, so no view waits at source size for another.
    """
    spec = input_spec(manifest)
    batch_size = batch_size_for(session) if batch_size is None else batch_size
    if not spec.clip_extremes:
        streams = itertools.tee(frames, views)
        per_view = [segment_frames(map(operator.itemgetter(v), stream), session, manifest, batch_size)
                    for v, stream in enumerate(streams)]
        yield from zip(*per_view, strict=True)
        return
    boxes: list[Letterbox] = []
    singles: list[list[NDArray[np.float16]]] = [[] for _ in range(views)]
    for frame in frames:
        if len(frame) != views:
            raise ValueError(f"a frame has {len(frame)} views, expected {views}")
        if not boxes:
            boxes = [Letterbox(view.shape[0], view.shape[1], spec.size) for view in frame]
        for v, view in enumerate(frame):
            singles[v].append(boxes[v].to_model(normalise(view)).astype(CLIP_DTYPE))
    if boxes:
        per_view = [_segment_model_frames(np.stack(singles[v]), boxes[v], session, manifest, spec,
                                          batch_size=batch_size)
                    for v in range(views)]
        singles.clear()
        yield from zip(*per_view, strict=True)


def _segment_model_frames(clip: NDArray[np.float16], box: Letterbox, session: ort.InferenceSession,
                          manifest: ModelManifest, spec: InputSpec, *, batch_size: int,
                          ) -> Iterator[FrameSegmentation]:
    """Segment a whole clip held in model geometry ``[frames, size, size]``, with its extremes."""
    extremes = clip_extremes(clip)
    for start in range(0, len(clip), batch_size):
        stop = min(len(clip), start + batch_size)
        batch = np.stack([frame_input(clip, i, spec, extremes) for i in range(start, stop)])
        probs = softmax(run_logits(session, manifest, batch), axis=1)
        for j, i in enumerate(range(start, stop)):
            yield _decode(probs[j], box, i)
