"""Inference: exported ONNX models run by ONNX Runtime (CPU, or CUDA when present). Never imports torch."""

from dvt_us.inference.registry import DEFAULT_MODELS_DIR, ModelError, ModelManifest, ModelRegistry
from dvt_us.inference.segmenter import FrameSegmentation, segment_frames, segment_views
from dvt_us.inference.sessions import SessionOptions, session_for

__all__ = [
    "DEFAULT_MODELS_DIR",
    "FrameSegmentation",
    "ModelError",
    "ModelManifest",
    "ModelRegistry",
    "SessionOptions",
    "segment_frames",
    "segment_views",
    "session_for",
]
