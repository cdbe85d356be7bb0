"""Model registry (manifests, sha256) and streaming segmentation, on a small real ONNX model built here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from dvt_us.inference import (  # noqa: E402
    ModelError,
    ModelRegistry,
    SessionOptions,
    segment_frames,
    segment_views,
    session_for,
)
from dvt_us.inference.segmenter import CPU_BATCH, batch_size_for  # noqa: E402
from dvt_us.inference.sessions import run_logits, softmax  # noqa: E402
from dvt_us.preprocess.model_input import InputSpec, model_frames  # noqa: E402


def _conv_model(path: Path, channels: int, seed: int = 0) -> None:
    """A 3x3 convolution from `channels` inputs to 4 class logits: a real ONNX graph for ORT."""
    rng = np.random.default_rng(seed)
    weight = numpy_helper.from_array(rng.standard_normal((4, channels, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["image", "w"], ["logits"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "conv",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", channels, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4, 64, 64])],
        initializer=[weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), path)


def _publish(root: Path, name: str, version: str, context: int = 1, clip_extremes: bool = False) -> Path:
    folder = root / name / version
    folder.mkdir(parents=True)
    channels = InputSpec(64, context, clip_extremes).channels
    _conv_model(folder / "model.onnx", channels)
    manifest = {
        "name": name, "version": version, "task": "segmentation",
        "inputs": [{"name": "image", "shape": ["batch", channels, 64, 64]}],
        "outputs": [{"name": "logits", "shape": ["batch", 4, 64, 64]}],
        "labels": ["background", "vein lumen", "thrombus", "artery"],
        "preprocessing": {"size": 64, "context": context, "clip_extremes": clip_extremes},
        "sha256": hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest(),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_registry_versions_unknown_names_and_tampering(tmp_path: Path) -> None:
    _publish(tmp_path, "seg", "0.2.0")
    _publish(tmp_path, "seg", "0.10.0")
    _publish(tmp_path, "seg", "0.10.0-rc1")
    registry = ModelRegistry(tmp_path)
    assert registry.available() == {"seg": ["0.2.0", "0.10.0-rc1", "0.10.0"]}
    assert registry.get("seg").version == "0.10.0"
    with pytest.raises(ModelError, match="valid models: seg"):
        registry.get("segg")
    with pytest.raises(ModelError, match=r"valid versions: 0\.2\.0, 0\.10\.0-rc1, 0\.10\.0"):
        registry.get("seg", "9")
    (tmp_path / "seg" / "0.2.0" / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(ModelError, match="sha256"):
        registry.get("seg", "0.2.0")


@pytest.mark.parametrize("batch_size", [None, 16])  # None: the session's batch_size_for (4 on the CPU)
@pytest.mark.parametrize("clip_extremes", [False, True])
@pytest.mark.parametrize("frames", [1, 5, 37])
def test_streaming_equals_whole_clip(tmp_path: Path, frames: int, clip_extremes: bool, batch_size: int | None) -> None:
    _publish(tmp_path, "seg", "1", clip_extremes=clip_extremes)
    manifest = ModelRegistry(tmp_path).get("seg")
    session = session_for(manifest, SessionOptions(use_cuda=False))
    assert batch_size_for(session) == CPU_BATCH
    rng = np.random.default_rng(frames)
    bmodes = rng.integers(0, 255, (frames, 90, 120), dtype=np.uint8)
    streamed = list(segment_frames(iter(bmodes), session, manifest, batch_size=batch_size))
    assert [s.index for s in streamed] == list(range(frames))
    inputs, box = model_frames(bmodes, InputSpec(64, 1, clip_extremes))
    assert inputs.shape == (frames, 5 if clip_extremes else 3, 64, 64)
    probs = softmax(run_logits(session, manifest, inputs), axis=1)
    for s, frame_probs in zip(streamed, probs, strict=True):
        expected = box.to_source(frame_probs).argmax(axis=0)
        assert s.labels.shape == (90, 120)
        np.testing.assert_array_equal(s.labels, expected)


@pytest.mark.parametrize("clip_extremes", [False, True])
def test_views_segmented_together_equal_each_view_alone(tmp_path: Path, clip_extremes: bool) -> None:
    """A split screen: each view gets its own letterbox and its own clip extremes."""
    _publish(tmp_path, "seg", "1", clip_extremes=clip_extremes)
    manifest = ModelRegistry(tmp_path).get("seg")
    session = session_for(manifest)
    rng = np.random.default_rng(7)
    left = rng.integers(0, 255, (9, 90, 60), dtype=np.uint8)
    right = rng.integers(0, 120, (9, 80, 70), dtype=np.uint8)
    together = list(segment_views(zip(left, right, strict=True), 2, session, manifest, batch_size=4))
    assert len(together) == 9
    for v, view in enumerate((left, right)):
        alone = list(segment_frames(iter(view), session, manifest, batch_size=3))
        for pair, single in zip(together, alone, strict=True):
            assert pair[v].index == single.index
            np.testing.assert_array_equal(pair[v].labels, single.labels)


def test_a_frame_with_the_wrong_number_of_views_is_refused(tmp_path: Path) -> None:
    _publish(tmp_path, "seg", "1", clip_extremes=True)
    manifest = ModelRegistry(tmp_path).get("seg")
    frames = [(np.zeros((40, 40), np.uint8),)]  # one view where two were announced
    with pytest.raises(ValueError, match="1 views, expected 2"):
        list(segment_views(frames, 2, session_for(manifest), manifest))
