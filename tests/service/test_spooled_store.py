"""Storing a received instance from its spooled file: the DICOM node's path (no pixel data through Python)."""

from __future__ import annotations

import errno
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pydicom
import pynetdicom.dimse_messages
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGBaseline8Bit
from pynetdicom import AE, _config
from pynetdicom.association import Association
from pynetdicom.dsutils import encode_file_meta

from dvt_us.service import instance_store, receive_spool
from dvt_us.service.instance_store import (
    InstanceStore,
    InvalidInstanceError,
    StoreOutcome,
    _copy_range,
    inspect,
    inspect_file,
)
from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset
from tests.service.test_instance_store import part10


def our_meta(data: bytes, calling: str = "PACS") -> bytes:
    """The preamble and File Meta the node writes: the spooled file's, plus the calling AE."""
    meta = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
    meta.SourceApplicationEntityTitle = calling
    return b"\x00" * 128 + b"DICM" + encode_file_meta(meta)


def spooled(folder: Path, data: bytes, name: str = "received.dcm") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.fixture
def store(tmp_path: Path) -> InstanceStore:
    return InstanceStore(tmp_path / "data")


def test_the_stored_file_is_our_file_meta_then_the_dataset_as_received(store: InstanceStore) -> None:
    data = part10()
    header = inspect(data)
    spool = spooled(store.spool_dir, data)
    meta = our_meta(data)
    receipt = store.put_spooled(spool, meta, "PACS")
    assert receipt.outcome is StoreOutcome.STORED
    stored = receipt.instance.path.read_bytes()
    assert stored == meta + data[header.dataset_offset:]
    assert receipt.instance.size_bytes == len(stored)
    assert pydicom.dcmread(receipt.instance.path).file_meta.SourceApplicationEntityTitle == "PACS"
    assert spool.read_bytes() == data, "the spooled file is left for pynetdicom to delete"
    assert not list(receipt.instance.path.parent.glob(".incoming-*")), "no temporary file left behind"


def test_a_spool_that_begins_with_our_file_meta_is_linked_into_place(store: InstanceStore) -> None:
    data = part10()
    meta = our_meta(data)
    node_spooled = meta + data[inspect(data).dataset_offset:]
    spool = spooled(store.spool_dir, node_spooled)
    receipt = store.put_spooled(spool, meta, "PACS")
    assert receipt.outcome is StoreOutcome.STORED
    assert os.path.samefile(receipt.instance.path, spool), "linked, not copied"
    assert receipt.instance.path.read_bytes() == node_spooled and receipt.instance.size_bytes == len(node_spooled)
    assert not list(receipt.instance.path.parent.glob(".incoming-*"))


def test_where_no_link_can_be_made_the_dataset_is_copied(store: InstanceStore,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object) -> None:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    data = part10()
    meta = our_meta(data)
    node_spooled = meta + data[inspect(data).dataset_offset:]
    spool = spooled(store.spool_dir, node_spooled)
    monkeypatch.setattr(os, "link", refuse)
    receipt = store.put_spooled(spool, meta, "PACS")
    assert receipt.outcome is StoreOutcome.STORED
    assert not os.path.samefile(receipt.instance.path, spool)
    assert receipt.instance.path.read_bytes() == node_spooled
    assert not list(receipt.instance.path.parent.glob(".incoming-*"))


def test_a_failed_rename_leaves_no_temporary_file(store: InstanceStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    data = part10()
    meta = our_meta(data)
    spool = spooled(store.spool_dir, meta + data[inspect(data).dataset_offset:])
    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="Input/output"):
        store.put_spooled(spool, meta, "PACS")
    assert not [p for p in store.instances_dir.rglob("*") if p.is_file()]


@pytest.fixture
def restored_pynetdicom(monkeypatch: pytest.MonkeyPatch) -> None:
    """pynetdicom's process-wide settings that :func:`receive_spool.enable` changes, restored after the test."""
    monkeypatch.setattr(_config, "STORE_RECV_CHUNKED_DATASET", _config.STORE_RECV_CHUNKED_DATASET)
    for name in ("NamedTemporaryFile", "create_file_meta"):
        monkeypatch.setattr(pynetdicom.dimse_messages, name, getattr(pynetdicom.dimse_messages, name))


class _ReaderThread(threading.Thread):
    """Stands in for pynetdicom's DUL reader thread, which has its association as ``assoc``."""

    def __init__(self, assoc: Association) -> None:
        super().__init__()
        self.assoc = assoc
        self.meta: pydicom.Dataset | None = None

    def run(self) -> None:
        self.meta = pynetdicom.dimse_messages.create_file_meta(**_UIDS)


_UIDS = {"sop_class_uid": "1.2.840.10008.5.1.4.1.1.6.1", "sop_instance_uid": "1.2.3.4",
         "transfer_syntax": ExplicitVRLittleEndian}


@pytest.mark.usefixtures("restored_pynetdicom")
def test_the_node_spools_its_own_file_meta(tmp_path: Path) -> None:
    """pynetdicom's File Meta call for a spooled dataset adds the calling AE on an association's reader thread."""
    receive_spool.enable(tmp_path / "spool")
    assoc = Association(AE(), "acceptor")
    assoc.requestor.ae_title = "MODALITY  "
    reader = _ReaderThread(assoc)
    reader.start()
    reader.join()
    assert reader.meta is not None and reader.meta.SourceApplicationEntityTitle == "MODALITY"
    assert "SourceApplicationEntityTitle" not in pynetdicom.dimse_messages.create_file_meta(**_UIDS), \
        "on another thread the File Meta stays pynetdicom's"


def test_a_spooled_duplicate_is_found_identical_or_conflicting(store: InstanceStore) -> None:
    data = part10()
    first = store.put_spooled(spooled(store.spool_dir, data, "a.dcm"), our_meta(data), "PACS")
    again = store.put_spooled(spooled(store.spool_dir, data, "b.dcm"), our_meta(data, "OTHER"), "OTHER")
    assert again.outcome is StoreOutcome.DUPLICATE and again.instance.path == first.instance.path
    ds = pydicom.dcmread(io.BytesIO(data))
    ds.PatientID = "CHANGED"
    buffer = io.BytesIO()
    ds.save_as(buffer)
    changed = store.put_spooled(spooled(store.spool_dir, buffer.getvalue(), "c.dcm"), our_meta(data), "PACS")
    assert changed.outcome is StoreOutcome.CONFLICTING_DUPLICATE and changed.quarantined is not None
    assert "conflicting-duplicate" in json.loads(changed.quarantined.with_suffix(".json").read_text())["reason"]


def test_truncated_native_pixel_data_is_refused_without_reading_it(store: InstanceStore) -> None:
    data = part10()
    cut = data[:-100]
    with pytest.raises(InvalidInstanceError, match="past the end"):
        inspect(cut)
    with pytest.raises(InvalidInstanceError, match="past the end"):
        store.put_spooled(spooled(store.spool_dir, cut), our_meta(data), "PACS")
    assert not list(store.instances_dir.rglob("*.dcm"))


def test_truncated_encapsulated_pixel_data_is_refused() -> None:
    ds = ultrasound_dataset(UltrasoundSpec(frames=2, rows=32, cols=40))
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    ds.PixelData = encapsulate([b"\xff\xd8" + bytes(2000) + b"\xff\xd9"] * 2)
    ds["PixelData"].VR = "OB"
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    assert inspect(data).transfer_syntax_uid == JPEGBaseline8Bit
    with pytest.raises(InvalidInstanceError):
        inspect(data[:-500])


def test_inspecting_a_file_agrees_with_inspecting_its_bytes(tmp_path: Path) -> None:
    data = part10()
    assert inspect_file(spooled(tmp_path, data)) == inspect(data)


def test_a_kernel_copy_from_another_file_system_falls_back_to_a_plain_copy(tmp_path: Path) -> None:
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm on this machine")
    payload = os.urandom(3 << 20)
    source = shm / f"dvt-us-test-{os.getpid()}.bin"
    source.write_bytes(payload)
    try:
        with source.open("rb") as src, (tmp_path / "copy.bin").open("wb") as dst:
            dst.write(b"head")
            _copy_range(src, dst, 1000, len(payload) - 1000)
    finally:
        source.unlink()
    assert (tmp_path / "copy.bin").read_bytes() == b"head" + payload[1000:]


def test_sweep_removes_only_what_nothing_wrote_to_lately(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / "old.dcm", tmp_path / "fresh.dcm", tmp_path / "notes.txt"
    for path in (old, fresh, other):
        path.write_bytes(b"x")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    assert receive_spool.sweep(tmp_path, 600) == 1
    assert not old.exists() and fresh.exists() and other.exists()


@pytest.mark.usefixtures("restored_pynetdicom")
def test_pynetdicom_spools_received_datasets_into_the_spool_folder(tmp_path: Path) -> None:
    """pynetdicom's own call (dimse_messages, chunked receive) lands in the folder; elsewhere once it is gone."""
    folder = tmp_path / "spool"
    receive_spool.enable(folder)
    assert _config.STORE_RECV_CHUNKED_DATASET
    made = pynetdicom.dimse_messages.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm")
    made.close()
    assert Path(made.name).parent == folder
    folder.joinpath(Path(made.name).name).unlink()
    folder.rmdir()
    elsewhere = pynetdicom.dimse_messages.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm")
    elsewhere.close()
    Path(elsewhere.name).unlink()
    assert Path(elsewhere.name).parent != folder


def test_a_spooled_file_starts_its_write_back_while_it_arrives(tmp_path: Path,
                                                              writeback_starts: list[tuple[int, int]]) -> None:
    """Every WRITEBACK_BYTES received, the write-back of what came since the last start is queued."""
    real = receive_spool._writeback_starter()  # not the recording one
    read_end, write_end = os.pipe()
    try:
        assert real(write_end, 0, 1) is False, "a pipe has nothing to write back"
    finally:
        os.close(read_end)
        os.close(write_end)
    started = writeback_starts
    step, chunk = receive_spool.WRITEBACK_BYTES, os.urandom(3 << 20)
    # As pynetdicom makes it, writes it (a fragment at a time, each flushed) and closes it.
    made = tempfile.NamedTemporaryFile(delete=False, mode="wb", suffix=".dcm", dir=tmp_path)  # noqa: SIM115
    spooled = receive_spool.SpooledFile(made)
    for _ in range(5):  # 15 MiB in fragments of 3 MiB
        assert spooled.write(chunk) == len(chunk)
        spooled.file.flush()
    assert started == [(0, 2 * len(chunk)), (2 * len(chunk), 2 * len(chunk))]
    assert all(count >= step for _, count in started)
    spooled.close()
    path = Path(spooled.name)
    assert path.read_bytes() == chunk * 5
    if sys.platform.startswith("linux"):
        fd = os.open(path, os.O_RDONLY)
        try:
            assert real(fd, 0, len(chunk)) is True, "Linux queues the write-back of a file's range"
        finally:
            os.close(fd)


def _with_long_sequence(transfer_syntax: str) -> bytes:
    """A small US file with a 3,000-item Concept Name Code Sequence (about 180 KB: longer than what is skipped)."""
    ds = ultrasound_dataset(UltrasoundSpec(frames=2, rows=32, cols=40))
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    items = []
    for i in range(3000):
        item = pydicom.Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = f"C{i}", "DCM", "a long sequence"
        items.append(item)
    ds.ConceptNameCodeSequence = pydicom.Sequence(items)
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.mark.parametrize("transfer_syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_a_long_sequence_is_decoded_not_skipped(tmp_path: Path, transfer_syntax: str) -> None:
    data = _with_long_sequence(transfer_syntax)
    assert inspect(data).transfer_syntax_uid == transfer_syntax
    assert inspect_file(spooled(tmp_path, data)) == inspect(data)
    marker = b"C1500"
    at = data.index(marker)  # inside an item: a tag of the item's next element, garbled into a huge length
    garbled = data[:at + len(marker)] + b"\xff" * 8 + data[at + len(marker) + 8:]
    with pytest.raises(InvalidInstanceError):
        inspect(garbled)
    with pytest.raises(InvalidInstanceError):
        inspect_file(spooled(tmp_path, garbled, "garbled.dcm"))


def test_a_resent_cine_is_compared_in_chunks_to_its_last_byte(store: InstanceStore) -> None:
    ds = ultrasound_dataset(UltrasoundSpec(frames=60, rows=240, cols=320))  # several MiB: several chunks
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    assert len(data) > 3 * instance_store.COMPARE_CHUNK
    first = store.put_spooled(spooled(store.spool_dir, data, "a.dcm"), our_meta(data), "PACS")
    again = store.put_spooled(spooled(store.spool_dir, data, "b.dcm"), our_meta(data), "PACS")
    assert (first.outcome, again.outcome) == (StoreOutcome.STORED, StoreOutcome.DUPLICATE)
    last_byte_changed = data[:-1] + bytes([data[-1] ^ 0xFF])
    other = store.put_spooled(spooled(store.spool_dir, last_byte_changed, "c.dcm"), our_meta(data), "PACS")
    assert other.outcome is StoreOutcome.CONFLICTING_DUPLICATE and other.quarantined is not None
    assert other.quarantined.read_bytes().endswith(last_byte_changed[-1000:])
    assert first.instance.path.read_bytes()[-1000:] == data[-1000:], "the first copy is kept"
