"""The streaming clip analysis gives the findings of the whole-stack path, on every kind of phantom clip.

A compression cine, a split-screen still pair and a colour Doppler frame are analysed with the shipped
models; their masks file is then read back whole, and the findings recomputed from it with the stack-based
reference measurements (:mod:`tests.preprocess.stack_reference`) must be the same, to the last bit.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray

from dvt_us.findings.clip_findings import compression_findings, flow_findings
from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry, SessionOptions, segment_frames, session_for
from dvt_us.inference.sessions import run_logits, softmax
from dvt_us.ingest import Clip, ClipKind, ProblemCode, Source, ingest, read_clip
from dvt_us.phantom.trial import Acquisition, plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.pipeline.clip_analysis import ClipResult, ModelSet, analyse_clip
from dvt_us.preprocess import iter_frames
from dvt_us.preprocess.clip_features import classifier_input
from tests.dicom_factory import jpeg_with_broken_last_frame
from tests.preprocess.stack_reference import reference_measure_clip, reference_track_target


@pytest.fixture(scope="module")
def models() -> ModelSet:
    registry = ModelRegistry(DEFAULT_MODELS_DIR)
    return ModelSet(registry.get("vein-seg"), registry.get("compressibility"), SessionOptions(use_cuda=False))


@pytest.fixture(scope="module")
def analysed(tmp_path_factory: pytest.TempPathFactory, models: ModelSet) -> tuple[Path, list[ClipResult]]:
    """One clip of each acquisition the phantom writes, analysed into one visit folder."""
    plan = plan_trial(1, seed=4, protocol="full", visits=1)
    chosen = tuple(next(c for c in plan.clips if c.kind is kind) for kind in Acquisition)
    root = tmp_path_factory.mktemp("trial")
    write_trial(replace(plan, clips=chosen), root, RenderOptions(shape=(180, 240), frames=9))
    clips = [c for s in ingest([root / "dicom"]).subjects for v in s.visits for c in v.clips]
    visit = root / "visit"
    return visit, [analyse_clip(clip, models, visit) for clip in clips]


def _views(clip: Clip, masks: NDArray[np.uint8]) -> list[NDArray[np.uint8]]:
    """Each view's labels ``[frames, rows, cols]``, cut out of the full-size masks."""
    return [masks[:, v.box.row0 : v.box.row1, v.box.col0 : v.box.col1] for v in clip.views]


def _pad_pair(first: NDArray[np.uint8], second: NDArray[np.uint8]) -> NDArray[np.uint8]:
    rows, cols = max(first.shape[0], second.shape[0]), max(first.shape[1], second.shape[1])
    out = np.zeros((2, rows, cols), np.uint8)
    out[0, : first.shape[0], : first.shape[1]], out[1, : second.shape[0], : second.shape[1]] = first, second
    return out


def test_every_kind_of_clip_is_analysed(analysed: tuple[Path, list[ClipResult]]) -> None:
    _, results = analysed
    kinds = {(r.clip.kind, len(r.clip.views)) for r in results}
    assert {(ClipKind.COMPRESSION_CINE, 1), (ClipKind.STILL, 2), (ClipKind.COLOUR_DOPPLER, 1)} <= kinds
    assert all(r.analysed for r in results), [r.reason for r in results]


def test_masks_hold_every_view_as_segmented_alone(analysed: tuple[Path, list[ClipResult]], models: ModelSet) -> None:
    """Views segmented in step, written frame by frame, equal each view segmented on its own."""
    visit, results = analysed
    session = session_for(models.segmentation, models.session)
    for r in results:
        assert r.mask_file is not None
        masks = np.load(visit / r.mask_file)["labels"]
        assert masks.dtype == np.uint8 and masks.shape == (r.clip.frames, r.clip.pixels.rows, r.clip.pixels.columns)
        for v, labels in enumerate(_views(r.clip, masks)):
            alone = [s.labels for s in segment_frames((f.views[v].bmode for f in iter_frames(r.clip)), session,
                                                      models.segmentation)]
            np.testing.assert_array_equal(labels, np.stack(alone))


def test_findings_equal_the_stack_based_ones(analysed: tuple[Path, list[ClipResult]], models: ModelSet) -> None:
    visit, results = analysed
    classifier = models.compressibility
    for r in results:
        assert r.mask_file is not None
        views = _views(r.clip, np.load(visit / r.mask_file)["labels"])
        spacing = r.clip.views[0].spacing_mm or (1.0, 1.0)
        if r.clip.kind is ClipKind.COLOUR_DOPPLER:
            target = reference_track_target(np.isin(views[0], (1, 2)))
            vein = target[0] if target is not None else np.zeros(views[0].shape[1:], bool)
            flow = next(iter_frames(r.clip)).views[0].colour_flow
            colour = flow != 0 if flow is not None else np.zeros(vein.shape, bool)
            assert repr(r.flow) == repr(flow_findings(vein, colour, spacing))
            continue
        split_pair = len(views) == 2 and r.clip.frames == 1
        stack = _pad_pair(views[0][0], views[1][0]) if split_pair else views[0]
        measures = reference_measure_clip(stack, spacing)
        curves = classifier_input(measures, int(classifier.preprocessing["steps"]))[None]
        probs = softmax(run_logits(session_for(classifier, models.session), classifier, curves), axis=1)[0]
        still_pair = r.clip.kind is ClipKind.STILL and len(stack) == 2
        # One model pixel: the view's longer side spread over the model's input size.
        model_pixel = spacing[0] * max(views[0].shape[1:]) / int(models.segmentation.preprocessing["size"])
        expected = compression_findings(measures, probs, key=(0, 1) if still_pair else None,
                                        abnormal_min_probability=classifier.thresholds.get("abnormal_min_probability"),
                                        model_pixel_mm=model_pixel)
        assert r.compression is not None and expected.vein_found
        assert repr(r.compression) == repr(expected)


def test_a_frame_that_fails_to_decode_leaves_no_mask_file(tmp_path: Path, models: ModelSet) -> None:
    """Masks are written while decoding: a bad third frame must not leave a partial file behind."""
    path = jpeg_with_broken_last_frame(tmp_path / "j.dcm")  # the third frame's headers wiped
    clip = read_clip(Source(path))
    assert clip.kind is ClipKind.COMPRESSION_CINE and clip.views
    result = analyse_clip(clip, models, tmp_path / "visit")
    assert not result.analysed and result.mask_file is None
    assert result.reason is not None and result.reason.startswith(ProblemCode.DECODE_FAILED.value)
    assert "frame 3" in result.reason
    assert not list((tmp_path / "visit" / "masks").iterdir())
