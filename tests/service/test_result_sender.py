"""C-STORE of results to a destination: a real Orthanc as the PACS; retries; what is not acknowledged."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file

from dvt_us.service.config import RemoteAE
from dvt_us.service.result_sender import send_results
from tests.orthanc import free_port, running_orthanc

FILES = [Path(str(get_testdata_file(name))) for name in ("US1_UNCR.dcm", "SC_rgb_rle.dcm", "US1_J2KR.dcm")]


def test_every_file_reaches_the_pacs(tmp_path: Path) -> None:
    with running_orthanc(tmp_path) as pacs:
        result = send_results(FILES, RemoteAE(ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port), "DVTUS")
        assert result.ok and set(result.stored) == set(FILES)
        for path in FILES:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            found = pacs.qido(f"studies/{ds.StudyInstanceUID}/instances?SOPInstanceUID={ds.SOPInstanceUID}")
            assert len(found) == 1, path.name


def test_a_refusing_destination_is_tried_again_then_reported(tmp_path: Path) -> None:
    pauses: list[float] = []
    with running_orthanc(tmp_path) as pacs:  # Orthanc checks the called AE title: this one is wrong
        wrong = RemoteAE(ae_title="NOTPACS", host="127.0.0.1", port=pacs.dicom_port)
        result = send_results(FILES[:1], wrong, "DVTUS", attempts=3, pause_s=2.5, sleep=pauses.append)
    assert not result.ok and result.stored == ()
    assert [p for p, _ in result.failed] == FILES[:1] and "rejected" in result.failed[0][1]
    assert pauses == [2.5, 2.5]


def test_an_unreachable_destination_fails_without_raising() -> None:
    nobody = RemoteAE(ae_title="NOBODY", host="127.0.0.1", port=free_port())
    result = send_results(FILES, nobody, "DVTUS", attempts=2, pause_s=0, sleep=lambda _: None, timeout_s=5)
    assert not result.ok and len(result.failed) == len(FILES)
