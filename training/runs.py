"""A training run's folder: resolved config, per-epoch metrics, TensorBoard logs, resumable checkpoints."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from training.config import TrainConfig

try:  # TensorBoard is part of the train extra; a run still works without it
    from torch.utils.tensorboard import SummaryWriter
except ImportError:  # pragma: no cover
    SummaryWriter = None


class RunLog:
    """Files of one run under ``cfg.output / cfg.name``: config.yaml, metrics.jsonl, checkpoint.pt, best.pt."""

    def __init__(self, cfg: TrainConfig) -> None:
        self.folder = Path(cfg.output) / f"{cfg.name}-{cfg.version}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_hash = cfg.config_hash()
        hash_file = self.folder / "config_hash.txt"
        if hash_file.exists() and hash_file.read_text().strip() != self.config_hash:
            raise ValueError(
                f"{self.folder} was trained with another config (sha256 {hash_file.read_text().strip()}, now "
                f"{self.config_hash}): bump `version` in the config or remove the run folder"
            )
        resolved = cfg.model_dump(mode="json")
        (self.folder / "config.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False))
        hash_file.write_text(self.config_hash + "\n")
        self.writer = SummaryWriter(str(self.folder / "tensorboard")) if SummaryWriter else None
        self.best_metrics: dict[str, Any] = {}

    @property
    def checkpoint_path(self) -> Path:
        """The last epoch's state (model, optimiser, scheduler), for resuming."""
        return self.folder / "checkpoint.pt"

    @property
    def best_path(self) -> Path:
        """Weights of the best epoch by the validation score."""
        return self.folder / "best.pt"

    def resume(self, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
               scheduler: torch.optim.lr_scheduler.LRScheduler) -> tuple[int, float]:
        """Load the last checkpoint if there is one; return (next epoch, best score so far)."""
        if not self.checkpoint_path.exists():
            return 0, float("-inf")
        state = torch.load(self.checkpoint_path, weights_only=False)
        model.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        self.best_metrics = state.get("best_metrics", {})
        return int(state["epoch"]), float(state["best"])

    def end_epoch(self, model: torch.nn.Module, optimiser: torch.optim.Optimizer,
                  scheduler: torch.optim.lr_scheduler.LRScheduler, metrics: dict[str, Any], *, score: float,
                  best: float) -> float:
        """Log metrics, save the checkpoint (and best weights if improved); return the best score."""
        if score > best:
            best = score
            self.best_metrics = metrics
            _save_atomic(model.state_dict(), self.best_path)
        _save_atomic({"model": model.state_dict(), "optimiser": optimiser.state_dict(),
                      "scheduler": scheduler.state_dict(), "epoch": metrics["epoch"], "best": best,
                      "best_metrics": self.best_metrics, "config_hash": self.config_hash}, self.checkpoint_path)
        # The metrics line follows the checkpoint: a crash in between repeats the epoch, never its line.
        with open(self.folder / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        if self.writer is not None:
            for key, value in metrics.items():
                if isinstance(value, (int, float)) and key != "epoch":
                    self.writer.add_scalar(key, value, metrics["epoch"])
            self.writer.flush()
        return best


def _save_atomic(obj: object, path: Path) -> None:
    """torch.save to a temporary file, then rename: a crash never leaves a half-written checkpoint."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
