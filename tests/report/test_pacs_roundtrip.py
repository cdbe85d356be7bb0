"""SR, SEG and encapsulated PDF into a real PACS (Orthanc) by C-STORE, and back over DICOMweb."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.uid import EncapsulatedPDFStorage, SegmentationStorage

from dvt_us.report.seg import masks_from_seg
from dvt_us.report.sr import findings_from_sr
from dvt_us.report.visit_folder import VisitFolder, visit_folders
from tests.orthanc import running_orthanc, store


@pytest.fixture(scope="module")
def baseline(rendered_run: Path) -> VisitFolder:
    return next(v for v in visit_folders(rendered_run) if v.path.name == "BASELINE")


def test_reports_stored_in_orthanc_come_back_the_same(baseline: VisitFolder, tmp_path: Path) -> None:
    segs = sorted((baseline.path / "seg").glob("*.dcm"))
    files = [baseline.path / "sr.dcm", baseline.path / "report-pdf.dcm", *segs]
    written = {pydicom.dcmread(f).SOPInstanceUID: f for f in files}
    with running_orthanc(tmp_path) as pacs:
        done = store(pacs, files)
        assert done.returncode == 0, done.stdout + done.stderr
        study = baseline.document["studies"][0]
        found = {i["00080018"]["Value"][0]: i["0020000E"]["Value"][0] for i in pacs.qido(f"studies/{study}/instances")}
        assert set(written) <= set(found), "an instance did not reach the PACS study of its source"
        kinds = set()
        for uid, path in written.items():
            back = pydicom.dcmread(io.BytesIO(pacs.retrieve(study, found[uid], uid)))
            ours = pydicom.dcmread(path)
            assert back.SOPClassUID == ours.SOPClassUID and back.StudyInstanceUID == study
            if back.SOPClassUID == SegmentationStorage:
                kinds.add("seg")
                np.testing.assert_array_equal(masks_from_seg(back), baseline.masks(path.stem))
            elif back.SOPClassUID == EncapsulatedPDFStorage:
                kinds.add("pdf")
                assert back.EncapsulatedDocument == ours.EncapsulatedDocument
                assert back.EncapsulatedDocument.startswith(b"%PDF")
            else:
                kinds.add("sr")
                assert findings_from_sr(back) == findings_from_sr(ours)
                assert findings_from_sr(back), "the SR holds no findings"
        assert kinds == {"seg", "pdf", "sr"}


def test_a_wrong_called_ae_title_is_refused(baseline: VisitFolder, tmp_path: Path) -> None:
    with running_orthanc(tmp_path) as pacs:
        done = store(pacs, [baseline.path / "sr.dcm"], called_aet="NOTPACS")
        assert done.returncode != 0
        assert pacs.qido(f"studies/{baseline.document['studies'][0]}/instances") == []
