"""Phantom speed: one 40-frame 600x800 clip on one core, and a synthetic trial over all cores.

Usage: python benchmarks/phantom_benchmark.py [--subjects N] [--protocol full|short] [--visits V]

Targets (issue "phantom"): a 40-frame 600x800 clip in <= 2 s on one core; a 20-subject trial in minutes.
The single-clip timing runs in a subprocess pinned to one core (os.sched_setaffinity) so that numpy's
threads cannot spread.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import write_trial

_ONE_CLIP = textwrap.dedent(
    """
    import json, os, time
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    import numpy as np
    from dvt_us.anatomy import Segment
    from dvt_us.phantom import sample_params, simulate_cine
    times = []
    for seed, segment in enumerate([Segment.CFV, Segment.FV_M, Segment.POP, Segment.PTV] * 2):
        rng = np.random.default_rng(seed)
        params = sample_params(rng, segment=segment, shape=(600, 800), n_frames=40)
        start = time.perf_counter()
        simulate_cine(params, rng)
        times.append(time.perf_counter() - start)
    print(json.dumps(times))
    """
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=20)
    parser.add_argument("--protocol", default="full")
    parser.add_argument("--visits", type=int, default=1, help="visits per subject (default 1: baseline)")
    args = parser.parse_args()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", _ONE_CLIP], check=True, capture_output=True, text=True, env=env)
    times = sorted(json.loads(out.stdout.strip().splitlines()[-1]))
    plan = plan_trial(args.subjects, seed=1, protocol=args.protocol, visits=args.visits)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        write_trial(plan, Path(tmp), jobs=os.cpu_count())
        trial_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file()) / 2**20
    print(f"{'measurement':<58} {'value':>12}")
    print(f"{'40-frame 600x800 cine, one core, median of 8 (s)':<58} {times[len(times) // 2]:>12.2f}")
    print(f"{'40-frame 600x800 cine, one core, slowest of 8 (s)':<58} {times[-1]:>12.2f}")
    label = f"trial: {args.subjects} subjects x {args.visits} visit(s), {len(plan.clips)} clips, "
    label += f"{os.cpu_count()} cores (s)"
    print(f"{label:<58} {trial_s:>12.1f}")
    print(f"{'trial: clips per second':<58} {len(plan.clips) / trial_s:>12.2f}")
    print(f"{'trial: output size (MB)':<58} {size_mb:>12.0f}")


if __name__ == "__main__":
    main()
