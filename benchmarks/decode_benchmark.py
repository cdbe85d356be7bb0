"""Decode + crop throughput and streaming memory of dvt-us ingestion, against plain pydicom.

Usage: python benchmarks/decode_benchmark.py [--long-frames N]

1. frames/s for the 120-frame YBR JPEG cine of pydicom-data (color3d_jpeg_baseline.dcm):
   dvt-us `iter_frames` (decode, crop to the tissue region, B-mode + colour-flow split) against
   `pydicom.dcmread(...).pixel_array` (decode all frames to RGB, no crop).
2. peak RSS of a fresh process that streams a long uncompressed 600x800 cine through `iter_frames`,
   against one that calls `pixel_array` on it.
Each measurement runs in its own subprocess so peak RSS is that of the measured work alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

JPEG_CINE = "color3d_jpeg_baseline.dcm"

_CHILD = textwrap.dedent(
    """
    import json, sys, time
    import pydicom
    from dvt_us.ingest import Source, read_clip
    from dvt_us.preprocess import iter_frames
    mode, path, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        if mode == "dvt-us":
            clip = read_clip(Source(__import__("pathlib").Path(path)))
            frames = sum(1 for _ in iter_frames(clip))
        else:
            arr = pydicom.dcmread(path).pixel_array
            frames = arr.shape[0]
            del arr
        best = min(best, time.perf_counter() - start)
    # VmHWM is this process's own peak (ru_maxrss would include the parent's peak from before exec)
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    rss_mb = int(hwm.split()[1]) / 1024
    print(json.dumps({"frames": frames, "seconds": best, "rss_mb": rss_mb}))
    """
)


def _measure(mode: str, path: Path, repeats: int) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", _CHILD, mode, str(path), str(repeats)],
                         check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _jpeg_cine() -> Path:
    import data_store

    return Path(data_store.__file__).parent / "data" / JPEG_CINE


def _long_cine(folder: Path, frames: int) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset, write

    spec = UltrasoundSpec(frames=frames, rows=600, cols=800, regions=[(100, 60, 699, 559)])
    return write(ultrasound_dataset(spec), folder / "long.dcm")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--long-frames", type=int, default=1000, help="frames of the long cine (default 1000)")
    args = parser.parse_args()
    rows = []
    jpeg = _jpeg_cine()
    for mode in ("dvt-us", "pydicom"):
        r = _measure(mode, jpeg, repeats=3)
        rows.append((f"{JPEG_CINE} ({mode})", r["frames"], r["frames"] / r["seconds"], r["rss_mb"]))
    with tempfile.TemporaryDirectory() as tmp:
        long = _long_cine(Path(tmp), args.long_frames)
        size_mb = long.stat().st_size / 2**20
        for mode in ("dvt-us", "pydicom"):
            r = _measure(mode, long, repeats=1)
            rows.append((f"{args.long_frames}x600x800 cine, {size_mb:.0f} MB ({mode})", r["frames"],
                         r["frames"] / r["seconds"], r["rss_mb"]))
    print(f"{'input (reader)':<48} {'frames':>7} {'frames/s':>10} {'peak RSS MB':>12}")
    for name, frames, fps, rss in rows:
        print(f"{name:<48} {frames:>7} {fps:>10.1f} {rss:>12.0f}")


if __name__ == "__main__":
    main()
