"""The leg diagram of the human report: both legs' deep veins as schematic segments coloured by grade (inline SVG).

Anterior view, the convention of venous diagrams: the patient's right leg is drawn on the viewer's left.
Each segment of the vocabulary (:mod:`dvt_us.anatomy`, IVC unpaired) is a thick stroke between two points;
its colour is the segment grade of report.json (0–3), lavender when the segment was imaged but its grade is
indeterminate, and grey with hatching when it was not imaged at this visit. A flagged segment (for a reader)
carries a "!" marker. Every segment element is a ``<g class="segment">`` with ``data-side``,
``data-segment``, ``data-grade`` (``0``–``3``, ``indeterminate`` or ``not-imaged``) and ``data-flagged``
attributes, so the document's grades can be checked in the HTML.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from markupsafe import Markup

from dvt_us.anatomy import SEGMENTS, Laterality, Segment

GRADE_COLOURS: dict[int, str] = {0: "#009E73", 1: "#F0E442", 2: "#E69F00", 3: "#D55E00"}
"""Fill colour per segment grade (Okabe–Ito: green, yellow, orange, vermillion)."""
GRADE_LABELS: dict[int, str] = {
    0: "0 no thrombus", 1: "1 non-occlusive", 2: "2 occlusive in part", 3: "3 occlusive throughout",
}
INDETERMINATE_COLOUR = "#A99BD0"
NOT_IMAGED_COLOUR = "#E4E4E4"
HATCH_COLOUR = "#9A9A9A"
NOT_IMAGED = "not-imaged"
INDETERMINATE = "indeterminate"

_WIDTH, _HEIGHT = 300, 500
_MID = _WIDTH / 2
_STROKE = 9
_FONT = 'font-family="DejaVu Sans, sans-serif"'
_FLAG_FONT = _FONT + ' font-size="8.5" font-weight="bold" fill="#000"'

# (u, y) of each segment's ends: u is the distance from the midline (lateral positive), y downwards.
# Where its key is written: "lat" / "med" (lateral / medial of its middle), "end" (below its end) or
# "medend" (medial of its end).
_GEOMETRY: dict[Segment, tuple[tuple[float, float], tuple[float, float], str]] = {
    Segment.CIV: ((0, 70), (40, 110), "lat"),
    Segment.EIV: ((40, 110), (62, 160), "lat"),
    Segment.CFV: ((62, 160), (68, 200), "lat"),
    Segment.SFJ: ((67, 188), (50, 201), "medend"),
    Segment.PFV: ((68, 200), (100, 262), "lat"),
    Segment.FV_P: ((68, 200), (70, 240), "med"),
    Segment.FV_M: ((70, 240), (72, 280), "med"),
    Segment.FV_D: ((72, 280), (74, 318), "med"),
    Segment.POP: ((74, 318), (74, 356), "med"),
    Segment.PTV: ((74, 356), (62, 420), "end"),
    Segment.PER: ((74, 356), (88, 420), "end"),
}
_IVC = ((0.0, 18.0), (0.0, 70.0))


@dataclass(frozen=True)
class SegmentState:
    """What the diagram shows of one segment on one side."""

    side: Laterality
    segment: Segment
    grade: int | None
    imaged: bool
    flagged: bool
    description: str

    @property
    def data_grade(self) -> str:
        """``0``–``3``, ``indeterminate`` or ``not-imaged`` (the ``data-grade`` attribute)."""
        if not self.imaged:
            return NOT_IMAGED
        return INDETERMINATE if self.grade is None else str(self.grade)

    @property
    def colour(self) -> str:
        """The stroke colour (CSS hex)."""
        if not self.imaged:
            return NOT_IMAGED_COLOUR
        return INDETERMINATE_COLOUR if self.grade is None else GRADE_COLOURS[self.grade]


def segment_states(segments: Iterable[Mapping[str, Any]]) -> dict[tuple[Laterality, Segment], SegmentState]:
    """The state of every drawable segment from report.json's ``segments`` entries.

    Segments not in the document are *not imaged*. The IVC (unpaired) is keyed by
    ``Laterality.UNASSIGNED`` whatever side its entry names; ``unassigned`` segments cannot be drawn and
    are left out (the segment table lists them).
    """
    states: dict[tuple[Laterality, Segment], SegmentState] = {}
    for side in (Laterality.RIGHT, Laterality.LEFT):
        for seg in _GEOMETRY:
            states[side, seg] = SegmentState(side, seg, None, False, False, "not imaged")
    states[Laterality.UNASSIGNED, Segment.IVC] = SegmentState(
        Laterality.UNASSIGNED, Segment.IVC, None, False, False, "not imaged")
    for entry in segments:
        seg = Segment.parse(str(entry["segment"]))
        side = Laterality(entry["side"])
        if seg is Segment.UNASSIGNED or (seg is not Segment.IVC and side is Laterality.UNASSIGNED):
            continue
        if seg is Segment.IVC:
            side = Laterality.UNASSIGNED
        grade = entry.get("grade")
        text = f"grade {grade}" if grade is not None else "grade indeterminate"
        text += f", thrombus {entry.get('thrombus', '?')}, {entry.get('compressibility', '?')}"
        if entry.get("flagged"):
            text += ", flagged for a reader"
        states[side, seg] = SegmentState(side, seg, grade, True, bool(entry.get("flagged")), text)
    return states


def _xy(side: Laterality, u: float, y: float) -> tuple[float, float]:
    return (_MID - u if side is Laterality.RIGHT else _MID + u), y


def _segment_svg(state: SegmentState, a: tuple[float, float], b: tuple[float, float], label_at: str) -> str:
    (x1, y1), (x2, y2) = a, b
    side_name = {Laterality.RIGHT: "right", Laterality.LEFT: "left"}.get(state.side, "")
    title = f"{side_name} {SEGMENTS[state.segment].name}: {state.description}".strip()
    attrs = (f'class="segment" data-side={quoteattr(state.side.value)} data-segment={quoteattr(state.segment.value)}'
             f' data-grade={quoteattr(state.data_grade)} data-flagged="{str(state.flagged).lower()}"')
    line = f'x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"'
    parts = [f"<g {attrs}>", f"<title>{escape(title)}</title>",
             f'<line {line} stroke="#444" stroke-width="{_STROKE + 2}" stroke-linecap="round"/>',
             f'<line {line} stroke="{state.colour}" stroke-width="{_STROKE}" stroke-linecap="round"/>']
    if not state.imaged:
        parts.append(f'<line {line} stroke="{HATCH_COLOUR}" stroke-width="{_STROKE}" stroke-dasharray="1.6 2.4"/>')
    mx, my = (x1 + x2) / 2, (y1 + y2) / 2
    outward = -1 if (state.side is Laterality.RIGHT) == (label_at == "lat") else 1
    if label_at == "end":
        tx, ty, anchor = x2, y2 + 14, "middle"
    elif label_at == "medend":
        medial = 1 if state.side is Laterality.RIGHT else -1
        tx, ty, anchor = x2 + medial * 6, y2 + 6, "start" if medial > 0 else "end"
    elif state.segment is Segment.IVC:
        tx, ty, anchor = mx + 9, my + 3, "start"
    else:
        tx, ty, anchor = mx + outward * 9, my + 3, "start" if outward > 0 else "end"
    parts.append(f'<text x="{tx:.1f}" y="{ty:.1f}" text-anchor="{anchor}" {_FONT} font-size="9" fill="#222">'
                 f"{escape(state.segment.value)}</text>")
    if state.flagged:
        parts.append(f'<circle cx="{mx:.1f}" cy="{my:.1f}" r="5.5" fill="#fff" stroke="#000" stroke-width="1.2"/>'
                     f'<text x="{mx:.1f}" y="{my + 3.2:.1f}" text-anchor="middle" {_FLAG_FONT}>!</text>')
    parts.append("</g>")
    return "".join(parts)


def _legend_svg(top: float) -> str:
    items: list[tuple[str, str, bool]] = [(GRADE_COLOURS[g], GRADE_LABELS[g], False) for g in range(4)]
    items += [(INDETERMINATE_COLOUR, "indeterminate", False), (NOT_IMAGED_COLOUR, "not imaged", True)]
    out = []
    for i, (colour, text, hatched) in enumerate(items):
        x, y = 14 + (i % 2) * 146, top + (i // 2) * 16
        out.append(f'<rect x="{x}" y="{y}" width="18" height="9" fill="{colour}" stroke="#444" stroke-width="0.8"/>')
        if hatched:
            out.append(f'<line x1="{x}" y1="{y + 4.5}" x2="{x + 18}" y2="{y + 4.5}" stroke="{HATCH_COLOUR}"'
                       ' stroke-width="9" stroke-dasharray="1.6 2.4"/>')
        out.append(f'<text x="{x + 24}" y="{y + 8}" {_FONT} font-size="9" fill="#222">{escape(text)}</text>')
    y = top + 3 * 16
    out.append(f'<circle cx="23" cy="{y + 4.5}" r="5.5" fill="#fff" stroke="#000" stroke-width="1.2"/>'
               f'<text x="23" y="{y + 7.7}" text-anchor="middle" {_FLAG_FONT}>!</text>'
               f'<text x="38" y="{y + 8}" {_FONT} font-size="9" fill="#222">flagged for a reader</text>')
    return "".join(out)


def leg_diagram_svg(segments: Sequence[Mapping[str, Any]]) -> Markup:
    """Inline SVG markup of both legs' deep veins coloured by the grades of report.json's ``segments``.

    Parameters
    ----------
    segments
        The ``segments`` entries of report.json (``side``, ``segment``, ``grade``, ``flagged`` …).

    Returns
    -------
    markupsafe.Markup
        An ``<svg>`` element (viewBox units, no external references), safe to insert unescaped.
    """
    states = segment_states(segments)
    body = [f'<text x="{_MID - 74}" y="12" text-anchor="middle" {_FONT} font-size="11" font-weight="bold">RIGHT</text>',
            f'<text x="{_MID + 74}" y="12" text-anchor="middle" {_FONT} font-size="11" font-weight="bold">LEFT</text>']
    ivc = states[Laterality.UNASSIGNED, Segment.IVC]
    body.append(_segment_svg(ivc, (_MID, _IVC[0][1]), (_MID, _IVC[1][1]), "med"))
    for side in (Laterality.RIGHT, Laterality.LEFT):
        for seg, (a, b, label_at) in _GEOMETRY.items():
            body.append(_segment_svg(states[side, seg], _xy(side, *a), _xy(side, *b), label_at))
    body.append(_legend_svg(442))
    return Markup(
        f'<svg class="leg-diagram" viewBox="0 0 {_WIDTH} {_HEIGHT}"'
        f' width="{_WIDTH}" height="{_HEIGHT}" role="img" aria-label="Leg diagram: deep veins coloured by'
        f' thrombus grade">{"".join(body)}</svg>'
    )
