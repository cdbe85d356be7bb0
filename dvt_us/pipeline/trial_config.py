"""Per-trial configuration (``configs/trials/*.yaml``): visits, the protocol, scoring settings.

YAML is read with ``safe_load`` into pydantic models that reject unknown keys.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from dvt_us.anatomy import Segment


class VisitConfig(BaseModel):
    """One scheduled time point."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    label: str
    day: int


class TrialConfig(BaseModel):
    """Visits, the segments each visit must image, and scoring settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    visits: list[VisitConfig]
    baseline: str = "BASELINE"
    protocol: list[str] = Field(default_factory=lambda: ["CFV", "PFV", "FV-P", "FV-M", "FV-D", "POP", "PTV", "PER"])
    """Segment keys every visit must image on each leg (completeness is judged against it)."""
    rvt_min_residual_mm: float | None = None
    """Residual vein thrombosis also when the compressed diameter exceeds this (mm); None: ratio rule only."""

    def protocol_for(self, visit: str) -> list[Segment]:
        """The protocol segments (the same at every visit here)."""
        return [Segment.parse(s) for s in self.protocol]


def load_trial_config(path: Path) -> TrialConfig:
    """Read a trial YAML; errors name the offending key."""
    raw = yaml.safe_load(Path(path).read_text())
    config = TrialConfig.model_validate(raw)
    for key in config.protocol:
        Segment.parse(key)  # raises with the valid keys
    return config


DEFAULT_TRIAL = TrialConfig(
    name="DEFIANCE-like iliofemoral thrombectomy trial",
    visits=[VisitConfig(id="BASELINE", label="Baseline", day=0), VisitConfig(id="D10", label="Day 10", day=10),
            VisitConfig(id="D30", label="Day 30", day=30), VisitConfig(id="M6", label="Month 6", day=182),
            VisitConfig(id="M12", label="Month 12", day=365)],
)
