"""``dvt-us train|export|evaluate``: hand over to the ``training`` package (the ``train`` extra).

The runtime package never imports torch: these commands load ``training.cli`` by name at run time and say
how to install it when it is missing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

HELP = {
    "train": "Train a model from a YAML config (needs the train extra).",
    "export": "Export a training run to models/<name>/<version> with ONNX parity (needs the train extra).",
    "evaluate": "Evaluate an exported model on a dataset folder with truth (needs the train extra).",
}


def register(name: str, parser: argparse.ArgumentParser) -> None:
    """Add the arguments of one of the three commands."""
    if name == "train":
        parser.add_argument("config", type=Path, help="YAML config, e.g. configs/train/segmentation.yaml")
    elif name == "export":
        parser.add_argument("run", type=Path, help="run folder written by dvt-us train")
        parser.add_argument("--out", type=Path, required=True, help="models/<name>/<version>")
    else:
        parser.add_argument("model", type=Path, help="models/<name>/<version>")
        parser.add_argument("data", type=Path, help="dataset folder: dicom/ and truth/")
        parser.add_argument("--segmentation", type=Path, default=None,
                            help="segmentation model feeding a compressibility model")
        parser.add_argument("--record", action="store_true",
                            help="add the result to the model's manifest and card (held-out test data only)")


def run(name: str, args: argparse.Namespace) -> int:
    """Run ``training.cli`` with the same arguments."""
    try:
        training_cli = importlib.import_module("training.cli")
    except ImportError as exc:
        print(f"dvt-us {name}: the training stack is not installed ({exc.name} missing): "
              "pip install -e '.[train]' from a source checkout", file=sys.stderr)
        return 2
    argv = [name]
    if name == "train":
        argv += [str(args.config)]
    elif name == "export":
        argv += [str(args.run), "--out", str(args.out)]
    else:
        argv += [str(args.model), str(args.data)]
        if args.segmentation is not None:
            argv += ["--segmentation", str(args.segmentation)]
        if args.record:
            argv += ["--record"]
    return int(training_cli.main(argv))
