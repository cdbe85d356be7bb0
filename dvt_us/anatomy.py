"""The venous segment vocabulary of DESIGN.md section 3, laterality, and how both are read from text.

Segment keys (``CFV``, ``FV-P`` …) are the words readers and technologists use; the codes behind them
live in :mod:`dvt_us.codes`. Text parsing is the fallback for instances without coded anatomy: it reads
tokens such as ``"RT CFV COMP"`` or ``"Left femoral vein mid"`` and never guesses — a text naming no
segment, or two different ones, leaves the segment unassigned for a reader.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from pydicom.sr.coding import Code

from dvt_us import codes


class Laterality(enum.Enum):
    """Side of the body. ``UNASSIGNED`` when neither DICOM nor text says."""

    RIGHT = "R"
    LEFT = "L"
    UNASSIGNED = "unassigned"


LATERALITY_CODES: dict[Laterality, Code] = {Laterality.RIGHT: codes.RIGHT, Laterality.LEFT: codes.LEFT}
"""The laterality codes (CID 244) of the two sides."""


class Segment(enum.Enum):
    """Venous segment keys, proximal to distal (DESIGN.md section 3)."""

    IVC = "IVC"
    CIV = "CIV"
    EIV = "EIV"
    CFV = "CFV"
    SFJ = "SFJ"
    PFV = "PFV"
    FV_P = "FV-P"
    FV_M = "FV-M"
    FV_D = "FV-D"
    POP = "POP"
    PTV = "PTV"
    PER = "PER"
    UNASSIGNED = "unassigned"

    @classmethod
    def parse(cls, value: str) -> Segment:
        """Convert a segment key such as ``"FV-P"`` to a member; raise with the valid keys otherwise."""
        try:
            return cls(value.strip().upper() if value.strip().lower() != "unassigned" else "unassigned")
        except ValueError:
            valid = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown segment {value!r}; valid segments: {valid}") from None


@dataclass(frozen=True)
class SegmentInfo:
    """What the vocabulary says about one segment."""

    name: str
    code: Code
    modifier: Code | None
    paired: bool
    """False for the IVC, which has no side."""


SEGMENTS: dict[Segment, SegmentInfo] = {
    Segment.IVC: SegmentInfo("inferior vena cava", codes.INFERIOR_VENA_CAVA, None, paired=False),
    Segment.CIV: SegmentInfo("common iliac vein", codes.COMMON_ILIAC_VEIN, None, paired=True),
    Segment.EIV: SegmentInfo("external iliac vein", codes.EXTERNAL_ILIAC_VEIN, None, paired=True),
    Segment.CFV: SegmentInfo("common femoral vein", codes.COMMON_FEMORAL_VEIN, None, paired=True),
    Segment.SFJ: SegmentInfo("saphenofemoral junction", codes.SAPHENOFEMORAL_JUNCTION, None, paired=True),
    Segment.PFV: SegmentInfo(
        "profunda femoris (deep femoral) vein", codes.PROFUNDA_FEMORIS_VEIN, codes.PROXIMAL, paired=True
    ),
    Segment.FV_P: SegmentInfo("femoral vein, proximal", codes.FEMORAL_VEIN, codes.PROXIMAL, paired=True),
    Segment.FV_M: SegmentInfo("femoral vein, mid", codes.FEMORAL_VEIN, codes.MIDDLE, paired=True),
    Segment.FV_D: SegmentInfo("femoral vein, distal", codes.FEMORAL_VEIN, codes.DISTAL, paired=True),
    Segment.POP: SegmentInfo("popliteal vein", codes.POPLITEAL_VEIN, None, paired=True),
    Segment.PTV: SegmentInfo("posterior tibial veins", codes.POSTERIOR_TIBIAL_VEIN, None, paired=True),
    Segment.PER: SegmentInfo("peroneal veins", codes.PERONEAL_VEIN, None, paired=True),
}

# ---------------------------------------------------------------------------------------------------
# Coded anatomy
# ---------------------------------------------------------------------------------------------------

_FEMORAL_BY_MODIFIER = {
    codes.PROXIMAL.value: Segment.FV_P,
    codes.MIDDLE.value: Segment.FV_M,
    codes.DISTAL.value: Segment.FV_D,
}


def segment_from_code(scheme: str, value: str, modifier_values: frozenset[str]) -> Segment | None:
    """Map an anatomic region code (+ CID 12116 modifier code values) to a segment.

    Returns ``None`` for a code outside the vocabulary, and ``Segment.UNASSIGNED`` for the femoral
    vein without a proximal/middle/distal modifier (the level cannot be told).
    """
    code = codes.INPUT_SYNONYMS.get((scheme, value))
    if code is not None:
        scheme, value = code.scheme_designator, code.value
    if (scheme, value) == (codes.FEMORAL_VEIN.scheme_designator, codes.FEMORAL_VEIN.value):
        levels = {_FEMORAL_BY_MODIFIER[m] for m in modifier_values if m in _FEMORAL_BY_MODIFIER}
        return levels.pop() if len(levels) == 1 else Segment.UNASSIGNED
    for segment, info in SEGMENTS.items():
        if (info.code.scheme_designator, info.code.value) == (scheme, value):
            return segment
    return None


# ---------------------------------------------------------------------------------------------------
# Text fallback
# ---------------------------------------------------------------------------------------------------

_FILLER = {"V", "VEIN", "VEINS", "VN", "OF", "THE", "SEG", "SEGMENT"}
_FEMORAL = ("FV", "SFV", "FEM", "FEMORAL")
_LEVELS = {
    Segment.FV_P: ("PROX", "PROXIMAL", "P", "PRX"),
    Segment.FV_M: ("MID", "MIDDLE", "M"),
    Segment.FV_D: ("DIST", "DISTAL", "D", "DST"),
}

_PHRASES: list[tuple[tuple[str, ...], Segment]] = [
    (("IVC",), Segment.IVC),
    (("INFERIOR", "VENA", "CAVA"), Segment.IVC),
    (("VENA", "CAVA"), Segment.IVC),
    (("CIV",), Segment.CIV),
    (("COMMON", "ILIAC"), Segment.CIV),
    (("EIV",), Segment.EIV),
    (("EXTERNAL", "ILIAC"), Segment.EIV),
    (("EXT", "ILIAC"), Segment.EIV),
    (("CFV",), Segment.CFV),
    (("COMMON", "FEMORAL"), Segment.CFV),
    (("COM", "FEM"), Segment.CFV),
    (("SFJ",), Segment.SFJ),
    (("SAPHENOFEMORAL",), Segment.SFJ),
    (("SAPHENO", "FEMORAL"), Segment.SFJ),
    (("PFV",), Segment.PFV),
    (("DFV",), Segment.PFV),
    (("PROFUNDA",), Segment.PFV),
    (("DEEP", "FEMORAL"), Segment.PFV),
    (("POP",), Segment.POP),
    (("POPV",), Segment.POP),
    (("POPLITEAL",), Segment.POP),
    (("PTV",), Segment.PTV),
    (("POSTERIOR", "TIBIAL"), Segment.PTV),
    (("POST", "TIB"), Segment.PTV),
    (("PER",), Segment.PER),
    (("PERO",), Segment.PER),
    (("PERONEAL",), Segment.PER),
]
for _segment, _level_words in _LEVELS.items():
    for _fem in _FEMORAL:
        for _level in _level_words:
            _PHRASES.append(((_fem, _level), _segment))
            _PHRASES.append(((_level, _fem), _segment))
# A femoral-vein word alone names the vein but not its level.
_PHRASES += [((_fem,), Segment.UNASSIGNED) for _fem in _FEMORAL]
_PHRASES.sort(key=lambda item: -len(item[0]))

_SIDES = {"R": Laterality.RIGHT, "RT": Laterality.RIGHT, "RIGHT": Laterality.RIGHT,
          "L": Laterality.LEFT, "LT": Laterality.LEFT, "LEFT": Laterality.LEFT}
_VEIN_WORDS = {"V", "VEIN", "VEINS", "VN"}
_NEEDS_CONTEXT = {"PER", "R", "L"}
"""Tokens that are also ordinary words or letters ("2 images per segment"): they count only next to a
side, a vein word or another segment phrase, or in a short label such as ``"LT PER"``."""
_SHORT_LABEL_TOKENS = 2


def tokens(text: str) -> list[str]:
    """Split free text into upper-case alphanumeric tokens, dropping filler words such as ``VEIN``."""
    return [t for t in _raw_tokens(text) if t not in _FILLER]


def _raw_tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[^A-Z0-9]+", text.upper()) if t]


def _phrases(words: list[str]) -> list[tuple[int, int, Segment]]:
    """(start, stop, segment) of the segment phrases in ``words``, longest match first, left to right."""
    spans = []
    i = 0
    while i < len(words):
        for phrase, segment in _PHRASES:
            if tuple(words[i : i + len(phrase)]) == phrase:
                spans.append((i, i + len(phrase), segment))
                i += len(phrase)
                break
        else:
            i += 1
    return spans


def _in_context(words: list[str], start: int, stop: int, anchors: set[int], raw_count: int) -> bool:
    """Whether an ambiguous token at ``words[start:stop]`` stands next to an anchor or in a short label."""
    return raw_count <= _SHORT_LABEL_TOKENS or bool({start - 1, stop} & anchors)


def segments_in_text(text: str) -> set[Segment]:
    """All segment phrases found in ``text``; ``UNASSIGNED`` marks a bare ``FV`` (level unknown)."""
    raw = _raw_tokens(text)
    words = [t for t in raw if t not in _FILLER or t in _VEIN_WORDS]
    spans = _phrases([t for t in words if t not in _VEIN_WORDS])
    # Map spans back to positions in `words` (vein words kept as anchors).
    positions = [i for i, t in enumerate(words) if t not in _VEIN_WORDS]
    anchors = {i for i, t in enumerate(words) if t in _VEIN_WORDS or (t in _SIDES and t not in _NEEDS_CONTEXT)}
    found: set[Segment] = set()
    for start, stop, segment in spans:
        first, last = positions[start], positions[stop - 1]
        ambiguous = words[first] in _NEEDS_CONTEXT and stop - start == 1
        if ambiguous and not _in_context(words, first, last + 1, anchors, len(raw)):
            continue
        found.add(segment)
    return found


def sides_in_text(text: str) -> set[Laterality]:
    """The sides named in ``text``: RT/LT/RIGHT/LEFT, and R/L next to a segment or vein word."""
    raw = _raw_tokens(text)
    words = [t for t in raw if t not in _FILLER or t in _VEIN_WORDS]
    plain = [t for t in words if t not in _VEIN_WORDS]
    positions = [i for i, t in enumerate(words) if t not in _VEIN_WORDS]
    anchors = {i for i, t in enumerate(words) if t in _VEIN_WORDS}
    for start, stop, _ in _phrases(plain):
        anchors |= set(range(positions[start], positions[stop - 1] + 1))
    found = set()
    for i, t in enumerate(words):
        if t in _SIDES and (t not in _NEEDS_CONTEXT or _in_context(words, i, i + 1, anchors, len(raw))):
            found.add(_SIDES[t])
    return found
