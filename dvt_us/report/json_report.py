"""``report.json``: the findings of one subject at one visit, validated against a versioned JSON Schema.

The document is built from typed findings in :mod:`dvt_us.pipeline` and turned into JSON here: enums
become their values, tuples lists, NaN ``null``. Every finding carries ``reader_changed: false`` until a
reader overrides it.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from dvt_us.anatomy import Laterality, Segment
from dvt_us.findings.segment_findings import SegmentFindings
from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus
from dvt_us.report.atomic import write_bytes_atomic

SCHEMA_ID = "dvt-us-report/1"
_SCHEMA_FILE = "report-1.schema.json"


def plain(value: Any) -> Any:  # noqa: PLR0911 (one return per kind of value)
    """A JSON-ready copy of findings: dataclasses, enums, tuples, numpy scalars, NaN → null."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def schema() -> dict[str, Any]:
    """The JSON Schema of report.json."""
    text = resources.files("dvt_us").joinpath("schemas", _SCHEMA_FILE).read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def validate(document: dict[str, Any]) -> None:
    """Raise :class:`jsonschema.ValidationError` naming the offending path if the document is invalid."""
    jsonschema.validate(document, schema())


def write_report(document: dict[str, Any], path: Path) -> None:
    """Validate and write a report (atomically: a reader never sees half a file)."""
    validate(document)
    write_bytes_atomic(path, (json.dumps(document, indent=1, sort_keys=False) + "\n").encode())


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def segment_findings_from_json(entry: Mapping[str, Any]) -> SegmentFindings:
    """A ``segments[i]`` object of report.json as the findings it was written from (the one parser of them).

    Raises ``ValueError`` quoting an unknown enum value; validate the document first for everything else.
    """
    grade, rvt, measured = entry["grade"], entry["rvt"], entry.get("measured_clip")
    return SegmentFindings(
        side=Laterality(entry["side"]), segment=Segment.parse(entry["segment"]),
        compressibility=Compressibility(entry["compressibility"]), thrombus=Thrombus(entry["thrombus"]),
        patency=Patency(entry["patency"]), grade=None if grade is None else int(grade),
        residual_diameter_mm=_optional_float(entry.get("residual_diameter_mm")),
        diameter_ratio=_optional_float(entry.get("diameter_ratio")), rvt=None if rvt is None else bool(rvt),
        flow_fill_fraction=_optional_float(entry.get("flow_fill_fraction")), confidence=float(entry["confidence"]),
        flagged=bool(entry["flagged"]), clips=tuple(str(c) for c in entry["clips"]),
        measured_clip=None if measured is None else str(measured),
    )
