"""MODEL_CARD.md from a manifest: data (phantom, not patients), intended use, metrics, limits."""

from __future__ import annotations

from typing import Any

_PURPOSE = {
    "segmentation": "Segments each B-mode frame of a transverse lower-limb venous ultrasound view into "
                    "background, vein lumen, thrombus and artery (labels 0-3).",
    "compressibility": "Classifies a compression cine as compressible, partial, noncompressible or "
                       "indeterminate from the segmentation-derived area, diameter and motion curves.",
}


TARGETS = {
    "segmentation": {"dice_vein": 0.92, "dice_artery": 0.90, "dice_thrombus": 0.75},
    "compressibility": {"accuracy": 0.92, "abnormal_sensitivity": 0.97, "abnormal_specificity": 0.90,
                        "indeterminate_recall": 0.80},
}
"""Acceptance targets on a held-out phantom test split (the models issue)."""


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = [f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float) and k not in ("seconds", "loss")]
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else "(no metrics recorded)"


def _evaluations(manifest: dict[str, Any]) -> str:
    evaluations = manifest.get("evaluations", [])
    if not evaluations:
        return "Not evaluated on a held-out test set yet (`dvt-us evaluate MODEL DATA --record`)."
    targets = TARGETS[manifest["task"]]
    parts = []
    for ev in evaluations:
        rows = []
        intervals = ev["metrics"].get("ci95", {})
        for key, target in targets.items():
            value = ev["metrics"].get(key)
            shown = f"{value:.4f}" if isinstance(value, float) else "n/a"
            met = "yes" if isinstance(value, float) and value >= target else "**no**"
            ci = intervals.get(key)
            rows.append(f"| {key} | {shown} | {f'{ci[0]:.3f} – {ci[1]:.3f}' if ci else 'n/a'} | ≥ {target} | "
                        f"{met} |")
        trial = ev.get("phantom")
        source = (f"phantom trial seed {trial['seed']}, {trial['subjects']} subject(s), {trial['protocol']} "
                  "protocol, " if trial else "")
        parts.append(f"Data: `{ev['data']}` ({source}{ev['metrics'].get('clips')} clips"
                     f"{', curves from ' + ev['metrics']['curves_from'] if 'curves_from' in ev['metrics'] else ''}),"
                     f" {ev['date']}\n\n| metric | measured | 95 % CI | target | met |\n|---|---|---|---|---|\n"
                     + "\n".join(rows))
    return ("\n\n".join(parts) + "\n\n95 % CI: clips resampled (bootstrap) for Dice, Wilson intervals for "
            "proportions; \"met\" compares the point estimate. Evaluations recorded before intervals were added show "
            "n/a.")


def _inputs(manifest: dict[str, Any]) -> str:
    pre, thresholds = manifest["preprocessing"], manifest.get("thresholds", {})
    if manifest["task"] == "segmentation":
        text = (f"Input: each frame with {pre['context']} neighbour(s) on each side, z-scored per view and "
                f"letterboxed to {pre['size']}×{pre['size']}")
        if pre.get("clip_extremes"):
            text += (", plus the clip's per-pixel maximum and minimum over all its frames (a vein that "
                     "collapses under compression is echoic in the maximum, a thrombosed one stays dark)")
        return text + "."
    text = f"Input: {len(pre['features'])} curves of the cine resampled to {pre['steps']} steps."
    if "abnormal_min_probability" in thresholds:
        text += (f" Operating point: abnormal when P(partial) + P(noncompressible) ≥ "
                 f"{thresholds['abnormal_min_probability']:.2f}, chosen on the validation subjects for "
                 "sensitivity at a specificity floor (docs/models.md).")
    return text


def model_card(manifest: dict[str, Any]) -> str:
    """The model card text."""
    cfg = manifest["training_config"]
    data = cfg["data"]
    return f"""# {manifest['name']} {manifest['version']} ({manifest['task']})

{_PURPOSE[manifest['task']]}

{_inputs(manifest)}

## Training data: phantom, not patients
Trained **only on synthetic images from the dvt-us physics phantom** (docs/phantom.md): simulated speckle,
attenuation, compression cines, thrombus and colour Doppler, with wide randomisation of scanner and
sonographer settings. **No patient data** was used. Data config: `{data}`.

## Intended use
Research and core-lab decision support inside dvt-us: every finding is reviewed, and can be overridden, by a
qualified reader. Not a medical device; not for diagnosis or treatment decisions on its own.

## Validation (held-out phantom subjects; the best epoch was chosen on these, so they are optimistic)
{_metrics_table(manifest['metrics'])}

## Held-out test (subjects and seeds never used for training or model selection; ONNX Runtime)
{_evaluations(manifest)}

ONNX Runtime parity against torch: max |diff| {manifest['parity']['max_abs_diff']:.2e}, argmax agreement
{manifest['parity']['argmax_agreement']:.5f}.

## Limits
- Real ultrasound differs from the phantom (tissue mechanics, artefacts, scanner processing): expect lower
  performance on patient images until validated on them.
- Transverse compression views of CFV to calf veins; iliac veins and the IVC are judged by colour Doppler.
- Confidence is the softmax probability; dvt-us marks findings indeterminate when unsure and flags
  disagreement between the classifier and the measured diameter ratio.

## Provenance
- model.onnx sha256 `{manifest['sha256']}` ({manifest['size_bytes']} bytes), opset {manifest['opset']}
- training config sha256 `{manifest['training_config_sha256']}`
- software: {manifest['software']}
- created {manifest['created']}
"""
