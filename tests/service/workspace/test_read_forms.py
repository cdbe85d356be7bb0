"""The findings forms' rows: model and reader values as the page holds them, choices, and the adjudication table."""

from __future__ import annotations

import copy
import json

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.config import ReviewConfig
from dvt_us.service.review.discordance import DiscordanceRules, discordances
from dvt_us.service.review.fields import FIELDS
from dvt_us.service.review.read_content import ReadContent, prefill
from dvt_us.service.workspace.read_forms import (
    ABSENT,
    CHOICES,
    FROM_ASSIGNMENT,
    compared_segments,
    segment_forms,
    value_label,
)
from dvt_us.service.workspace.viewer import environment
from tests.service.workspace.harness import WorkspaceFiles


def test_every_field_of_every_segment_is_prefilled_with_the_models_value(workspace_files: WorkspaceFiles) -> None:
    doc = VisitFolder.open(workspace_files.reports[1]).document
    forms = segment_forms(prefill(doc))
    assert [f.key for f in forms] == [f"{s['side']}:{s['segment']}" for s in doc["segments"]]
    for form, segment in zip(forms, doc["segments"], strict=True):
        assert [r.field for r in form.rows] == list(FIELDS) and not form.changed
        for row in form.rows:
            assert json.loads(row.model_json) == json.loads(row.reader_json) == segment.get(row.field)
            assert not row.overridden and row.reason == ""
            if row.choices is None:
                assert row.field == "residual_diameter_mm" and row.unit == "mm"
                assert row.number == ("" if segment[row.field] is None else f"{segment[row.field]:.2f}")
            else:
                assert row.reader_json in {c.value_json for c in row.choices}


def test_values_read_as_a_reader_says_them() -> None:
    assert value_label("grade", None) == "indeterminate" and value_label("grade", 2) == "2 occlusive in part"
    assert value_label("rvt", True) == "yes" and value_label("residual_diameter_mm", 2.5) == "2.50 mm"
    assert [c.label for c in CHOICES["rvt"]] == ["yes", "no", "indeterminate"]


def test_the_adjudication_table_marks_exactly_the_discordant_fields(workspace_files: WorkspaceFiles) -> None:
    first = prefill(VisitFolder.open(workspace_files.reports[1]).document)
    key = first.segments[0].key
    grade = first.segment(key).fields["grade"].model
    changed = first.with_value(key, "grade", 3 if grade != 3 else 0, "occlusive on the long axis")
    found = discordances(changed, first, DiscordanceRules.from_config(ReviewConfig()))
    table = compared_segments(changed, first, found, None)
    marked = [(s.key, f.field) for s in table for f in s.fields if f.discordant]
    assert marked == [(key, "grade")] and [s.discordant for s in table].count(True) == 1
    row = next(f for f in table[0].fields if f.field == "grade")
    assert row.read_1_reason == "occlusive on the long axis" and row.read_2_reason == "" and row.adjudication is None


def _with_unplaced_clip(files: WorkspaceFiles) -> tuple[ReadContent, str]:
    """The BASELINE read with one compression clip the model could not place (and so no segment of it)."""
    doc = copy.deepcopy(VisitFolder.open(files.reports[1]).document)
    clip = next(c for c in doc["clips"] if c["kind"] == "compression-cine")
    clip["segment"] = "unassigned"
    doc["segments"] = [s for s in doc["segments"] if clip["sop_instance_uid"] not in s["clips"]]
    return prefill(doc), str(clip["sop_instance_uid"])


def test_a_segment_from_the_readers_assignment_is_a_form_like_the_others(workspace_files: WorkspaceFiles) -> None:
    content, uid = _with_unplaced_clip(workspace_files)
    assigned = content.with_assignment(uid, "L", "PTV", "posterior tibial")
    forms = {f.key: f for f in segment_forms(assigned)}
    ptv = forms["L:PTV"]
    assert ptv.title == f"Left posterior tibial veins (PTV), {FROM_ASSIGNMENT}" and ptv.assigned_clips == (uid,)
    assert [r.field for r in ptv.rows] == list(FIELDS) and not ptv.changed
    assert all(FROM_ASSIGNMENT not in f.title and f.assigned_clips == () for k, f in forms.items() if k != "L:PTV")
    macros = environment().get_template("_findings.html.j2").module
    legend = str(macros.segment_legend(ptv))
    assert f"<legend>{ptv.title}</legend>".replace("'", "&#39;") in legend
    assert f"<code>{uid}</code>" in legend and "Not reported by the model" in legend
    assert "Not reported" not in str(macros.segment_legend(forms["L:CFV"]))


def test_the_adjudication_table_shows_a_segment_one_read_lacks(workspace_files: WorkspaceFiles) -> None:
    base, uid = _with_unplaced_clip(workspace_files)
    assigned = base.with_assignment(uid, "L", "PTV", "posterior tibial")
    found = discordances(base, assigned, DiscordanceRules.from_config(ReviewConfig()))
    table = compared_segments(base, assigned, found, base)
    assert [s.key for s in table] == [s.key for s in assigned.segments], "the union, in report order"
    ptv = next(s for s in table if s.key == "L:PTV")
    assert ptv.discordant and ptv.from_assignment and ptv.note.startswith("only read 2 has segment L:PTV")
    assert all(f.read_1 == ABSENT and f.read_2 != ABSENT and f.adjudication is None for f in ptv.fields)
    assert not any(f.discordant for f in ptv.fields), "one discordance for the segment, not one per field"
    assert [s.discordant for s in table].count(True) == 1
