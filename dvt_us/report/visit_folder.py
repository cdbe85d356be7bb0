"""One visit's analysis folder, as the report renderers read it and ``dvt-us analyze`` writes it.

``OUT/<subject>/<visit>/`` holds (DESIGN.md section 5)::

    report.json                       findings of the visit (schema dvt-us-report/1)
    masks/<SOPInstanceUID>.npz        uint8 ``labels`` [frames, rows, cols] in the source pixel grid
    key_frames/<SOPInstanceUID>.npz   tissue-region images of the key frames (no annotation space)
    sources/<SOPInstanceUID>.dcm      each analysed source instance's header, without Pixel Data

Every rendered output (HTML/PDF, SR, SEG, encapsulated PDF) is a function of this folder and of the
subject's other visit folders beside it, so ``dvt-us report RUN_DIR`` re-renders without the source files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from numpy.typing import NDArray
from pydicom.dataset import Dataset

from dvt_us.ingest.calibration import PixelBox
from dvt_us.report.json_report import validate
from dvt_us.report.masks import write_npz

REPORT_FILE = "report.json"
KEY_FRAMES_DIR = "key_frames"
SOURCES_DIR = "sources"


@dataclass(frozen=True)
class KeyFrames:
    """The key frames of one clip's first view (tissue region), stored with the analysis.

    ``names[i]`` says what frame ``frames[i]`` (0-based, DICOM frame number − 1) is: ``uncompressed`` and
    ``max_compression`` for compression cines and still pairs, ``flow`` for a colour Doppler frame.
    ``bmode`` is uint8 luminance ``[n, rows, cols]`` of the view box ``box`` (source pixel grid; crop the
    masks with it); ``colour_flow`` float32 ``[n, rows, cols]`` in [-1, 1] (red positive, blue negative)
    where colour Doppler pixels are, or ``None``. For a split-screen still pair the second entry comes from
    the second view, whose box is ``boxes[1]``; ``spacings_mm[i]`` is the (row, col) spacing of key frame
    ``i``'s view, ``None`` when uncalibrated.
    """

    names: tuple[str, ...]
    frames: tuple[int, ...]
    boxes: tuple[PixelBox, ...]
    bmode: NDArray[np.uint8]
    colour_flow: NDArray[np.float32] | None
    spacings_mm: tuple[tuple[float, float] | None, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
        if not (len(self.frames) == len(self.boxes) == len(self.spacings_mm) == self.bmode.shape[0] == n):
            raise ValueError(f"key frames: {n} names, {len(self.frames)} frames, {len(self.boxes)} boxes, "
                             f"{len(self.spacings_mm)} spacings, {self.bmode.shape[0]} images")

    def index(self, name: str) -> int:
        """Position of the key frame called ``name``; raises ``KeyError`` listing the names present."""
        if name not in self.names:
            raise KeyError(f"no key frame {name!r}; present: {', '.join(self.names)}")
        return self.names.index(name)

    def spacing_of(self, name: str) -> tuple[float, float] | None:
        """(row, col) pixel spacing in mm of key frame ``name``'s view; ``None`` when uncalibrated."""
        return self.spacings_mm[self.index(name)]

    def mask_crop(self, masks: NDArray[np.uint8], name: str) -> NDArray[np.uint8]:
        """The labels of key frame ``name`` cropped to its view box, from the source-grid ``masks``."""
        i = self.index(name)
        box = self.boxes[i]
        return masks[self.frames[i], box.row0 : box.row1, box.col0 : box.col1]

    def save(self, path: Path) -> None:
        """Write as an .npz (atomically; the same key frames give the same bytes)."""
        arrays: dict[str, Any] = {
            "names": np.array(self.names), "frames": np.array(self.frames, np.int64),
            "boxes": np.array([(b.row0, b.col0, b.row1, b.col1) for b in self.boxes], np.int64),
            "bmode": self.bmode,
            "spacings_mm": np.array([s if s else (np.nan, np.nan) for s in self.spacings_mm], np.float64),
        }
        if self.colour_flow is not None:
            arrays["colour_flow"] = self.colour_flow
        write_npz(path, arrays)

    @classmethod
    def load(cls, path: Path) -> KeyFrames:
        """Read a file written by :meth:`save`."""
        with np.load(path) as z:
            spacings = tuple(None if np.isnan(row[0]) else (float(row[0]), float(row[1])) for row in z["spacings_mm"])
            return cls(
                names=tuple(str(n) for n in z["names"]), frames=tuple(int(f) for f in z["frames"]),
                boxes=tuple(PixelBox(*(int(v) for v in b)) for b in z["boxes"]), bmode=z["bmode"],
                colour_flow=z["colour_flow"] if "colour_flow" in z.files else None,
                spacings_mm=spacings,
            )


@dataclass(frozen=True)
class VisitFolder:
    """``OUT/<subject>/<visit>/``: the report document and the files beside it."""

    path: Path

    @classmethod
    def open(cls, path: Path) -> VisitFolder:
        """The visit folder at ``path``; raises ``FileNotFoundError`` if it has no report.json."""
        if not (path / REPORT_FILE).is_file():
            raise FileNotFoundError(f"{path}: no {REPORT_FILE} (not a dvt-us visit folder)")
        return cls(path)

    @cached_property
    def document(self) -> dict[str, Any]:
        """report.json, validated against its schema."""
        loaded: dict[str, Any] = json.loads((self.path / REPORT_FILE).read_text())
        validate(loaded)
        return loaded

    @property
    def clips(self) -> list[dict[str, Any]]:
        """The clip entries of report.json, in report order."""
        clips: list[dict[str, Any]] = self.document["clips"]
        return clips

    def masks(self, sop_instance_uid: str) -> NDArray[np.uint8]:
        """uint8 labels ``[frames, rows, cols]`` of a clip, source grid: 0 background, 1 lumen, 2 thrombus, 3 artery."""
        with np.load(self.path / "masks" / f"{sop_instance_uid}.npz") as z:
            labels: NDArray[np.uint8] = z["labels"]
        return labels

    def key_frames(self, sop_instance_uid: str) -> KeyFrames | None:
        """The clip's key frames, or ``None`` when the clip was not analysed."""
        path = self.path / KEY_FRAMES_DIR / f"{sop_instance_uid}.npz"
        return KeyFrames.load(path) if path.is_file() else None

    def source_header(self, sop_instance_uid: str) -> Dataset:
        """The source instance's header (patient, study, series, equipment, regions), without Pixel Data."""
        return pydicom.dcmread(self.path / SOURCES_DIR / f"{sop_instance_uid}.dcm")

    def source_headers(self, *, analysed_only: bool = True) -> list[Dataset]:
        """Headers of the analysed clips (or of every clip whose header was kept), in report order."""
        return [self.source_header(c["sop_instance_uid"]) for c in self.clips
                if (c["analysed"] or not analysed_only)
                and (self.path / SOURCES_DIR / f"{c['sop_instance_uid']}.dcm").is_file()]

    def subject_visits(self) -> list[VisitFolder]:
        """Every visit folder of this subject (this one included), ordered by first study date, then name."""
        siblings = [VisitFolder(p.parent) for p in sorted(self.path.parent.glob(f"*/{REPORT_FILE}"))]

        def order(v: VisitFolder) -> tuple[str, str]:
            dates = v.document.get("study_dates") or ["99999999"]
            return (min(dates), v.path.name)

        return sorted(siblings, key=order)

    def visits_so_far(self) -> list[VisitFolder]:
        """The subject's visit folders up to and including this one, oldest first."""
        visits = self.subject_visits()
        names = [v.path.name for v in visits]
        return visits[: names.index(self.path.name) + 1] if self.path.name in names else [self]


def visit_folders(run_dir: Path) -> list[VisitFolder]:
    """Every visit folder under an analyze output folder (``RUN_DIR/<subject>/<visit>/report.json``)."""
    return [VisitFolder(p.parent) for p in sorted(run_dir.glob(f"*/*/{REPORT_FILE}"))]
