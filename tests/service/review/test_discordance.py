"""Discordance rules and the study states they lead to (pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.review.discordance import (
    CLIP_ASSIGNMENT,
    SEGMENT_PRESENCE,
    DiscordanceRules,
    agreeing_fields,
    discordances,
    study_standing,
)
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.fields import FIELDS
from dvt_us.service.review.read_content import prefill

ALL = frozenset(FIELDS)


def test_residual_diameters_agree_within_the_tolerance(visit_dirs: list[Path]) -> None:
    base = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = base.segments[0].key
    a = base.with_value(key, "residual_diameter_mm", 4.0, "re-measured")
    rules = DiscordanceRules(ALL, residual_diameter_tolerance_mm=1.0)
    assert discordances(a, base.with_value(key, "residual_diameter_mm", 5.0, "re-measured"), rules) == ()
    far = discordances(a, base.with_value(key, "residual_diameter_mm", 5.5, "re-measured"), rules)
    assert [(d.key, d.field, d.read_1, d.read_2) for d in far] == [(key, "residual_diameter_mm", 4.0, 5.5)]
    assert discordances(a, base.with_value(key, "residual_diameter_mm", None, "not measurable"), rules) != ()
    loose = DiscordanceRules(ALL - {"residual_diameter_mm"}, residual_diameter_tolerance_mm=0.0)
    assert discordances(a, base.with_value(key, "residual_diameter_mm", 9.0, "re-measured"), loose) == ()


def test_categories_must_match_exactly(visit_dirs: list[Path]) -> None:
    base = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = base.segments[0].key
    model = base.segment(key).fields["grade"].model
    other = 3 if model != 3 else 2
    found = discordances(base, base.with_value(key, "grade", other, "thrombus"), DiscordanceRules(ALL, 1.0))
    assert [(d.field, d.read_1, d.read_2) for d in found] == [("grade", model, other)]


def test_clip_assignments_must_match(unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    base = prefill(VisitFolder.open(folder).document)
    a, b = (base.with_assignment(uid, "L", seg, "seen") for seg in ("CFV", "POP"))
    assert [(d.key, d.field) for d in discordances(a, b, DiscordanceRules(ALL, 1.0))] == [(uid, CLIP_ASSIGNMENT)]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown finding field 'colour'"):
        DiscordanceRules(frozenset({"colour"}), 1.0)


def test_the_state_follows_the_signed_reads(visit_dirs: list[Path]) -> None:
    base = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = base.segments[0].key
    other = base.with_value(key, "thrombus", "occlusive" if base.segment(key).fields["thrombus"].model != "occlusive"
                            else "none", "seen")
    double, single = DiscordanceRules(ALL, 1.0), DiscordanceRules(ALL, 1.0, double_read=False)
    r1, r2, adj = ReadSlot.READ_1, ReadSlot.READ_2, ReadSlot.ADJUDICATION
    cases = [
        ({}, False, double, ReviewState.AWAITING_READ_1, None),
        ({r2: base}, False, double, ReviewState.AWAITING_READ_2, None),
        ({r1: base}, False, single, ReviewState.FINAL, r1),
        ({r1: base, r2: base}, False, double, ReviewState.FINAL, r1),
        ({r1: base, r2: other}, False, double, ReviewState.DISCORDANT, None),
        ({r1: base, r2: other}, True, double, ReviewState.IN_ADJUDICATION, None),
        ({r1: base, r2: other, adj: other}, True, double, ReviewState.FINAL, adj),
    ]
    for signed, started, rules, state, final in cases:
        standing = study_standing(signed, started, rules)
        assert (standing.state, standing.final_slot) == (state, final), (signed.keys(), started)


def test_a_segment_only_one_read_has_is_discordant_and_says_why(unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    base = prefill(VisitFolder.open(folder).document)
    assigned = base.with_assignment(uid, "L", "PTV", "posterior tibial")
    none_must_agree = DiscordanceRules(frozenset(), 1.0)
    found = discordances(assigned, base, none_must_agree)
    assert [(d.key, d.field, d.read_1, d.read_2) for d in found] == [
        ("L:PTV", SEGMENT_PRESENCE, "present", "absent"), (uid, CLIP_ASSIGNMENT, "L:PTV", "R:unassigned")]
    assert found[0].why == (f"only read 1 has segment L:PTV: it assigned clip {uid} there, and the model reported "
                            "no finding for it")
    reverse = discordances(base, assigned, none_must_agree)
    assert [(d.key, d.read_1, d.read_2) for d in reverse if d.field == SEGMENT_PRESENCE] == [
        ("L:PTV", "absent", "present")] and reverse[0].why is not None and "only read 2" in reverse[0].why
    assert all(key != "L:PTV" for key, _ in agreeing_fields(assigned, base, none_must_agree))
    assert study_standing({ReadSlot.READ_1: assigned, ReadSlot.READ_2: base}, False,
                          none_must_agree).state is ReviewState.DISCORDANT


def test_a_segment_both_reads_derived_alike_is_compared_field_by_field(unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    base = prefill(VisitFolder.open(folder).document)
    one, two = (base.with_assignment(uid, "L", "PTV", why) for why in ("posterior tibial", "PTV pair"))
    assert discordances(one, two, DiscordanceRules(ALL, 1.0)) == ()
    grade = one.segment("L:PTV").fields["grade"].model
    other = 3 if grade != 3 else 0
    found = discordances(one, two.with_value("L:PTV", "grade", other, "occluded"), DiscordanceRules(ALL, 1.0))
    assert [(d.key, d.field, d.read_1, d.read_2, d.why) for d in found] == [("L:PTV", "grade", grade, other, None)]
