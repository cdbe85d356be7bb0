"""The clip viewer's page context (players, area plots, Doppler frames, leg diagram) and the templates.

One player per shown clip, with its area plot and colour Doppler frame, beside the leg diagram of the human
report; and the Jinja2 environment of the workspace's templates.

The review page includes ``clip_viewer.html.j2`` with a :class:`ViewerContext` as ``viewer`` (and loads
``static/keys.js``, ``static/clip_viewer.js`` and ``static/workspace.css``, which the partial does not);
``viewer_page.html.j2`` is the standalone page around it. Every URL in the context starts with the app's
mount path, so the pages link only to the workspace itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from dvt_us.anatomy import SEGMENTS, Segment
from dvt_us.report.human.leg_diagram import leg_diagram_svg
from dvt_us.report.labels import LABEL_NAMES, LABEL_RGB
from dvt_us.service.workspace.area_plot import AreaPlot, area_plot_svg
from dvt_us.service.workspace.errors import NotFoundError, NotShowableError
from dvt_us.service.workspace.visits import ClipOut, WorkspaceData

TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"
CLIP_VIEWER_TEMPLATE = "clip_viewer.html.j2"
"""The partial: expects ``viewer`` (a :class:`ViewerContext`)."""
VIEWER_PAGE_TEMPLATE = "viewer_page.html.j2"
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Space", "play / pause"), ("← / →", "previous / next frame"), ("O", "mask overlay on / off"),
    ("[ / ]", "previous / next clip"), ("?", "show / hide this list"),
)
"""The viewer's keyboard shortcuts (key, what it does), as the page lists them."""
_SIDES = {"R": "Right", "L": "Left"}
LEGEND: tuple[tuple[str, str], ...] = tuple(
    (name, "#{:02X}{:02X}{:02X}".format(*LABEL_RGB[label])) for label, name in LABEL_NAMES.items())
"""(label name, CSS colour) of the mask overlay, as the human report and the SEG colour them."""


@dataclass(frozen=True)
class ViewerClip:
    """One player of the viewer."""

    index: int
    info: ClipOut
    title: str
    plot: AreaPlot | None
    doppler_url: str | None
    """The clip's own colour Doppler frame, else that of a colour Doppler clip of the same side and segment."""
    compressibility: str | None


@dataclass(frozen=True)
class ViewerContext:
    """What ``clip_viewer.html.j2`` renders."""

    report_id: int
    subject: str
    visit: str
    static_url: str
    leg_diagram: Markup
    clips: list[ViewerClip]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(SOPInstanceUID, why) of the report's clips that cannot be shown."""
    shortcuts: tuple[tuple[str, str], ...] = SHORTCUTS
    legend: tuple[tuple[str, str], ...] = LEGEND

    def script_data(self) -> dict[str, Any]:
        """What ``clip_viewer.js`` reads (the page embeds it as JSON)."""
        return {"clips": [{**c.info.model_dump(include={"sop_instance_uid", "frames", "frame_times_s", "rows",
                                                         "cols", "frame_url", "overlay_url", "key_frames"}),
                           "frame_x": list(c.plot.frame_x) if c.plot else None,
                           "side": c.info.side, "segment": c.info.segment} for c in self.clips]}


def _title(info: ClipOut) -> str:
    try:
        name = SEGMENTS[Segment.parse(info.segment)].name
    except (KeyError, ValueError):
        name = info.segment
    side = _SIDES.get(info.side, "")
    return f"{side} {name} ({info.segment}), {info.kind.replace('-', ' ')}".strip()


def viewer_context(data: WorkspaceData, report_id: int, base_url: str) -> ViewerContext:
    """The viewer of report ``report_id``'s analysed clips, in report order; ``base_url`` is the app's mount path."""
    visit = data.visit(report_id)
    doc = visit.document
    infos: list[tuple[ClipOut, dict[str, Any]]] = []
    skipped: list[tuple[str, str]] = []
    for entry in visit.clips:
        sop = str(entry["sop_instance_uid"])
        if not entry["analysed"]:
            skipped.append((sop, str(entry.get("reason") or "not analysed")))
            continue
        try:
            infos.append((data.clip_info(report_id, sop, base_url), entry))
        except (NotFoundError, NotShowableError) as exc:
            skipped.append((sop, str(exc)))
    doppler = {(i.side, i.segment): i.doppler_url for i, _ in infos if i.doppler_url}
    clips: list[ViewerClip] = []
    for info, entry in infos:
        plot = None
        if info.area_mm2 is not None:
            plot = area_plot_svg(info.frame_times_s, info.area_mm2, info.key_frames, calibrated=info.calibrated)
        compressibility = (entry.get("compressibility") or {}).get("label")
        clips.append(ViewerClip(len(clips), info, _title(info), plot,
                                info.doppler_url or doppler.get((info.side, info.segment)), compressibility))
    return ViewerContext(report_id, str(doc["subject"]), str(doc["visit"]), f"{base_url}/static",
                         leg_diagram_svg(doc["segments"]), clips, skipped)


def environment() -> jinja2.Environment:
    """The Jinja2 environment of the workspace templates (autoescaped, undefined names are errors)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2", "html.j2"), default=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    )
