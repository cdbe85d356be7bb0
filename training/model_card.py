"""MODEL_CARD.md from a manifest: data (phantom, not patients), intended use, metrics, limits."""

from __future__ import annotations

from typing import Any

_PURPOSE = {
    "segmentation": "Segments each B-mode frame of a transverse lower-limb venous ultrasound view into "
                    "background, vein lumen, thrombus and artery (labels 0-3).",
    "compressibility": "Classifies a compression cine as compressible, partial, noncompressible or "
                       "indeterminate from the segmentation-derived area, diameter and motion curves.",
}


def _metrics_table(metrics: dict[str, Any]) -> str:
    rows = [f"| {k} | {v:.4f} |" for k, v in metrics.items() if isinstance(v, float)]
    return "\n".join(["| metric | value |", "|---|---|", *rows]) if rows else "(no metrics recorded)"


def model_card(manifest: dict[str, Any]) -> str:
    """The model card text."""
    cfg = manifest["training_config"]
    data = cfg["data"]
    return f"""# {manifest['name']} {manifest['version']} ({manifest['task']})

{_PURPOSE[manifest['task']]}

## Training data: phantom, not patients
Trained **only on synthetic images from the dvt-us physics phantom** (docs/phantom.md): simulated speckle,
attenuation, compression cines, thrombus and colour Doppler, with wide randomisation of scanner and
sonographer settings. **No patient data** was used. Data config: `{data}`.

## Intended use
Research and core-lab decision support inside dvt-us: every finding is reviewed, and can be overridden, by a
qualified reader. Not a medical device; not for diagnosis or treatment decisions on its own.

## Validation (held-out phantom subjects; the epoch was chosen on these, so the figures are optimistic —
see the issue notes for `dvt-us evaluate` on data never used for training or selection)
{_metrics_table(manifest['metrics'])}

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
