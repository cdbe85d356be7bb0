"""Every rendered output of a visit folder, including a visit where nothing could be analysed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pydicom

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.report.visit_outputs import write_visit_outputs


def _copy(visit: VisitFolder, root: Path) -> VisitFolder:
    dst = root / visit.path.parent.name / visit.path.name
    shutil.copytree(visit.path, dst)
    return VisitFolder.open(dst)


def test_a_visit_gets_all_its_outputs_and_stale_segs_go(visits: list[VisitFolder], tmp_path: Path) -> None:
    visit = _copy(visits[1], tmp_path)
    stale = visit.path / "seg" / "1.2.3.dcm"
    stale.parent.mkdir()
    stale.write_bytes(b"from an earlier run")
    out = write_visit_outputs(visit)
    assert out.skipped == () and out.sr is not None and out.pdf_dicom is not None
    assert not stale.exists()
    assert {p.stem for p in out.segs} == {c["sop_instance_uid"] for c in visit.clips if c["analysed"]}
    for path in (out.sr, out.pdf_dicom, *out.segs):
        ds = pydicom.dcmread(path)
        assert ds.ClinicalTrialTimePointID == visit.document["visit"]  # the report's visit, on every instance
        assert ds.Manufacturer == visit.document["provenance"]["software"]["name"]
        assert ds.SoftwareVersions == visit.document["provenance"]["software"]["version"]


def test_a_visit_with_nothing_analysed_still_gets_its_report(visits: list[VisitFolder], tmp_path: Path) -> None:
    visit = _copy(visits[0], tmp_path)
    doc = json.loads((visit.path / "report.json").read_text())
    for clip in doc["clips"]:  # as when every clip was unreadable or of a kind that is not analysed
        for key in ("compressibility", "measurements", "curves", "key_frames", "flow"):
            clip.pop(key, None)
        clip.update(analysed=False, reason="not analysable: test", mask=None)
    doc["segments"] = []
    (visit.path / "report.json").write_text(json.dumps(doc))
    visit = VisitFolder.open(visit.path)
    out = write_visit_outputs(visit)
    assert out.html.stat().st_size > 0 and out.pdf.read_bytes().startswith(b"%PDF")
    assert out.pdf_dicom is not None and pydicom.dcmread(out.pdf_dicom).StudyInstanceUID in doc["studies"]
    assert out.sr is None and out.segs == ()
    assert any("sr.dcm" in note for note in out.skipped)
    assert "not analysable: test" in out.html.read_text()
