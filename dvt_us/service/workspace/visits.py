"""Finding what the workspace shows: visit folders by report id, clips by SOPInstanceUID, and their facts.

Nothing from a request reaches the file system: a report id goes through the ``visit_folder`` resolver and a
SOPInstanceUID must be a clip of that visit's report.json before the ``instance_file`` resolver is asked;
every path they give must resolve (symlinks followed) inside the service data folder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from dvt_us.ingest import Clip, ClipKind
from dvt_us.preprocess.clip_features import measure_clip
from dvt_us.report.visit_folder import REPORT_FILE, VisitFolder
from dvt_us.service.workspace.cache import LruCache
from dvt_us.service.workspace.errors import NotFoundError, NotShowableError
from dvt_us.service.workspace.media import ClipFiles, FrameMedia
from dvt_us.service.workspace.tissue import TissueLayout, read_label_frames

InstanceResolver = Callable[[str], Path | None]
"""SOPInstanceUID → the stored DICOM file of that instance, or None when the service has none."""
VisitResolver = Callable[[int], Path | None]
"""Report id (as the service API numbers reports) → the visit folder (``<subject>/<visit>/``), or None."""


@dataclass(frozen=True)
class WorkspaceSources:
    """Where the workspace finds what it shows.

    ``data_dir`` is the service data folder: every visit folder and instance file must lie inside it.
    """

    data_dir: Path
    instance_file: InstanceResolver
    visit_folder: VisitResolver


@dataclass(frozen=True)
class AreaCurve:
    """The vein cross-section area of each frame, in mm² (pixels² when ``calibrated`` is False)."""

    area_mm2: tuple[float, ...]
    calibrated: bool
    source: Literal["report", "masks"]
    """``report``: report.json's ``curves.area_mm2``; ``masks``: measured now from ``masks/<SOP>.npz``."""


class ViewOut(BaseModel):
    """One tissue region: its box in the shown frame (pixels, end exclusive) and its (row, col) spacing in mm."""

    model_config = ConfigDict(frozen=True)
    row0: int
    col0: int
    row1: int
    col1: int
    spacing_mm: tuple[float, float] | None


class ClipOut(BaseModel):
    """What the clip viewer needs to play one clip (the JSON of ``…/clips/{sop}.json``)."""

    model_config = ConfigDict(frozen=True)
    sop_instance_uid: str
    kind: str
    side: str
    segment: str
    frames: int
    frame_times_s: list[float]
    """Time of each frame from the first, in seconds (FrameTime / FrameTimeVector / CineRate)."""
    frame_time_ms: float | None
    """Mean interval between frames in ms; None for a single frame."""
    rows: int
    cols: int
    """Size of every frame served (the box around the tissue regions), in pixels."""
    views: list[ViewOut]
    calibrated: bool
    area_mm2: list[float] | None
    """Vein area per frame (mm², px² when uncalibrated); None when neither the report nor masks give one."""
    area_source: Literal["report", "masks"] | None
    key_frames: dict[str, int]
    """Key-frame name → 0-based frame, from report.json (``uncompressed``, ``max_compression``)."""
    has_masks: bool
    frame_url: str
    """``…/frames/{frame}.jpg``; put the 0-based frame index for ``{frame}``."""
    overlay_url: str | None
    doppler_url: str | None
    """The first frame with its colour flow drawn, for a colour Doppler clip."""


def _inside(path: Path | None, data_dir: Path, what: str) -> Path:
    if path is None:
        raise NotFoundError(f"no {what}")
    resolved = path.resolve()
    if not resolved.is_relative_to(data_dir.resolve()):
        raise NotFoundError(f"the {what} lies outside the data folder; not served")
    return resolved


class WorkspaceData:
    """The visit folders, clips and media of the workspace (thread-safe; caches are bounded)."""

    def __init__(self, sources: WorkspaceSources, media: FrameMedia) -> None:
        self.sources, self.media = sources, media
        self._visits: LruCache[tuple[str, int], VisitFolder] = LruCache(32, lambda _: 1)
        self._areas: LruCache[tuple[str, str], AreaCurve | None] = LruCache(128, lambda _: 1)

    def visit(self, report_id: int) -> VisitFolder:
        """The visit folder of report ``report_id`` (report.json validated once while it is unchanged)."""
        folder = _inside(self.sources.visit_folder(report_id), self.sources.data_dir, f"report {report_id}")
        try:
            key = (str(folder), (folder / REPORT_FILE).stat().st_mtime_ns)
        except FileNotFoundError:
            raise NotFoundError(f"report {report_id} has no {REPORT_FILE}") from None
        found = self._visits.get(key)
        if found is None:
            found = VisitFolder.open(folder)
            _ = found.document  # validated here, once
            self._visits.put(key, found)
        return found

    def entry(self, report_id: int, sop_instance_uid: str) -> dict[str, Any]:
        """The report.json clip entry of ``sop_instance_uid`` in report ``report_id``."""
        for clip in self.visit(report_id).clips:
            if clip["sop_instance_uid"] == sop_instance_uid:
                return clip
        raise NotFoundError(f"report {report_id} has no clip {sop_instance_uid}")

    def files(self, report_id: int, sop_instance_uid: str) -> ClipFiles:
        """The stored instance and (if any) the masks of a clip of report ``report_id``."""
        entry = self.entry(report_id, sop_instance_uid)
        instance = _inside(self.sources.instance_file(sop_instance_uid), self.sources.data_dir,
                           f"stored instance {sop_instance_uid}")
        if not instance.is_file():
            raise NotFoundError(f"the stored instance {sop_instance_uid} is missing")
        masks = None
        if entry.get("mask"):
            masks = (self.visit(report_id).path / str(entry["mask"])).resolve()
            if not masks.is_file() or masks.parent != (self.visit(report_id).path / "masks").resolve():
                masks = None
        return ClipFiles(instance, masks)

    def clip_info(self, report_id: int, sop_instance_uid: str, base_url: str) -> ClipOut:
        """The facts and media URLs of one clip; ``base_url`` is the app's URL prefix (``""`` or a mount path)."""
        entry = self.entry(report_id, sop_instance_uid)
        files = self.files(report_id, sop_instance_uid)
        clip = self.media.clip(files.instance)
        try:
            layout = TissueLayout.of(clip)
        except ValueError as exc:
            raise NotShowableError(str(exc)) from exc
        area = self.area_curve(entry, files, clip)
        times = list(clip.frame_times_s)
        href = f"{base_url}/reports/{report_id}/clips/{sop_instance_uid}"
        views = [ViewOut(row0=b.row0 - layout.box.row0, col0=b.col0 - layout.box.col0, row1=b.row1 - layout.box.row0,
                         col1=b.col1 - layout.box.col0, spacing_mm=v.spacing_mm) for v, b in zip(clip.views,
                                                                                                  layout.views,
                                                                                                  strict=True)]
        return ClipOut(
            sop_instance_uid=sop_instance_uid, kind=str(entry["kind"]), side=str(entry["side"]),
            segment=str(entry["segment"]), frames=clip.frames, frame_times_s=times,
            frame_time_ms=round(1000 * (times[-1] - times[0]) / (len(times) - 1), 3) if len(times) > 1 else None,
            rows=layout.shape[0], cols=layout.shape[1], views=views, calibrated=clip.spacing_mm is not None,
            area_mm2=list(area.area_mm2) if area else None, area_source=area.source if area else None,
            key_frames={str(k): int(v) for k, v in (entry.get("key_frames") or {}).items()},
            has_masks=files.masks is not None, frame_url=f"{href}/frames/{{frame}}.jpg",
            overlay_url=f"{href}/overlay/{{frame}}.jpg" if files.masks is not None else None,
            doppler_url=f"{href}/doppler.jpg" if clip.kind is ClipKind.COLOUR_DOPPLER else None,
        )

    def area_curve(self, entry: dict[str, Any], files: ClipFiles, clip: Clip) -> AreaCurve | None:
        """report.json's area curve of the clip if it has one for every frame, else one measured from its masks."""
        reported = (entry.get("curves") or {}).get("area_mm2") or []
        calibrated = clip.spacing_mm is not None
        if len(reported) == clip.frames > 1:
            return AreaCurve(tuple(float(a) for a in reported), calibrated, "report")
        if files.masks is None or clip.frames < 2:
            return None
        key = (str(files.masks), files.masks_stamp or "")
        if (found := self._areas.get(key)) is not None:
            return found
        labels = read_label_frames(files.masks, range(clip.frames))
        box = clip.views[0].box
        stack = np.stack([labels[i][box.row0 : box.row1, box.col0 : box.col1] for i in range(clip.frames)])
        measures = measure_clip(stack, clip.spacing_mm or (1.0, 1.0))
        curve = AreaCurve(tuple(round(float(a), 3) for a in measures.vein_area_mm2), calibrated, "masks")
        self._areas.put(key, curve)
        return curve
