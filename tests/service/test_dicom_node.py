"""The DICOM node against real peers on loopback: dcmtk's echoscu/storescu, and pynetdicom as an SCU.

Every test starts its own node on a free port and stops it. Statuses are read from ``storescu -v`` output
("Received Store Response (...)"), one line per file in the order given.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.uid import (
    ComprehensiveSRStorage,
    EncapsulatedPDFStorage,
    ExplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
    UltrasoundImageStorage,
    generate_uid,
)
from pynetdicom import AE, _config

from dvt_us.service import instance_store, receive_spool
from dvt_us.service.config import DicomNodeConfig
from dvt_us.service.dicom_node import (
    COMPRESSED_TRANSFER_SYNTAXES,
    Admission,
    DicomNode,
    NodeState,
    Refusal,
)
from dvt_us.service.dimse_status import HandOnError, response, rule_for
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance
from tests.conftest import find_test_file
from tests.dicom_factory import UltrasoundSpec, ultrasound_dataset
from tests.orthanc import Orthanc, running_orthanc
from tests.orthanc import store as orthanc_store

pytestmark = pytest.mark.skipif(shutil.which("storescu") is None, reason="dcmtk (storescu, echoscu) not installed")

RESPONSE = re.compile(r"Received Store Response \(([^)]*)\)")
HOST = "127.0.0.1"
TRAILING_PADDING = 0xFFFCFFFC
ESCAPE = Path(tempfile.gettempdir()) / f"dvt-us-escaped-{uuid.uuid4().hex}"
"""Where a hostile ``../`` UID would land if the store followed it (no such path may appear)."""


@dataclass
class Running:
    """A started node, its store, and what its on_stored received."""

    node: DicomNode
    port: int
    store: InstanceStore
    received: list[StoredInstance] = field(default_factory=list)

    def stored_files(self) -> list[Path]:
        return sorted(p for p in self.store.instances_dir.rglob("*") if p.is_file())

    def quarantined(self) -> list[Path]:
        return sorted(self.store.quarantine_dir.glob("*.dcm"))


@pytest.fixture
def start_node(tmp_path: Path) -> Iterator[Callable[..., Running]]:
    nodes: list[DicomNode] = []

    def start(on_stored: Callable[[StoredInstance], None] | None = None, **config: object) -> Running:
        store = InstanceStore(tmp_path / f"data{len(nodes)}")
        received: list[StoredInstance] = []
        settings = {"port": 0, "min_free_disk_mb": 0, **config}
        node = DicomNode(DicomNodeConfig.model_validate(settings), store, on_stored or received.append)
        nodes.append(node)
        port = node.start()
        return Running(node, port, store, received)

    yield start
    for node in nodes:
        node.stop()
        assert node.state is NodeState.STOPPED


def storescu(port: int, *files: Path | str, aet: str = "STORESCU", options: tuple[str, ...] = ("-R",),
             ) -> tuple[int, list[str], str]:
    """Run storescu (no halt on failure); return its exit code, the store responses, and its output."""
    done = subprocess.run(["storescu", "-v", "-nh", "-aet", aet, *options, HOST, str(port), *map(str, files)],
                          capture_output=True, text=True, timeout=300, check=False)
    output = done.stdout + done.stderr
    return done.returncode, RESPONSE.findall(output), output


def same_instance(stored: Path, sent: Path) -> None:
    """The stored file holds the sent dataset: every element equal, pixel data equal (raw and decoded).

    storescu re-encodes what it reads and leaves out Data Set Trailing Padding and group lengths, which
    are therefore not compared; the node itself changes no byte (see test_dataset_bytes_are_stored_as_sent).
    """
    ours, theirs = pydicom.dcmread(stored), pydicom.dcmread(sent)
    assert ours.file_meta.TransferSyntaxUID == theirs.file_meta.TransferSyntaxUID
    assert ours.file_meta.SourceApplicationEntityTitle.strip() != ""
    def compared(ds: Dataset) -> set[int]:
        return {tag for tag in list(ds.keys()) if tag != TRAILING_PADDING and tag.element != 0}

    assert compared(ours) == compared(theirs)
    for tag in compared(theirs):
        assert ours[tag].value == theirs[tag].value, f"{tag} {theirs[tag].keyword} changed"
    if "PixelData" in theirs:
        np.testing.assert_array_equal(ours.pixel_array, theirs.pixel_array)


def write_instance(path: Path, ds: Dataset) -> Path:
    ds.file_meta = ds.file_meta if "file_meta" in ds.__dict__ else FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ds.file_meta.get("TransferSyntaxUID", ExplicitVRLittleEndian)
    ds.save_as(path, enforce_file_format=True)
    return path


def variant(tmp_path: Path, name: str, source: str = "US1_UNCR.dcm", **changes: object) -> Path:
    """A copy of a real file with new UIDs and ``changes`` (``None`` deletes the attribute)."""
    ds = pydicom.dcmread(find_test_file(source))
    ds.SOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", generate_uid())
    ds.file_meta.MediaStorageSOPClassUID = ds.get("SOPClassUID", ds.file_meta.MediaStorageSOPClassUID)
    ds.save_as(tmp_path / name, enforce_file_format=False)
    return tmp_path / name


# Verification and acceptance policy


def test_echo(start_node: Callable[..., Running]) -> None:
    running = start_node()
    done = subprocess.run(["echoscu", HOST, str(running.port)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_unknown_calling_ae_is_rejected(start_node: Callable[..., Running]) -> None:
    running = start_node(allowed_calling_ae_titles=("PACS",))
    code, responses, output = storescu(running.port, find_test_file("US1_UNCR.dcm"), aet="INTRUDER")
    assert code != 0 and responses == []
    assert "Rejected Permanent" in output and "Calling AE Title Not Recognized" in output
    assert running.stored_files() == [] and running.received == []
    code, responses, _ = storescu(running.port, find_test_file("US1_UNCR.dcm"), aet="PACS")
    assert (code, responses) == (0, ["Success"]), "an allowed AE is accepted by the same node"


def test_low_free_disk_is_rejected(start_node: Callable[..., Running]) -> None:
    running = start_node(min_free_disk_mb=10**12)
    code, responses, output = storescu(running.port, find_test_file("US1_UNCR.dcm"))
    assert code != 0 and responses == []
    assert "Rejected Transient" in output, output
    assert running.stored_files() == [] and running.received == []


# Storage: what arrives is what is on disk


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("US1_UNCR.dcm", ("-R",)),
        ("OBXXXX1A_2frame.dcm", ("-R",)),
        ("gdcm-US-ALOKA-16.dcm", ("-R", "-xi")),
        ("ExplVR_BigEnd.dcm", ("-R", "-xb")),
        ("color-px.dcm", ("-R",)),  # retired Ultrasound Image Storage
        ("US1_J2KR.dcm", ("-R", "-xv")),
        ("US1_J2KI.dcm", ("-R", "-xw")),
        ("color3d_jpeg_baseline.dcm", ("-R", "-xy")),
        ("JPGLosslessP14SV1_1s_1f_8b.dcm", ("-R", "-xs")),
        ("OBXXXX1A_rle_2frame.dcm", ("-R", "-xr")),
    ],
)
def test_store_keeps_the_dataset(start_node: Callable[..., Running], name: str, options: tuple[str, ...]) -> None:
    running = start_node()
    sent = find_test_file(name)
    code, responses, output = storescu(running.port, sent, options=options)
    assert (code, responses) == (0, ["Success"]), output
    header = pydicom.dcmread(sent, stop_before_pixels=True)
    [instance] = running.received
    assert instance.sop_instance_uid == header.SOPInstanceUID
    assert instance.sop_class_uid == header.SOPClassUID
    assert instance.study_instance_uid == header.StudyInstanceUID
    assert instance.series_instance_uid == header.SeriesInstanceUID
    assert instance.transfer_syntax_uid == header.file_meta.TransferSyntaxUID
    assert instance.calling_ae_title == "STORESCU" and not instance.duplicate
    assert running.stored_files() == [instance.path]
    assert instance.size_bytes == instance.path.stat().st_size
    same_instance(instance.path, sent)
    assert list(running.store.spool_dir.iterdir()) == [], "received into the data folder's spool, then deleted"


def test_deflated_transfer_is_stored_deflated(start_node: Callable[..., Running]) -> None:
    running = start_node()
    sent = find_test_file("US1_UNCR.dcm")
    code, responses, output = storescu(running.port, sent, options=("-R", "-xd"))
    assert (code, responses) == (0, ["Success"]), output
    [instance] = running.received
    assert instance.transfer_syntax_uid == pydicom.uid.DeflatedExplicitVRLittleEndian
    same_instance_but_syntax = pydicom.dcmread(instance.path)
    np.testing.assert_array_equal(same_instance_but_syntax.pixel_array, pydicom.dcmread(sent).pixel_array)


def test_dataset_bytes_are_stored_as_sent(start_node: Callable[..., Running], monkeypatch: pytest.MonkeyPatch
                                          ) -> None:
    """Sent raw by pynetdicom (no re-encoding on either side): the bytes after the File Meta are identical."""
    running = start_node()
    sent = find_test_file("OBXXXX1A_rle.dcm")
    status = send_raw(running.port, sent, monkeypatch)
    assert status == 0x0000
    [instance] = running.received
    assert running.store.spool_dir.is_dir() and list(running.store.spool_dir.iterdir()) == []
    offset_sent = instance_store.inspect(sent.read_bytes()).dataset_offset
    stored = instance.path.read_bytes()
    assert stored[instance_store.inspect(stored).dataset_offset:] == sent.read_bytes()[offset_sent:]
    meta = pydicom.dcmread(instance.path, stop_before_pixels=True).file_meta
    assert meta.SourceApplicationEntityTitle.strip() == "RAWSCU", "the File Meta is regenerated by the node"


def test_a_cine_of_several_write_back_steps_is_stored_whole(start_node: Callable[..., Running], tmp_path: Path,
                                                           writeback_starts: list[tuple[int, int]]) -> None:
    """A 12 MiB cine: its write-back starts while it arrives (every 4 MiB), and the stored file is complete."""
    started = writeback_starts
    ds = ultrasound_dataset(UltrasoundSpec(frames=40, rows=480, cols=640, regions=[(0, 0, 639, 479)]))
    ds.PixelData = np.random.default_rng(3).integers(0, 256, (40, 480, 640), dtype=np.uint8).tobytes()
    sent = write_instance(tmp_path / "cine.dcm", ds)
    running = start_node()
    code, responses, output = storescu(running.port, sent)
    assert (code, responses) == (0, ["Success"]), output
    [instance] = running.received
    same_instance(instance.path, sent)
    assert len(started) >= 2 and started[0][0] == 0
    assert all(offset == before + count for (before, count), (offset, _) in itertools.pairwise(started))
    assert all(count >= receive_spool.WRITEBACK_BYTES for _, count in started)


def send_raw(port: int, path: Path, monkeypatch: pytest.MonkeyPatch, *, context: str | None = None) -> int:
    """C-STORE the file's dataset bytes unparsed (pynetdicom chunked send), under ``context`` if given."""
    monkeypatch.setattr(_config, "STORE_SEND_CHUNKED_DATASET", True)
    meta = pydicom.filereader.read_file_meta_info(path)
    ae = AE(ae_title="RAWSCU")
    ae.add_requested_context(context or meta.MediaStorageSOPClassUID, meta.TransferSyntaxUID)
    assoc = ae.associate(HOST, port)
    assert assoc.is_established
    try:
        status = assoc.send_c_store(path)
    finally:
        assoc.release()
    return int(status.Status)


def test_dvt_us_outputs_round_trip(start_node: Callable[..., Running], tmp_path: Path) -> None:
    """SR, SEG and Encapsulated PDF (what dvt-us sends) are accepted, so results can be sent back to us."""
    running = start_node()
    files = []
    for sop_class, modality in ((ComprehensiveSRStorage, "SR"), (SegmentationStorage, "SEG"),
                                (EncapsulatedPDFStorage, "DOC")):
        ds = Dataset()
        ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.Modality, ds.PatientID = modality, "PH-001"
        if sop_class == EncapsulatedPDFStorage:
            ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
            ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
        files.append(write_instance(tmp_path / f"{modality}.dcm", ds))
    code, responses, output = storescu(running.port, *files)
    assert (code, responses) == (0, ["Success"] * 3), output
    assert sorted(i.sop_class_uid for i in running.received) == sorted(
        [ComprehensiveSRStorage, SegmentationStorage, EncapsulatedPDFStorage])
    for instance, sent in zip(sorted(running.received, key=lambda i: i.sop_class_uid),
                              sorted(files, key=lambda f: pydicom.dcmread(f).SOPClassUID), strict=True):
        same_instance(instance.path, sent)


def test_duplicate_is_one_file_and_said_so(start_node: Callable[..., Running]) -> None:
    running = start_node()
    sent = find_test_file("US1_UNCR.dcm")
    code, responses, output = storescu(running.port, sent, sent)
    assert (code, responses) == (0, ["Success", "Success"]), output
    assert [i.duplicate for i in running.received] == [False, True]
    assert running.received[0].path == running.received[1].path
    assert len(running.stored_files()) == 1 and running.quarantined() == []


# Bad data: quarantined with a reason, a failure status, and the association and server go on


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"SOPInstanceUID": "1.2.3.abc"}, "bad-attribute: SOPInstanceUID"),
        ({"SeriesInstanceUID": None}, "missing-uid: no SeriesInstanceUID"),
        ({"StudyInstanceUID": "../" * 30 + ESCAPE.relative_to("/").as_posix()}, "bad-attribute: StudyInstanceUID"),
        ({"SOPInstanceUID": "../" * 30 + ESCAPE.relative_to("/").as_posix()}, "bad-attribute: SOPInstanceUID"),
    ],
)
def test_bad_instance_is_quarantined_and_the_next_is_stored(start_node: Callable[..., Running], tmp_path: Path,
                                                           changes: dict[str, object], reason: str) -> None:
    running = start_node()
    bad = variant(tmp_path, "bad.dcm", **changes)
    good = find_test_file("US1_UNCR.dcm")
    _, responses, output = storescu(running.port, bad, good)
    assert responses == ["Error: CannotUnderstand", "Success"], output
    [quarantined] = running.quarantined()
    assert reason in quarantined.with_suffix(".json").read_text()
    assert pydicom.dcmread(quarantined).PixelData == pydicom.dcmread(bad).PixelData
    [instance] = running.received
    assert running.stored_files() == [instance.path]
    assert instance.path.resolve().is_relative_to(running.store.instances_dir)
    assert not ESCAPE.exists() and not ESCAPE.with_suffix(".dcm").exists()
    assert storescu(running.port, good)[1] == ["Success"], "the server still answers new associations"


def test_sop_class_not_matching_the_context_is_refused(start_node: Callable[..., Running], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    running = start_node()
    mismatched = variant(tmp_path, "sc.dcm", SOPClassUID=SecondaryCaptureImageStorage)
    meta = pydicom.dcmread(mismatched, stop_before_pixels=True)
    meta.file_meta.MediaStorageSOPClassUID = UltrasoundImageStorage  # sent as US, says SC inside
    meta_only = pydicom.dcmread(mismatched)
    meta_only.file_meta = meta.file_meta
    meta_only.save_as(mismatched, enforce_file_format=False)
    assert send_raw(running.port, mismatched, monkeypatch) == 0xA900
    [quarantined] = running.quarantined()
    assert "sent as 1.2.840.10008.5.1.4.1.1.6.1" in quarantined.with_suffix(".json").read_text()
    assert running.received == [] and running.stored_files() == []


def test_unparseable_dataset_is_refused(start_node: Callable[..., Running], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    running = start_node()
    source = find_test_file("US1_UNCR.dcm")
    data = bytearray(source.read_bytes())
    offset = instance_store.inspect(bytes(data)).dataset_offset
    data[offset + 8 : offset + 48] = b"\xff" * 40  # garble the first elements of the dataset
    garbled = tmp_path / "garbled.dcm"
    garbled.write_bytes(bytes(data))
    assert send_raw(running.port, garbled, monkeypatch) == 0xC000
    assert len(running.quarantined()) == 1
    assert running.received == [] and running.stored_files() == []
    assert storescu(running.port, source)[1] == ["Success"]


# Failures around the store


def test_failing_on_stored_keeps_the_instance(start_node: Callable[..., Running]) -> None:
    calls: list[StoredInstance] = []

    def on_stored(instance: StoredInstance) -> None:
        calls.append(instance)
        if len(calls) == 1:
            raise RuntimeError("job queue unavailable")

    running = start_node(on_stored=on_stored)
    first, second = find_test_file("US1_UNCR.dcm"), find_test_file("OBXXXX1A.dcm")
    _, responses, output = storescu(running.port, first, second)
    assert responses == ["Refused: OutOfResources", "Success"], output
    assert calls[0].path.is_file(), "the instance is on disk although the hand-on failed"
    same_instance(calls[0].path, first)
    # The sender retries: a duplicate, handed on again, now acknowledged.
    assert storescu(running.port, first)[1] == ["Success"]
    assert [c.duplicate for c in calls] == [False, False, True]
    assert len(running.stored_files()) == 2


def test_disk_full_answers_out_of_resources(start_node: Callable[..., Running],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    running = start_node()

    def no_space(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(instance_store.os, "fsync", no_space)
    _, responses, output = storescu(running.port, find_test_file("US1_UNCR.dcm"))
    monkeypatch.undo()
    assert responses == ["Refused: OutOfResources"], output
    assert running.stored_files() == [] and running.received == []


def test_every_listed_compressed_syntax_has_a_decoder() -> None:
    for syntax in COMPRESSED_TRANSFER_SYNTAXES:
        assert get_decoder(syntax).is_available, syntax


# Concurrency


def _copy_study(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    study, series = generate_uid(), {}
    copies = []
    for path in files:
        ds = pydicom.dcmread(path)
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series.setdefault(ds.SeriesInstanceUID, generate_uid())
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.save_as(folder / path.name, enforce_file_format=True)
        copies.append(folder / path.name)
    return copies


@pytest.fixture(scope="module")
def phantom_study(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from dvt_us.phantom.trial import plan_trial
    from dvt_us.phantom.trial_writer import RenderOptions, write_trial

    out = tmp_path_factory.mktemp("phantom")
    write_trial(plan_trial(1, seed=21, protocol="short", visits=1), out, RenderOptions(shape=(200, 260), frames=4),
                jobs=2)
    return sorted((out / "dicom").rglob("*.dcm"))


def _parallel_storescu(port: int, batches: list[list[Path]]) -> list[tuple[int, list[str], str]]:
    processes = [subprocess.Popen(["storescu", "-v", "-nh", "-R", HOST, str(port), *map(str, batch)],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for batch in batches]
    results = []
    for process in processes:
        output, _ = process.communicate(timeout=300)
        results.append((process.returncode, RESPONSE.findall(output), output))
    return results


def test_ten_parallel_associations_store_everything(start_node: Callable[..., Running], tmp_path: Path,
                                                    phantom_study: list[Path]) -> None:
    running = start_node()
    batches = [_copy_study(phantom_study, tmp_path / f"copy{i}") for i in range(10)]
    results = _parallel_storescu(running.port, batches)
    sent = {}
    for batch, (code, responses, output) in zip(batches, results, strict=True):
        assert (code, responses) == (0, ["Success"] * len(batch)), output
        sent.update({pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in batch})
    assert len(running.received) == len(sent) == 10 * len(phantom_study)
    assert not any(i.duplicate for i in running.received)
    assert len(running.stored_files()) == len(sent)
    for instance in running.received:  # every acknowledged instance is on disk, as sent
        source = pydicom.dcmread(sent[instance.sop_instance_uid])
        stored = pydicom.dcmread(instance.path)
        assert stored.SOPInstanceUID == source.SOPInstanceUID
        assert stored.PixelData == source.PixelData


def test_parallel_copies_of_one_study_leave_one_file_each(start_node: Callable[..., Running],
                                                          phantom_study: list[Path]) -> None:
    running = start_node()
    results = _parallel_storescu(running.port, [phantom_study] * 5)
    for code, responses, output in results:
        assert (code, responses) == (0, ["Success"] * len(phantom_study)), output
    assert len(running.stored_files()) == len(phantom_study)
    firsts = [i.sop_instance_uid for i in running.received if not i.duplicate]
    assert sorted(firsts) == sorted({i.sop_instance_uid for i in running.received})
    assert len(running.received) == 5 * len(phantom_study)


def test_context_manager_starts_and_stops(tmp_path: Path) -> None:
    node = DicomNode(DicomNodeConfig(port=0, min_free_disk_mb=0), InstanceStore(tmp_path), lambda _: None)
    with node as running:
        assert running.state is NodeState.RUNNING
        assert subprocess.run(["echoscu", HOST, str(running.port)], timeout=60, check=False).returncode == 0
    assert node.state is NodeState.STOPPED
    with pytest.raises(RuntimeError, match="started once"):
        node.start()


def test_ingest_reads_what_was_stored(start_node: Callable[..., Running]) -> None:
    from dvt_us.ingest import Source, read_clip

    running = start_node()
    assert storescu(running.port, find_test_file("color3d_jpeg_baseline.dcm"), options=("-R", "-xy"))[1] == [
        "Success"]
    clip = read_clip(Source(running.received[0].path))
    assert clip.frames == 120



def test_conflicting_duplicate_is_a_warning_and_the_first_is_kept(start_node: Callable[..., Running],
                                                                  tmp_path: Path) -> None:
    running = start_node()
    first = find_test_file("US1_UNCR.dcm")
    changed = pydicom.dcmread(first)
    changed.PatientName = "Changed^After^Sending"
    changed.save_as(tmp_path / "changed.dcm")
    _, responses, output = storescu(running.port, first, tmp_path / "changed.dcm")
    assert responses == ["Success", "Warning: ElementsDiscarded"], output
    [stored] = running.stored_files()
    assert pydicom.dcmread(stored).PatientName == pydicom.dcmread(first).PatientName
    [quarantined] = running.quarantined()
    assert pydicom.dcmread(quarantined).PatientName == "Changed^After^Sending"
    assert [i.duplicate for i in running.received] == [False, True]


@pytest.mark.parametrize(
    ("exc", "status", "quarantine"),
    [
        (instance_store.SopClassMismatchError("x"), 0xA900, True),
        (instance_store.InvalidInstanceError(instance_store.ProblemCode.MISSING_UID, "x"), 0xC000, True),
        (instance_store.StorageFullError(errno.ENOSPC, "full"), 0xA700, False),
        (HandOnError("x"), 0xA702, False),
        (PermissionError(errno.EACCES, "denied"), 0xA701, False),
        (KeyError("bug"), 0xC100, True),
    ],
)
def test_status_table(exc: Exception, status: int, quarantine: bool) -> None:
    rule = rule_for(exc)
    assert (rule.status, rule.quarantine) == (status, quarantine)
    answer = response(rule.status, "x" * 100 + "\\é")
    assert answer.Status == status and len(answer.ErrorComment) == 64


def test_admission_policy() -> None:
    admission = Admission(frozenset({"PACS"}), min_free_disk_mb=100)
    assert admission.refusal("PACS", 1000) is None
    assert admission.refusal("PACS  ", 1000) is None
    assert admission.refusal("OTHER", 1000) is Refusal.CALLING_AE_NOT_RECOGNISED
    assert admission.refusal("PACS", 99) is Refusal.LOW_DISK
    assert Admission(frozenset(), 0).refusal("ANYONE", 0) is None
    assert (Refusal.LOW_DISK.result, Refusal.LOW_DISK.source, Refusal.LOW_DISK.reason) == (2, 3, 1)


@pytest.mark.parametrize(
    ("source", "option", "changes"),
    [
        ("MR_small_jpeg_ls_lossless.dcm", "-xt", {"SOPClassUID": SecondaryCaptureImageStorage}),
        ("SC_rgb_jls_lossy_sample.dcm", "-xu", {"StudyInstanceUID": "1.2.3.4", "SeriesInstanceUID": "1.2.3.4.1"}),
    ],
)
def test_jpeg_ls_is_stored(start_node: Callable[..., Running], tmp_path: Path, source: str, option: str,
                           changes: dict[str, object]) -> None:
    running = start_node()
    sent = variant(tmp_path, "jls.dcm", source=source, **changes)
    _, responses, output = storescu(running.port, sent, options=("-R", option))
    assert responses == ["Success"], output
    [instance] = running.received
    assert instance.transfer_syntax_uid == pydicom.filereader.read_file_meta_info(sent).TransferSyntaxUID
    assert instance.sop_class_uid == SecondaryCaptureImageStorage
    same_instance(instance.path, sent)


def test_real_file_without_study_uid_is_quarantined(start_node: Callable[..., Running]) -> None:
    running = start_node()
    _, responses, output = storescu(running.port, find_test_file("SC_rgb_jls_lossy_sample.dcm"),
                                    options=("-R", "-xu"))
    assert responses == ["Error: CannotUnderstand"], output
    [quarantined] = running.quarantined()
    assert "missing-uid: no StudyInstanceUID" in quarantined.with_suffix(".json").read_text()


def _orthanc_call(pacs: Orthanc, method: str, path: str, body: object) -> object:
    request = urllib.request.Request(f"http://127.0.0.1:{pacs.http_port}{path}", method=method,
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as answer:
        text = answer.read()
    return json.loads(text) if text else None


def test_orthanc_routes_a_study_to_the_node(start_node: Callable[..., Running], tmp_path: Path) -> None:
    """A real PACS (Orthanc) forwards what it holds to the node, as a site's routing rule would."""
    running = start_node(allowed_calling_ae_titles=("DVTPACS",))
    files = [find_test_file("US1_UNCR.dcm"), find_test_file("color3d_jpeg_baseline.dcm"),
             find_test_file("OBXXXX1A_rle.dcm")]
    with running_orthanc(tmp_path) as pacs:
        for path, option in zip(files, ("-xe", "-xy", "-xr"), strict=True):
            loaded = orthanc_store(pacs, [path], option)
            assert loaded.returncode == 0, loaded.stderr
        _orthanc_call(pacs, "PUT", "/modalities/dvtus", {"AET": "DVTUS", "Host": HOST, "Port": running.port})
        instances = json.loads(pacs.get(f"http://127.0.0.1:{pacs.http_port}/instances", "application/json")[1])
        assert len(instances) == len(files)
        _orthanc_call(pacs, "POST", "/modalities/dvtus/store", {"Resources": instances, "Synchronous": True})
    assert sorted(i.sop_instance_uid for i in running.received) == sorted(
        pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID for f in files)
    assert {i.calling_ae_title for i in running.received} == {"DVTPACS"}
    by_uid = {i.sop_instance_uid: i for i in running.received}
    for sent in files:
        instance = by_uid[pydicom.dcmread(sent, stop_before_pixels=True).SOPInstanceUID]
        np.testing.assert_array_equal(pydicom.dcmread(instance.path).pixel_array, pydicom.dcmread(sent).pixel_array)


def test_a_received_instance_is_linked_from_the_spool_not_copied(start_node: Callable[..., Running],
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The spooled file already starts with the node's File Meta (calling AE included): it is the stored file."""
    copies: list[Path] = []
    copy = instance_store._head_and_tail

    def counted(head: bytes, source: Path, offset: int) -> Callable[..., None]:
        copies.append(source)
        return copy(head, source, offset)

    monkeypatch.setattr(instance_store, "_head_and_tail", counted)
    running = start_node()
    sent = find_test_file("US1_J2KR.dcm")
    code, responses, output = storescu(running.port, sent, aet="LINKSCU", options=("-R", "-xv"))
    assert (code, responses) == (0, ["Success"]), output
    [instance] = running.received
    assert copies == [], "the dataset was copied, not linked"
    assert os.stat(instance.path).st_nlink == 1, "the spooled name is gone"
    assert list(running.store.spool_dir.iterdir()) == []
    meta = pydicom.dcmread(instance.path, stop_before_pixels=True).file_meta
    assert meta.SourceApplicationEntityTitle == "LINKSCU"
    same_instance(instance.path, sent)
