"""ONNX Runtime sessions: created once per process per model, with explicit thread settings.

The CUDA execution provider is used when the installed onnxruntime offers it (the ``onnxruntime-gpu``
build), else the CPU provider.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from dvt_us.inference.registry import ModelManifest


@dataclass(frozen=True)
class SessionOptions:
    """Threads per session (intra-op) and whether to try CUDA."""

    threads: int = 1
    use_cuda: bool = True


def providers(use_cuda: bool) -> list[str]:
    """Execution providers to ask for, best first, among those this onnxruntime build has."""
    available = ort.get_available_providers()
    wanted = (["CUDAExecutionProvider"] if use_cuda else []) + ["CPUExecutionProvider"]
    return [p for p in wanted if p in available]


@functools.cache
def _session(path: str, sha256: str, threads: int, use_cuda: bool) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle intra-op threads sleep instead of spinning: beside other workers (the service's pool, --jobs),
    # spinning burnt the cores they share (2 threads under load: 18 -> 28-31 ms of CPU per frame).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, sess_options=options, providers=providers(use_cuda))


def session_for(manifest: ModelManifest, options: SessionOptions = SessionOptions()) -> ort.InferenceSession:
    """The process-wide session of a model (created on first use)."""
    return _session(str(manifest.onnx_path), manifest.sha256, options.threads, options.use_cuda)


def run_logits(
    session: ort.InferenceSession, manifest: ModelManifest, batch: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Run one batch through a model; returns its first output (the logits)."""
    out: NDArray[np.float32] = session.run([manifest.output_name], {manifest.input_name: batch})[0]
    return out


def softmax(logits: NDArray[np.float32], axis: int = 1) -> NDArray[np.float32]:
    """Numerically stable softmax along ``axis``."""
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    probs: NDArray[np.float32] = shifted / shifted.sum(axis=axis, keepdims=True)
    return probs
