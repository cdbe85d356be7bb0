"""The whole review of a real phantom visit on both backends: prefill, blinded double read, adjudication,
signatures, amendments and the final outputs."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import pytest

from dvt_us.report.json_report import validate
from dvt_us.report.sr import read_sr
from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.review.adjudication import adjudication_view, start_adjudication
from dvt_us.service.review.enum import ReadSlot, ReviewState
from dvt_us.service.review.errors import (
    AuthenticationError,
    InvalidReadError,
    PermissionDeniedError,
    ReviewConflictError,
)
from dvt_us.service.review.final_outputs import SUPERSEDED_DIR, write_final_outputs
from dvt_us.service.review.read_content import prefill
from dvt_us.service.review.reads import (
    ClipEdit,
    FindingEdit,
    amend_read,
    edit_read,
    get_read,
    read_versions,
    start_read,
)
from dvt_us.service.review.records import Read, ReviewStudy, User
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import get_study, register_visit_folder
from dvt_us.service.review.worklist import WorklistFilter, worklist
from tests.service.review.conftest import PASSWORD, Team, at, review_config


def _register(store: ReviewStore, folder: Path) -> ReviewStudy:
    return register_visit_folder(store, folder, at(0))


def _sign(store: ReviewStore, user: User, read: Read, offset_s: float) -> ReviewState:
    return sign_read(store, user, read.id, PASSWORD, at(offset_s)).study.state


def _other(value: object, choices: tuple[object, ...]) -> object:
    return next(c for c in choices if c != value)


def test_concordant_double_read_is_final(store: ReviewStore, team: Team, visit_dirs: list[Path]) -> None:
    study = _register(store, visit_dirs[0])
    assert _register(store, visit_dirs[0]).id == study.id  # registering again changes nothing
    assert study.state is ReviewState.AWAITING_READ_1 and study.subject == "PH-001" and study.visit == "BASELINE"
    first = start_read(store, team.ann, study.id, at(1))
    assert first.slot is ReadSlot.READ_1 and first.content == prefill(VisitFolder.open(visit_dirs[0]).document)
    second = start_read(store, team.bob, study.id, at(2))
    assert second.slot is ReadSlot.READ_2 and start_read(store, team.ann, study.id, at(3)).id == first.id
    with pytest.raises(ReviewConflictError, match="not open for a new read"):
        start_read(store, team.cy, study.id, at(3))
    with pytest.raises(PermissionDeniedError, match="another user's read"):  # blinded
        get_read(store, team.bob, first.id, at(4))
    with pytest.raises(PermissionDeniedError, match=r"read\.view_all"):
        adjudication_view(store, team.bob, study.id, at(4))
    with pytest.raises(PermissionDeniedError, match=r"read\.create"):
        start_read(store, team.ada, study.id, at(4))
    key = first.content.segments[0].key
    model_grade = first.content.segment(key).fields["grade"].model
    with pytest.raises(InvalidReadError, match="needs a reason"):
        edit_read(store, team.ann, first.id, [FindingEdit(key, "grade", _other(model_grade, (0, 1, 2, 3)))], at(5))
    with pytest.raises(AuthenticationError, match="wrong password"):
        sign_read(store, team.ann, first.id, "not my password", at(6))
    assert get_read(store, team.ann, first.id, at(6)).signed_at is None
    assert _sign(store, team.ann, first, 7) is ReviewState.AWAITING_READ_2
    with pytest.raises(ReviewConflictError, match="only a discordant study"):
        start_adjudication(store, team.ada, study.id, at(7))
    with pytest.raises(ReviewConflictError, match="signed and locked"):
        edit_read(store, team.ann, first.id, [FindingEdit(key, "grade", model_grade)], at(8))
    outcome = sign_read(store, team.bob, second.id, PASSWORD, at(9))
    assert outcome.study.state is ReviewState.FINAL and outcome.study.final_slot is ReadSlot.READ_1
    assert outcome.final_outputs_due
    assert outcome.signature.manifest()["meaning"] == "author of read 2"
    assert outcome.signature.content_sha256 == second.content.sha256()
    with pytest.raises(PermissionDeniedError, match=r"final\.write"):
        write_final_outputs(store, team.ann, study.id, Path("/nonexistent"), at(10))
    with pytest.raises(PermissionDeniedError, match="another user's read"):
        amend_read(store, team.bob, first.id, "I disagree with read 1", at(10))


def test_discordant_reads_are_adjudicated_and_the_final_outputs_follow_the_signed_read(
        store: ReviewStore, team: Team, visit_dirs: list[Path], tmp_path: Path) -> None:
    study = _register(store, visit_dirs[1])  # D10, compared with BASELINE
    first, second = start_read(store, team.ann, study.id, at(1)), start_read(store, team.bob, study.id, at(2))
    seg = next(s for s in first.content.segments if s.fields["grade"].model not in (None, 3))
    model = seg.fields["grade"].model
    first = edit_read(store, team.ann, first.id, [
        FindingEdit(seg.key, "grade", 3, "occlusive throughout on the long-axis sweep"),
        FindingEdit(seg.key, "thrombus", "occlusive", "no residual lumen")], at(3))
    assert _sign(store, team.ann, first, 4) is ReviewState.AWAITING_READ_2
    assert _sign(store, team.bob, second, 5) is ReviewState.DISCORDANT
    board = worklist(store, team.ada, at(6))
    assert board.counts[ReviewState.DISCORDANT] == 1 and [e.study_id for e in board.entries] == [study.id]
    assert worklist(store, team.cy, at(6)).entries == ()  # nothing left to read for a third reader

    view = adjudication_view(store, team.ada, study.id, at(7))
    assert {(d.key, d.field) for d in view.discordances} == {(seg.key, "grade"), (seg.key, "thrombus")}
    assert view.read_1.id == first.id and view.read_2.id == second.id and view.adjudication is None
    adjudication = start_adjudication(store, team.ada, study.id, at(8))
    assert get_study(store, team.ada, study.id, at(8)).state is ReviewState.IN_ADJUDICATION
    assert adjudication.content.segment(seg.key).fields["grade"].reader == model  # undecided: the model's
    adjudication = edit_read(store, team.ada, adjudication.id,
                             [FindingEdit(seg.key, "grade", 3, "agree with read 1: occlusive throughout"),
                              FindingEdit(seg.key, "thrombus", "occlusive", "agree with read 1")], at(9))
    outcome = sign_read(store, team.ada, adjudication.id, PASSWORD, at(10))
    assert outcome.study.state is ReviewState.FINAL and outcome.study.final_slot is ReadSlot.ADJUDICATION
    assert outcome.final_outputs_due

    final_root = tmp_path / "final"
    written = write_final_outputs(store, None, study.id, final_root, at(11))
    assert written.folder == final_root.resolve() / "PH-001" / "D10"
    assert get_study(store, team.ada, study.id, at(11)).final_folder == written.folder
    doc = json.loads(written.report_json.read_text())
    validate(doc)
    entry = next(s for s in doc["segments"] if f"{s['side']}:{s['segment']}" == seg.key)
    assert entry["grade"] == 3 and entry["thrombus"] == "occlusive" and entry["reader_changed"]
    assert {c["field"] for c in entry["reader_changes"]} == {"grade", "thrombus"}
    assert sum(not s["reader_changed"] for s in doc["segments"]) == len(doc["segments"]) - 1
    assert doc["read_status"] == "final: adjudicated, signed"
    review = doc["provenance"]["review"]
    assert [s["slot"] for s in review["signatures"]] == ["read_1", "read_2", "adjudication"]
    assert review["signatures"][2]["printed_name"] == "Dr Ada"
    leg = next(leg for leg in doc["legs"] if leg["side"] == seg.side.value)
    grades = [s["grade"] or 0 for s in doc["segments"] if s["side"] == seg.side.value]
    assert leg["thrombus_score"] == sum(grades)  # recomputed from the final grades
    assert written.outputs.sr is not None and written.outputs.pdf.is_file() and written.outputs.segs
    sr_findings = {f"{f.side.value}:{f.segment.value}": f for f in read_sr(written.outputs.sr)}
    assert sr_findings[seg.key].reader_changed and sr_findings[seg.key].grade == 3
    first_sr_uid = pydicom.dcmread(written.outputs.sr).SOPInstanceUID

    # a later change: version 2 with its reason; version 1 stays; the final outputs are written again
    with pytest.raises(InvalidReadError, match="needs a reason"):
        amend_read(store, team.ada, adjudication.id, " ", at(12))
    amended = amend_read(store, team.ada, adjudication.id, "RVT re-measured on the stored loop", at(12))
    assert amended.version == 2 and amended.change_reason == "RVT re-measured on the stored loop"
    amended = edit_read(store, team.ada, amended.id, [FindingEdit(seg.key, "grade", 2, "partly occlusive")], at(13))
    again = sign_read(store, team.ada, amended.id, PASSWORD, at(14))
    assert again.study.state is ReviewState.FINAL and again.final_outputs_due
    versions = read_versions(store, team.ada, study.id, ReadSlot.ADJUDICATION, at(15))
    assert [(v.version, v.signed) for v in versions] == [(1, True), (2, True)]
    assert versions[0].content == adjudication.content  # the signed version 1 did not change
    rewritten = write_final_outputs(store, team.ada, study.id, final_root, at(16))
    assert json.loads(rewritten.report_json.read_text())["provenance"]["review"]["final_read"]["version"] == 2
    assert rewritten.outputs.sr is not None
    assert pydicom.dcmread(rewritten.outputs.sr).SOPInstanceUID != first_sr_uid
    superseded = list((final_root / SUPERSEDED_DIR / "PH-001" / "D10").glob("*/report.json"))
    assert len(superseded) == 1 and json.loads(superseded[0].read_text())["provenance"]["review"][
        "final_read"]["version"] == 1


def test_a_clip_the_model_could_not_place_is_assigned(store: ReviewStore, team: Team,
                                                      unassigned_visit: tuple[Path, str], tmp_path: Path) -> None:
    single = ReviewStore(store.database, review_config(double_read=False))
    folder, uid = unassigned_visit
    study = _register(single, folder)
    read = start_read(single, team.ann, study.id, at(1))
    with pytest.raises(InvalidReadError, match="needs a reason"):
        edit_read(single, team.ann, read.id, [ClipEdit(uid, "L", "CFV")], at(2))
    read = edit_read(single, team.ann, read.id, [ClipEdit(uid, "L", "CFV", "groin crease, CFA beside it")], at(2))
    assert single.rules.double_read is False
    assert _sign(single, team.ann, read, 3) is ReviewState.FINAL  # a single read is final once signed
    with pytest.raises(ReviewConflictError, match="not open"):
        start_read(single, team.bob, study.id, at(4))
    doc = json.loads(write_final_outputs(single, None, study.id, tmp_path / "final", at(5)).report_json.read_text())
    clip = next(c for c in doc["clips"] if c["sop_instance_uid"] == uid)
    assert (clip["side"], clip["segment"], clip["reader_changed"]) == ("L", "CFV", True)
    assert clip["reader_assignment"]["reason"] == "groin crease, CFA beside it"
    assert doc["read_status"] == "final: single read, signed"


def test_the_worklist_filters_and_counts(store: ReviewStore, team: Team, visit_dirs: list[Path]) -> None:
    baseline, d10 = _register(store, visit_dirs[0]), _register(store, visit_dirs[1])
    read = start_read(store, team.ann, baseline.id, at(1))
    _sign(store, team.ann, read, 2)
    everything = worklist(store, team.ada, at(3))
    assert everything.total == 2 and everything.counts[ReviewState.AWAITING_READ_2] == 1
    assert everything.counts[ReviewState.AWAITING_READ_1] == 1 and everything.counts[ReviewState.FINAL] == 0
    only = worklist(store, team.ada, at(3), WorklistFilter(state="awaiting read 2"))
    assert [e.study_id for e in only.entries] == [baseline.id] and only.total == 2  # counts ignore the state
    assert [e.study_id for e in worklist(store, team.ada, at(3), WorklistFilter(visit="D10")).entries] == [d10.id]
    assert worklist(store, team.ada, at(3), WorklistFilter(site="nowhere")).total == 0
    mine = worklist(store, team.ann, at(4))
    assert {(e.study_id, e.my_slot) for e in mine.entries} == {(baseline.id, ReadSlot.READ_1), (d10.id, None)}
    with pytest.raises(ValueError, match="unknown review state 'done'"):
        WorklistFilter(state="done")


def test_two_readers_starting_at_once_get_the_two_reads(store: ReviewStore, team: Team,
                                                       visit_dirs: list[Path]) -> None:
    study = _register(store, visit_dirs[0])
    barrier = threading.Barrier(2)

    def start(user: User) -> Read:
        barrier.wait()
        return start_read(store, user, study.id, at(1))

    with ThreadPoolExecutor(2) as pool:
        reads = list(pool.map(start, (team.ann, team.bob)))
    assert {r.slot for r in reads} == {ReadSlot.READ_1, ReadSlot.READ_2}
    assert {r.reader_id for r in reads} == {team.ann.id, team.bob.id}
