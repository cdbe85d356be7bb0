"""Export a trained run to ``models/<name>/<version>/``: ONNX, parity check, manifest.json, MODEL_CARD.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

import monai
import numpy as np
import onnxruntime as ort
import torch
import yaml

from dvt_us import __version__
from dvt_us.preprocess.clip_features import FEATURES
from training.config import TrainConfig
from training.data import COMPRESSIBILITY
from training.metrics import segmentation_score
from training.model_card import model_card
from training.networks import TemporalClassifier, segmentation_network

LABELS = ["background", "vein lumen", "thrombus", "artery"]
PARITY_MAX_ABS = 1e-4
PARITY_ARGMAX = 0.999
OPSET = 17


def load_run(run_dir: Path) -> tuple[TrainConfig, torch.nn.Module, dict[str, Any]]:
    """The config, best weights (in eval mode) and best-epoch metrics of a run folder."""
    cfg = TrainConfig.model_validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    if cfg.task == "segmentation":
        model = segmentation_network(cfg.segmentation, cfg.segmentation.input_spec.channels)
    else:
        model = TemporalClassifier(len(FEATURES), cfg.compressibility)
    model.load_state_dict(torch.load(run_dir / "best.pt", weights_only=True))
    metrics_path = run_dir / "final_metrics.json"
    metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else _best_from_log(run_dir, cfg)
    return cfg, model.eval(), metrics


def _best_from_log(run_dir: Path, cfg: TrainConfig) -> dict[str, Any]:
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
    if "dice_vein" in lines[0]:
        return max(lines, key=lambda m: segmentation_score(m, cfg.segmentation.select_by))
    return max(lines, key=lambda m: m.get("accuracy", float("-inf")))


def example_input(cfg: TrainConfig, batch: int, seed: int = 0) -> np.ndarray:
    """A realistic-shaped random input for export and parity."""
    rng = np.random.default_rng(seed)
    if cfg.task == "segmentation":
        s = cfg.segmentation
        return rng.standard_normal((batch, s.input_spec.channels, s.input_size, s.input_size)).astype(np.float32)
    return rng.random((batch, len(FEATURES), cfg.compressibility.steps)).astype(np.float32)


def parity(model: torch.nn.Module, onnx_path: Path, inputs: np.ndarray) -> dict[str, float]:
    """Max |torch − ORT| on the logits and the share of identical argmax decisions."""
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    onnx_out = session.run(None, {name: inputs})[0]
    with torch.no_grad():
        torch_out = model(torch.as_tensor(inputs)).numpy()
    return {"max_abs_diff": float(np.abs(onnx_out - torch_out).max()),
            "argmax_agreement": float((onnx_out.argmax(axis=1) == torch_out.argmax(axis=1)).mean())}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export_run(run_dir: Path, out: Path, parity_inputs: np.ndarray | None = None) -> dict[str, Any]:
    """Export the best weights of ``run_dir`` to ``out``; raise if ONNX Runtime parity fails."""
    cfg, model, metrics = load_run(run_dir)
    staging = out.with_name(out.name + ".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    onnx_path = staging / "model.onnx"
    segmentation = cfg.task == "segmentation"
    input_name, output_name = ("image", "logits") if segmentation else ("curves", "logits")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(model, (torch.as_tensor(example_input(cfg, 2)),), str(onnx_path), dynamo=False,
                          input_names=[input_name], output_names=[output_name], opset_version=OPSET,
                          dynamic_axes={input_name: {0: "batch"}, output_name: {0: "batch"}})
    check = parity(model, onnx_path, parity_inputs if parity_inputs is not None else example_input(cfg, 4, seed=1))
    if check["max_abs_diff"] > PARITY_MAX_ABS or check["argmax_agreement"] < PARITY_ARGMAX:
        shutil.rmtree(staging)
        raise RuntimeError(f"ONNX Runtime parity failed: {check}")
    manifest = _manifest(cfg, metrics, check, onnx_path)
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (staging / "MODEL_CARD.md").write_text(model_card(manifest))
    if out.exists():  # replace a previous export of the same version whole, never file by file
        shutil.rmtree(out)
    os.replace(staging, out)
    return manifest


def _manifest(cfg: TrainConfig, metrics: dict[str, Any], check: dict[str, float], onnx_path: Path) -> dict[str, Any]:
    segmentation = cfg.task == "segmentation"
    if segmentation:
        s = cfg.segmentation
        shape = ["batch", s.input_spec.channels, s.input_size, s.input_size]
        inputs = [{"name": "image", "dtype": "float32", "shape": shape}]
        outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", 4, s.input_size, s.input_size]}]
        labels = LABELS
        preprocessing = {"function": "dvt_us.preprocess.model_input.model_frames", "size": s.input_size,
                         "context": s.context, "clip_extremes": s.clip_extremes, "normalise": "zscore per view",
                         "letterbox": "centred, zero pad"}
        thresholds: dict[str, Any] = {}
    else:
        c = cfg.compressibility
        inputs = [{"name": "curves", "dtype": "float32", "shape": ["batch", len(FEATURES), c.steps]}]
        outputs = [{"name": "logits", "dtype": "float32", "shape": ["batch", len(COMPRESSIBILITY)]}]
        labels = list(COMPRESSIBILITY)
        preprocessing = {"function": "dvt_us.preprocess.clip_features.classifier_input", "steps": c.steps,
                         "features": list(FEATURES)}
        thresholds = {"compressible_max_diameter_ratio": 0.10, "noncompressible_min_diameter_ratio": 0.90}
        if "abnormal_min_probability" in metrics:  # the operating point chosen on validation data
            thresholds["abnormal_min_probability"] = metrics["abnormal_min_probability"]
    return {
        "name": cfg.name, "version": cfg.version, "task": cfg.task, "format": "onnx", "opset": OPSET,
        "inputs": inputs, "outputs": outputs, "labels": labels, "preprocessing": preprocessing,
        "thresholds": thresholds, "training_config_sha256": cfg.config_hash(),
        "training_config": cfg.model_dump(mode="json"), "metrics": metrics, "parity": check,
        "sha256": _sha256(onnx_path), "size_bytes": onnx_path.stat().st_size,
        "software": {"dvt_us": __version__, "torch": torch.__version__, "monai": monai.__version__,
                     "onnxruntime": ort.__version__},
        "trained_on": "dvt-us physics phantom (synthetic); no patient data",
        "created": dt.date.today().isoformat(),
    }
