"""Train the vein / thrombus / artery segmentation network (MONAI, DiceCE, wide augmentation)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from monai.losses import DiceCELoss
from monai.transforms import (
    Compose,
    Rand2DElasticd,
    RandAdjustContrastd,
    RandFlipd,
    RandGaussianNoised,
    RandGaussianSmoothd,
    RandScaleIntensityd,
    RandZoomd,
)
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from torch.utils.data import DataLoader, Dataset

from dvt_us.preprocess.model_input import InputSpec
from training.config import AugmentConfig, TrainConfig
from training.data import PROGRESS_CONSOLE, TrainClip
from training.metrics import segmentation_metrics, segmentation_score
from training.networks import segmentation_network
from training.runs import RunLog

_KEYS = ("image", "label")


def augmentations(cfg: AugmentConfig) -> Compose:
    """Spatial transforms on image and label together; intensity transforms on the image only."""
    zoom = cfg.scale_range
    return Compose([
        RandFlipd(keys=_KEYS, prob=cfg.flip_lateral, spatial_axis=1),
        RandZoomd(keys=_KEYS, prob=cfg.scale, min_zoom=1 - zoom, max_zoom=1 + zoom, mode=("bilinear", "nearest"),
                  keep_size=True, padding_mode="constant"),
        Rand2DElasticd(keys=_KEYS, spacing=(24, 24), magnitude_range=(0.5, 2.0), prob=cfg.elastic,
                       mode=("bilinear", "nearest"), padding_mode="zeros"),
        RandScaleIntensityd(keys="image", factors=0.3, prob=cfg.intensity),
        RandAdjustContrastd(keys="image", gamma=(0.5, 1.8), prob=cfg.gamma),
        RandGaussianSmoothd(keys="image", sigma_x=(0.3, 1.5), sigma_y=(0.3, 1.5), prob=cfg.blur),
        RandGaussianNoised(keys="image", std=0.25, prob=cfg.noise),
    ])


class FrameSamples(Dataset[dict[str, Any]]):
    """(clip, frame) pairs: image channels ``[C, S, S]`` and label ``[1, S, S]``."""

    def __init__(self, clips: list[TrainClip], items: list[tuple[int, int]], spec: InputSpec,
                 transform: Compose | None) -> None:
        self.clips, self.items, self.spec, self.transform = clips, items, spec, transform

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        c, f = self.items[i]
        clip = self.clips[c]
        sample: dict[str, Any] = {"image": clip.model_input(f, self.spec),
                                  "label": clip.labels[f][None].astype(np.float32)}
        if self.transform is not None:
            sample = self.transform(sample)
        return {"image": torch.as_tensor(np.asarray(sample["image"]), dtype=torch.float32),
                "label": torch.as_tensor(np.asarray(sample["label"]), dtype=torch.long)}


def epoch_items(clips: list[TrainClip], per_clip: int, rng: np.random.Generator,
                per_thrombus_clip: int | None = None) -> list[tuple[int, int]]:
    """The shuffled (clip, frame) samples of one epoch; clips with thrombus give ``per_thrombus_clip``."""
    items = []
    for c, clip in enumerate(clips):
        n = len(clip.images)
        if per_thrombus_clip is not None and clip.has_thrombus:
            picks = rng.choice(n, size=per_thrombus_clip, replace=per_thrombus_clip > n)
        else:
            picks = rng.choice(n, size=min(per_clip, n), replace=False)
        items += [(c, int(f)) for f in picks]
    rng.shuffle(items)
    return items


def _validation_items(clips: list[TrainClip], per_clip: int) -> list[tuple[int, int]]:
    return [(c, int(f)) for c, clip in enumerate(clips)
            for f in np.unique(np.linspace(0, len(clip.images) - 1, per_clip).round().astype(int))]


@torch.no_grad()
def predict_labels(model: torch.nn.Module, clips: list[TrainClip], items: list[tuple[int, int]],
                   spec: InputSpec, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Argmax predictions and truth ``[n, S, S]`` for the given (clip, frame) items."""
    model.eval()
    loader = DataLoader(FrameSamples(clips, items, spec, None), batch_size=batch_size)
    preds, truths = [], []
    for batch in loader:
        preds.append(model(batch["image"]).argmax(dim=1).numpy().astype(np.uint8))
        truths.append(batch["label"][:, 0].numpy().astype(np.uint8))
    return np.concatenate(preds), np.concatenate(truths)


def train_segmentation(cfg: TrainConfig, train: list[TrainClip], val: list[TrainClip], run: RunLog) -> Path:
    """Train; checkpoint every epoch (resumable); return the path of the best checkpoint."""
    seg = cfg.segmentation
    torch.manual_seed(cfg.seed)
    spec = seg.input_spec
    model = segmentation_network(seg, spec.channels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=seg.learning_rate, weight_decay=seg.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=seg.epochs)
    loss_fn = DiceCELoss(to_onehot_y=True, softmax=True, lambda_dice=1.0, lambda_ce=1.0)
    start, best = run.resume(model, optimiser, scheduler)
    transform = augmentations(seg.augment)
    transform.set_random_state(seed=cfg.seed)
    val_items = _validation_items(val, 6)
    per_clip, per_thrombus_clip = cfg.data.frames_per_clip, cfg.data.frames_per_thrombus_clip
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), console=PROGRESS_CONSOLE) as progress:
        task = progress.add_task("segmentation", total=seg.epochs, completed=start)
        for epoch in range(start, seg.epochs):
            rng = np.random.default_rng([cfg.seed, epoch])
            items = epoch_items(train, per_clip, rng, per_thrombus_clip)
            loader = DataLoader(FrameSamples(train, items, spec, transform), batch_size=seg.batch_size, shuffle=False)
            model.train()
            began, losses = time.perf_counter(), []
            for batch in loader:
                optimiser.zero_grad()
                loss = loss_fn(model(batch["image"]), batch["label"])
                loss.backward()
                optimiser.step()
                losses.append(loss.item())
            scheduler.step()
            pred, truth = predict_labels(model, val, val_items, spec, seg.batch_size)
            metrics = {"epoch": epoch + 1, "loss": float(np.mean(losses)), "seconds": time.perf_counter() - began,
                       **segmentation_metrics(pred, truth)}
            score = segmentation_score(metrics, seg.select_by)
            best = run.end_epoch(model, optimiser, scheduler, metrics, score=score, best=best)
            progress.update(task, completed=epoch + 1,
                            description=f"segmentation  dice vein {metrics['dice_vein']:.3f} "
                                        f"thrombus {metrics['dice_thrombus']:.3f}")
    (run.folder / "final_metrics.json").write_text(json.dumps(run.best_metrics, indent=1))
    return run.best_path
