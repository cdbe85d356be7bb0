"""Review fixtures: a ReviewStore on each backend (real argon2, real migrations) and a real phantom visit.

The visit folders are ``dvt-us analyze`` output of a generated phantom trial, the same fixture the report
tests use (session fixtures of tests/conftest.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dvt_us.report.visit_folder import VisitFolder, visit_folders
from dvt_us.service.config import PasswordHashConfig, ReviewConfig
from dvt_us.service.db import Database
from dvt_us.service.review.accounts import add_user
from dvt_us.service.review.records import User
from dvt_us.service.review.store import ReviewStore

T0 = datetime(2026, 12, 1, 9, 0, 0, 250000, tzinfo=UTC)
PASSWORD = "correct horse battery"
FAST_ARGON2 = PasswordHashConfig(time_cost=1, memory_kib=8192, parallelism=1)
"""Real argon2id, with parameters light enough for the 2-core test machine."""


def at(offset_s: float) -> datetime:
    return T0 + timedelta(seconds=offset_s)


def review_config(**changes: object) -> ReviewConfig:
    return ReviewConfig(password_hash=FAST_ARGON2).model_copy(update=changes)


@pytest.fixture
def store(database: Database) -> Iterator[ReviewStore]:
    """A ReviewStore (double read, default rules) over a migrated database on each backend."""
    yield ReviewStore(database, review_config())


class Team:
    """Two readers, an adjudicator and an admin, all with :data:`PASSWORD`."""

    def __init__(self, store: ReviewStore) -> None:
        def user(name: str, role: str) -> User:
            return add_user(store, None, name, f"Dr {name.title()}", role, password=PASSWORD, now=T0)

        self.ann, self.bob = user("ann", "reader"), user("bob", "reader")
        self.cy = user("cy", "reader")
        self.ada = user("ada", "adjudicator")
        self.root = user("root", "admin")


@pytest.fixture
def team(store: ReviewStore) -> Team:
    return Team(store)


@pytest.fixture(scope="session")
def visit_dirs(run_dir: Path) -> list[Path]:
    """The phantom's visit folders, BASELINE first."""
    found = sorted(visit_folders(run_dir), key=lambda v: v.path.name != "BASELINE")
    assert len(found) == 2
    return [v.path for v in found]


@pytest.fixture
def unassigned_visit(visit_dirs: list[Path], tmp_path: Path) -> tuple[Path, str]:
    """A copy of the BASELINE folder in which the model could not assign one compression clip (and its segment).

    As when neither DICOM nor the series text named the segment: the clip is ``unassigned`` and its segment
    finding is absent. Returns the folder and the clip's SOP Instance UID.
    """
    folder = tmp_path / "run" / "PH-001" / "BASELINE"
    shutil.copytree(visit_dirs[0], folder)
    doc = json.loads((folder / "report.json").read_text())
    clip = next(c for c in doc["clips"] if c["kind"] == "compression-cine")
    clip["segment"] = "unassigned"
    doc["segments"] = [s for s in doc["segments"] if clip["sop_instance_uid"] not in s["clips"]]
    (folder / "report.json").write_text(json.dumps(doc))
    VisitFolder.open(folder).document  # still valid  # noqa: B018
    return folder, str(clip["sop_instance_uid"])
