"""The final folder: one writer at a time, an overtaken write superseded at once, the SR signed for the lab."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from pathlib import Path

import pydantic
import pydicom
import pytest

from dvt_us.report.visit_folder import VisitFolder
from dvt_us.report.visit_outputs import VisitOutputs
from dvt_us.service.config import RemoteAE, ReviewConfig, ServiceConfig
from dvt_us.service.finalise import Finaliser
from dvt_us.service.result_sender import SendResult
from dvt_us.service.review import final_outputs
from dvt_us.service.review.adjudication import start_adjudication
from dvt_us.service.review.audit import audit_entries, verify_chain
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.final_outputs import SUPERSEDED_DIR, FinalOutputs, write_final_outputs
from dvt_us.service.review.reads import FindingEdit, edit_read, start_read
from dvt_us.service.review.records import ReviewStudy
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import register_visit_folder
from tests.service.review.conftest import PASSWORD, Team, at, review_config


def _concordant_final(store: ReviewStore, team: Team, folder: Path) -> ReviewStudy:
    study = register_visit_folder(store, folder, at(0))
    reads = [start_read(store, reader, study.id, at(1)) for reader in (team.ann, team.bob)]
    sign_read(store, team.ann, reads[0].id, PASSWORD, at(2))
    outcome = sign_read(store, team.bob, reads[1].id, PASSWORD, at(3))
    assert outcome.study.state is ReviewState.FINAL and outcome.final_outputs_due
    return outcome.study


def test_the_final_sr_names_the_configured_verifying_organization(store: ReviewStore, team: Team,
                                                                   visit_dirs: list[Path], tmp_path: Path) -> None:
    lab = ReviewStore(store.database, review_config(verifying_organization="Example Vascular Core Lab"))
    study = _concordant_final(lab, team, visit_dirs[0])
    final = write_final_outputs(lab, None, study.id, tmp_path / "final", at(10))
    assert json.loads(final.report_json.read_text())["provenance"]["review"]["verifying_organization"] == \
        "Example Vascular Core Lab"
    assert final.outputs.sr is not None
    sr = pydicom.dcmread(final.outputs.sr, stop_before_pixels=True)
    assert sr.VerifyingObserverSequence[0].VerifyingOrganization == "Example Vascular Core Lab"


def test_concurrent_final_writes_of_one_study_take_turns(store: ReviewStore, team: Team, visit_dirs: list[Path],
                                                         tmp_path: Path) -> None:
    study = _concordant_final(store, team, visit_dirs[0])
    root = tmp_path / "final"
    start = threading.Barrier(2)
    written: list[FinalOutputs] = []
    failed: list[BaseException] = []

    def write(offset_s: float) -> None:
        start.wait()
        try:
            written.append(write_final_outputs(store, None, study.id, root, at(offset_s)))
        except BaseException as exc:  # the test reports any failure of either writer
            failed.append(exc)

    threads = [threading.Thread(target=write, args=(10 + i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert failed == [] and len(written) == 2
    assert written[0].folder == written[1].folder and (written[0].folder / "report.json").is_file()
    superseded = list((root / SUPERSEDED_DIR / study.subject / study.visit).iterdir())
    assert len(superseded) == 1, "the second writer superseded the first writer's whole folder"
    assert not list(written[0].folder.parent.glob(".*.tmp")), "no staging folder left behind"


def test_a_write_overtaken_by_a_correction_is_superseded_not_sent(store: ReviewStore, team: Team,
                                                                   visit_dirs: list[Path], tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The adjudicator signs a correction while read 1's final folder is being rendered: that folder is stale."""
    pacs = RemoteAE(ae_title="PACS", host="127.0.0.1", port=104)
    config = ServiceConfig(data_dir=tmp_path / "data", destinations=(pacs,))
    sent: list[Path] = []

    def send(files: Sequence[Path], destination: RemoteAE, calling_ae_title: str) -> SendResult:
        sent.extend(files)  # stands in for the PACS: the Orthanc test (test_finalise.py) sends for real
        return SendResult(destination, tuple(files))

    finaliser = Finaliser(config, store, lambda: at(20), send=send)
    study = _concordant_final(store, team, visit_dirs[0])
    correction = start_adjudication(store, team.ada, study.id, at(10))
    key = correction.content.segments[0].key
    model = correction.content.segments[0].fields["residual_diameter_mm"].model
    correction = edit_read(store, team.ada, correction.id, [FindingEdit(key, "residual_diameter_mm",
                                                                        (model or 0.0) + 5.0, "re-measured")], at(11))
    render = final_outputs.write_visit_outputs
    signed: list[bool] = []

    def render_then_sign(visit: VisitFolder) -> VisitOutputs:  # the signature lands while read 1's folder renders
        outputs = render(visit)
        if not signed:
            signed.append(sign_read(store, team.ada, correction.id, PASSWORD, at(12)).final_outputs_due)
        return outputs

    monkeypatch.setattr(final_outputs, "write_visit_outputs", render_then_sign)
    try:
        assert finaliser.submit(study.id).result(timeout=600) is None, "overtaken: nothing recorded, nothing sent"
        assert signed == [True]
        final = finaliser.submit(study.id).result(timeout=600)  # what the correction's signature queues
    finally:
        finaliser.close()
    assert final is not None and finaliser.pending() == []
    review = json.loads(final.report_json.read_text())["provenance"]["review"]
    assert review["how"] == "adjudicated" and review["final_read"]["slot"] == "adjudication"
    superseded = list((config.resolved_final_dir / SUPERSEDED_DIR / study.subject / study.visit).iterdir())
    assert len(superseded) == 1, "read 1's overtaken folder was moved aside at once"
    assert sent and all(p.is_relative_to(final.folder) for p in sent), "only the correction's folder was sent"
    actions = [e.action for e in audit_entries(store, team.root, at(30), limit=1000)]
    assert actions.count("final.write") == 1
    assert verify_chain(store, team.root, at(31)).intact


@pytest.mark.parametrize("name", ["", "   ", "Lab A\\Lab B", "tab\there", "x" * 65])
def test_a_verifying_organization_that_is_no_dicom_lo_is_refused(name: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="verifying_organization"):
        ReviewConfig.model_validate({"verifying_organization": name})
