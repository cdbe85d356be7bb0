"""A synthetic DVT trial: subjects, arms, the state of every venous segment at every visit, and the clips.

Pure planning, no images: :func:`plan_trial` draws subjects with unilateral iliofemoral or femoropopliteal
DVT, randomises them to thrombectomy or anticoagulation, evolves each involved segment over the visits
with an arm-specific Markov chain (thrombectomy recanalises most segments by D10; anticoagulation is slower
and more often leaves residual or chronic change; a few recurrences), and lists the clips the protocol
acquires at each visit on both legs. :mod:`dvt_us.phantom.trial_writer` renders and writes them.
"""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass

import numpy as np

from dvt_us.anatomy import Laterality, Segment
from dvt_us.phantom.deformation import CompressionAdequacy
from dvt_us.phantom.scene import VeinState


class Arm(enum.Enum):
    """Treatment arm."""

    THROMBECTOMY = "thrombectomy"
    ANTICOAGULATION = "anticoagulation"


class Acquisition(enum.Enum):
    """What the protocol acquires for a segment."""

    COMPRESSION_CINE = "compression-cine"
    COLOUR_DOPPLER = "colour-doppler"
    STILL_PAIR = "still-pair"
    """Split screen: uncompressed and maximally compressed stills side by side."""


@dataclass(frozen=True)
class VisitSchedule:
    """One scheduled time point: ClinicalTrialTimePointID, its description and day offset."""

    visit: str
    description: str
    day: int


VISITS: tuple[VisitSchedule, ...] = (
    VisitSchedule("BASELINE", "Baseline (pre-procedure)", 0),
    VisitSchedule("D10", "Day 10", 10),
    VisitSchedule("D30", "Day 30", 30),
    VisitSchedule("M6", "Month 6", 182),
    VisitSchedule("M12", "Month 12", 365),
)

ILIOFEMORAL = (Segment.CIV, Segment.EIV, Segment.CFV, Segment.PFV, Segment.FV_P, Segment.FV_M, Segment.FV_D,
               Segment.POP)
"""Proximal to distal; an iliofemoral DVT involves a run starting at CIV or EIV."""
FEMOROPOPLITEAL = (Segment.FV_P, Segment.FV_M, Segment.FV_D, Segment.POP, Segment.PTV, Segment.PER)

PROTOCOLS: dict[str, tuple[tuple[Segment, Acquisition], ...]] = {
    "full": (
        (Segment.CIV, Acquisition.COLOUR_DOPPLER), (Segment.EIV, Acquisition.COLOUR_DOPPLER),
        (Segment.CFV, Acquisition.COMPRESSION_CINE), (Segment.PFV, Acquisition.COMPRESSION_CINE),
        (Segment.FV_P, Acquisition.COMPRESSION_CINE), (Segment.FV_M, Acquisition.COMPRESSION_CINE),
        (Segment.FV_D, Acquisition.COMPRESSION_CINE), (Segment.POP, Acquisition.COMPRESSION_CINE),
        (Segment.PTV, Acquisition.COMPRESSION_CINE), (Segment.PER, Acquisition.COMPRESSION_CINE),
        (Segment.CFV, Acquisition.STILL_PAIR),
    ),
    "short": (
        (Segment.EIV, Acquisition.COLOUR_DOPPLER), (Segment.CFV, Acquisition.COMPRESSION_CINE),
        (Segment.FV_M, Acquisition.COMPRESSION_CINE), (Segment.POP, Acquisition.COMPRESSION_CINE),
    ),
}
"""Clips per leg per visit. ``full`` is the DESIGN.md protocol plus a split-screen still pair of the CFV;
``short`` keeps tests and demos quick."""

_STATES = (VeinState.NORMAL, VeinState.NONOCCLUSIVE, VeinState.OCCLUSIVE, VeinState.CHRONIC)
# Transition probabilities from the state at the previous visit (rows, in _STATES order) to the next.
_TRANSITIONS: dict[tuple[Arm, str], list[list[float]]] = {
    (Arm.THROMBECTOMY, "D10"): [[0.97, 0.02, 0.01, 0.0], [0.70, 0.25, 0.03, 0.02], [0.72, 0.20, 0.06, 0.02],
                                [0.1, 0.1, 0.0, 0.8]],
    (Arm.ANTICOAGULATION, "D10"): [[0.97, 0.02, 0.01, 0.0], [0.15, 0.75, 0.08, 0.02], [0.03, 0.40, 0.55, 0.02],
                                   [0.05, 0.1, 0.0, 0.85]],
    (Arm.THROMBECTOMY, "D30"): [[0.96, 0.02, 0.02, 0.0], [0.50, 0.40, 0.02, 0.08], [0.30, 0.40, 0.25, 0.05],
                                [0.1, 0.05, 0.0, 0.85]],
    (Arm.ANTICOAGULATION, "D30"): [[0.96, 0.02, 0.02, 0.0], [0.25, 0.60, 0.05, 0.10], [0.05, 0.45, 0.45, 0.05],
                                   [0.05, 0.05, 0.0, 0.9]],
    (Arm.THROMBECTOMY, "M6"): [[0.96, 0.01, 0.02, 0.01], [0.45, 0.15, 0.02, 0.38], [0.20, 0.20, 0.20, 0.40],
                               [0.15, 0.0, 0.0, 0.85]],
    (Arm.ANTICOAGULATION, "M6"): [[0.96, 0.01, 0.02, 0.01], [0.30, 0.20, 0.02, 0.48], [0.05, 0.25, 0.25, 0.45],
                                  [0.10, 0.0, 0.0, 0.90]],
    (Arm.THROMBECTOMY, "M12"): [[0.97, 0.01, 0.01, 0.01], [0.40, 0.20, 0.02, 0.38], [0.10, 0.15, 0.55, 0.20],
                                [0.10, 0.0, 0.0, 0.90]],
    (Arm.ANTICOAGULATION, "M12"): [[0.97, 0.01, 0.01, 0.01], [0.30, 0.20, 0.02, 0.48], [0.05, 0.15, 0.60, 0.20],
                                   [0.05, 0.0, 0.0, 0.95]],
}
INADEQUATE_COMPRESSION_PROBABILITY = 0.08
CODED_ANATOMY_PROBABILITY = 0.75


@dataclass(frozen=True)
class ClipPlan:
    """One clip to render and write."""

    index: int
    """Position in the trial's clip list; seeds the clip's random stream."""
    subject: str
    visit: VisitSchedule
    study_date: str
    side: Laterality
    segment: Segment
    kind: Acquisition
    state: VeinState
    adequacy: CompressionAdequacy
    coded_anatomy: bool


@dataclass(frozen=True)
class SubjectPlan:
    """A subject: arm, affected side, extent, and segment states per visit (affected leg only)."""

    subject: str
    arm: Arm
    affected_side: Laterality
    extent: str
    """``iliofemoral`` or ``femoropopliteal``."""
    enrolment_date: dt.date
    states: dict[str, dict[Segment, VeinState]]
    """visit id → segment → state, for the affected leg; every other segment is normal."""


@dataclass(frozen=True)
class TrialPlan:
    """Subjects and clips of a synthetic trial."""

    seed: int
    protocol: str
    subjects: tuple[SubjectPlan, ...]
    clips: tuple[ClipPlan, ...]


def _initial_extent(rng: np.random.Generator) -> tuple[str, list[Segment]]:
    if rng.random() < 0.6:
        start = int(rng.integers(0, 2))  # CIV or EIV
        stop = int(rng.integers(ILIOFEMORAL.index(Segment.FV_P), len(ILIOFEMORAL))) + 1
        run = list(ILIOFEMORAL[start:stop])
        if Segment.PFV in run and rng.random() < 0.5:
            run.remove(Segment.PFV)  # the deep femoral vein is often spared
        return "iliofemoral", run
    start = int(rng.integers(0, 3))
    stop = int(rng.integers(FEMOROPOPLITEAL.index(Segment.POP), len(FEMOROPOPLITEAL))) + 1
    return "femoropopliteal", list(FEMOROPOPLITEAL[start:stop])


def _evolve(arm: Arm, involved: list[Segment], rng: np.random.Generator) -> dict[str, dict[Segment, VeinState]]:
    current = {s: (VeinState.OCCLUSIVE if rng.random() < 0.7 else VeinState.NONOCCLUSIVE) for s in involved}
    states = {VISITS[0].visit: dict(current)}
    for visit in VISITS[1:]:
        table = _TRANSITIONS[(arm, visit.visit)]
        for segment, state in list(current.items()):
            row = table[_STATES.index(state)]
            current[segment] = _STATES[int(rng.choice(len(_STATES), p=row))]
        states[visit.visit] = dict(current)
    return states


def plan_subject(subject: str, rng: np.random.Generator, start: dt.date) -> SubjectPlan:
    """Draw one subject's arm, side, extent and segment states over the visits."""
    arm = Arm.THROMBECTOMY if rng.random() < 0.5 else Arm.ANTICOAGULATION
    side = Laterality.LEFT if rng.random() < 0.6 else Laterality.RIGHT  # left-sided DVT is more common
    extent, involved = _initial_extent(rng)
    enrolment = start + dt.timedelta(days=int(rng.integers(0, 365)))
    return SubjectPlan(subject, arm, side, extent, enrolment, _evolve(arm, involved, rng))


def plan_trial(subjects: int, seed: int = 0, protocol: str = "full", visits: int = len(VISITS)) -> TrialPlan:
    """Plan a trial of ``subjects`` subjects, the first ``visits`` visits each, both legs per visit."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    if not 1 <= visits <= len(VISITS):
        raise ValueError(f"visits must lie in 1..{len(VISITS)}, got {visits}")
    if subjects < 1:
        raise ValueError(f"subjects must be at least 1, got {subjects}")
    rng = np.random.default_rng(seed)
    plans = tuple(plan_subject(f"PH-{i + 1:03d}", rng, dt.date(2025, 1, 6)) for i in range(subjects))
    clips: list[ClipPlan] = []
    for plan in plans:
        for visit in VISITS[:visits]:
            date = plan.enrolment_date + dt.timedelta(days=visit.day + int(rng.integers(-2, 3)) * (visit.day > 0))
            for side in (Laterality.RIGHT, Laterality.LEFT):
                affected = plan.states[visit.visit] if side is plan.affected_side else {}
                for segment, kind in PROTOCOLS[protocol]:
                    compressed = kind is not Acquisition.COLOUR_DOPPLER
                    inadequate = compressed and rng.random() < INADEQUATE_COMPRESSION_PROBABILITY
                    clips.append(ClipPlan(
                        index=len(clips), subject=plan.subject, visit=visit, study_date=date.strftime("%Y%m%d"),
                        side=side, segment=segment, kind=kind, state=affected.get(segment, VeinState.NORMAL),
                        adequacy=CompressionAdequacy.INADEQUATE if inadequate else CompressionAdequacy.ADEQUATE,
                        coded_anatomy=bool(rng.random() < CODED_ANATOMY_PROBABILITY),
                    ))
    return TrialPlan(seed, protocol, plans, tuple(clips))
