"""End to end: a clip the model could not place is assigned to a segment it did not report, read, signed, final.

The visit is the phantom's BASELINE with one compression clip made unassigned (and its segment finding
removed), as when neither DICOM nor the series text named the segment. Assigning the clip back to where the
phantom imaged it must give the finding the pipeline reported before, now as the reader's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from dvt_us.report.json_report import validate
from dvt_us.report.sr import read_sr
from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.review.adjudication import adjudication_view, start_adjudication
from dvt_us.service.review.assigned_segments import READER_ASSIGNMENT
from dvt_us.service.review.audit import audit_entries
from dvt_us.service.review.discordance import SEGMENT_PRESENCE
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.final_outputs import write_final_outputs
from dvt_us.service.review.final_report import final_document
from dvt_us.service.review.read_content import prefill
from dvt_us.service.review.reads import ClipEdit, FindingEdit, edit_read, start_read
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import get_study, register_visit_folder
from dvt_us.service.workspace.read_forms import (
    SEGMENT_CHOICES,
    SIDE_CHOICES,
    clip_discordances,
    clip_forms,
    compared_segments,
)
from dvt_us.service.workspace.viewer import environment
from tests.service.review.conftest import PASSWORD, Team, at, review_config

DERIVED_ONLY = ("confidence", "flagged", "clips", "measured_clip", "diameter_ratio", "flow_fill_fraction")
"""Segment keys of report.json a reader does not edit: the final report takes them from the derivation."""


def _placement(model: dict[str, Any], uid: str) -> tuple[str, str, dict[str, Any]]:
    """Where the phantom imaged the clip, and the segment finding the pipeline reported from it."""
    clip = next(c for c in model["clips"] if c["sop_instance_uid"] == uid)
    entry = next(s for s in model["segments"] if uid in s["clips"])
    return str(clip["side"]), str(clip["segment"]), entry


def _entry(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return next(s for s in doc["segments"] if f"{s['side']}:{s['segment']}" == key)


def test_an_assigned_clip_is_read_signed_and_reported_as_the_readers_segment(
        store: ReviewStore, team: Team, unassigned_visit: tuple[Path, str], visit_dirs: list[Path],
        tmp_path: Path) -> None:
    single = ReviewStore(store.database, review_config(double_read=False))
    folder, uid = unassigned_visit
    side, segment, reported = _placement(VisitFolder.open(visit_dirs[0]).document, uid)
    key = f"{side}:{segment}"
    study = register_visit_folder(single, folder, at(0))
    read = start_read(single, team.ann, study.id, at(1))
    assert key not in {s.key for s in read.content.segments}
    why = "CFA bifurcation beside the vein"
    read = edit_read(single, team.ann, read.id, [ClipEdit(uid, side, segment, why)], at(2))
    derived = read.content.segment(key)
    assert derived.assigned_clips == (uid,) and derived.fields["grade"].model == reported["grade"]
    new_grade = 3 if reported["grade"] != 3 else 2
    read = edit_read(single, team.ann, read.id, [FindingEdit(key, "grade", new_grade, "occlusive on the long axis")],
                     at(3))
    assert sign_read(single, team.ann, read.id, PASSWORD, at(4)).study.state is ReviewState.FINAL

    written = write_final_outputs(single, None, study.id, tmp_path / "final", at(5))
    doc = json.loads(written.report_json.read_text())
    validate(doc)
    entry = _entry(doc, key)
    assert entry["origin"] == READER_ASSIGNMENT and entry["reader_changed"] is True
    assert entry["reader_changes"] == [
        {"field": "clips", "model": [], "reader": [uid], "reason": why},
        {"field": "grade", "model": reported["grade"], "reader": new_grade, "reason": "occlusive on the long axis"}]
    assert entry["grade"] == new_grade
    assert {k: entry[k] for k in DERIVED_ONLY} == {k: reported[k] for k in DERIVED_ONLY}
    model_order = [f"{s['side']}:{s['segment']}" for s in VisitFolder.open(visit_dirs[0]).document["segments"]]
    assert [f"{s['side']}:{s['segment']}" for s in doc["segments"]] == model_order
    assert all("origin" not in s for s in doc["segments"] if s is not entry)
    leg = next(leg for leg in doc["legs"] if leg["side"] == side)
    assert leg["thrombus_score"] == sum(s["grade"] or 0 for s in doc["segments"] if s["side"] == side)
    assert segment in leg["involved"] and segment not in leg["missing"]
    assert written.outputs.sr is not None
    in_sr = {f"{f.side.value}:{f.segment.value}": f for f in read_sr(written.outputs.sr)}
    assert in_sr[key].grade == new_grade and in_sr[key].reader_changed
    edits = [e for e in audit_entries(single, team.root, at(6), limit=1000) if e.action == "read.edit"]
    assert edits[0].details["edits"] == [{"clip": uid, "from": f"{side}:unassigned", "to": key, "reason": why,
                                          "segments_added": [key], "segments_removed": []}], "the audit names it"
    assert edits[-1].details["content_sha256"] == read.content_sha256


def _editable_grade(page: str, key: str) -> str | None:
    """The model's grade of segment ``key`` in the page's editable row, or None when the row is not editable."""
    found = re.search(rf'data-key="{re.escape(key)}" data-field="grade"\s+data-model="([^"]*)"', page)
    return None if found is None else found.group(1)


def _adjudication_page(store: ReviewStore, team: Team, study_id: int) -> str:
    """The adjudication page's template over the domain's real objects (what review_pages renders)."""
    view = adjudication_view(store, team.ada, study_id, at(20))
    mine = view.adjudication
    return environment().get_template("adjudication.html.j2").render(
        base_url="/workspace", static_url="/workspace/static", user=team.ada, csrf_token="t", nav=[],
        study=get_study(store, team.ada, study_id, at(20)), view=view, mine=mine, signatures={},
        segments=compared_segments(view.read_1.content, view.read_2.content, view.discordances,
                                   None if mine is None else mine.content),
        clip_discordances=clip_discordances(view.discordances), clips=[] if mine is None else clip_forms(mine.content),
        side_choices=SIDE_CHOICES, segment_choices=SEGMENT_CHOICES, meaning="adjudicated", viewer=None, history=[])


def test_a_segment_one_reader_assigned_is_discordant_and_the_adjudicator_decides(
        store: ReviewStore, team: Team, unassigned_visit: tuple[Path, str], visit_dirs: list[Path],
        tmp_path: Path) -> None:
    folder, uid = unassigned_visit
    side, segment, reported = _placement(VisitFolder.open(visit_dirs[0]).document, uid)
    key = f"{side}:{segment}"
    study = register_visit_folder(store, folder, at(0))
    one, two = start_read(store, team.ann, study.id, at(1)), start_read(store, team.bob, study.id, at(1))
    one = edit_read(store, team.ann, one.id, [ClipEdit(uid, side, segment, "groin")], at(2))
    sign_read(store, team.ann, one.id, PASSWORD, at(3))
    assert sign_read(store, team.bob, two.id, PASSWORD, at(4)).study.state is ReviewState.DISCORDANT
    view = adjudication_view(store, team.ada, study.id, at(5))
    presence = next(d for d in view.discordances if d.field == SEGMENT_PRESENCE)
    assert (presence.key, presence.read_1, presence.read_2) == (key, "present", "absent")

    adjudication = start_adjudication(store, team.ada, study.id, at(6))
    assert key not in {s.key for s in adjudication.content.segments}, "a disputed placement starts as the model's"
    page = _adjudication_page(store, team, study.id)
    assert presence.why is not None and presence.why in page
    assert "from the reader&#39;s clip assignment" in page and "not in the adjudication" in page
    assert _editable_grade(page, key) is None, "nothing to edit until the clip is placed"

    adjudication = edit_read(store, team.ada, adjudication.id, [ClipEdit(uid, side, segment, "agree with read 1")],
                             at(7))
    assert adjudication.content.segment(key) == one.content.segment(key)
    page = _adjudication_page(store, team, study.id)
    assert _editable_grade(page, key) == str(reported["grade"])
    outcome = sign_read(store, team.ada, adjudication.id, PASSWORD, at(8))
    assert outcome.study.state is ReviewState.FINAL and outcome.study.final_slot is ReadSlot.ADJUDICATION
    doc = json.loads(write_final_outputs(store, None, study.id, tmp_path / "final", at(9)).report_json.read_text())
    entry = _entry(doc, key)
    assert entry["origin"] == READER_ASSIGNMENT and entry["grade"] == reported["grade"]
    assert entry["reader_changes"] == [{"field": "clips", "model": [], "reader": [uid], "reason": "agree with read 1"}]
    assert doc["read_status"] == "final: adjudicated, signed"


def test_a_protocol_segment_the_model_missed_is_no_longer_missing_once_assigned(
        unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    model = VisitFolder.open(folder).document
    left = next(leg for leg in model["legs"] if leg["side"] == "L")
    assert "PTV" in left["missing"]
    content = prefill(model).with_assignment(uid, "L", "PTV", "posterior tibial pair")
    review = {"how": "single", "final_read": {"slot": "read_1", "version": 1, "read_id": 1, "content_sha256": "0" * 64},
              "signatures": [{"slot": "read_1", "version": 1, "printed_name": "Dr Ann", "username": "ann",
                              "signed_at": "2026-12-01T09:00:00+00:00", "meaning": "read", "content_sha256": "0" * 64}],
              "rules": {}}
    doc = final_document(model, content, review)
    validate(doc)
    leg = next(leg for leg in doc["legs"] if leg["side"] == "L")
    assert "PTV" not in leg["missing"] and leg["missing"] == [s for s in left["missing"] if s != "PTV"]
    keys = [f"{s['side']}:{s['segment']}" for s in doc["segments"]]
    assert keys[-1] == "L:PTV" and _entry(doc, "L:PTV")["clips"] == [uid], "in report order: the most distal"
