"""A read's content: prefilled from report.json, edited field by field, every override with its reason."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.config import ReviewField
from dvt_us.service.review.errors import InvalidReadError, NotFoundError
from dvt_us.service.review.fields import FIELDS, check_value
from dvt_us.service.review.read_content import ReadContent, merged_prefill, prefill


def test_config_names_exactly_the_editable_fields() -> None:
    assert set(typing.get_args(ReviewField)) == set(FIELDS)


def test_prefill_confirms_every_model_finding(visit_dirs: list[Path]) -> None:
    doc = VisitFolder.open(visit_dirs[0]).document
    content = prefill(doc)
    assert [s.key for s in content.segments] == [f"{s['side']}:{s['segment']}" for s in doc["segments"]]
    for entry, read in zip(doc["segments"], content.segments, strict=True):
        for name, value in read.fields.items():
            assert value.model == value.reader == entry[name]
            assert not value.overridden and value.reason is None
    assert content.clips == ()  # the phantom names every clip's segment and side
    assert ReadContent.from_json(content.to_json()) == content


def test_an_override_needs_a_reason_and_a_reset_drops_it(visit_dirs: list[Path]) -> None:
    content = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = content.segments[0].key
    model = content.segment(key).fields["thrombus"].model
    other = "occlusive" if model != "occlusive" else "none"
    with pytest.raises(InvalidReadError, match="needs a reason"):
        content.with_value(key, "thrombus", other, "  ")
    changed = content.with_value(key, "thrombus", other, "thrombus seen on the transverse sweep")
    value = changed.segment(key).fields["thrombus"]
    assert value.overridden and value.reader == other and changed.segment(key).reader_changed
    assert changed.sha256() != content.sha256()
    back = changed.with_value(key, "thrombus", model, "no longer needed")
    assert back.segment(key).fields["thrombus"].reason is None and back.sha256() == content.sha256()


def test_bad_values_are_refused_with_what_is_valid(visit_dirs: list[Path]) -> None:
    content = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = content.segments[0].key
    with pytest.raises(InvalidReadError, match=r"'clotted' is not one of: none, non-occlusive, occlusive"):
        content.with_value(key, "thrombus", "clotted", "why not")
    with pytest.raises(InvalidReadError, match="grade"):
        content.with_value(key, "grade", 4, "severe")
    with pytest.raises(InvalidReadError, match="diameter in mm"):
        content.with_value(key, "residual_diameter_mm", -1.0, "measured")
    with pytest.raises(ValueError, match="editable fields: compressibility"):
        check_value("colour", "red")
    with pytest.raises(NotFoundError, match="no segment 'L:IVC'"):
        content.with_value("L:IVC", "grade", 1, "x")


def test_clip_assignment_needs_a_reason(unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    content = prefill(VisitFolder.open(folder).document)
    assert [c.sop_instance_uid for c in content.clips] == [uid]
    with pytest.raises(InvalidReadError, match="needs a reason"):
        content.with_assignment(uid, "L", "POP", None)
    with pytest.raises(InvalidReadError, match="both a segment and a side"):
        content.with_assignment(uid, "unassigned", "POP", "seen")
    with pytest.raises(InvalidReadError, match="unknown segment 'KNEE'"):
        content.with_assignment(uid, "L", "KNEE", "seen")
    assigned = content.with_assignment(uid, "l", "pop", "popliteal fossa visible")
    clip = assigned.clip(uid)
    assert (clip.side.value, clip.segment.value, clip.reader_changed) == ("L", "POP", True)
    ivc = content.with_assignment(uid, "L", "IVC", "above the confluence").clip(uid)
    assert ivc.side.value == "R"  # the unpaired IVC is filed under R, as the pipeline files it


def test_adjudication_starts_from_what_both_reads_agree_on(visit_dirs: list[Path]) -> None:
    base = prefill(VisitFolder.open(visit_dirs[0]).document)
    key = base.segments[0].key
    first = base.with_value(key, "grade", 3, "occlusive throughout").with_value(key, "rvt", True, "residual")
    second = base.with_value(key, "grade", 3, "occlusive").with_value(key, "rvt", None, "cannot tell")
    agree = [(s.key, n) for s in base.segments for n in s.fields if (s.key, n) != (key, "rvt")]
    merged = merged_prefill(first, second, agree)
    assert merged.segment(key).fields["grade"] == first.segment(key).fields["grade"]
    assert merged.segment(key).fields["rvt"].reader == base.segment(key).fields["rvt"].model
