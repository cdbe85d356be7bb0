"""The whole arrow on a small phantom trial with the shipped models: contract, schema, determinism."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import numpy as np
import pydicom
import pytest

from dvt_us.inference import DEFAULT_MODELS_DIR
from dvt_us.phantom.trial import plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.report.json_report import schema

CHECKER = Path(__file__).resolve().parents[3] / "shared" / "tools" / "check-analyze-output"


def _dvt_us(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvt_us", *args], check=False, capture_output=True, text=True,
                          timeout=600)


@pytest.fixture(scope="module")
def trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trial")
    write_trial(plan_trial(1, seed=21, protocol="short", visits=2), out, RenderOptions(shape=(200, 260), frames=10),
                jobs=2)
    return out


@pytest.fixture(scope="module")
def analysed(trial: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("analysis")
    done = _dvt_us("analyze", str(trial / "dicom"), "--out", str(out), "--jobs", "2", "--cpu")
    assert done.returncode == 0, done.stderr
    assert "visit reports" in done.stdout
    return out


def test_shipped_models_are_there() -> None:
    for name in ("vein-seg", "compressibility"):
        assert list((DEFAULT_MODELS_DIR / name).glob("*/model.onnx")), f"models/{name} is missing"


def test_output_follows_the_contract(trial: Path, analysed: Path) -> None:
    if CHECKER.exists():  # the project's own checker of DESIGN.md section 5, run by this environment's Python
        done = subprocess.run([sys.executable, str(CHECKER), str(trial / "dicom"), str(analysed)],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stdout
    reports = sorted(analysed.glob("*/*/report.json"))
    assert [p.parent.name for p in reports] == ["BASELINE", "D10"]
    for path in reports:
        document = json.loads(path.read_text())
        jsonschema.validate(document, schema())
        for clip in document["clips"]:
            assert clip["analysed"], clip["reason"]
            masks = np.load(path.parent / clip["mask"])["labels"]
            assert masks.dtype == np.uint8 and masks.shape[0] == clip["frames"]
        assert {s["segment"] for s in document["segments"]} == {"EIV", "CFV", "FV-M", "POP"}
        assert document["provenance"]["models"][0]["name"] == "vein-seg"
    d10 = json.loads(reports[1].read_text())
    assert d10["change_since_baseline"]["baseline_visit"] == "BASELINE"


# New DICOM instances (UIDs, content date and time) at every rendering.
_PER_RENDERING = ("sr.dcm", "report-pdf.dcm", "seg/")


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every output file that must not change between two analyses of the same input."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "inputs.json" and not any(k in p.as_posix() for k in _PER_RENDERING)}


def test_output_does_not_depend_on_jobs(trial: Path, analysed: Path, tmp_path: Path) -> None:
    done = _dvt_us("analyze", str(trial / "dicom"), "--out", str(tmp_path), "--jobs", "1", "--cpu")
    assert done.returncode == 0, done.stderr
    digest = _digest(tmp_path)
    assert any(name.endswith("report.html") for name in digest)
    assert digest == _digest(analysed)


def test_every_visit_gets_its_reports(analysed: Path) -> None:
    for path in sorted(analysed.glob("*/*/report.json")):
        visit = path.parent
        document = json.loads(path.read_text())
        for name in ("report.html", "report.pdf", "report-pdf.dcm", "sr.dcm"):
            assert (visit / name).stat().st_size > 0, f"{visit}/{name}"
        analysed_clips = {c["sop_instance_uid"] for c in document["clips"] if c["analysed"]}
        assert {p.stem for p in (visit / "seg").glob("*.dcm")} == analysed_clips


def test_report_renders_again_as_new_instances(analysed: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(analysed, run)
    baseline = next(run.glob("*/BASELINE"))
    sr = baseline / "sr.dcm"
    before = pydicom.dcmread(sr).SOPInstanceUID
    html = (baseline / "report.html").read_bytes()
    done = _dvt_us("report", str(run), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert "2 visit reports rendered" in done.stdout
    assert pydicom.dcmread(sr).SOPInstanceUID != before
    assert (baseline / "report.html").read_bytes() == html


def test_report_of_a_folder_that_is_no_run_is_a_clear_error(tmp_path: Path) -> None:
    done = _dvt_us("report", str(tmp_path))
    assert done.returncode == 2
    assert "not a dvt-us analyze output folder" in done.stderr and "Traceback" not in done.stderr


def test_unknown_models_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = _dvt_us("analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--models", str(tmp_path))
    assert done.returncode == 2
    assert "unknown model 'vein-seg'" in done.stderr and "Traceback" not in done.stderr


def test_scores_against_truth(trial: Path, analysed: Path) -> None:
    done = _dvt_us("score", str(analysed), str(trial))
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    # A regression guard on a 16-clip trial, well below the figures measured on larger test sets.
    assert scores["clips"]["dice_vein"] >= 0.8
    assert scores["clips"]["dice_artery"] >= 0.8
    assert scores["clips"]["compressibility"]["accuracy"] >= 0.6
    assert scores["segments"]["thrombus"]["n"] == 16


def test_a_later_visit_alone_is_compared_with_the_baseline_already_there(trial: Path, analysed: Path,
                                                                           tmp_path: Path) -> None:
    out = tmp_path / "out"
    baseline = next(analysed.glob("*/BASELINE"))
    shutil.copytree(baseline, out / baseline.parent.name / "BASELINE")
    later = next((trial / "dicom").glob("*/D10"))
    done = _dvt_us("analyze", str(later), "--out", str(out), "--json-only", "--cpu")
    assert done.returncode == 0, done.stderr
    alone = json.loads((out / baseline.parent.name / "D10" / "report.json").read_text())
    together = json.loads((baseline.parent / "D10" / "report.json").read_text())
    assert alone["change_since_baseline"] is not None
    assert alone["change_since_baseline"] == together["change_since_baseline"]
