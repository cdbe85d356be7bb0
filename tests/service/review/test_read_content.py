"""A read's content: prefilled from report.json, edited field by field, every override with its reason."""

from __future__ import annotations

import copy
import json
import typing
from pathlib import Path
from typing import Any

import pytest

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.config import ReviewField
from dvt_us.service.review.assigned_segments import READER_ASSIGNMENT
from dvt_us.service.review.errors import InvalidReadError, NotFoundError
from dvt_us.service.review.fields import FIELDS, check_value
from dvt_us.service.review.read_content import FieldValue, ReadContent, merged_prefill, prefill

OLD_SEGMENT_KEYS = {"side", "segment", "fields"}
OLD_CLIP_KEYS = {"sop_instance_uid", "model_side", "model_segment", "side", "segment", "reason"}
"""The keys of stored content before segments from a reader's assignment existed."""


def _placed(doc: dict[str, Any], uid: str) -> tuple[str, str]:
    clip = next(c for c in doc["clips"] if c["sop_instance_uid"] == uid)
    return str(clip["side"]), str(clip["segment"])


def _unplace(doc: dict[str, Any], *uids: str) -> dict[str, Any]:
    """A copy of report.json in which the model could not name these clips' segments (and so reported none)."""
    out = copy.deepcopy(doc)
    for clip in out["clips"]:
        if clip["sop_instance_uid"] in uids:
            clip["segment"] = "unassigned"
    out["segments"] = [s for s in out["segments"] if not set(uids) & set(s["clips"])]
    return out


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


def test_a_clip_assigned_to_a_segment_the_model_did_not_report_brings_the_pipelines_finding(
        unassigned_visit: tuple[Path, str], visit_dirs: list[Path]) -> None:
    folder, uid = unassigned_visit
    model = VisitFolder.open(visit_dirs[0]).document  # before the fixture took the clip's segment away
    side, segment = _placed(model, uid)
    key = f"{side}:{segment}"
    content = prefill(VisitFolder.open(folder).document)
    assert key not in {s.key for s in content.segments}
    assigned = content.with_assignment(uid, side, segment, "the CFA bifurcation is beside it")
    derived = assigned.segment(key)
    reported = next(s for s in model["segments"] if f"{s['side']}:{s['segment']}" == key)
    assert {n: v.model for n, v in derived.fields.items()} == {n: reported[n] for n in FIELDS}
    assert all(not v.overridden for v in derived.fields.values()) and derived.assigned_clips == (uid,)
    assert [s.key for s in assigned.segments] == [f"{s['side']}:{s['segment']}" for s in model["segments"]]
    stored = assigned.to_json()
    entry = next(s for s in stored["segments"] if f"{s['side']}:{s['segment']}" == key)
    assert (entry["origin"], entry["assigned_clips"]) == (READER_ASSIGNMENT, [uid])
    assert ReadContent.from_json(json.loads(json.dumps(stored))) == assigned
    back = assigned.with_assignment(uid, "unassigned", "unassigned", None)
    assert back == content and back.sha256() == content.sha256()
    elsewhere = assigned.with_assignment(uid, "L" if side == "R" else "R", segment, "other leg after all")
    assert key not in {s.key for s in elsewhere.segments}, "the segment left with its only clip"
    other = elsewhere.clip(uid).assigned_key
    assert other is not None and elsewhere.segment(other).assigned_clips == ()  # the model's segment, unchanged
    assert elsewhere.segments == content.segments


def test_reader_edits_on_a_derived_segment_leave_with_it_and_the_result_is_deterministic(
        unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    content = prefill(VisitFolder.open(folder).document)

    def steps() -> tuple[ReadContent, ReadContent]:
        edited = content.with_assignment(uid, "L", "PTV", "posterior tibial pair beside the artery")
        model = edited.segment("L:PTV").fields["grade"].model
        edited = edited.with_value("L:PTV", "grade", 3 if model != 3 else 0, "no flow, vein distended")
        return edited, edited.with_assignment(uid, "unassigned", "unassigned", "")

    edited, removed = steps()
    assert edited.segment("L:PTV").fields["grade"].overridden
    assert "L:PTV" not in {s.key for s in removed.segments} and removed == content
    again = removed.with_assignment(uid, "L", "PTV", "posterior tibial pair beside the artery")
    assert not again.segment("L:PTV").reader_changed, "the earlier edit went with the segment"
    assert steps()[0].sha256() == edited.sha256()


def test_two_clips_make_one_segment_and_the_readers_override_stays_when_one_leaves(visit_dirs: list[Path]) -> None:
    doc = VisitFolder.open(visit_dirs[0]).document
    partial = next(c for c in doc["clips"] if c.get("compressibility", {}).get("label") == "partial")
    occlusive = next(c for c in doc["clips"] if c.get("measurements", {}).get("occlusive")
                     and c["compressibility"]["label"] == "noncompressible")
    a, b = str(partial["sop_instance_uid"]), str(occlusive["sop_instance_uid"])
    content = prefill(_unplace(doc, a, b))
    both = content.with_assignment(a, "L", "PER", "peroneal").with_assignment(b, "L", "PER", "peroneal")
    per = both.segment("L:PER")
    assert per.assigned_clips == tuple(c.sop_instance_uid for c in content.clips if c.sop_instance_uid in (a, b))
    # non-occlusive in one clip, occlusive in the other: occlusive in part (Porter/Moneta grade 2)
    assert (per.fields["grade"].model, per.fields["patency"].model) == (2, "partially patent")
    overridden = both.with_value("L:PER", "grade", 1, "the occlusive loop is the soleal vein")
    one = overridden.with_assignment(b, "unassigned", "unassigned", None).segment("L:PER")
    assert one.assigned_clips == (a,) and one.fields["thrombus"].model == "non-occlusive"
    assert one.fields["grade"].model == 1 and not one.fields["grade"].overridden, "now the model's value: no reason"
    assert one.fields["patency"].reader == "patent", "an unedited field follows the new model value"
    kept = both.with_value("L:PER", "rvt", None, "cannot tell").with_assignment(b, "unassigned", "unassigned", None)
    rvt = kept.segment("L:PER").fields["rvt"]
    assert rvt == FieldValue(one.fields["rvt"].model, None, "cannot tell") and rvt.model is not None


def test_content_stored_before_derived_segments_parses_and_hashes_the_same(
        unassigned_visit: tuple[Path, str], visit_dirs: list[Path]) -> None:
    plain_read = prefill(VisitFolder.open(visit_dirs[0]).document).to_json()
    assert all(set(s) == OLD_SEGMENT_KEYS for s in plain_read["segments"]) and plain_read["clips"] == []
    folder, uid = unassigned_visit
    old = prefill(VisitFolder.open(folder).document).with_assignment(uid, "L", "CFV", "groin crease").to_json()
    for clip in old["clips"]:
        del clip["evidence"]
    assert all(set(c) == OLD_CLIP_KEYS for c in old["clips"])
    parsed = ReadContent.from_json(old)
    stored_bytes = json.dumps(old, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    assert parsed.canonical_json() == stored_bytes
    # the old read has no findings of the clip: a new segment from it is indeterminate, not guessed
    fresh = parsed.with_assignment(uid, "L", "PTV", "posterior tibial after all").segment("L:PTV")
    assert {n: v.model for n, v in fresh.fields.items()} == {
        "compressibility": "indeterminate", "thrombus": "indeterminate", "patency": "indeterminate", "grade": None,
        "rvt": None, "residual_diameter_mm": None}


def test_stored_content_that_does_not_follow_its_clips_is_refused(unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    content = prefill(VisitFolder.open(folder).document).with_assignment(uid, "L", "PTV", "posterior tibial")
    stored = content.to_json()
    stale = copy.deepcopy(stored)
    stale["clips"][0].update(side=stale["clips"][0]["model_side"], segment="unassigned", reason=None)
    with pytest.raises(InvalidReadError, match=r"segment L:PTV: from clips .* but the clips assigned to it are \[\]"):
        ReadContent.from_json(stale)
    odd = copy.deepcopy(stored)
    next(s for s in odd["segments"] if "origin" in s)["origin"] = "model"
    with pytest.raises(InvalidReadError, match="origin 'model'"):
        ReadContent.from_json(odd)
    broken = copy.deepcopy(stored)
    del broken["clips"][0]["evidence"]["measurements"]["occlusive"]
    with pytest.raises(InvalidReadError, match=r"its report\.json findings cannot be read"):
        ReadContent.from_json(broken)


def test_adjudication_keeps_a_derived_segment_only_where_both_reads_placed_its_clip_alike(
        unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    base = prefill(VisitFolder.open(folder).document)
    first = base.with_assignment(uid, "L", "PTV", "posterior tibial")
    grade = first.segment("L:PTV").fields["grade"].model
    first = first.with_value("L:PTV", "grade", 3 if grade != 3 else 0, "occluded")
    second = base.with_assignment(uid, "L", "PTV", "PTV, beside the artery").with_value(
        "L:PTV", "grade", 3 if grade != 3 else 0, "no flow")
    agree = [(s.key, n) for s in first.segments for n in s.fields]
    merged = merged_prefill(first, second, agree)
    assert merged.clip(uid).reason == "posterior tibial", "placed alike: read 1's placement and reason"
    assert merged.segment("L:PTV").fields["grade"] == first.segment("L:PTV").fields["grade"]
    lone = merged_prefill(first, base, [(s.key, n) for s in base.segments for n in s.fields])
    assert "L:PTV" not in {s.key for s in lone.segments} and not lone.clip(uid).reader_changed
    assert merged_prefill(base, second, agree) == lone, "the same when only read 2 has it"
