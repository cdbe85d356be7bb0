"""Evaluation metrics: Dice and HD95 per label, classification accuracy, AUC, confusion matrix, and their 95 %
confidence intervals."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
from monai.metrics import compute_hausdorff_distance, compute_roc_auc
from scipy.stats import binomtest, bootstrap

from dvt_us.findings.clip_findings import classifier_call
from dvt_us.findings.vocabulary import Compressibility

GROUPS = {"vein": (1, 2), "lumen": (1,), "thrombus": (2,), "artery": (3,)}
"""Label groups scored: the vein cross-section is lumen + thrombus."""
CONFIDENCE_LEVEL = 0.95
"""Of every interval that evaluate reports."""
BOOTSTRAP_RESAMPLES = 2000
"""Resamples of the clips for a Dice interval."""


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


# --- confidence intervals -------------------------------------------------------------------------------------
# A test split is a handful of phantom subjects: a target "met" on it can be chance. Clips are the resampled unit
# (frames of one clip are not independent); clips of one subject are not fully independent either, so the
# intervals are, if anything, too narrow.


def overlap_counts(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``[groups, 3]`` of one clip: ``|pred ∩ truth|``, ``|pred|``, ``|truth|`` of every group of :data:`GROUPS`."""
    rows = []
    for labels in GROUPS.values():
        p, t = np.isin(pred, labels), np.isin(truth, labels)
        rows.append((int(np.logical_and(p, t).sum()), int(p.sum()), int(t.sum())))
    return np.array(rows, np.int64)


def dice_intervals(counts: np.ndarray, seed: int = 0) -> dict[str, list[float] | None]:
    """Percentile-bootstrap intervals (:data:`CONFIDENCE_LEVEL`) of the pooled Dice of every group, resampling
    clips; ``counts`` is ``[clips, groups, 3]`` of :func:`overlap_counts`. None where a group is absent."""
    out: dict[str, list[float] | None] = {}
    clips = np.arange(len(counts))
    for g, name in enumerate(GROUPS):
        both, pred, truth = (counts[:, g, i].astype(float) for i in range(3))
        if len(counts) < 2 or pred.sum() + truth.sum() == 0:
            out[f"dice_{name}"] = None
            continue

        def pooled(sample: np.ndarray, axis: int = -1, both: np.ndarray = both, size: np.ndarray = pred + truth,
                   ) -> np.ndarray:
            with np.errstate(invalid="ignore", divide="ignore"):
                return 2 * both[sample].sum(axis=axis) / size[sample].sum(axis=axis)

        with warnings.catch_warnings():  # scipy's interval (NaN if one resample lacks the group) is not used
            warnings.simplefilter("ignore")
            res = bootstrap((clips,), pooled, vectorized=True, n_resamples=BOOTSTRAP_RESAMPLES,
                            method="percentile", confidence_level=CONFIDENCE_LEVEL, rng=np.random.default_rng(seed))
        # A resample holding none of the group's clips has no Dice: the interval is over the others.
        values = res.bootstrap_distribution[np.isfinite(res.bootstrap_distribution)]
        tail = 100 * (1 - CONFIDENCE_LEVEL) / 2
        out[f"dice_{name}"] = [float(v) for v in np.percentile(values, [tail, 100 - tail])] if len(values) else None
    return out


def proportion_interval(successes: int, trials: int) -> list[float] | None:
    """Wilson score interval (:data:`CONFIDENCE_LEVEL`) of a proportion; None without trials."""
    if trials == 0:
        return None
    ci = binomtest(successes, trials).proportion_ci(confidence_level=CONFIDENCE_LEVEL, method="wilson")
    return [float(ci.low), float(ci.high)]


def classification_intervals(confusion: np.ndarray) -> dict[str, list[float] | None]:
    """Intervals of accuracy, abnormal sensitivity and specificity and indeterminate recall, from the confusion
    matrix (rows truth, columns call, :class:`Compressibility` order)."""
    c = np.asarray(confusion)
    order = list(Compressibility)
    normal, indeterminate = order.index(Compressibility.COMPRESSIBLE), order.index(Compressibility.INDETERMINATE)
    abnormal = [order.index(Compressibility.PARTIAL), order.index(Compressibility.NONCOMPRESSIBLE)]
    return {
        "accuracy": proportion_interval(int(np.trace(c)), int(c.sum())),
        "abnormal_sensitivity": proportion_interval(int(c[abnormal][:, abnormal].sum()), int(c[abnormal].sum())),
        "abnormal_specificity": proportion_interval(int(c[normal].sum() - c[normal, abnormal].sum()),
                                                    int(c[normal].sum())),
        "indeterminate_recall": proportion_interval(int(c[indeterminate, indeterminate]), int(c[indeterminate].sum())),
    }
