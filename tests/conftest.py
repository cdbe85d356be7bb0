"""Shared fixtures: the real ultrasound files of pydicom and pydicom-data (found on disk, no download), and one
analysed phantom trial."""

from __future__ import annotations

from pathlib import Path

import pytest

from dvt_us.inference import DEFAULT_MODELS_DIR, ModelRegistry
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.pipeline.analyze import AnalyzeOptions, analyze
from dvt_us.pipeline.clip_analysis import ModelSet
from dvt_us.pipeline.trial_config import DEFAULT_TRIAL
from tests.dicom_factory import pydicom_data_roots

US_FILES = {
    # name: (frames, rows, cols, samples per decoded pixel)
    "ExplVR_BigEnd.dcm": (1, 60, 80, 3),
    "examples_jpeg2k.dcm": (1, 480, 640, 3),
    "examples_palette.dcm": (1, 350, 800, 3),
    "examples_rgb_color.dcm": (1, 240, 320, 3),
    "examples_ybr_color.dcm": (30, 240, 320, 3),
    "JPGLosslessP14SV1_1s_1f_8b.dcm": (1, 768, 1024, 1),
    "OBXXXX1A.dcm": (1, 600, 800, 3),
    "OBXXXX1A_2frame.dcm": (2, 600, 800, 3),
    "OBXXXX1A_expb.dcm": (1, 600, 800, 3),
    "OBXXXX1A_expb_2frame.dcm": (2, 600, 800, 3),
    "OBXXXX1A_rle.dcm": (1, 600, 800, 3),
    "OBXXXX1A_rle_2frame.dcm": (2, 600, 800, 3),
    "US1_J2KI.dcm": (1, 480, 640, 3),
    "US1_J2KR.dcm": (1, 480, 640, 3),
    "US1_UNCI.dcm": (1, 480, 640, 3),
    "US1_UNCR.dcm": (1, 480, 640, 3),
    "color-pl.dcm": (1, 120, 256, 3),
    "color-px.dcm": (1, 120, 256, 3),
    "color3d_jpeg_baseline.dcm": (120, 480, 640, 3),
    "gdcm-US-ALOKA-16.dcm": (1, 480, 640, 3),
    "gdcm-US-ALOKA-16_big.dcm": (1, 480, 640, 3),
}


def find_test_file(name: str) -> Path:
    """Path of a file shipped by pydicom or pydicom-data; skip nothing: a missing file is a broken setup."""
    for root in pydicom_data_roots():
        if (root / name).is_file():
            return root / name
    raise FileNotFoundError(f"{name} not found in {pydicom_data_roots()}; is pydicom-data installed?")


@pytest.fixture(scope="session")
def us_file():
    """Look up a real ultrasound file by name."""
    return find_test_file


@pytest.fixture(scope="session")
def us_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """All 21 ultrasound files of pydicom and pydicom-data, linked into one folder."""
    folder = tmp_path_factory.mktemp("us")
    for name in US_FILES:
        (folder / name).symlink_to(find_test_file(name))
    return folder


# A real analysed phantom trial (one subject, two visits, both legs), shared by the report, review and
# workspace tests: generated and analysed once per test process (each pytest-xdist worker has its own).


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
