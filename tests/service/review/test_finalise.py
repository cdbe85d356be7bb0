"""After the last signature: the final folder is written from the signed read, then sent to a real Orthanc PACS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from dvt_us.service.config import DicomNodeConfig, RemoteAE, ServiceConfig
from dvt_us.service.finalise import Finaliser, final_dicom_files
from dvt_us.service.review.audit import audit_entries, verify_chain
from dvt_us.service.review.reads import start_read
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import register_visit_folder
from tests.orthanc import Orthanc, running_orthanc
from tests.service.review.conftest import PASSWORD, Team, at


@pytest.fixture
def pacs(tmp_path: Path) -> Iterator[Orthanc]:
    with running_orthanc(tmp_path / "orthanc") as server:
        yield server


def test_a_final_study_is_written_then_sent_and_both_are_audited(store: ReviewStore, team: Team,
                                                                  visit_dirs: list[Path], pacs: Orthanc,
                                                                  tmp_path: Path) -> None:
    config = ServiceConfig(data_dir=tmp_path / "data", dicom=DicomNodeConfig(ae_title="DVTUS"),
                           destinations=(RemoteAE(ae_title=pacs.aet, host="127.0.0.1", port=pacs.dicom_port),))
    finaliser = Finaliser(config, store, lambda: at(100))
    study = register_visit_folder(store, visit_dirs[0], at(0))
    reads = [start_read(store, reader, study.id, at(1)) for reader in (team.ann, team.bob)]
    assert not sign_read(store, team.ann, reads[0].id, PASSWORD, at(2)).final_outputs_due
    assert finaliser.pending() == []
    assert sign_read(store, team.bob, reads[1].id, PASSWORD, at(3)).final_outputs_due
    assert finaliser.pending() == [study.id], "final without final outputs: due (also after a restart)"
    try:
        final = finaliser.submit(study.id).result(timeout=600)
    finally:
        finaliser.close()
    assert finaliser.pending() == []
    assert final.folder == config.resolved_final_dir / study.subject / study.visit
    sent = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in final_dicom_files(final)}
    assert final.outputs.sr is not None and sent
    final_sr = pydicom.dcmread(final.outputs.sr, stop_before_pixels=True)
    assert (final_sr.VerificationFlag, final_sr.PreliminaryFlag) == ("VERIFIED", "FINAL")
    assert str(final_sr.VerifyingObserverSequence[0].VerifyingObserverName) == f"{team.ann.printed_name}^"
    in_pacs = {i["00080018"]["Value"][0] for i in pacs.qido(f"studies/{final_sr.StudyInstanceUID}/instances")}
    assert sent <= in_pacs, "every final DICOM output reached the PACS"
    actions = [e.action for e in audit_entries(store, team.root, at(101), limit=1000)]
    assert actions.index("final.write") < actions.index("final.send"), "written before sent"
    assert verify_chain(store, team.root, at(102)).intact
