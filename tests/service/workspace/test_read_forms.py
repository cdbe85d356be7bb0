"""The findings forms' rows: model and reader values as the page holds them, choices, and the adjudication table."""

from __future__ import annotations

import json

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.service.config import ReviewConfig
from dvt_us.service.review.discordance import DiscordanceRules, discordances
from dvt_us.service.review.fields import FIELDS
from dvt_us.service.review.read_content import prefill
from dvt_us.service.workspace.read_forms import (
    CHOICES,
    compared_segments,
    segment_forms,
    value_label,
)
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
