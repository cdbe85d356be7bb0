"""Analyse one clip: stream its frames through the segmentation model, write its masks, compute findings.

This is the unit of work that runs in a worker process (``--jobs``) or on a Dask worker: its inputs are a
:class:`~dvt_us.ingest.Clip` and model manifests, its outputs a :class:`ClipResult` and one mask file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from dvt_us.findings.clip_findings import CompressionFindings, FlowFindings, compression_findings, flow_findings
from dvt_us.inference import ModelManifest, SessionOptions, segment_frames, session_for
from dvt_us.inference.sessions import run_logits, softmax
from dvt_us.ingest import Clip, ClipKind, IngestError
from dvt_us.preprocess import iter_frames
from dvt_us.preprocess.clip_features import classifier_input, measure_clip, track_target
from dvt_us.report.clip_evidence import write_key_frames, write_source_header
from dvt_us.report.masks import MaskWriter

_ANALYSED = (ClipKind.COMPRESSION_CINE, ClipKind.STILL, ClipKind.COLOUR_DOPPLER)


@dataclass(frozen=True)
class ModelSet:
    """The models one analysis uses."""

    segmentation: ModelManifest
    compressibility: ModelManifest
    session: SessionOptions = field(default_factory=SessionOptions)


@dataclass(frozen=True)
class ClipResult:
    """What the analysis found in one clip; ``reason`` says why a clip was not analysed."""

    clip: Clip
    analysed: bool
    reason: str | None
    mask_file: str | None
    """Relative to the visit folder, e.g. ``masks/<SOPInstanceUID>.npz``."""
    segmentation_confidence: float | None
    compression: CompressionFindings | None = None
    flow: FlowFindings | None = None


def _segment_view(clip: Clip, v: int, models: ModelSet, colour: list[NDArray[np.bool_]] | None = None,
                  ) -> tuple[list[NDArray[np.uint8]], list[float]]:
    """Labels (view grid) and vein confidences of view ``v`` in every frame, decoding one frame at a time.

    ``colour``, when given, receives the colour-flow mask of the first frame (what the flow fill measures).
    """
    session = session_for(models.segmentation, models.session)

    def bmodes() -> Iterator[NDArray[np.uint8]]:
        for frame in iter_frames(clip):
            view_frame = frame.views[v]
            if colour is not None and frame.index == 0:
                flow = view_frame.colour_flow
                colour.append(flow != 0 if flow is not None else np.zeros(view_frame.bmode.shape, bool))
            yield view_frame.bmode

    labels, confidences = [], []
    for seg in segment_frames(bmodes(), session, models.segmentation):
        labels.append(seg.labels)
        confidences.append(seg.vein_confidence)
    return labels, confidences


def _write_masks(clip: Clip, per_view: list[list[NDArray[np.uint8]]], path: Path) -> None:
    rows, cols = clip.pixels.rows, clip.pixels.columns
    with MaskWriter(path, clip.frames, (rows, cols)) as writer:
        for f in range(clip.frames):
            full = np.zeros((rows, cols), np.uint8)
            for view, labels in zip(clip.views, per_view, strict=True):
                full[view.box.row0 : view.box.row1, view.box.col0 : view.box.col1] = labels[f]
            writer.write(full)


def analyse_clip(clip: Clip, models: ModelSet, visit_dir: Path) -> ClipResult:
    """Run the models on one clip and compute its findings; never raises for a bad clip.

    Besides the masks, the clip's header (every clip) and key frames (analysed clips) are kept in the
    visit folder for the renderers (:mod:`dvt_us.report.clip_evidence`).
    """
    write_source_header(clip, visit_dir)
    if clip.kind not in _ANALYSED or not clip.views:
        reason = clip.not_analysable_reason or f"{clip.kind.value} clips are listed, not analysed"
        return ClipResult(clip, False, reason, None, None)
    try:
        return _analyse(clip, models, visit_dir)
    except IngestError as err:
        return ClipResult(clip, False, f"{err.code.value}: {err.message}", None, None)


def _analyse(clip: Clip, models: ModelSet, visit_dir: Path) -> ClipResult:
    mask_file = f"masks/{clip.sop_instance_uid}.npz"
    colour: list[NDArray[np.bool_]] = []
    per_view = []
    confidences: list[float] = []
    for v in range(len(clip.views)):
        wants_colour = v == 0 and clip.kind is ClipKind.COLOUR_DOPPLER
        labels, conf = _segment_view(clip, v, models, colour if wants_colour else None)
        per_view.append(labels)
        confidences += conf if v == 0 else []
    _write_masks(clip, per_view, visit_dir / mask_file)
    confidence = float(np.mean(confidences)) if confidences else None
    spacing = clip.views[0].spacing_mm or (1.0, 1.0)  # uncalibrated: pixels (report.json says calibrated: false)
    if clip.kind is ClipKind.COLOUR_DOPPLER:
        target = track_target(np.isin(np.stack(per_view[0]), (1, 2)))
        vein = target[0] if target is not None else np.zeros(per_view[0][0].shape, bool)
        write_key_frames(clip, ("flow",), ((0, 0),), visit_dir)
        return ClipResult(clip, True, None, mask_file, confidence, flow=flow_findings(vein, colour[0], spacing))
    # A split screen is a still pair: uncompressed left, compressed right.
    split_pair = clip.kind is ClipKind.STILL and len(per_view) == 2 and clip.frames == 1
    stack = _pair(per_view[0][0], per_view[1][0]) if split_pair else np.stack(per_view[0])
    measures = measure_clip(stack, spacing)
    classifier = models.compressibility
    curves = classifier_input(measures, int(classifier.preprocessing["steps"]))[None]
    probs = softmax(run_logits(session_for(classifier, models.session), classifier, curves), axis=1)[0]
    still_pair = clip.kind is ClipKind.STILL and len(stack) == 2  # frame 0 uncompressed, 1 compressed
    compression = compression_findings(measures, probs, key=(0, 1) if still_pair else None)
    key = (compression.uncompressed_frame, compression.max_compression_frame)
    picks = ((0, key[0]), (0, key[1])) if split_pair else ((key[0], 0), (key[1], 0))  # (frame, view)
    write_key_frames(clip, ("uncompressed", "max_compression"), picks, visit_dir)
    return ClipResult(clip, True, None, mask_file, confidence, compression=compression)


def _pair(first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.uint8]:
    rows, cols = max(first.shape[0], second.shape[0]), max(first.shape[1], second.shape[1])
    out = np.zeros((2, rows, cols), np.uint8)
    out[0, : first.shape[0], : first.shape[1]] = first
    out[1, : second.shape[0], : second.shape[1]] = second
    return out
