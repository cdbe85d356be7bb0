"""Evaluation metrics: Dice and HD95 per label, classification accuracy, AUC, confusion matrix."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance, compute_roc_auc

from dvt_us.findings.clip_findings import classifier_call
from dvt_us.findings.vocabulary import Compressibility

GROUPS = {"vein": (1, 2), "lumen": (1,), "thrombus": (2,), "artery": (3,)}
"""Label groups scored: the vein cross-section is lumen + thrombus."""


def dice(pred: np.ndarray, truth: np.ndarray, labels: tuple[int, ...]) -> float:
    """Dataset-level Dice of a label group (NaN if the group is absent from both)."""
    p, t = np.isin(pred, labels), np.isin(truth, labels)
    denominator = int(p.sum()) + int(t.sum())
    return float(2 * np.logical_and(p, t).sum() / denominator) if denominator else float("nan")


def hd95(pred: np.ndarray, truth: np.ndarray, labels: tuple[int, ...]) -> float:
    """Mean 95th-percentile Hausdorff distance in model pixels over frames where both hold the group."""
    p = torch.as_tensor(np.isin(pred, labels))[:, None]
    t = torch.as_tensor(np.isin(truth, labels))[:, None]
    both = (p.flatten(1).any(1) & t.flatten(1).any(1)).nonzero().flatten()
    if len(both) == 0:
        return float("nan")
    distances = compute_hausdorff_distance(p[both].float(), t[both].float(), percentile=95)
    return float(torch.nanmean(distances))


def segmentation_metrics(pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Dice of every label group and HD95 of the vein and the artery."""
    out = {f"dice_{name}": dice(pred, truth, labels) for name, labels in GROUPS.items()}
    out["hd95_vein_px"] = hd95(pred, truth, GROUPS["vein"])
    out["hd95_artery_px"] = hd95(pred, truth, GROUPS["artery"])
    return out


def segmentation_score(metrics: dict[str, float], select_by: str = "dice_vein") -> float:
    """The validation score that picks the best epoch: vein Dice, or (``mean_dice``) the mean Dice of vein,
    thrombus and artery, absent ones skipped.

    Vein Dice alone lets a model that calls every anechoic lumen "lumen" win, thrombus missed and all.
    """
    keys = ("dice_vein", "dice_thrombus", "dice_artery") if select_by == "mean_dice" else ("dice_vein",)
    values = [metrics[k] for k in keys if not np.isnan(metrics[k])]
    return float(np.mean(values)) if values else float("-inf")


def compressibility_calls(probs: np.ndarray, abnormal_min_probability: float | None = None) -> np.ndarray:
    """Class index per row of ``[n, 4]`` probabilities, as serving calls them (``classifier_call``)."""
    order = list(Compressibility)
    return np.array([order.index(classifier_call(row, abnormal_min_probability)[0]) for row in probs], int)


def classification_metrics(probs: np.ndarray, truth: np.ndarray, classes: tuple[str, ...],
                           abnormal_min_probability: float | None = None) -> dict[str, Any]:
    """Accuracy, one-vs-rest AUC, confusion matrix, and abnormal (partial + noncompressible) sensitivity/specificity.

    The calls are the most probable class, or those of an operating point (``abnormal_min_probability``).
    """
    pred = compressibility_calls(probs, abnormal_min_probability)
    k = len(classes)
    confusion = np.zeros((k, k), int)
    np.add.at(confusion, (truth, pred), 1)
    out: dict[str, Any] = {"accuracy": float((pred == truth).mean()) if len(truth) else float("nan"),
                           "confusion": confusion.tolist(), "classes": list(classes)}
    present = [c for c in range(k) if (truth == c).any() and (truth != c).any()]
    if present:
        onehot = torch.as_tensor(np.eye(k)[truth][:, present])
        out["auc_macro"] = float(compute_roc_auc(torch.as_tensor(probs[:, present]), onehot, average="macro"))
    abnormal = np.isin(truth, (1, 2))
    called = np.isin(pred, (1, 2))
    normal = truth == 0
    out["abnormal_sensitivity"] = float(called[abnormal].mean()) if abnormal.any() else float("nan")
    out["abnormal_specificity"] = float((~called[normal]).mean()) if normal.any() else float("nan")
    return out
