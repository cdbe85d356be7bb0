"""Training data, read through dvt-us' own ingestion and preprocessing (identical pixels to serving).

A dataset folder has the layout the phantom writes (docs/phantom.md), which a core lab can reproduce
for its own annotated clips::

    DATA/dicom/**.dcm                          ultrasound instances
    DATA/truth/masks/<SOPInstanceUID>.npz      `labels` uint8 [frames, rows, cols] in the source grid
    DATA/truth/truth.json                      {"clips": [{"sop_instance_uid", "subject", "kind",
                                                 "compressibility" (cines), ...}, ...]}

Clips are held in model geometry (letterboxed, normalised, float16) so an epoch needs no decoding.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from rich.console import Console
from rich.progress import Progress

from dvt_us.findings.vocabulary import Compressibility
from dvt_us.ingest import ClipKind, ingest
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.preprocess import iter_frames
from dvt_us.preprocess.model_input import CLIP_DTYPE, InputSpec, clip_extremes, frame_input, model_frames
from dvt_us.preprocess.vein_tracking import THROMBUS
from training.config import PhantomData

COMPRESSIBILITY = tuple(c.value for c in Compressibility)
"""Class order of the compressibility classifier's outputs."""
PROGRESS_CONSOLE = Console(stderr=True)
"""Progress bars go to stderr, so stdout carries only results (e.g. evaluation JSON)."""


@dataclass(frozen=True)
class TrainClip:
    """One clip in model geometry."""

    sop_instance_uid: str
    subject: str
    kind: str
    images: NDArray[np.float16]
    """``[frames, size, size]`` normalised, letterboxed B-mode (one channel; context is stacked later)."""
    labels: NDArray[np.uint8]
    """``[frames, size, size]`` truth labels 0..3 in the same grid."""
    spacing_mm: tuple[float, float]
    """(row, col) spacing of the model grid in mm (source spacing / letterbox scale)."""
    compressibility: int | None
    """Index into :data:`COMPRESSIBILITY` for compression cines, else None."""
    calibrated: bool = True
    """False when the source had no spatial calibration (``spacing_mm`` is then in source pixels)."""

    @cached_property
    def has_thrombus(self) -> bool:
        """Whether any frame's truth holds thrombus."""
        return bool((self.labels == THROMBUS).any())

    @cached_property
    def extremes(self) -> NDArray[np.float32]:
        """``[2, size, size]`` per-pixel temporal max and min of ``images`` (the clip-extreme channels)."""
        return clip_extremes(self.images)

    def model_input(self, index: int, spec: InputSpec) -> NDArray[np.float32]:
        """``[channels, size, size]`` input of frame ``index``, built as serving builds it."""
        return frame_input(self.images, index, spec, self.extremes if spec.clip_extremes else None)


def phantom_folder(cfg: PhantomData, cache_dir: Path, jobs: int | None = None) -> Path:
    """Generate (once) the phantom trial ``cfg`` describes and return its folder."""
    key = hashlib.sha256(cfg.model_dump_json().encode()).hexdigest()[:16]
    folder = cache_dir / f"phantom-{key}"
    if (folder / "truth" / "truth.json").exists():
        return folder
    plan = plan_trial(cfg.subjects, seed=cfg.seed, protocol=cfg.protocol, visits=cfg.visits)
    with Progress(console=PROGRESS_CONSOLE) as progress:
        task = progress.add_task(f"phantom trial ({len(plan.clips)} clips)", total=len(plan.clips))
        write_trial(plan, folder, RenderOptions(shape=cfg.size, frames=cfg.frames), jobs=jobs,
                    progress=lambda done, _: progress.update(task, completed=done))
    return folder


def load_folder(folder: Path, spec: InputSpec) -> list[TrainClip]:
    """Read every clip of a dataset folder that has truth masks."""
    truth = json.loads((folder / "truth" / "truth.json").read_text())
    records = {c["sop_instance_uid"]: c for c in truth["clips"]}
    result = ingest([folder / "dicom"])
    clips = []
    with Progress(console=PROGRESS_CONSOLE) as progress:
        task = progress.add_task(f"reading {folder.name}", total=len(result.clips))
        for clip in result.clips:
            progress.advance(task)
            rec = records.get(clip.sop_instance_uid)
            masks_path = folder / "truth" / "masks" / f"{clip.sop_instance_uid}.npz"
            if rec is None or not masks_path.exists() or clip.kind is ClipKind.NOT_ANALYSABLE or not clip.views:
                continue
            frames = list(iter_frames(clip))
            all_masks = np.load(masks_path)["labels"]
            label = rec.get("compressibility") if clip.kind is ClipKind.COMPRESSION_CINE else None
            for v, view in enumerate(clip.views):  # a split screen gives one training clip per pane
                bmodes = np.stack([f.views[v].bmode for f in frames])
                images, box = model_frames(bmodes, InputSpec(spec.size, context=0))
                masks = all_masks[:, view.box.row0 : view.box.row1, view.box.col0 : view.box.col1]
                spacing = view.spacing_mm or (1.0, 1.0)
                clips.append(TrainClip(
                    sop_instance_uid=clip.sop_instance_uid, subject=rec["subject"], kind=clip.kind.value,
                    images=images[:, 0].astype(CLIP_DTYPE),
                    labels=np.stack([box.labels_to_model(m) for m in masks]),
                    spacing_mm=(spacing[0] / box.scale, spacing[1] / box.scale),
                    compressibility=COMPRESSIBILITY.index(label) if label in COMPRESSIBILITY else None,
                    calibrated=view.spacing_mm is not None,
                ))
    return clips


def split_by_subject(clips: list[TrainClip], held_out: float, seed: int) -> tuple[list[TrainClip], list[TrainClip]]:
    """Hold out a share of subjects (never split a subject across train and validation)."""
    subjects = sorted({c.subject for c in clips})
    rng = np.random.default_rng(seed)
    n_val = max(1, round(len(subjects) * held_out)) if len(subjects) > 1 else 0
    val = set(rng.choice(subjects, size=n_val, replace=False).tolist()) if n_val else set()
    return [c for c in clips if c.subject not in val], [c for c in clips if c.subject in val]
