"""Write a gallery of phantom images for a human to look at: ``python -m dvt_us.phantom.gallery OUTDIR``.

For each vein state: the uncompressed and the maximally compressed frame of a CFV compression cine,
without and with truth contours (green lumen, red thrombus, yellow artery); plus colour Doppler frames.
This is the package's one place that writes files.
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from dvt_us.anatomy import Segment
from dvt_us.phantom.cine import simulate_cine
from dvt_us.phantom.deformation import CompressionAdequacy
from dvt_us.phantom.doppler import simulate_doppler
from dvt_us.phantom.randomise import sample_params
from dvt_us.phantom.scene import VeinState

_CONTOUR_BGR = {1: (0, 220, 0), 2: (0, 0, 255), 3: (0, 220, 255)}


def with_contours(gray_or_rgb: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """BGR uint8 copy of an image with the outline of each label drawn in its colour."""
    img = gray_or_rgb if gray_or_rgb.ndim == 3 else cv2.cvtColor(gray_or_rgb, cv2.COLOR_GRAY2BGR)
    img = img.copy()
    for label, colour in _CONTOUR_BGR.items():
        contours, _ = cv2.findContours((labels == label).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(img, contours, -1, colour, 1)
    return img


def write_gallery(out_dir: Path, seed: int = 7, segment: Segment = Segment.CFV) -> list[Path]:
    """Simulate one clip per state (and Doppler frames) and write PNGs to ``out_dir``; return their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    rng = np.random.default_rng(seed)
    cases = [(s, CompressionAdequacy.ADEQUATE) for s in VeinState] + [
        (VeinState.NORMAL, CompressionAdequacy.INADEQUATE)]
    for state, adequacy in cases:
        params = sample_params(rng, segment, state, adequacy, shape=(480, 640), n_frames=30)
        cine = simulate_cine(params, rng)
        t = cine.truth
        pair = [cine.frames[t.uncompressed_frame], cine.frames[t.max_compression_frame]]
        labels = [cine.labels[t.uncompressed_frame], cine.labels[t.max_compression_frame]]
        plain = np.hstack([cv2.cvtColor(f, cv2.COLOR_GRAY2BGR) for f in pair])
        marked = np.hstack([with_contours(f, lab) for f, lab in zip(pair, labels, strict=True)])
        name = f"{segment.value}-{state.value}-{adequacy.value}"
        for suffix, img in (("", plain), ("-contours", marked)):
            path = out_dir / f"{name}{suffix}.png"
            cv2.imwrite(str(path), img)
            written.append(path)
        print(f"{name}: {t.compressibility.value}, area ratio {t.area_ratio:.2f}, "
              f"diameter ratio {t.diameter_ratio:.2f}, thrombus fraction {t.thrombus_area_fraction:.2f}")
    for state in (VeinState.NORMAL, VeinState.NONOCCLUSIVE, VeinState.OCCLUSIVE):
        params = sample_params(rng, segment, state, CompressionAdequacy.ADEQUATE, shape=(480, 640), n_frames=20)
        frame = simulate_doppler(params, rng)
        bgr = cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR)
        b = frame.colour_box
        boxed = bgr.copy()
        cv2.rectangle(boxed, (b.left, b.top), (b.right - 1, b.bottom - 1), (200, 200, 200), 1)
        path = out_dir / f"doppler-{state.value}.png"
        cv2.imwrite(str(path), np.hstack([boxed, with_contours(bgr, frame.labels)]))
        written.append(path)
        print(f"doppler {state.value}: flow fill {frame.flow_fill_fraction:.2f}, "
              f"coloured {frame.coloured_fraction:.2f}")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: ``python -m dvt_us.phantom.gallery OUTDIR [SEGMENT]``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print("usage: python -m dvt_us.phantom.gallery OUTDIR [SEGMENT]", file=sys.stderr)
        return 2
    segment = Segment.parse(args[1]) if len(args) > 1 else Segment.CFV
    write_gallery(Path(args[0]), segment=segment)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
