"""``dvt-us score PRED_DIR TRUTH_DIR``: how an analysis compares with phantom truth."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from dvt_us.pipeline.score import score


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``score``."""
    parser.add_argument("pred", type=Path, help="output folder of dvt-us analyze")
    parser.add_argument("truth", type=Path, help="phantom trial folder (with truth/truth.json)")


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    return None if isinstance(value, float) and math.isnan(value) else value


def run(args: argparse.Namespace) -> int:
    """Print the scores as JSON."""
    if not (args.truth / "truth" / "truth.json").exists():
        raise FileNotFoundError(f"{args.truth}/truth/truth.json: not a phantom trial folder")
    print(json.dumps(_clean(score(args.pred, args.truth)), indent=2))
    return 0
