"""Text fallback for segment and side: real-looking labels, and words that must not count."""

from __future__ import annotations

import pytest

from dvt_us.anatomy import Laterality, Segment, segments_in_text, sides_in_text

L, R = Laterality.LEFT, Laterality.RIGHT


@pytest.mark.parametrize(
    ("text", "segments", "sides"),
    [
        ("RT CFV COMP", {Segment.CFV}, {R}),
        ("L CFV COMP", {Segment.CFV}, {L}),
        ("Left femoral vein mid", {Segment.FV_M}, {L}),
        ("LT SFV PROX", {Segment.FV_P}, {L}),
        ("FV MID R", {Segment.FV_M}, {R}),
        ("R POPV", {Segment.POP}, {R}),
        ("Rt peroneal v", {Segment.PER}, {R}),
        ("LT PER", {Segment.PER}, {L}),
        ("right deep femoral vein", {Segment.PFV}, {R}),
        ("L FV", {Segment.UNASSIGNED}, {L}),
        ("2 images per segment", set(), set()),
        ("CFV compression per protocol", {Segment.CFV}, set()),
        ("Run L 3", set(), set()),
        ("Lower extremity venous duplex", set(), set()),
    ],
)
def test_text_labels(text: str, segments: set[Segment], sides: set[Laterality]) -> None:
    assert segments_in_text(text) == segments
    assert sides_in_text(text) == sides


def test_segment_keys_parse_with_a_clear_error() -> None:
    assert Segment.parse("fv-p") is Segment.FV_P
    with pytest.raises(ValueError, match="valid segments: IVC"):
        Segment.parse("SFV")
