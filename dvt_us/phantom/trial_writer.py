"""Render a planned synthetic trial to DICOM with its truth, in parallel over processes.

Output layout (documented in docs/phantom.md)::

    OUT/dicom/<subject>/<visit>/<NNNN>_<side>_<segment>.dcm   what a scanner would send
    OUT/truth/masks/<SOPInstanceUID>.npz                      uint8 ``labels`` [frames, rows, cols]
    OUT/truth/truth.json                                      subjects, arms, segment states, clip truth

Every clip draws from its own random stream (trial seed, clip index), so the bytes written do not depend
on the number of worker processes.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dvt_us import __version__
from dvt_us.anatomy import Laterality
from dvt_us.phantom.cine import ClipTruth, simulate_cine, simulate_still_pair
from dvt_us.phantom.dicom_writer import (
    Encoding,
    InstanceIdentity,
    deterministic_uid,
    sample_layout,
    write_instance,
)
from dvt_us.phantom.doppler import simulate_doppler
from dvt_us.phantom.randomise import sample_params
from dvt_us.phantom.scene import VeinState
from dvt_us.phantom.trial import Acquisition, ClipPlan, TrialPlan
from dvt_us.pipeline.workers import map_in_workers
from dvt_us.report.masks import MaskWriter

TRUTH_SCHEMA = "dvt-us-phantom-truth/1"
JPEG_PROBABILITY = 0.5
_THROMBUS = {VeinState.NORMAL: "none", VeinState.NONOCCLUSIVE: "non-occlusive", VeinState.OCCLUSIVE: "occlusive",
             VeinState.CHRONIC: "non-occlusive"}
_GRADE = {VeinState.NORMAL: 0, VeinState.NONOCCLUSIVE: 1, VeinState.OCCLUSIVE: 3, VeinState.CHRONIC: 1}
# CLOUT: patent = flow with normal or partial compressibility. With one clip per segment a segment is
# patent or occluded; "partially patent" needs clips that disagree along the segment.
_PATENCY = {VeinState.NORMAL: "patent", VeinState.NONOCCLUSIVE: "patent", VeinState.OCCLUSIVE: "occluded",
            VeinState.CHRONIC: "patent"}


@dataclass(frozen=True)
class RenderOptions:
    """Image size and cine length; ``None`` draws them per clip as :func:`sample_params` does."""

    shape: tuple[int, int] | None = None
    """Tissue image (rows, cols)."""
    frames: int | None = None


def _identity(plan: ClipPlan, seed: int) -> InstanceIdentity:
    study = deterministic_uid("study", seed, plan.subject, plan.visit.visit)
    return InstanceIdentity(
        subject=plan.subject, visit=plan.visit.visit, visit_description=plan.visit.description,
        study_date=plan.study_date, side=plan.side, segment=plan.segment, coded_anatomy=plan.coded_anatomy,
        study_instance_uid=study,
        series_instance_uid=deterministic_uid("series", seed, plan.index),
        sop_instance_uid=deterministic_uid("instance", seed, plan.index),
        series_number=plan.index + 1, instance_number=1,
    )


def _settings_text(params: Any) -> str:
    im = params.imaging
    return f"{im.center_frequency_mhz:.1f}MHz G{im.gain_db:.0f} DR{im.dynamic_range_db:.0f}"


def render_clip(plan: ClipPlan, seed: int, out: Path, options: RenderOptions) -> dict[str, Any]:
    """Simulate, write the DICOM file and the mask file of one clip; return its truth record."""
    rng = np.random.default_rng([seed, plan.index])
    params = sample_params(rng, segment=plan.segment, state=plan.state, adequacy=plan.adequacy,
                           shape=options.shape, n_frames=options.frames)
    ident = _identity(plan, seed)
    layout = sample_layout(rng)
    encoding = Encoding.JPEG_BASELINE if rng.random() < JPEG_PROBABILITY else Encoding.UNCOMPRESSED
    side = {Laterality.RIGHT: "R", Laterality.LEFT: "L"}[plan.side]
    path = out / "dicom" / plan.subject / plan.visit.visit / f"{plan.index:04d}_{side}_{plan.segment.value}.dcm"
    record: dict[str, Any] = {
        "file": str(path.relative_to(out)), "sop_instance_uid": ident.sop_instance_uid, "subject": plan.subject,
        "visit": plan.visit.visit, "side": plan.side.value, "segment": plan.segment.value, "kind": plan.kind.value,
        "state": plan.state.value, "coded_anatomy": plan.coded_anatomy, "encoding": encoding.value,
        "spacing_mm": params.imaging.spacing_mm,
    }
    if plan.kind is Acquisition.COMPRESSION_CINE:
        cine = simulate_cine(params, rng)
        written = write_instance(path, ident, cine.frames, cine.labels, cine.spacing_mm, layout=layout,
                                 encoding=encoding, frame_time_s=cine.frame_time_s,
                                 settings_text=_settings_text(params))
        record |= {"frames": int(cine.frames.shape[0]), **_compression_truth(cine.truth),
                   "uncompressed_frame": cine.truth.uncompressed_frame,
                   "max_compression_frame": cine.truth.max_compression_frame}
    elif plan.kind is Acquisition.STILL_PAIR:
        pair = simulate_still_pair(params, rng)
        written = write_instance(path, ident, pair.uncompressed[None], pair.uncompressed_labels[None],
                                 pair.spacing_mm, layout=layout, encoding=encoding,
                                 second_pane=(pair.compressed[None], pair.compressed_labels[None]),
                                 settings_text=_settings_text(params))
        record |= {"frames": 1, **_compression_truth(pair.truth)}
    else:
        colour = simulate_doppler(params, rng)
        box = colour.colour_box
        written = write_instance(path, ident, colour.rgb[None], colour.labels[None], colour.spacing_mm,
                                 layout=layout, encoding=encoding,
                                 colour_box=(box.top, box.left, box.bottom, box.right),
                                 settings_text=_settings_text(params))
        record |= {"frames": 1, "flow_fill_fraction": colour.flow_fill_fraction}
    save_masks(out / "truth" / "masks" / f"{ident.sop_instance_uid}.npz", written.labels)
    return record


def save_masks(path: Path, labels: np.ndarray) -> None:
    """Write ``labels`` ``[frames, rows, cols]`` as ``masks``-style .npz (same bytes for the same masks)."""
    with MaskWriter(path, len(labels), labels.shape[1:]) as writer:
        for frame in labels:
            writer.write(frame)


def _compression_truth(t: ClipTruth) -> dict[str, Any]:
    return {
        "adequacy": t.adequacy.value, "compression_adequate": t.adequacy.value == "adequate",
        "compressibility": t.compressibility.value, "baseline_area_mm2": t.baseline_area_mm2,
        "min_area_mm2": t.min_area_mm2, "area_ratio": t.area_ratio,
        "uncompressed_diameter_mm": t.uncompressed_diameter_mm, "residual_diameter_mm": t.residual_diameter_mm,
        "diameter_ratio": t.diameter_ratio, "thrombus_area_fraction": t.thrombus_area_fraction,
        "occlusive": t.occlusive,
    }


def _render_task(args: tuple[ClipPlan, int, Path, RenderOptions]) -> dict[str, Any]:
    return render_clip(*args)


def _segment_truth(plan: TrialPlan, clips: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per subject, visit, side and segment, naming every clip of it."""
    by_subject = {s.subject: s for s in plan.subjects}
    segments: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for clip in clips:
        key = (clip["subject"], clip["visit"], clip["side"], clip["segment"])
        if key in segments:
            segments[key]["clips"].append(clip["sop_instance_uid"])
            continue
        state = VeinState(clip["state"])
        segments[key] = {
            "subject": clip["subject"], "visit": clip["visit"], "side": clip["side"], "segment": clip["segment"],
            "affected_leg": clip["side"] == by_subject[clip["subject"]].affected_side.value, "state": state.value,
            "thrombus": _THROMBUS[state], "grade": _GRADE[state], "patency": _PATENCY[state],
            "clips": [clip["sop_instance_uid"]],
        }
    return list(segments.values())


def write_trial(
    plan: TrialPlan,
    out: Path,
    options: RenderOptions | None = None,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Render every clip of ``plan`` under ``out`` (``jobs`` worker processes) and write truth.json."""
    options = options or RenderOptions()
    jobs = jobs or os.cpu_count() or 1
    tasks = [(clip, plan.seed, out, options) for clip in plan.clips]
    records = map_in_workers(_render_task, tasks, jobs, "clips",
                             (lambda _, done, total: progress(done, total)) if progress else None)
    truth = {
        "schema": TRUTH_SCHEMA,
        "generator": f"dvt-us {__version__} phantom",
        "seed": plan.seed,
        "protocol": plan.protocol,
        "render": {"shape": list(options.shape) if options.shape else None, "frames": options.frames},
        "labels": {"0": "background", "1": "vein lumen", "2": "thrombus", "3": "artery"},
        "subjects": [
            {"subject": s.subject, "arm": s.arm.value, "affected_side": s.affected_side.value, "extent": s.extent,
             "enrolment_date": s.enrolment_date.isoformat()}
            for s in plan.subjects
        ],
        "segments": _segment_truth(plan, records),
        "clips": records,
    }
    path = out / "truth" / "truth.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=1))
    return path
