"""Analyse one clip: stream its frames through the segmentation model, write its masks, compute findings.

This is the unit of work that runs in a worker process (``--jobs``) or on a Dask worker: its inputs are a
:class:`~dvt_us.ingest.Clip` and model manifests, its outputs a :class:`ClipResult` and one mask file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from dvt_us.findings.clip_findings import CompressionFindings, FlowFindings, compression_findings, flow_findings
from dvt_us.inference import FrameSegmentation, ModelManifest, SessionOptions, segment_views, session_for
from dvt_us.inference.sessions import run_logits, softmax
from dvt_us.ingest import Clip, ClipKind, IngestError
from dvt_us.pipeline.label_spool import LabelSpool
from dvt_us.preprocess import iter_frames
from dvt_us.preprocess.clip_features import classifier_input, measure_clip, measure_frames
from dvt_us.preprocess.model_input import InputSpec, Letterbox
from dvt_us.preprocess.vein_tracking import FrameSummary, aligned_window, iter_targets, summarise_frame
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


def _segmented_frames(clip: Clip, models: ModelSet, colour: list[NDArray[np.bool_]] | None,
                      ) -> Iterator[tuple[FrameSegmentation, ...]]:
    """Each frame's segmentation, one per view, in frame order; every frame is decoded once.

    ``colour``, when given, receives the colour-flow mask of view 0 in the first frame (what the flow
    fill measures). Only a batch of frames is held at a time, or, for a model that sees the clip extremes,
    the clip in model geometry (:func:`dvt_us.inference.segment_views`).
    """
    session = session_for(models.segmentation, models.session)

    def bmodes() -> Iterator[tuple[NDArray[np.uint8], ...]]:
        for frame in iter_frames(clip):
            if colour is not None and frame.index == 0:
                first = frame.views[0]
                flow = first.colour_flow
                colour.append(flow != 0 if flow is not None else np.zeros(first.bmode.shape, bool))
            yield tuple(view.bmode for view in frame.views)

    return segment_views(bmodes(), len(clip.views), session, models.segmentation)


@dataclass
class _Segmentation:
    """What the segmentation pass keeps of a clip: per-frame numbers, and the labels of its last frame."""

    confidences: list[float] = field(default_factory=list)
    """Vein confidence of view 0, per frame."""
    summaries: list[FrameSummary] = field(default_factory=list)
    """View 0, per frame."""
    last: tuple[NDArray[np.uint8], ...] = ()
    """Labels of every view in the last frame (a one-frame still pair is measured from these)."""


def _segment(clip: Clip, models: ModelSet, masks: MaskWriter, spool: LabelSpool,
             colour: list[NDArray[np.bool_]] | None) -> _Segmentation:
    """Segment every frame, writing each full-size label frame to ``masks`` and view 0 to ``spool``."""
    done = _Segmentation()
    for segs in _segmented_frames(clip, models, colour):
        full = np.zeros(masks.shape, np.uint8)
        for view, seg in zip(clip.views, segs, strict=True):
            full[view.box.row0 : view.box.row1, view.box.col0 : view.box.col1] = seg.labels
        masks.write(full)
        spool.append(segs[0].labels)
        done.confidences.append(segs[0].vein_confidence)
        done.summaries.append(summarise_frame(segs[0].labels))
        done.last = tuple(seg.labels for seg in segs)
    return done


def analyse_clip(clip: Clip, models: ModelSet, visit_dir: Path) -> ClipResult:
    """Run the models on one clip and compute its findings; never raises for a bad clip.

    Besides the masks, the clip's header (every clip) and key frames (analysed clips) are kept in the
    visit folder for the renderers (:mod:`dvt_us.report.clip_evidence`).
    """
    # OpenCV's own thread pool would compete with ONNX Runtime's threads and the other worker processes
    # for the cores on every small per-frame operation: it gets the session's share, like ONNX Runtime.
    cv2.setNumThreads(models.session.threads)
    write_source_header(clip, visit_dir)
    if clip.kind not in _ANALYSED or not clip.views:
        reason = clip.not_analysable_reason or f"{clip.kind.value} clips are listed, not analysed"
        return ClipResult(clip, False, reason, None, None)
    try:
        return _analyse(clip, models, visit_dir)
    except IngestError as err:
        return ClipResult(clip, False, f"{err.code.value}: {err.message}", None, None)


def analyse_clip_task(task: tuple[Clip, ModelSet, Path]) -> ClipResult:
    """:func:`analyse_clip` of one ``(clip, models, visit_dir)``: the work item of a worker process."""
    return analyse_clip(*task)


def _analyse(clip: Clip, models: ModelSet, visit_dir: Path) -> ClipResult:
    mask_file = f"masks/{clip.sop_instance_uid}.npz"
    colour: list[NDArray[np.bool_]] | None = [] if clip.kind is ClipKind.COLOUR_DOPPLER else None
    spacing = clip.views[0].spacing_mm or (1.0, 1.0)  # uncalibrated: pixels (report.json says calibrated: false)
    # A split screen is a still pair: uncompressed left, compressed right.
    split_pair = clip.kind is ClipKind.STILL and len(clip.views) == 2 and clip.frames == 1
    shape = (clip.pixels.rows, clip.pixels.columns)
    with MaskWriter(visit_dir / mask_file, clip.frames, shape) as masks, LabelSpool(clip.views[0].box.shape) as spool:
        seg = _segment(clip, models, masks, spool, colour)
        if colour is not None:
            vein_px = np.array([s.vein_px for s in seg.summaries], np.int64)
            target = next((t for f, _, t in iter_targets(vein_px, spool.read) if f == 0), None)
            vein = target if target is not None else np.zeros(spool.shape, bool)
            flow = flow_findings(vein, colour[0], spacing)
        elif split_pair:
            measures = measure_clip(_pair(*seg.last), spacing)
        else:
            window = aligned_window(spool.bounds)  # measured on the pixels around the labels, not the whole view
            measures = measure_frames(seg.summaries, lambda f: spool.read(f, window), spacing, (window[0], window[2]))
    confidence = float(np.mean(seg.confidences)) if seg.confidences else None
    if colour is not None:
        write_key_frames(clip, ("flow",), ((0, 0),), visit_dir)
        return ClipResult(clip, True, None, mask_file, confidence, flow=flow)
    classifier = models.compressibility
    curves = classifier_input(measures, int(classifier.preprocessing["steps"]))[None]
    probs = softmax(run_logits(session_for(classifier, models.session), classifier, curves), axis=1)[0]
    still_pair = clip.kind is ClipKind.STILL and len(measures.vein_area_mm2) == 2  # 0 uncompressed, 1 compressed
    compression = compression_findings(measures, probs, key=(0, 1) if still_pair else None,
                                       abnormal_min_probability=classifier.thresholds.get("abnormal_min_probability"),
                                       model_pixel_mm=model_pixel_mm(clip, models.segmentation))
    key = (compression.uncompressed_frame, compression.max_compression_frame)
    picks = ((0, key[0]), (0, key[1])) if split_pair else ((key[0], 0), (key[1], 0))  # (frame, view)
    write_key_frames(clip, ("uncompressed", "max_compression"), picks, visit_dir)
    return ClipResult(clip, True, None, mask_file, confidence, compression=compression)


def model_pixel_mm(clip: Clip, segmentation: ModelManifest) -> float:
    """AP size of one segmentation-model pixel in the clip's first view (mm; pixels when uncalibrated)."""
    view = clip.views[0]
    rows, cols = view.box.shape
    box = Letterbox(rows, cols, InputSpec.from_preprocessing(segmentation.preprocessing).size)
    return (view.spacing_mm or (1.0, 1.0))[0] / box.scale


def _pair(first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.uint8]:
    rows, cols = max(first.shape[0], second.shape[0]), max(first.shape[1], second.shape[1])
    out = np.zeros((2, rows, cols), np.uint8)
    out[0, : first.shape[0], : first.shape[1]] = first
    out[1, : second.shape[0], : second.shape[1]] = second
    return out
