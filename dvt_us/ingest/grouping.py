"""Group clips into subject → visit → study, and run ingestion over many inputs.

Visits of a subject are ordered by study date (then by visit id), so that a time point outside the
trial schedule still falls in place. Rejected files and non-DICOM files are kept in the result with
their reasons; nothing is dropped silently.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from dvt_us.ingest.clip import Clip
from dvt_us.ingest.problems import IngestError, ProblemCode
from dvt_us.ingest.reader import read_clip
from dvt_us.ingest.sources import Source, find_sources


@dataclass(frozen=True)
class Study:
    """One DICOM study (StudyInstanceUID) of a visit."""

    study_instance_uid: str
    study_date: str
    clips: tuple[Clip, ...]


@dataclass(frozen=True)
class Visit:
    """One time point of a subject (ClinicalTrialTimePointID, or the StudyDate fallback)."""

    visit: str
    studies: tuple[Study, ...]

    @property
    def clips(self) -> tuple[Clip, ...]:
        """All clips of the visit, study by study."""
        return tuple(c for s in self.studies for c in s.clips)


@dataclass(frozen=True)
class Subject:
    """One trial subject (ClinicalTrialSubjectID, or PatientID) and their visits in date order."""

    subject: str
    visits: tuple[Visit, ...]


@dataclass(frozen=True)
class Rejected:
    """A file that could not be used, and why."""

    source: str
    code: ProblemCode
    message: str


@dataclass(frozen=True)
class IngestResult:
    """Everything ingestion found: grouped clips, rejected files, skipped non-DICOM files.

    ``duplicates`` are further copies of an instance already read (same SOPInstanceUID); they are
    listed, not analysed twice.
    """

    subjects: tuple[Subject, ...]
    rejected: tuple[Rejected, ...]
    skipped: tuple[Rejected, ...]
    """Files not read as instances: not DICOM, or ignored on purpose (DICOMDIR, hidden files)."""
    duplicates: tuple[Clip, ...] = ()

    @property
    def clips(self) -> tuple[Clip, ...]:
        """All clips, subject by subject, visit by visit."""
        return tuple(c for s in self.subjects for v in s.visits for c in v.clips)


def _clip_order(clip: Clip) -> tuple[str, str, str]:
    return clip.source.label, clip.series_instance_uid, clip.sop_instance_uid


def unique_instances(clips: Iterable[Clip]) -> tuple[list[Clip], list[Clip]]:
    """Split clips into first copies and further copies of the same SOPInstanceUID (by source path)."""
    by_uid: dict[str, Clip] = {}
    duplicates: list[Clip] = []
    for clip in sorted(clips, key=lambda c: c.source.label):
        if by_uid.setdefault(clip.sop_instance_uid, clip) is not clip:
            duplicates.append(clip)
    return list(by_uid.values()), duplicates


def group_clips(clips: Iterable[Clip]) -> tuple[Subject, ...]:
    """Group clips (one per SOPInstanceUID) into subjects, visits and studies, in a deterministic order."""
    tree: dict[str, dict[str, dict[str, list[Clip]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    for clip in clips:
        tree[clip.identity.subject][clip.identity.visit][clip.study_instance_uid].append(clip)
    subjects = []
    for subject_id in sorted(tree):
        visits = []
        for visit_id, studies_by_uid in tree[subject_id].items():
            studies = tuple(
                sorted(
                    (Study(uid, min(c.identity.study_date for c in cl), tuple(sorted(cl, key=_clip_order)))
                     for uid, cl in studies_by_uid.items()),
                    key=lambda s: (s.study_date, s.study_instance_uid),
                )
            )
            visits.append(Visit(visit_id, studies))
        visits.sort(key=lambda v: (min((s.study_date for s in v.studies if s.study_date), default="99999999"),
                                   v.visit))
        subjects.append(Subject(subject_id, tuple(visits)))
    return tuple(subjects)


ProgressCallback = Callable[[int, int, str], None]
"""Called as ``progress(done, total, label)`` after each file."""


def ingest(paths: Iterable[str | os.PathLike[str]], progress: ProgressCallback | None = None) -> IngestResult:
    """Read every ultrasound instance under ``paths`` (files, folders, zip archives).

    Files that are not DICOM are listed in ``skipped``; DICOM files that cannot be used are listed in
    ``rejected`` with a reason; neither stops the others. Pixels are not decoded here, except one frame
    of a colour image whose header does not say whether it carries colour Doppler.
    """
    sources: list[Source] = list(find_sources(paths))
    clips: list[Clip] = []
    rejected: list[Rejected] = []
    skipped: list[Rejected] = []
    for done, source in enumerate(sources, start=1):
        if source.ignored:
            skipped.append(Rejected(source.label, ProblemCode.IGNORED, source.ignored))
        elif source.unreadable:
            rejected.append(Rejected(source.label, ProblemCode.UNREADABLE, source.unreadable))
        else:
            try:
                clips.append(read_clip(source))
            except IngestError as err:
                bucket = skipped if err.code is ProblemCode.NOT_DICOM else rejected
                bucket.append(Rejected(err.source, err.code, err.message))
        if progress is not None:
            progress(done, len(sources), source.label)
    unique, duplicates = unique_instances(clips)
    return IngestResult(group_clips(unique), tuple(rejected), tuple(skipped), tuple(duplicates))
