"""The report renderers' fixtures over the shared analysed phantom trial (tests/conftest.py), and dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dvt_us.report.visit_folder import VisitFolder, visit_folders


@pytest.fixture(scope="session")
def visits(run_dir: Path) -> list[VisitFolder]:
    """The visit folders of the run, BASELINE first."""
    found = visit_folders(run_dir)
    assert len(found) == 2
    return sorted(found, key=lambda v: v.path.name != "BASELINE")


@pytest.fixture(scope="session")
def dciodvfy() -> str:
    """Path of dicom3tools' dciodvfy (Debian package dicom3tools, installed by .ci/run)."""
    found = shutil.which("dciodvfy")
    if found is None:
        pytest.fail("dciodvfy is missing: .ci/run installs the Debian package dicom3tools")
    return found


def dciodvfy_errors(dciodvfy: str, path: Path) -> tuple[list[str], list[str]]:
    """(errors, warnings) that dciodvfy reports for one file."""
    done = subprocess.run([dciodvfy, str(path)], capture_output=True, text=True, check=False, timeout=120)
    lines = (done.stdout + done.stderr).splitlines()
    return [ln for ln in lines if ln.startswith("Error")], [ln for ln in lines if ln.startswith("Warning")]


@pytest.fixture(scope="session")
def rendered_run(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of ``run_dir`` with every report rendered (``dvt-us report``)."""
    from dvt_us.pipeline.render import render_run

    out = tmp_path_factory.mktemp("rendered") / "run"
    shutil.copytree(run_dir, out)
    render_run(out, jobs=2)
    return out
