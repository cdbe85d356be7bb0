"""The instance store: layout, exact bytes, idempotent duplicates, hostile UIDs, quarantine, disk full."""

from __future__ import annotations

import errno
import io
import json
import os
import shutil
import threading
from pathlib import Path

import pydicom
import pytest
from pydicom.uid import SecondaryCaptureImageStorage, UltrasoundMultiFrameImageStorage, generate_uid

from dvt_us.ingest import ProblemCode
from dvt_us.service import instance_store
from dvt_us.service.instance_store import (
    InstanceStore,
    InvalidInstanceError,
    SopClassMismatchError,
    StorageFullError,
    StoreOutcome,
    is_safe_uid,
)
from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset


def part10(**changes: object) -> bytes:
    """A small US Multi-frame file as bytes; ``changes`` set (or, with ``None``, delete) attributes."""
    ds = ultrasound_dataset(UltrasoundSpec(frames=2, rows=32, cols=40))
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    if "SOPInstanceUID" in ds:
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.preamble = b"\x00" * 128
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=False)
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


@pytest.fixture
def store(tmp_path: Path) -> InstanceStore:
    return InstanceStore(tmp_path / "data")


def test_store_writes_the_bytes_at_study_series_instance(store: InstanceStore) -> None:
    data = part10()
    ds = pydicom.dcmread(io.BytesIO(data))
    stored = store.store(data, "PACS")
    expected = store.root / "instances" / ds.StudyInstanceUID / ds.SeriesInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    assert stored.path == expected
    assert stored.path.read_bytes() == data
    assert (stored.sop_instance_uid, stored.sop_class_uid) == (ds.SOPInstanceUID, UltrasoundMultiFrameImageStorage)
    assert (stored.study_instance_uid, stored.series_instance_uid) == (ds.StudyInstanceUID, ds.SeriesInstanceUID)
    assert stored.transfer_syntax_uid == ds.file_meta.TransferSyntaxUID
    assert stored.size_bytes == len(data)
    assert stored.calling_ae_title == "PACS"
    assert stored.received_at.utcoffset() is not None
    assert not stored.duplicate
    assert files_under(store.root) == [expected], "no temporary file is left behind"


def test_store_reads_a_file_object(store: InstanceStore) -> None:
    data = part10()
    assert store.store(io.BytesIO(data), "PACS").path.read_bytes() == data


def test_identical_duplicate_keeps_the_first_file(store: InstanceStore) -> None:
    data = part10()
    first = store.put(data, "PACS")
    mtime = first.instance.path.stat().st_mtime_ns
    again = store.put(data, "OTHER")
    assert first.outcome is StoreOutcome.STORED
    assert again.outcome is StoreOutcome.DUPLICATE
    assert again.instance.duplicate and again.instance.path == first.instance.path
    assert again.instance.calling_ae_title == "OTHER"
    assert first.instance.path.stat().st_mtime_ns == mtime
    assert len(files_under(store.instances_dir)) == 1
    assert files_under(store.quarantine_dir) == []


def test_conflicting_duplicate_keeps_the_first_and_quarantines_the_second(store: InstanceStore) -> None:
    data = part10()
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PatientID = "CHANGED"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    changed = buffer.getvalue()
    first = store.put(data, "PACS")
    second = store.put(changed, "PACS")
    assert second.outcome is StoreOutcome.CONFLICTING_DUPLICATE
    assert second.instance.duplicate
    assert first.instance.path.read_bytes() == data
    assert second.quarantined is not None and second.quarantined.read_bytes() == changed
    record = json.loads(second.quarantined.with_suffix(".json").read_text())
    assert "conflicting-duplicate" in record["reason"]


def test_concurrent_copies_leave_one_file(store: InstanceStore) -> None:
    data = part10()
    outcomes: list[StoreOutcome] = []
    barrier = threading.Barrier(8)

    def put() -> None:
        barrier.wait()
        outcomes.append(store.put(data, "PACS").outcome)

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.value for o in outcomes) == ["duplicate"] * 7 + ["stored"]
    assert len(files_under(store.instances_dir)) == 1


@pytest.mark.parametrize(
    ("keyword", "value"),
    [
        ("StudyInstanceUID", "../../../../escaped"),
        ("SeriesInstanceUID", "1.2/../../3"),
        ("SOPInstanceUID", "../x"),
        ("SOPInstanceUID", "1..2"),
        ("SOPInstanceUID", "1.2." + "3" * 70),
        ("SeriesInstanceUID", "/etc"),
    ],
)
def test_hostile_uid_is_refused(store: InstanceStore, tmp_path: Path, keyword: str, value: str) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        store.store(part10(**{keyword: value}), "PACS")
    assert caught.value.code is ProblemCode.BAD_ATTRIBUTE
    assert keyword in caught.value.message
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("keyword", ["SOPInstanceUID", "SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID"])
def test_missing_uid_is_refused(store: InstanceStore, keyword: str) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        store.store(part10(**{keyword: None}), "PACS")
    assert caught.value.code is ProblemCode.MISSING_UID
    assert files_under(store.root) == []


def test_not_dicom_is_refused(store: InstanceStore) -> None:
    with pytest.raises(InvalidInstanceError) as caught:
        store.store(b"\x00" * 128 + b"NOPE" + b"x" * 200, "PACS")
    assert caught.value.code is ProblemCode.NOT_DICOM


def test_sop_class_must_match_what_it_was_sent_as(store: InstanceStore) -> None:
    with pytest.raises(SopClassMismatchError):
        store.put(part10(), "PACS", expected_sop_class_uid=SecondaryCaptureImageStorage)
    assert store.put(part10(), "PACS", expected_sop_class_uid=UltrasoundMultiFrameImageStorage).instance.path.exists()


def test_sop_instance_must_match_the_file_meta(store: InstanceStore) -> None:
    ds = pydicom.dcmread(io.BytesIO(part10()))
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    buffer = io.BytesIO()
    ds.save_as(buffer)
    with pytest.raises(InvalidInstanceError, match="differs"):
        store.store(buffer.getvalue(), "PACS")


def test_quarantine_keeps_data_and_reason(store: InstanceStore) -> None:
    path = store.quarantine(b"garbage", "not-dicom: no preamble", "PACS")
    assert path.parent == store.quarantine_dir and path.suffix == ".dcm"
    assert path.read_bytes() == b"garbage"
    record = json.loads(path.with_suffix(".json").read_text())
    assert record["reason"] == "not-dicom: no preamble"
    assert record["calling_ae_title"] == "PACS"
    assert record["size_bytes"] == 7
    assert record["received_at"].endswith("+00:00")
    second = store.quarantine(b"garbage", "again", "PACS")
    assert second != path, "each quarantined copy has its own name"


def test_disk_full_while_writing_stores_nothing(store: InstanceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    data = part10()
    monkeypatch.setattr(instance_store.os, "fsync", no_space)
    with pytest.raises(StorageFullError):
        store.store(data, "PACS")
    monkeypatch.undo()
    assert files_under(store.root) == [], "no partial or temporary file is left"
    assert store.store(data, "PACS").path.read_bytes() == data


def test_free_disk_is_that_of_the_data_folder(store: InstanceStore) -> None:
    expected = shutil.disk_usage(store.root).free / 2**20
    assert store.free_disk_mb() == pytest.approx(expected, rel=0.05)
    assert store.free_disk_mb() > 0


@pytest.mark.parametrize(
    ("uid", "safe"),
    [("1.2.840.10008.5.1.4.1.1.6.1", True), ("1", True), ("1.2.3.", False), (".1.2", False), ("1.2.a", False),
     ("..", False), ("1/2", False), ("", False), ("1." * 32 + "1", False)],
)
def test_is_safe_uid(uid: str, safe: bool) -> None:
    assert is_safe_uid(uid) is safe
