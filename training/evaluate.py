"""Evaluate an exported model (ONNX Runtime, as served) on a dataset folder with truth."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from dvt_us.inference.sessions import softmax
from dvt_us.preprocess.clip_features import classifier_input, measure_clip
from dvt_us.preprocess.model_input import InputSpec
from training.data import COMPRESSIBILITY, TrainClip, load_folder
from training.metrics import (
    classification_intervals,
    classification_metrics,
    dice_intervals,
    overlap_counts,
    segmentation_metrics,
)
from training.model_card import model_card


def _session(model_dir: Path) -> tuple[ort.InferenceSession, dict[str, Any]]:
    manifest = json.loads((model_dir / "manifest.json").read_text())
    return ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"]), manifest


def segment_clip(session: ort.InferenceSession, clip: TrainClip, spec: InputSpec, batch: int = 32) -> np.ndarray:
    """Argmax labels ``[frames, S, S]`` for every frame of a clip in model geometry."""
    name = session.get_inputs()[0].name
    out = []
    for start in range(0, len(clip.images), batch):
        x = np.stack([clip.model_input(f, spec)
                      for f in range(start, min(start + batch, len(clip.images)))])
        out.append(session.run(None, {name: x})[0].argmax(axis=1).astype(np.uint8))
    return np.concatenate(out)


def record_evaluation(model_dir: Path, data_dir: Path, result: dict[str, Any]) -> None:
    """Add an evaluation to the model's manifest and re-render its model card (model.onnx is untouched)."""
    path = model_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    entry: dict[str, Any] = {"data": str(data_dir), "date": dt.date.today().isoformat()}
    truth_file = data_dir / "truth" / "truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.is_file() else {}
    if "seed" in truth:  # a phantom trial: what it was generated from, as the folder name alone does not say
        entry["phantom"] = {"seed": truth["seed"], "subjects": len(truth.get("subjects", [])),
                            "protocol": truth.get("protocol"), "render": truth.get("render"),
                            "generator": truth.get("generator")}
    manifest.setdefault("evaluations", []).append({**entry, "metrics": result})
    path.write_text(json.dumps(manifest, indent=2) + "\n")
    (model_dir / "MODEL_CARD.md").write_text(model_card(manifest))


def evaluate(model_dir: Path, data_dir: Path, segmentation_dir: Path | None = None) -> dict[str, Any]:
    """Metrics of a segmentation or compressibility model on every clip of ``data_dir``."""
    session, manifest = _session(model_dir)
    if manifest["task"] == "segmentation":
        spec = InputSpec.from_preprocessing(manifest["preprocessing"])
        clips = load_folder(data_dir, spec)
        preds = [segment_clip(session, c, spec) for c in clips]
        counts = np.stack([overlap_counts(p, c.labels) for p, c in zip(preds, clips, strict=True)])
        return {"clips": len(clips), **segmentation_metrics(np.concatenate(preds),
                                                            np.concatenate([c.labels for c in clips])),
                "ci95": dice_intervals(counts)}
    steps = manifest["preprocessing"]["steps"]
    if segmentation_dir is not None:
        seg_session, seg_manifest = _session(segmentation_dir)
        spec = InputSpec.from_preprocessing(seg_manifest["preprocessing"])
        clips = [c for c in load_folder(data_dir, spec) if c.compressibility is not None]
        labels = [segment_clip(seg_session, c, spec) for c in clips]
    else:
        clips = [c for c in load_folder(data_dir, InputSpec()) if c.compressibility is not None]
        labels = [c.labels for c in clips]
    pairs = zip(labels, clips, strict=True)
    x = np.stack([classifier_input(measure_clip(lab, c.spacing_mm), steps) for lab, c in pairs])
    logits = session.run(None, {session.get_inputs()[0].name: x})[0]
    probs = softmax(logits, axis=1)
    truth = np.array([c.compressibility for c in clips])
    threshold = manifest.get("thresholds", {}).get("abnormal_min_probability")
    metrics = classification_metrics(probs, truth, COMPRESSIBILITY, threshold)
    k = COMPRESSIBILITY.index("indeterminate")
    inadequate = metrics["confusion"][k]  # the inadequate-compression clips, by the class they were called
    metrics["indeterminate_recall"] = float(inadequate[k] / sum(inadequate)) if sum(inadequate) else None
    metrics["abnormal_min_probability"] = threshold
    metrics["ci95"] = classification_intervals(np.array(metrics["confusion"]))
    return {"clips": len(clips), "curves_from": "segmentation model" if segmentation_dir else "truth masks",
            **metrics}
