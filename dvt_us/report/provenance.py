"""Who produced a report: the software and its models, read once from report.json's ``provenance``.

Every rendered output (SR, SEG, PDF) names the same software and models from here (STYLE.md habit 14).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelInfo:
    """One model of the report's provenance (``provenance.models[i]``)."""

    name: str
    version: str
    sha256: str


@dataclass(frozen=True)
class Provenance:
    """Who produced the findings: the software and its models, segmentation model first.

    ``dvt_us.pipeline.visit_report`` writes ``provenance.models`` as ``[segmentation, compressibility]``;
    measurements are attributed to the first, the compressibility call and its confidence to the second.
    """

    software_name: str
    software_version: str
    models: tuple[ModelInfo, ...]

    @classmethod
    def from_json(cls, provenance: Mapping[str, Any]) -> Provenance:
        """Read report.json's ``provenance`` object."""
        models = tuple(ModelInfo(str(m["name"]), str(m["version"]), str(m["sha256"])) for m in provenance["models"])
        if not models:
            raise ValueError("report.json provenance names no model; the SR must identify its algorithms")
        software = provenance["software"]
        return cls(str(software["name"]), str(software["version"]), models)

    @property
    def segmentation(self) -> ModelInfo:
        """The model whose masks the diameters and areas are measured on."""
        return self.models[0]

    @property
    def classifier(self) -> ModelInfo:
        """The compressibility classifier (the segmentation model when the report names only one)."""
        return self.models[1] if len(self.models) > 1 else self.models[0]
