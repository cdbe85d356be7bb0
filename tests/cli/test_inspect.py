"""`dvt-us inspect` as a user runs it: a real process over the real ultrasound files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import US_FILES
from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset, write


def _dvt_us(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "dvt_us", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)


def test_inspect_json_lists_every_ultrasound_file(us_folder: Path) -> None:
    done = _dvt_us("inspect", "--json", str(us_folder))
    assert done.returncode == 0, done.stderr
    rows = {Path(r["file"]).name: r for r in json.loads(done.stdout)["files"]}
    assert set(rows) == set(US_FILES)
    for name, (frames, rows_px, cols_px, _) in US_FILES.items():
        assert rows[name]["frames"] == frames
        assert rows[name]["size"].startswith(f"{rows_px}x{cols_px}")
        assert rows[name]["status"] in ("ok", "duplicate")
    assert rows["gdcm-US-ALOKA-16.dcm"]["side"] == "R"
    assert rows["gdcm-US-ALOKA-16.dcm"]["size"].endswith("(2 views)")
    assert rows["color3d_jpeg_baseline.dcm"]["kind"] == "compression-cine"
    assert rows["color3d_jpeg_baseline.dcm"]["spacing_mm"] == [0.5105, 0.5105]
    assert rows["US1_UNCR.dcm"]["spacing_mm"] is None
    assert any(p.startswith("uncalibrated") for p in rows["US1_UNCR.dcm"]["problems"])
    # same SOPInstanceUID in several encodings: one analysed, the others listed as duplicates
    statuses = [rows[n]["status"] for n in ("OBXXXX1A.dcm", "OBXXXX1A_rle.dcm", "OBXXXX1A_expb.dcm")]
    assert statuses.count("ok") == 1


def test_inspect_table_reports_rejected_and_skipped(tmp_path: Path) -> None:
    good = write(ultrasound_dataset(UltrasoundSpec(series_description="LT CFV")), tmp_path / "good.dcm")
    (tmp_path / "truncated.dcm").write_bytes(good.read_bytes()[:600])
    (tmp_path / "readme.txt").write_text("hello")
    done = _dvt_us("inspect", str(tmp_path))
    assert done.returncode == 1, "a rejected file makes the exit status 1"
    assert "Traceback" not in done.stdout + done.stderr
    assert "truncated" in done.stdout
    assert "skipped" in done.stdout
    assert "1 instances in 1 subjects" in done.stdout


def test_missing_path_is_a_clear_error() -> None:
    done = _dvt_us("inspect", "/no/such/folder")
    assert done.returncode == 2
    assert "no such file or folder: /no/such/folder" in done.stderr
    assert "Traceback" not in done.stderr
