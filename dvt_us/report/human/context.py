"""What the report template shows, built from a visit folder: typed rows and figures, already formatted.

The template only lays out; every value it prints (units, rounding, "—" for missing) is decided here, from
report.json (schema dvt-us-report/1), the key frames and masks beside it, and the subject's other visits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from markupsafe import Markup
from numpy.typing import NDArray

from dvt_us.anatomy import SEGMENTS, Segment
from dvt_us.report.human.figures import (
    LABEL_NAMES,
    LABEL_RGB,
    KeyFrameFigure,
    area_plot_png,
    key_frame_figure,
    png_data_uri,
    trajectory_plot_png,
)
from dvt_us.report.human.leg_diagram import leg_diagram_svg
from dvt_us.report.visit_folder import KeyFrames, VisitFolder

SIDE_NAMES = {"R": "right", "L": "left", "unassigned": "side unassigned"}
_SIDE_ORDER = {"R": 0, "L": 1, "unassigned": 2}
_SEGMENT_ORDER = {s.value: i for i, s in enumerate(Segment)}
KIND_NAMES = {"compression-cine": "compression cine", "still": "still pair", "colour-doppler": "colour Doppler",
              "spectral-doppler": "spectral Doppler", "not-analysable": "not analysable"}
DASH = "—"


def fmt_number(value: float | None, digits: int = 1, unit: str = "") -> str:
    """``value`` rounded to ``digits`` decimals with an optional unit, or an em dash when missing."""
    if value is None:
        return DASH
    return f"{value:.{digits}f}" + (f" {unit}" if unit else "")


def fmt_fraction(value: float | None) -> str:
    """A fraction in [0, 1] as a whole percentage (``0.547`` → ``55 %``), or an em dash."""
    return DASH if value is None else f"{100 * value:.0f} %"


def fmt_date(yyyymmdd: str) -> str:
    """A DICOM DA value ``YYYYMMDD`` as ``YYYY-MM-DD`` (other text unchanged)."""
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}" if len(yyyymmdd) == 8 and yyyymmdd.isdigit() else yyyymmdd


def segment_name(key: str) -> str:
    """The vocabulary's name of a segment key (``CFV`` → ``common femoral vein``)."""
    seg = Segment.parse(key)
    return SEGMENTS[seg].name if seg in SEGMENTS else "unassigned (reader to assign)"


def _order(side: str, segment: str) -> tuple[int, int]:
    """Sort key: the IVC (unpaired) first, then right, left and unassigned sides, each proximal → distal."""
    if segment == Segment.IVC.value:
        return -1, 0
    return _SIDE_ORDER.get(side, 9), _SEGMENT_ORDER.get(segment, 99)


def _side_name(side: str, segment: str) -> str:
    return "—" if segment == Segment.IVC.value else SIDE_NAMES.get(side, side)


@dataclass(frozen=True)
class SegmentRow:
    """One row of the segment table."""

    side: str
    key: str
    name: str
    compressibility: str
    thrombus: str
    patency: str
    residual_mm: str
    rvt: str
    grade: str
    confidence: str
    clips: tuple[int, ...]
    flagged: bool
    indeterminate: bool
    reader_changed: bool


@dataclass(frozen=True)
class LegSummary:
    """Per-leg findings: thrombus score (sum of grades), extent, involved, indeterminate and missing segments."""

    side: str
    thrombus_score: int
    most_proximal: str
    involved: tuple[str, ...]
    indeterminate: tuple[str, ...]
    missing: tuple[str, ...]


@dataclass(frozen=True)
class ChangeRow:
    """One segment's change since the baseline visit (grades 0–3, ``—`` when not graded)."""

    side: str
    key: str
    baseline_grade: str
    current_grade: str
    status: str


@dataclass(frozen=True)
class ChangeLeg:
    """One leg's thrombus-score change since baseline."""

    side: str
    score_change: str
    baseline_score: str
    current_score: str
    recanalised: tuple[str, ...]
    new_or_extended: tuple[str, ...]
    worse: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    """The change-since-baseline section."""

    baseline_visit: str
    legs: tuple[ChangeLeg, ...]
    rows: tuple[ChangeRow, ...]


@dataclass(frozen=True)
class ClipView:
    """One analysed clip's evidence: key frames, area curve, compressibility or flow."""

    number: int
    side: str
    segment: str
    kind: str
    uid: str
    frames: int
    spacing: str
    problems: tuple[str, ...]
    figures: tuple[KeyFrameFigure, ...]
    area_plot: str | None
    """``data:`` URI of the area-over-time PNG, ``None`` for single-frame clips."""
    facts: tuple[tuple[str, str], ...]
    """(label, value) rows: compressibility (classifier, measured, agreement, confidence) or flow."""
    flagged: bool
    note: str | None = None


@dataclass(frozen=True)
class ModelRow:
    """One model of the provenance table."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class ReportContext:
    """Everything the template prints."""

    doc: Mapping[str, Any]
    study_dates: tuple[str, ...]
    sides_imaged: str
    leg_diagram: Markup
    segment_rows: tuple[SegmentRow, ...]
    legs: tuple[LegSummary, ...]
    change: Change | None
    trajectory_plot: str
    trajectory_visits: tuple[str, ...]
    clips: tuple[ClipView, ...]
    not_analysed: tuple[tuple[int, str, str, str, str], ...]
    """(clip number, side, segment, kind, reason) of the clips not analysed."""
    models: tuple[ModelRow, ...]
    legend: tuple[tuple[str, str], ...] = field(
        default=tuple((LABEL_NAMES[k], "#{:02x}{:02x}{:02x}".format(*LABEL_RGB[k])) for k in sorted(LABEL_RGB)))


def _yes_no(value: bool | None) -> str:
    return DASH if value is None else ("yes" if value else "no")


def _segment_rows(doc: Mapping[str, Any], clip_numbers: Mapping[str, int]) -> tuple[SegmentRow, ...]:
    rows = []
    for s in sorted(doc["segments"], key=lambda s: _order(s["side"], s["segment"])):
        rows.append(SegmentRow(
            side=_side_name(s["side"], s["segment"]), key=s["segment"], name=segment_name(s["segment"]),
            compressibility=s["compressibility"], thrombus=s["thrombus"], patency=s["patency"],
            residual_mm=fmt_number(s.get("residual_diameter_mm")), rvt=_yes_no(s.get("rvt")),
            grade=DASH if s["grade"] is None else str(s["grade"]), confidence=fmt_number(s["confidence"], 2),
            clips=tuple(clip_numbers[u] for u in s["clips"] if u in clip_numbers), flagged=bool(s["flagged"]),
            indeterminate=s["grade"] is None,
            reader_changed=bool(s["reader_changed"]),
        ))
    return tuple(rows)


def _legs(doc: Mapping[str, Any]) -> tuple[LegSummary, ...]:
    return tuple(
        LegSummary(side=SIDE_NAMES.get(leg["side"], leg["side"]), thrombus_score=int(leg["thrombus_score"]),
                   most_proximal=leg["most_proximal"] or "none", involved=tuple(leg["involved"]),
                   indeterminate=tuple(leg["indeterminate"]), missing=tuple(leg["missing"]))
        for leg in sorted(doc["legs"], key=lambda leg: _SIDE_ORDER.get(leg["side"], 9))
    )


def _change_status(key: str, before: int | None, now: int | None, lists: Mapping[str, Sequence[str]]) -> str:
    if key in lists.get("recanalised", ()):
        return "recanalised"
    if key in lists.get("new_or_extended", ()):
        return "new or extended"
    if key in lists.get("worse", ()):
        return "worse"
    if before is None or now is None:
        return "not comparable"
    if now < before:
        return "reduced"
    return "unchanged" if now == before else "worse"


def _change(visit: VisitFolder, doc: Mapping[str, Any]) -> Change | None:
    cb = doc.get("change_since_baseline")
    if not cb:
        return None
    baseline = next((v for v in visit.subject_visits() if v.document["visit"] == cb["baseline_visit"]), None)
    before = {(s["side"], s["segment"]): s["grade"] for s in (baseline.document["segments"] if baseline else [])}
    now = {(s["side"], s["segment"]): s["grade"] for s in doc["segments"]}
    by_side = {leg["side"]: leg for leg in cb["legs"]}
    score_before = {leg["side"]: str(leg["thrombus_score"]) for leg in (baseline.document["legs"] if baseline else [])}
    score_now = {leg["side"]: str(leg["thrombus_score"]) for leg in doc["legs"]}
    rows = []
    for side, key in sorted(set(before) | set(now), key=lambda k: _order(*k)):
        b, n = before.get((side, key)), now.get((side, key))
        status = _change_status(key, b, n, by_side.get(side, {}))
        if (side, key) not in before:
            status = "not imaged at baseline"
        elif (side, key) not in now:
            status = "not imaged at this visit"
        rows.append(ChangeRow(_side_name(side, key), key, DASH if b is None else str(b),
                              DASH if n is None else str(n), status))
    legs = tuple(
        ChangeLeg(SIDE_NAMES.get(leg["side"], leg["side"]), f"{int(leg['score_change']):+d}",
                  score_before.get(leg["side"], DASH), score_now.get(leg["side"], DASH),
                  tuple(leg["recanalised"]), tuple(leg["new_or_extended"]), tuple(leg["worse"]))
        for leg in sorted(cb["legs"], key=lambda leg: _SIDE_ORDER.get(leg["side"], 9))
    )
    return Change(cb["baseline_visit"], legs, tuple(rows))


def _trajectory(visit: VisitFolder) -> tuple[tuple[str, ...], str]:
    so_far = visit.visits_so_far()
    labels = tuple(str(v.document["visit"]) for v in so_far)
    scores: dict[str, list[int | None]] = {}
    for side in ("R", "L"):
        per_visit = []
        for v in so_far:
            leg = next((leg for leg in v.document["legs"] if leg["side"] == side), None)
            per_visit.append(None if leg is None else int(leg["thrombus_score"]))
        if any(s is not None for s in per_visit):
            scores[f"{SIDE_NAMES[side]} leg"] = per_visit
    return labels, png_data_uri(trajectory_plot_png(labels, scores))


def _compressibility_facts(clip: Mapping[str, Any]) -> list[tuple[str, str]]:
    c = clip["compressibility"]
    m = clip.get("measurements") or {}
    unit = "mm" if clip["calibrated"] else "px"
    facts = [("compressibility", c["label"]), ("classifier", f"{c['classifier']} (p = {c['confidence']:.2f})"),
             ("measured", f"{c['measured']} (diameter ratio {fmt_number(m.get('diameter_ratio'), 2)})"),
             ("agreement", "agree" if c["agree"] else "disagree: flagged for a reader")]
    if c.get("indeterminate_reason"):
        facts.append(("indeterminate because", str(c["indeterminate_reason"])))
    facts += [
        ("AP diameter", f"{fmt_number(m.get('uncompressed_diameter_mm'))} → "
                        f"{fmt_number(m.get('residual_diameter_mm'), unit=unit)}"),
        ("vein area", f"{fmt_number(m.get('baseline_area_mm2'))} → "
                      f"{fmt_number(m.get('min_area_mm2'), unit=unit + '²')} "
                      f"(ratio {fmt_number(m.get('area_ratio'), 2)})"),
        ("thrombus / vein area", fmt_fraction(m.get("thrombus_area_fraction"))),
        ("compression adequate", _yes_no(m.get("compression_adequate"))),
    ]
    return facts


def _clip_view(visit: VisitFolder, clip: Mapping[str, Any], number: int) -> ClipView:
    uid = clip["sop_instance_uid"]
    key = visit.key_frames(uid)
    figures: list[KeyFrameFigure] = []
    note = None
    if key is None:
        note = "key frames were not stored with the analysis"
    else:
        masks = visit.masks(uid) if clip.get("mask") else None
        if masks is None:
            note = "no mask stored: key frames shown without overlay"
        for name in key.names:
            figures.append(key_frame_figure(key, masks if masks is not None else _empty_masks(key), name))
    spacing = clip.get("spacing_mm")
    spacing_text = f"{spacing[1]:.3f} × {spacing[0]:.3f} mm/pixel" if spacing else "uncalibrated (pixels only)"
    area_plot = None
    curves = clip.get("curves") or {}
    times = clip.get("frame_times_s") or []
    if len(curves.get("area_mm2") or []) > 1 and len(times) > 1:
        area_plot = png_data_uri(area_plot_png(times, curves["area_mm2"], clip.get("key_frames") or {},
                                               calibrated=bool(clip["calibrated"])))
    facts: list[tuple[str, str]] = []
    flagged = False
    if "compressibility" in clip:
        facts = _compressibility_facts(clip)
        flagged = bool(clip["compressibility"]["flagged"])
    if "flow" in clip:
        flow = clip["flow"]
        facts += [("vein found", _yes_no(flow.get("vein_found"))),
                  ("flow fill fraction", fmt_fraction(flow.get("flow_fill_fraction"))),
                  ("vein area", fmt_number(flow.get("vein_area_mm2"), unit="mm²" if clip["calibrated"] else "px²"))]
    if clip.get("segmentation_confidence") is not None:
        facts.append(("segmentation confidence", fmt_number(clip["segmentation_confidence"], 2)))
    return ClipView(
        number=number, side=SIDE_NAMES.get(clip["side"], clip["side"]), segment=clip["segment"],
        kind=KIND_NAMES.get(clip["kind"], clip["kind"]), uid=uid, frames=int(clip["frames"]), spacing=spacing_text,
        problems=tuple(clip["problems"]), figures=tuple(figures), area_plot=area_plot, facts=tuple(facts),
        flagged=flagged, note=note,
    )


def _empty_masks(key: KeyFrames) -> NDArray[np.uint8]:
    """All-background labels large enough for every key frame's box (a clip stored without masks)."""
    rows = max(b.row1 for b in key.boxes)
    cols = max(b.col1 for b in key.boxes)
    return np.zeros((max(key.frames) + 1, rows, cols), np.uint8)


def build_context(visit: VisitFolder) -> ReportContext:
    """Everything the report template needs for one visit folder (reads report.json, key frames, masks)."""
    doc = visit.document
    numbers = {c["sop_instance_uid"]: i for i, c in enumerate(doc["clips"], start=1)}
    sides = sorted({c["side"] for c in doc["clips"] if c["analysed"]}, key=lambda s: _SIDE_ORDER.get(s, 9))
    labels, trajectory = _trajectory(visit)
    analysed = tuple(_clip_view(visit, c, numbers[c["sop_instance_uid"]]) for c in doc["clips"] if c["analysed"])
    skipped = tuple((numbers[c["sop_instance_uid"]], SIDE_NAMES.get(c["side"], c["side"]), c["segment"],
                     KIND_NAMES.get(c["kind"], c["kind"]), c["reason"] or "not stated")
                    for c in doc["clips"] if not c["analysed"])
    models = tuple(ModelRow(m["name"], m["version"], m["sha256"]) for m in doc["provenance"]["models"])
    return ReportContext(
        doc=doc, study_dates=tuple(fmt_date(d) for d in doc.get("study_dates", [])),
        sides_imaged=", ".join(SIDE_NAMES.get(s, s) for s in sides) or "none",
        leg_diagram=leg_diagram_svg(doc["segments"]), segment_rows=_segment_rows(doc, numbers), legs=_legs(doc),
        change=_change(visit, doc), trajectory_plot=trajectory, trajectory_visits=labels, clips=analysed,
        not_analysed=skipped, models=models,
    )
