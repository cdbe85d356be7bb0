"""The fields of a segment finding that a reader confirms or overrides, and how their values are checked.

The set is taken from report.json ``segments[i]`` (schema dvt-us-report/1): the clinical calls and the one
measurement a reader re-measures. Values are JSON values (enum values as strings, mm as numbers, ``null``
where the finding is indeterminate); :func:`check_value` converts a value from a request once, at the edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from dvt_us.findings.vocabulary import Compressibility, Patency, Thrombus

JsonScalar = str | int | float | bool | None
"""A field value as report.json holds it."""


def _enum_value(kind: type[Enum]) -> Callable[[Any], JsonScalar]:
    def check(value: Any) -> JsonScalar:
        try:
            return str(kind(value).value)
        except ValueError:
            valid = ", ".join(str(m.value) for m in kind)
            raise ValueError(f"{value!r} is not one of: {valid}") from None

    return check


def _grade(value: Any) -> JsonScalar:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 3:
        raise ValueError(f"{value!r} is not a grade: an integer 0-3, or null when indeterminate")
    return value


def _millimetres(value: Any) -> JsonScalar:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{value!r} is not a diameter in mm: a finite number >= 0, or null")
    return float(value)


def _yes_no(value: Any) -> JsonScalar:
    if value is None or isinstance(value, bool):
        return value
    raise ValueError(f"{value!r} is not true, false or null")


@dataclass(frozen=True)
class FieldSpec:
    """One editable field: its report.json key, whether it is a category (for kappa) and its value check."""

    name: str
    categorical: bool
    check: Callable[[Any], JsonScalar]
    unit: str | None = None


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("compressibility", True, _enum_value(Compressibility)),
        FieldSpec("thrombus", True, _enum_value(Thrombus)),
        FieldSpec("patency", True, _enum_value(Patency)),
        FieldSpec("grade", True, _grade),
        FieldSpec("rvt", True, _yes_no),
        FieldSpec("residual_diameter_mm", False, _millimetres, unit="mm"),
    )
}
"""The editable fields of a segment finding, in display order."""


def field_spec(name: str) -> FieldSpec:
    """The field called ``name``; a ValueError listing the editable fields otherwise."""
    try:
        return FIELDS[name]
    except KeyError:
        raise ValueError(f"unknown finding field {name!r}; editable fields: {', '.join(FIELDS)}") from None


def check_value(name: str, value: Any) -> JsonScalar:
    """``value`` checked and normalised for field ``name``; a ValueError naming the field otherwise."""
    spec = field_spec(name)
    try:
        return spec.check(value)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


def category(value: JsonScalar) -> str:
    """A categorical value as a category label (``null`` is the category ``indeterminate``)."""
    if value is None:
        return "indeterminate"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
