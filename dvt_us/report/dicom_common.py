"""What every DICOM instance dvt-us writes (SR, SEG, encapsulated PDF) says alike, set in one place.

Equipment: the software that made the findings (report.json provenance). Clinical trial: the visit of the
report as Clinical Trial Time Point ID (0012,0050), which differs from the source's value when the visit
came from the study-date fallback.
"""

from __future__ import annotations

from typing import Any, TypedDict

from pydicom.dataset import Dataset

from dvt_us.report.provenance import Provenance


class EquipmentArguments(TypedDict):
    """Keyword arguments of highdicom's ``SOPClass`` for the General Equipment module."""

    manufacturer: str
    manufacturer_model_name: str
    software_versions: str


def equipment(provenance: Provenance) -> EquipmentArguments:
    """The General Equipment module of an instance: the software that made the findings."""
    return {"manufacturer": provenance.software_name, "manufacturer_model_name": provenance.software_name,
            "software_versions": provenance.software_version}


def set_trial_visit(ds: Dataset, document: dict[str, Any]) -> None:
    """Clinical Trial Time Point ID/Description from the report, where the instance has the trial module."""
    if "ClinicalTrialProtocolID" not in ds and "ClinicalTrialSubjectID" not in ds:
        return
    ds.ClinicalTrialTimePointID = str(document["visit"])[:64]
    if document.get("visit_description"):
        ds.ClinicalTrialTimePointDescription = str(document["visit_description"])[:64]
    elif "ClinicalTrialTimePointDescription" in ds:
        del ds.ClinicalTrialTimePointDescription
