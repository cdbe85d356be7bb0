"""``python -m training`` (and ``dvt-us train|export|evaluate``): train from a config, export, evaluate."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import torch

from dvt_us.preprocess.model_input import InputSpec
from training.compressibility import train_compressibility
from training.config import TrainConfig, load_config
from training.data import TrainClip, load_folder, phantom_folder, split_by_subject
from training.evaluate import evaluate, record_evaluation
from training.export import export_run
from training.runs import RunLog
from training.segmentation import train_segmentation


def _clips(cfg: TrainConfig) -> tuple[list[TrainClip], list[TrainClip]]:
    spec = InputSpec(cfg.segmentation.input_size, context=0)
    folders = list(cfg.data.folders)
    if cfg.data.phantom is not None:
        folders.append(phantom_folder(cfg.data.phantom, cfg.data.cache_dir, jobs=cfg.threads))
    clips = [c for folder in folders for c in load_folder(folder, spec)]
    if cfg.data.validation is not None:
        val_folder = phantom_folder(cfg.data.validation, cfg.data.cache_dir, jobs=cfg.threads)
        return clips, load_folder(val_folder, spec)
    return split_by_subject(clips, 0.15, cfg.seed)


def train(config: Path) -> Path:
    """Train the run a config describes; return its run folder."""
    cfg = load_config(config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    train_clips, val_clips = _clips(cfg)
    run = RunLog(cfg)
    trainer = train_segmentation if cfg.task == "segmentation" else train_compressibility
    trainer(cfg, train_clips, val_clips, run)
    return run.folder


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    parser = argparse.ArgumentParser(prog="dvt-us", description="Train, export and evaluate dvt-us models.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train from a YAML config")
    p.add_argument("config", type=Path)
    p = sub.add_parser("export", help="export a run to models/<name>/<version>")
    p.add_argument("run", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p = sub.add_parser("evaluate", help="evaluate an exported model on a dataset folder")
    p.add_argument("model", type=Path)
    p.add_argument("data", type=Path)
    p.add_argument("--segmentation", type=Path, default=None,
                   help="segmentation model whose predictions feed a compressibility model")
    p.add_argument("--record", action="store_true",
                   help="add the result to the model's manifest and model card (held-out test data only)")
    args = parser.parse_args(argv)
    try:
        if args.command == "train":
            print(f"run: {train(args.config)}")
        elif args.command == "export":
            manifest = export_run(args.run, args.out)
            print(f"exported {manifest['name']} {manifest['version']} -> {args.out} (parity {manifest['parity']})")
        else:
            result = evaluate(args.model, args.data, args.segmentation)
            if args.record:
                record_evaluation(args.model, args.data, result)
            print(json.dumps(result, indent=2))
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"dvt-us {args.command}: {exc}", file=sys.stderr)
        return 2
    return 0
