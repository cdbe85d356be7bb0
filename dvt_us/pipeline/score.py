"""``dvt-us score PRED_DIR TRUTH_DIR``: compare ``dvt-us analyze`` output with phantom truth.

Clip level: compressibility accuracy, Cohen's κ, abnormal (partial + noncompressible) sensitivity and
specificity, mask Dice per label. Segment level: thrombus and patency accuracy and κ, grade accuracy.
Visit level: mean absolute error of the leg thrombus score.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

_GROUPS = {"vein": (1, 2), "thrombus": (2,), "artery": (3,)}
_ABNORMAL = {"partial", "noncompressible"}


def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's κ of two label lists (NaN when empty or when chance agreement is total)."""
    if not a:
        return float("nan")
    labels = sorted(set(a) | set(b))
    index = {label: i for i, label in enumerate(labels)}
    table = np.zeros((len(labels), len(labels)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(axis=0) * table.sum(axis=1)).sum() / n**2)
    return float((observed - expected) / (1 - expected)) if expected < 1 else float("nan")


def _agreement(pred: list[str], truth: list[str]) -> dict[str, float | int]:
    n = len(truth)
    accuracy = float(np.mean([p == t for p, t in zip(pred, truth, strict=True)])) if n else float("nan")
    return {"n": n, "accuracy": accuracy, "kappa": cohen_kappa(pred, truth)}


def _dice(pred_dir: Path, truth_dir: Path, pairs: list[tuple[Path, str]]) -> dict[str, float]:
    inter: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for visit_dir, uid in pairs:
        pred_path = visit_dir / "masks" / f"{uid}.npz"
        truth_path = truth_dir / "truth" / "masks" / f"{uid}.npz"
        if not pred_path.exists() or not truth_path.exists():
            continue
        pred, truth = np.load(pred_path)["labels"], np.load(truth_path)["labels"]
        for name, labels in _GROUPS.items():
            p, t = np.isin(pred, labels), np.isin(truth, labels)
            inter[name] += int(np.logical_and(p, t).sum())
            total[name] += int(p.sum() + t.sum())
    return {f"dice_{k}": (2 * inter[k] / total[k]) if total[k] else float("nan") for k in _GROUPS}


def score(pred_dir: Path, truth_dir: Path) -> dict[str, Any]:
    """Scores of an analysis output folder against a phantom trial folder (``truth/truth.json``)."""
    truth = json.loads((truth_dir / "truth" / "truth.json").read_text())
    clip_truth = {c["sop_instance_uid"]: c for c in truth["clips"]}
    seg_truth = {(s["subject"], s["visit"], s["side"], s["segment"]): s for s in truth["segments"]}
    compress_pred, compress_truth, mask_pairs = [], [], []
    thrombus_pred, thrombus_truth, patency_pred, patency_truth, grade_hits = [], [], [], [], []
    score_errors = []
    for report_path in sorted(pred_dir.glob("*/*/report.json")):
        report = json.loads(report_path.read_text())
        for clip in report["clips"]:
            t = clip_truth.get(clip["sop_instance_uid"])
            if t is None:
                continue
            mask_pairs.append((report_path.parent, clip["sop_instance_uid"]))
            if "compressibility" in clip and "compressibility" in t:
                compress_pred.append(clip["compressibility"]["label"])
                compress_truth.append(t["compressibility"])
        legs_truth: dict[str, int] = defaultdict(int)
        for s in report["segments"]:
            t = seg_truth.get((report["subject"], report["visit"], s["side"], s["segment"]))
            if t is None:
                continue
            thrombus_pred.append(s["thrombus"])
            thrombus_truth.append(t["thrombus"])
            patency_pred.append(s["patency"])
            patency_truth.append(t["patency"])
            grade_hits.append(s["grade"] == t["grade"])
        for t in truth["segments"]:
            if (t["subject"], t["visit"]) == (report["subject"], report["visit"]):
                legs_truth[t["side"]] += t["grade"]
        score_errors += [abs(leg["thrombus_score"] - legs_truth[leg["side"]]) for leg in report["legs"]]
    abnormal = [t in _ABNORMAL for t in compress_truth]
    called = [p in _ABNORMAL for p in compress_pred]
    normal_truth = [t == "compressible" for t in compress_truth]
    return {
        "clips": {
            "compressibility": _agreement(compress_pred, compress_truth),
            "abnormal_sensitivity": _rate([c for c, a in zip(called, abnormal, strict=True) if a]),
            "abnormal_specificity": _rate([not c for c, n in zip(called, normal_truth, strict=True) if n]),
            **_dice(pred_dir, truth_dir, mask_pairs),
        },
        "segments": {
            "thrombus": _agreement(thrombus_pred, thrombus_truth),
            "patency": _agreement(patency_pred, patency_truth),
            "grade_accuracy": _rate(grade_hits),
        },
        "visits": {"leg_score_mae": float(np.mean(score_errors)) if score_errors else float("nan"),
                   "legs": len(score_errors)},
    }


def _rate(hits: list[bool]) -> float:
    return float(np.mean(hits)) if hits else float("nan")
