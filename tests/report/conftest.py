"""A real analysed phantom trial (one subject, two visits, both legs) for the report renderers, and dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.pipeline.analyze import AnalyzeOptions, analyze
from dvt_us.pipeline.clip_analysis import ModelSet
from dvt_us.pipeline.trial_config import DEFAULT_TRIAL
from dvt_us.report.visit_folder import VisitFolder, visit_folders


@pytest.fixture(scope="session")
def phantom_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """DICOM in ``trial/dicom``, truth in ``trial/truth``: subject with BASELINE and D10, short protocol."""
    out = tmp_path_factory.mktemp("report-trial")
    write_trial(plan_trial(1, seed=33, protocol="short", visits=2), out, RenderOptions(shape=(200, 260), frames=10),
                jobs=2)
    return out


@pytest.fixture(scope="session")
def run_dir(phantom_trial: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``dvt-us analyze`` output of the phantom trial without rendered reports: ``RUN/<subject>/<visit>/``."""
    out = tmp_path_factory.mktemp("report-run")
    registry = ModelRegistry(DEFAULT_MODELS_DIR)
    models = ModelSet(registry.get("vein-seg"), registry.get("compressibility"))
    analyze([phantom_trial / "dicom"], AnalyzeOptions(out, models, DEFAULT_TRIAL, jobs=2, render=False))
    return out


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
