"""The final folder follows the study: one writer at a time, withdrawn when the study re-opens, signed by the lab."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pydicom
import pytest

from dvt_us.service.config import ServiceConfig
from dvt_us.service.finalise import Finaliser
from dvt_us.service.review.audit import audit_entries, verify_chain
from dvt_us.service.review.enum import ReviewState
from dvt_us.service.review.errors import ReviewConflictError
from dvt_us.service.review.final_outputs import (
    SUPERSEDED_DIR,
    FinalOutputs,
    withdraw_final_outputs,
    write_final_outputs,
)
from dvt_us.service.review.reads import FindingEdit, amend_read, edit_read, start_read
from dvt_us.service.review.records import ReviewStudy
from dvt_us.service.review.signing import sign_read
from dvt_us.service.review.store import ReviewStore
from dvt_us.service.review.studies import get_study, register_visit_folder
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


def test_a_signed_amendment_that_reopens_a_final_study_withdraws_its_final_folder(
        store: ReviewStore, team: Team, visit_dirs: list[Path], tmp_path: Path) -> None:
    config = ServiceConfig(data_dir=tmp_path / "data")
    finaliser = Finaliser(config, store, lambda: at(20))
    study = _concordant_final(store, team, visit_dirs[0])
    try:
        final = finaliser.submit(study.id).result(timeout=600)
        assert final is not None and final.folder.is_dir()
        read_1 = start_read(store, team.ann, study.id, at(30))
        amended = amend_read(store, team.ann, read_1.id, "re-measured on review", at(31))
        key = amended.content.segments[0].key
        model = amended.content.segments[0].fields["residual_diameter_mm"].model
        edit_read(store, team.ann, amended.id, [FindingEdit(key, "residual_diameter_mm",
                                                            (model or 0.0) + 5.0, "thrombus re-measured")], at(32))
        outcome = sign_read(store, team.ann, amended.id, PASSWORD, at(33))
        assert outcome.study.state is not ReviewState.FINAL
        assert outcome.final_outputs_due, "the stale final folder must be withdrawn"
        assert finaliser.pending() == [study.id], "also found again after a restart"
        assert finaliser.submit(study.id).result(timeout=600) is None
    finally:
        finaliser.close()
    assert not final.folder.exists(), "no stale final folder where final outputs are picked up"
    kept = list((config.resolved_final_dir / SUPERSEDED_DIR / study.subject / study.visit).iterdir())
    assert len(kept) == 1 and (kept[0] / "report.json").is_file(), "the withdrawn folder is kept, not deleted"
    assert finaliser.pending() == []
    assert get_study(store, team.root, study.id, at(40)).state is not ReviewState.FINAL
    actions = [e.action for e in audit_entries(store, team.root, at(41), limit=1000)]
    assert "final.withdraw" in actions
    assert verify_chain(store, team.root, at(42)).intact
    with pytest.raises(ReviewConflictError):
        write_final_outputs(store, None, study.id, config.resolved_final_dir, at(43))


def test_a_final_study_keeps_its_final_folder(store: ReviewStore, team: Team, visit_dirs: list[Path],
                                             tmp_path: Path) -> None:
    study = _concordant_final(store, team, visit_dirs[0])
    final = write_final_outputs(store, None, study.id, tmp_path / "final", at(10))
    with pytest.raises(ReviewConflictError):
        withdraw_final_outputs(store, study.id, tmp_path / "final", at(11))
    assert final.folder.is_dir()
