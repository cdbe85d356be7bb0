"""Shared fixtures: the real ultrasound files of pydicom and pydicom-data, found on disk (no download)."""

from __future__ import annotations

from pathlib import Path

import pytest

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
