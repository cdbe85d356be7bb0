"""Inference speed and memory: segmentation frames/s (ONNX Runtime vs torch eager), GFLOP/s against a
same-run matrix-multiply peak, study turnaround, and peak RSS of a long study.

Usage: python benchmarks/inference_benchmark.py [--models models] [--skip-study] [--skip-long] [--stages]

The study rows give wall time and the CPU time of all its processes: on a shared machine the wall time
follows the other load, the CPU time much less. ``--stages`` adds where one process's CPU time goes when
it analyses the study's clips on one thread (cProfile on process time).

Needs the shipped models (models/vein-seg, models/compressibility); the torch comparison needs the
`train` extra: it rebuilds the network from the manifest's training config with the ONNX file's weights.
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

import numpy as np
import onnx
from onnx import shape_inference

from dvt_us.inference import ModelRegistry, SessionOptions, session_for
from dvt_us.inference.segmenter import CPU_BATCH
from dvt_us.inference.sessions import run_logits


def conv_flops(model_path: Path, batch: int = 1) -> float:
    """Multiply-adds x 2 of the Conv/ConvTranspose/MatMul/Gemm nodes for one input (shape inference)."""
    model = onnx.load(str(model_path))
    inp = model.graph.input[0].type.tensor_type.shape.dim
    inp[0].dim_value = batch
    inferred = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input)}
    weights = {i.name: list(i.dims) for i in inferred.graph.initializer}
    flops = 0.0
    for node in inferred.graph.node:
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] in weights:
            w = weights[node.input[1]]
            out = shapes.get(node.output[0]) if node.op_type == "Conv" else shapes.get(node.input[0])
            if out and all(out):
                spatial = float(np.prod(out[2:]))
                flops += 2.0 * float(np.prod(w)) * spatial * out[0]
    return flops / batch


def matmul_peak_gflops(threads: int) -> float:
    """Best float32 matrix-multiply GFLOP/s of numpy on this machine (same run)."""
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    a = np.random.default_rng(0).standard_normal((1024, 1024), dtype=np.float32)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = max(best, 2 * 1024**3 / (time.perf_counter() - start) / 1e9)
    return best


def ort_fps(models_dir: Path, batch: int, threads: int, repeats: int = 5) -> float:
    manifest = ModelRegistry(models_dir).get("vein-seg")
    session = session_for(manifest, SessionOptions(threads=threads, use_cuda=False))
    channels, size = int(manifest.input_shape[1]), int(manifest.preprocessing["size"])
    x = np.random.default_rng(0).standard_normal((batch, channels, size, size), dtype=np.float32)
    run_logits(session, manifest, x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run_logits(session, manifest, x)
        best = min(best, time.perf_counter() - start)
    return batch / best


def torch_fps(models_dir: Path, batch: int, threads: int, repeats: int = 5) -> float | None:
    """torch eager frames/s of the shipped network with the shipped weights (read back from the ONNX file)."""
    try:
        import torch
        from onnx import numpy_helper

        from training.config import TrainConfig
        from training.networks import segmentation_network
    except ImportError:
        return None
    manifest = ModelRegistry(models_dir).get("vein-seg")
    cfg = TrainConfig.model_validate(json.loads((manifest.folder / "manifest.json").read_text())["training_config"])
    channels = cfg.segmentation.input_spec.channels
    model = segmentation_network(cfg.segmentation, channels)
    weights = {i.name: torch.from_numpy(numpy_helper.to_array(i).copy())
               for i in onnx.load(str(manifest.onnx_path)).graph.initializer}
    state = model.state_dict()
    missing = [k for k, v in state.items() if k not in weights and v.dtype.is_floating_point]
    if missing:  # the exporter folded or renamed parameters: no same-weights comparison
        print(f"torch eager skipped: {len(missing)} parameters not found in the ONNX file", file=sys.stderr)
        return None
    model.load_state_dict({k: weights.get(k, v) for k, v in state.items()})
    model.eval()
    torch.set_num_threads(threads)
    size = cfg.segmentation.input_size
    x = torch.randn(batch, channels, size, size)
    with torch.no_grad():
        model(x)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - start)
    return batch / best


_STUDY = textwrap.dedent(
    """
    import json, resource, sys, time
    import psutil
    from pathlib import Path
    from dvt_us.pipeline.analyze import AnalyzeOptions, analyze
    from dvt_us.pipeline.clip_analysis import ModelSet
    from dvt_us.pipeline.render import render_run
    from dvt_us.pipeline.trial_config import DEFAULT_TRIAL
    from dvt_us.inference import ModelRegistry, SessionOptions
    src, out, models, jobs = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4])
    registry = ModelRegistry(models)
    model_set = ModelSet(registry.get("vein-seg"), registry.get("compressibility"), SessionOptions(use_cuda=False))
    start = time.perf_counter()
    analyze([src], AnalyzeOptions(out, model_set, DEFAULT_TRIAL, jobs, render=False))
    seconds = time.perf_counter() - start
    cpu_s = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                for f in ("ru_utime", "ru_stime"))
    # The workers are children of the still running fork server: their times are in its children's times.
    cpu_s += sum(t.user + t.system + t.children_user + t.children_system
                 for t in (child.cpu_times() for child in psutil.Process().children()))
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
    start = time.perf_counter()
    render_run(out, jobs)  # HTML/PDF, SR, SEG, encapsulated PDF
    render_s = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "cpu_s": cpu_s, "rss_mb": int(hwm.split()[1]) / 1024,
                      "render_s": render_s}))
    """
)


def _study(frames: int, clips_per_leg: int, tmp: Path) -> Path:
    """A bilateral study of compression cines, 600x800 tissue images, written by the phantom."""
    from dataclasses import replace

    from dvt_us.phantom.trial import Acquisition, plan_trial
    from dvt_us.phantom.trial_writer import RenderOptions, write_trial

    plan = plan_trial(1, seed=77, protocol="full", visits=1)
    cines = [c for c in plan.clips if c.kind is Acquisition.COMPRESSION_CINE]
    chosen = [c for side in {c.side for c in cines} for c in [x for x in cines if x.side is side][:clips_per_leg]]
    write_trial(replace(plan, clips=tuple(chosen)), tmp, RenderOptions(shape=(600, 800), frames=frames))
    return tmp / "dicom"


def _run_study(src: Path, models: Path, jobs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run([sys.executable, "-c", _STUDY, str(src), out, str(models), str(jobs)],
                              check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


_STAGES = (  # (row, (module suffix, function)...): cumulative process time of those functions
    ("decode and crop frames", (("dvt_us/preprocess/frames.py", "iter_frames"),)),
    ("model input (normalise, letterbox)", (("dvt_us/preprocess/model_input.py", "normalise"),
                                            ("dvt_us/preprocess/model_input.py", "to_model"))),
    ("ONNX Runtime", (("dvt_us/inference/sessions.py", "run_logits"),)),
    ("scores to labels", (("dvt_us/inference/segmenter.py", "_decode"),)),
    ("mask file", (("dvt_us/report/masks.py", "write"), ("dvt_us/report/masks.py", "close"))),
    ("label spool", (("dvt_us/pipeline/label_spool.py", "append"),)),
    ("measurements", (("dvt_us/preprocess/vein_tracking.py", "summarise_frame"),
                      ("dvt_us/preprocess/clip_features.py", "measure_frames"))),
    ("key frames, source header", (("dvt_us/report/clip_evidence.py", "write_key_frames"),
                                   ("dvt_us/report/clip_evidence.py", "write_source_header"))),
)


def stage_rows(src: Path, models_dir: Path, out: Path) -> list[tuple[str, str]]:
    """CPU time per stage of analysing every clip under ``src`` in this process, on one thread."""
    import cProfile
    import pstats

    from dvt_us.ingest import ingest
    from dvt_us.pipeline.clip_analysis import ModelSet, analyse_clip

    registry = ModelRegistry(models_dir)
    models = ModelSet(registry.get("vein-seg"), registry.get("compressibility"),
                      SessionOptions(threads=1, use_cuda=False))
    clips = [c for s in ingest([src]).subjects for v in s.visits for c in v.clips]
    frames = sum(c.frames for c in clips)
    profile = cProfile.Profile(time.process_time)
    start = time.process_time()
    profile.runcall(lambda: [analyse_clip(c, models, out) for c in clips])
    total = time.process_time() - start
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = []
    for name, functions in _STAGES:
        seconds = sum(v[3] for (file, _, func), v in stats.items()
                      if any(file.endswith(m) and func == f for m, f in functions))
        rows.append((f"  {name} (CPU s, ms/frame)", f"{seconds:.2f}  {1000 * seconds / frames:.2f}"))
    rows.append((f"  all of it, {len(clips)} clips, {frames} frames (CPU s)", f"{total:.2f}"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=Path, default=Path("models"))
    parser.add_argument("--skip-study", action="store_true")
    parser.add_argument("--skip-long", action="store_true")
    parser.add_argument("--stages", action="store_true", help="CPU time per stage of the study, one thread")
    args = parser.parse_args()
    threads = os.cpu_count() or 1
    manifest = ModelRegistry(args.models).get("vein-seg")
    gflop = conv_flops(manifest.onnx_path) / 1e9
    peak = matmul_peak_gflops(threads)
    rows = [("matmul peak, float32 (GFLOP/s)", f"{peak:.1f}"), ("segmentation model (GFLOP/frame)", f"{gflop:.3f}")]
    for batch in (1, 16):
        fps = ort_fps(args.models, batch, threads)
        rows.append((f"ONNX Runtime, batch {batch} (frames/s)", f"{fps:.1f}"))
        achieved = fps * gflop
        share = 100 * achieved / peak
        rows.append((f"ONNX Runtime, batch {batch} (GFLOP/s, % of peak)", f"{achieved:.1f} ({share:.0f} %)"))
        eager = torch_fps(args.models, batch, threads)
        if eager:
            rows.append((f"torch eager, batch {batch} (frames/s)", f"{eager:.1f}  (ORT {fps / eager:.2f}x)"))
    # What each analysis worker runs: one thread, CPU_BATCH frames per call (dvt_us.inference.segmenter).
    by_batch = {batch: ort_fps(args.models, batch, 1, repeats=10) for batch in sorted({1, CPU_BATCH, 16})}
    rows.append((f"ONNX Runtime, 1 thread, batch {' / '.join(map(str, by_batch))} (frames/s)",
                 " / ".join(f"{fps:.1f}" for fps in by_batch.values())))
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_study:
            study = _study(40, 7, Path(tmp) / "study")
            r = _run_study(study, args.models, jobs=threads)
            rows.append(("study 14 clips x 40 frames 600x800 -> report.json (s)", f"{r['seconds']:.1f}"))
            rows.append(("  CPU time, all processes (s)", f"{r['cpu_s']:.1f}"))
            rows.append(("  peak RSS (MB)", f"{r['rss_mb']:.0f}"))
            rows.append(("  then HTML/PDF, SR, SEG, encapsulated PDF (s)", f"{r['render_s']:.1f}"))
            if args.stages:
                rows.append(("where one thread's time goes in that study:", ""))
                rows += stage_rows(study, args.models, Path(tmp) / "stages")
        if not args.skip_long:  # the phantom caps a cine at 400 frames: RSS as frames per clip grow
            for frames in (100, 400):
                long = _study(frames, 1, Path(tmp) / f"long{frames}")
                r = _run_study(long, args.models, jobs=1)
                rows.append((f"study 2 clips x {frames} frames 600x800, 1 job (s)", f"{r['seconds']:.1f}"))
                rows.append(("  CPU time, all processes (s)", f"{r['cpu_s']:.1f}"))
                rows.append(("  peak RSS (MB)", f"{r['rss_mb']:.0f}"))
    width = max(len(r[0]) for r in rows)
    print(f"{'measurement':<{width}}  value")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
