"""Train the compressibility classifier on segmentation-derived curves of compression cines.

Curves come from :mod:`dvt_us.preprocess.clip_features` — the function serving uses — applied to truth
masks perturbed like a segmentation model's errors (erosion, dilation, dropped frames, lumen/thrombus
confusion), and, when ``compressibility.segmentation_model`` names an exported segmentation model, to its
own predictions (half of the training curves, and all validation curves, as in serving).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import torch
from rich.progress import Progress

from dvt_us.preprocess.clip_features import FEATURES, classifier_input, measure_clip
from dvt_us.preprocess.model_input import InputSpec
from training.config import CompressibilityConfig, TrainConfig
from training.data import COMPRESSIBILITY, PROGRESS_CONSOLE, TrainClip
from training.evaluate import segment_clip
from training.metrics import classification_metrics
from training.networks import TemporalClassifier
from training.runs import RunLog

_KERNEL = np.ones((3, 3), np.uint8)


def perturb_masks(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Segmentation-like errors on ``[frames, S, S]`` truth labels."""
    out = labels.copy()
    for f in range(len(out)):
        roll = rng.random()
        if roll < 0.15:
            vein = np.isin(out[f], (1, 2)).astype(np.uint8)
            grown = cv2.dilate(vein, _KERNEL) if rng.random() < 0.5 else cv2.erode(vein, _KERNEL)
            out[f][(grown == 1) & (out[f] == 0)] = 1
            out[f][(grown == 0) & np.isin(out[f], (1, 2))] = 0
        elif roll < 0.2:
            out[f][np.isin(out[f], (1, 2))] = 0  # a missed frame
        elif roll < 0.27:
            lumen, thrombus = out[f] == 1, out[f] == 2
            out[f][lumen & (rng.random(lumen.shape) < 0.3)] = 2
            out[f][thrombus & (rng.random(thrombus.shape) < 0.3)] = 1
    return out


def _time_warp(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A random sub-range of frames (the manoeuvre may start or end off-clip) at a random frame rate."""
    n = len(labels)
    start = int(rng.integers(0, max(1, n // 8)))
    stop = n - int(rng.integers(0, max(1, n // 8)))
    count = int(rng.integers(max(2, (stop - start) // 2), stop - start + 1))
    return labels[np.linspace(start, stop - 1, count).round().astype(int)]


def curves(clips: list[TrainClip], steps: int, rng: np.random.Generator | None, noise: float,
           predicted: list[np.ndarray] | None = None) -> np.ndarray:
    """Classifier inputs ``[clips, features, steps]``.

    Without ``rng``: from ``predicted`` labels when given (as served), else from truth. With ``rng``
    (training): from predicted labels half of the time when given, else from truth perturbed like a
    segmentation model's errors; always with a random time crop and frame rate.
    """
    out = []
    for i, clip in enumerate(clips):
        if rng is None:
            labels = predicted[i] if predicted is not None else clip.labels
        else:
            use_predicted = predicted is not None and rng.random() < 0.5
            labels = _time_warp(predicted[i] if use_predicted and predicted is not None else clip.labels, rng)
            if not use_predicted and rng.random() < noise:
                labels = perturb_masks(labels, rng)
        out.append(classifier_input(measure_clip(labels, clip.spacing_mm), steps))
    return np.stack(out)


def predicted_labels(model_dir: Path, clips: list[TrainClip]) -> list[np.ndarray]:
    """The exported segmentation model's labels for every frame of every clip (ONNX Runtime, as served)."""
    session = ort.InferenceSession(str(model_dir / "model.onnx"), providers=["CPUExecutionProvider"])
    manifest = json.loads((model_dir / "manifest.json").read_text())
    spec = InputSpec.from_preprocessing(manifest["preprocessing"])
    if clips and clips[0].images.shape[-1] != spec.size:
        raise ValueError(f"clips are letterboxed to {clips[0].images.shape[-1]} px but {model_dir} expects "
                         f"{spec.size}: set segmentation.input_size to {spec.size} in this config")
    out = []
    with Progress(console=PROGRESS_CONSOLE) as progress:
        task = progress.add_task("segmenting training clips", total=len(clips))
        for clip in clips:
            out.append(segment_clip(session, clip, spec))
            progress.advance(task)
    return out


def train_compressibility(cfg: TrainConfig, train: list[TrainClip], val: list[TrainClip], run: RunLog) -> Path:
    """Train on compression cines; checkpoint every epoch; return the best checkpoint."""
    c = cfg.compressibility
    # Curves carry sizes in mm: clips without calibration are left out rather than given a fake spacing.
    train = [t for t in train if t.compressibility is not None and t.calibrated]
    val = [t for t in val if t.compressibility is not None and t.calibrated]
    if not train or not val:
        raise ValueError("compressibility training needs compression cines with labels in train and validation")
    torch.manual_seed(cfg.seed)
    model = TemporalClassifier(len(FEATURES), c)
    optimiser = torch.optim.AdamW(model.parameters(), lr=c.learning_rate, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=c.epochs)
    y_train = torch.as_tensor([t.compressibility for t in train])
    counts = np.bincount(y_train.numpy(), minlength=len(COMPRESSIBILITY)).astype(float)
    weights = torch.as_tensor(counts.sum() / np.maximum(counts, 1) / len(COMPRESSIBILITY), dtype=torch.float32)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights, label_smoothing=c.label_smoothing)
    seg_model = c.segmentation_model
    train_pred = predicted_labels(seg_model, train) if seg_model else None
    val_pred = predicted_labels(seg_model, val) if seg_model else None
    x_val = torch.as_tensor(curves(val, c.steps, None, 0.0, val_pred))
    y_val = np.array([t.compressibility for t in val])
    start, best = run.resume(model, optimiser, scheduler)
    with Progress(console=PROGRESS_CONSOLE) as progress:
        task = progress.add_task("compressibility", total=c.epochs, completed=start)
        for epoch in range(start, c.epochs):
            began = time.perf_counter()
            rng = np.random.default_rng([cfg.seed, epoch])
            x = torch.as_tensor(curves(train, c.steps, rng, c.mask_noise, train_pred))
            order = torch.as_tensor(rng.permutation(len(train)))
            model.train()
            losses = []
            for i in range(0, len(order), c.batch_size):
                idx = order[i : i + c.batch_size]
                if len(idx) < 2:
                    continue
                optimiser.zero_grad()
                loss = loss_fn(model(x[idx]), y_train[idx])
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
            scheduler.step()
            model.eval()
            with torch.no_grad():
                probs = torch.softmax(model(x_val), dim=1).numpy()
            metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)) if losses else float("nan"),
                       "seconds": time.perf_counter() - began,
                       **classification_metrics(probs, y_val, COMPRESSIBILITY)}
            best = run.end_epoch(model, optimiser, scheduler, metrics, score=metrics["accuracy"], best=best)
            progress.update(task, completed=epoch + 1,
                            description=f"compressibility  accuracy {metrics['accuracy']:.3f}")
    (run.folder / "final_metrics.json").write_text(json.dumps(_final_metrics(model, run, c, x_val, y_val), indent=1))
    return run.best_path


def _final_metrics(model: TemporalClassifier, run: RunLog, c: CompressibilityConfig, x_val: torch.Tensor,
                   y_val: np.ndarray) -> dict[str, Any]:
    """The best epoch's validation metrics, at the operating point when the config asks for one."""
    final = dict(run.best_metrics)
    if c.operating_point_min_specificity is None:
        return final
    model.load_state_dict(torch.load(run.best_path, weights_only=True))
    model.eval()
    with torch.no_grad():
        probs = torch.softmax(model(x_val), dim=1).numpy()
    threshold = abnormal_operating_point(probs, y_val, c.operating_point_min_specificity)
    if threshold is None:  # no threshold keeps the floor: the model keeps its most probable class
        return final
    return final | classification_metrics(probs, y_val, COMPRESSIBILITY, threshold) | {
        "abnormal_min_probability": threshold}


def abnormal_operating_point(probs: np.ndarray, truth: np.ndarray, min_specificity: float) -> float | None:
    """The lowest abnormal threshold on a 0.05 grid from 0.5 down whose specificity on ``truth`` stays ≥ the minimum.

    ``probs`` ``[n, 4]`` are validation probabilities; specificity is over the compressible clips. None when
    there are no compressible clips or even 0.5 misses the minimum.
    """
    abnormal = probs[:, 1] + probs[:, 2]
    normal = abnormal[truth == 0]
    chosen = None
    for threshold in np.round(np.arange(0.5, 0.049, -0.05), 2):
        if not normal.size or float((normal < threshold).mean()) < min_specificity:
            break
        chosen = float(threshold)
    return chosen
