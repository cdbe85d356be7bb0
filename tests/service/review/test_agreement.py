"""Agreement over reviewed studies: model vs final read and reader 1 vs reader 2, per segment and pooled."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvt_us.service.review.agreement import ALL_SEGMENTS, Comparison, agreement
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.errors import PermissionDeniedError
from dvt_us.service.review.fields import category
from dvt_us.service.review.reads import ClipEdit, FindingEdit, edit_read, start_read
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import register_visit_folder
from tests.service.review.conftest import PASSWORD, Team, at, review_config

PATENCY = ("patent", "partially patent", "occluded")


def _cell(matrix: tuple[tuple[int, ...], ...], categories: tuple[str, ...], a: str, b: str) -> int:
    return matrix[categories.index(a)][categories.index(b)]


def test_kappa_tables_count_what_the_readers_did(store: ReviewStore, team: Team, visit_dirs: list[Path]) -> None:
    lenient = ReviewStore(store.database, review_config(must_agree=("compressibility", "thrombus", "patency",
                                                                    "grade")))
    baseline, d10 = (register_visit_folder(lenient, folder, at(0)) for folder in visit_dirs)
    one, two = start_read(lenient, team.ann, baseline.id, at(1)), start_read(lenient, team.bob, baseline.id, at(1))
    seg = one.content.segments[0]
    model_patency = str(seg.fields["patency"].model)
    new_patency = next(p for p in PATENCY if p != model_patency)
    new_rvt = seg.fields["rvt"].model is not True
    one = edit_read(lenient, team.ann, one.id, [FindingEdit(seg.key, "patency", new_patency, "flow seen")], at(2))
    two = edit_read(lenient, team.bob, two.id, [FindingEdit(seg.key, "patency", new_patency, "flow on colour"),
                                                FindingEdit(seg.key, "rvt", new_rvt, "thickened wall")], at(2))
    for user, read in ((team.ann, one), (team.bob, two)):
        sign_read(lenient, user, read.id, PASSWORD, at(3))
    for user in (team.ann, team.bob):
        last = sign_read(lenient, user, start_read(lenient, user, d10.id, at(4)).id, PASSWORD, at(5))
    assert last.study.state is ReviewState.FINAL  # rvt is not a must-agree field here: concordant

    d10_segments = start_read(lenient, team.ann, d10.id, at(6)).content.segments  # ann's own, signed read
    segments = len(one.content.segments) + len(d10_segments)
    vs_final = agreement(lenient, team.ada, Comparison.MODEL_VS_FINAL, at(7))
    assert vs_final.studies == 2
    pooled = {a.field: a.kappa for a in vs_final.pooled}
    assert set(pooled) == {"compressibility", "thrombus", "patency", "grade", "rvt"}
    patency = pooled["patency"]
    assert patency.n == segments and _cell(patency.confusion, patency.categories, model_patency, new_patency) == 1
    assert sum(patency.confusion[i][i] for i in range(len(patency.categories))) == segments - 1
    assert pooled["rvt"].observed_agreement == 1.0  # the final read is read 1, which kept the model's rvt

    readers = agreement(lenient, team.root, "reader_1_vs_reader_2", at(8))
    rvt = {a.field: a.kappa for a in readers.pooled}["rvt"]
    model_rvt = category(seg.fields["rvt"].model)
    assert _cell(rvt.confusion, rvt.categories, model_rvt, category(new_rvt)) == 1
    assert {a.field: a.kappa for a in readers.pooled}["patency"].observed_agreement == 1.0
    at_segment = next(a.kappa for a in readers.by_segment if a.segment == seg.segment.value and a.field == "patency")
    assert at_segment.n == sum(s.segment is seg.segment for s in (*one.content.segments, *d10_segments))
    assert all(a.segment != ALL_SEGMENTS for a in readers.by_segment)
    with pytest.raises(PermissionDeniedError):
        agreement(lenient, team.ann, Comparison.MODEL_VS_FINAL, at(9))


def test_a_segment_only_one_rater_has_is_counted_not_paired(store: ReviewStore, team: Team,
                                                             unassigned_visit: tuple[Path, str]) -> None:
    folder, uid = unassigned_visit
    study = register_visit_folder(store, folder, at(0))
    one, two = start_read(store, team.ann, study.id, at(1)), start_read(store, team.bob, study.id, at(1))
    model_segments = len(one.content.segments)
    one = edit_read(store, team.ann, one.id, [ClipEdit(uid, "L", "PTV", "posterior tibial")], at(2))
    assert len(one.content.segments) == model_segments + 1
    for user, read in ((team.ann, one), (team.bob, two)):
        sign_read(store, user, read.id, PASSWORD, at(3))
    readers = agreement(store, team.ada, Comparison.READER_1_VS_READER_2, at(4))
    assert readers.studies == 1 and readers.unpaired_segments == 1
    assert {a.field: a.kappa.n for a in readers.pooled}["grade"] == model_segments
    assert all(a.segment != "PTV" for a in readers.by_segment)



def test_the_model_is_not_compared_on_a_segment_it_did_not_report(store: ReviewStore, team: Team,
                                                                   unassigned_visit: tuple[Path, str]) -> None:
    single = ReviewStore(store.database, review_config(double_read=False))
    folder, uid = unassigned_visit
    study = register_visit_folder(single, folder, at(0))
    read = start_read(single, team.ann, study.id, at(1))
    model_segments = len(read.content.segments)
    read = edit_read(single, team.ann, read.id, [ClipEdit(uid, "L", "PTV", "posterior tibial")], at(2))
    grade = read.content.segment("L:PTV").fields["grade"].model
    read = edit_read(single, team.ann, read.id, [FindingEdit("L:PTV", "grade", 3 if grade != 3 else 0, "occluded")],
                     at(3))
    assert sign_read(single, team.ann, read.id, PASSWORD, at(4)).study.state is ReviewState.FINAL
    vs_final = agreement(single, team.ada, Comparison.MODEL_VS_FINAL, at(5))
    assert vs_final.unpaired_segments == 1, "the derived model values were never the model's report"
    pooled = {a.field: a.kappa for a in vs_final.pooled}
    assert pooled["grade"].n == model_segments and pooled["grade"].observed_agreement == 1.0
