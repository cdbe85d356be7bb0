"""STOW-RS over real HTTP on loopback (uvicorn, httpx) into a real instance store and database, on both backends.

Bodies are built here from pydicom's real ultrasound files, byte for byte as a STOW-RS client sends them,
and a real Orthanc (its DICOMweb plugin as the STOW-RS client) sends a study as a PACS would. Each test
starts its own API over a fresh data folder; the hand-on is the service's own (``recorder``).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pydicom
import pytest
from pydicom.encaps import encapsulate
from pydicom.uid import MPEG2MPML, generate_uid

from dvt_us.service import instance_store
from dvt_us.service.app import recorder
from dvt_us.service.config import DicomNodeConfig, ServiceConfig
from dvt_us.service.db import Database
from dvt_us.service.http_api import DEFAULT_MAX_STOW_BYTES, PROBLEM_JSON, Intake, create_app
from dvt_us.service.http_api.stow import DICOM_JSON, STOW_SOURCE
from dvt_us.service.http_api.stow_status import FailureReason, WarningReason
from dvt_us.service.http_server import HttpServer
from dvt_us.service.instance_store import InstanceStore
from dvt_us.service.instances import StoredInstance
from tests.conftest import find_test_file
from tests.orthanc import Orthanc, running_orthanc

TOKEN = "stow-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
US = "US1_UNCR.dcm"
RLE = "OBXXXX1A_rle.dcm"
NATIVE = "OBXXXX1A.dcm"
"""Same SOP Instance UID as RLE, another transfer syntax: a conflicting duplicate of it."""
FAILED, REFERENCED, RETRIEVE_URL = "00081198", "00081199", "00081190"
REASON, WARNING, SOP_INSTANCE = "00081197", "00081196", "00081155"


@dataclass
class Stow:
    """A running API with STOW-RS over a fresh store and database."""

    url: str
    store: InstanceStore
    db: Database

    def post(self, parts: list[tuple[bytes, str | None]], path: str = "/studies", **headers: str) -> httpx.Response:
        content_type, body = multipart(parts)
        return httpx.post(self.url + path, content=body, timeout=60,
                          headers={**AUTH, "Content-Type": content_type, "Accept": DICOM_JSON, **headers})

    def stored(self) -> list[Path]:
        return sorted(p for p in self.store.instances_dir.rglob("*") if p.is_file())

    def quarantined(self) -> list[Path]:
        return sorted(self.store.quarantine_dir.glob("*.dcm"))

    def leftovers(self) -> list[Path]:
        """Files in the data folder besides the database, the stored instances and the quarantine."""
        skip = (self.store.instances_dir, self.store.quarantine_dir)
        return [p for p in self.store.root.rglob("*") if p.is_file() and not p.name.startswith("dvt-us.db")
                and not any(p.is_relative_to(folder) for folder in skip)]


def multipart(parts: list[tuple[bytes, str | None]], root_type: str = "application/dicom") -> tuple[str, bytes]:
    """(Content-Type, body) of a ``multipart/related`` body; each part's bytes and Content-Type (None: no header)."""
    boundary = uuid.uuid4().hex
    body = b""
    for data, content_type in parts:
        header = f"Content-Type: {content_type}\r\n" if content_type else ""
        body += f"--{boundary}\r\n{header}\r\n".encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f'multipart/related; type="{root_type}"; boundary={boundary}', body


def dicom(name: str) -> tuple[bytes, str]:
    return find_test_file(name).read_bytes(), "application/dicom"


def garbled(name: str = US) -> bytes:
    """A real file with the first elements of its dataset overwritten."""
    data = bytearray(find_test_file(name).read_bytes())
    offset = instance_store.inspect(bytes(data)).dataset_offset
    data[offset + 8: offset + 48] = b"\xff" * 40
    return bytes(data)


def uids(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(find_test_file(name), stop_before_pixels=True)


@pytest.fixture
def start_stow(database: Database, tmp_path: Path) -> Iterator[Callable[..., Stow]]:
    servers: list[HttpServer] = []

    def start(min_free_disk_mb: int = 0, on_stored: Callable[[StoredInstance], None] | None = None,
              max_stow_bytes: int = DEFAULT_MAX_STOW_BYTES) -> Stow:
        data_dir = tmp_path / f"data{len(servers)}"
        store = InstanceStore(data_dir)
        config = ServiceConfig(data_dir=data_dir, dicom=DicomNodeConfig(min_free_disk_mb=min_free_disk_mb))
        app = create_app(database, config, token=TOKEN, intake=Intake(store, on_stored or recorder(database)),
                         max_stow_bytes=max_stow_bytes)
        server = HttpServer(app, "127.0.0.1", 0)
        servers.append(server)
        server.start()
        return Stow(f"http://127.0.0.1:{server.port}", store, database)

    yield start
    for server in servers:
        server.stop()


def _problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_JSON
    body: dict[str, object] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def _sop_uids(body: dict[str, dict[str, list[dict[str, dict[str, list[str]]]]]], tag: str) -> list[str]:
    return [item[SOP_INSTANCE]["Value"][0] for item in body[tag]["Value"]]


# --- storing ---------------------------------------------------------------------------------------------

def test_a_study_is_stored_byte_for_byte_and_recorded(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow()
    response = stow.post([dicom(US), dicom(RLE)])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DICOM_JSON
    body = response.json()
    assert FAILED not in body
    assert sorted(_sop_uids(body, REFERENCED)) == sorted(uids(n).SOPInstanceUID for n in (US, RLE))
    assert body[RETRIEVE_URL] == {"vr": "UR"}, "two studies: no single Retrieve URL"
    stored = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in stow.stored()}
    for name in (US, RLE):
        assert stored[uids(name).SOPInstanceUID].read_bytes() == find_test_file(name).read_bytes()
    counts = {s.study_instance_uid: s.instance_count for s in stow.db.studies()}
    assert counts == {uids(US).StudyInstanceUID: 1, uids(RLE).StudyInstanceUID: 1}
    events = [e for e in stow.db.events(0, 100) if e.kind == "instance.received"]
    assert {e.detail["calling_ae_title"] for e in events} == {STOW_SOURCE}
    assert stow.quarantined() == [] and stow.leftovers() == []


def test_a_malformed_part_is_quarantined_and_the_others_are_stored(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow()
    response = stow.post([dicom(RLE), (garbled(), "application/dicom"), dicom(US)])
    assert response.status_code == 202, response.text
    body = response.json()
    [failed] = body[FAILED]["Value"]
    assert failed[REASON] == {"vr": "US", "Value": [FailureReason.CANNOT_UNDERSTAND]}
    assert sorted(_sop_uids(body, REFERENCED)) == sorted(uids(n).SOPInstanceUID for n in (US, RLE))
    [quarantined] = stow.quarantined()
    record = json.loads(quarantined.with_suffix(".json").read_text())
    assert record["reason"].startswith(("missing-uid:", "unreadable:")) and record["calling_ae_title"] == STOW_SOURCE
    assert quarantined.read_bytes() == garbled()
    assert len(stow.stored()) == 2 and sum(s.instance_count for s in stow.db.studies()) == 2


def test_a_duplicate_is_stored_once_and_a_conflicting_one_is_a_warning(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow()
    assert stow.post([dicom(RLE)]).status_code == 200
    again = stow.post([dicom(RLE)])
    assert again.status_code == 200 and WARNING not in again.json()[REFERENCED]["Value"][0]
    conflicting = stow.post([dicom(NATIVE)])  # same SOP Instance UID, another transfer syntax
    assert conflicting.status_code == 202, conflicting.text
    [item] = conflicting.json()[REFERENCED]["Value"]
    assert item[WARNING] == {"vr": "US", "Value": [WarningReason.ELEMENTS_DISCARDED]}
    [only] = stow.stored()
    assert only.read_bytes() == find_test_file(RLE).read_bytes(), "the first copy is kept"
    [copy] = stow.quarantined()
    assert "conflicting-duplicate" in copy.with_suffix(".json").read_text()
    assert [s.instance_count for s in stow.db.studies()] == [1]


def test_posting_to_a_study_refuses_instances_of_another(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow()
    study = uids(US).StudyInstanceUID
    response = stow.post([dicom(US), dicom(RLE)], path=f"/studies/{study}")
    assert response.status_code == 202, response.text
    body = response.json()
    assert body[RETRIEVE_URL]["Value"] == [f"{stow.url}/studies/{study}"]
    assert _sop_uids(body, REFERENCED) == [uids(US).SOPInstanceUID]
    [failed] = body[FAILED]["Value"]
    assert failed[SOP_INSTANCE]["Value"] == [uids(RLE).SOPInstanceUID]
    assert failed[REASON]["Value"] == [FailureReason.STUDY_INSTANCE_UID_MISMATCH]
    assert len(stow.stored()) == 1 and stow.quarantined() == [], "a sound instance of another study is not kept"


def test_all_parts_failing_is_409(start_stow: Callable[..., Stow], tmp_path: Path) -> None:
    stow = start_stow()
    ct = dicom("CT_small.dcm")
    mpeg = pydicom.dcmread(find_test_file(US))
    mpeg.file_meta.TransferSyntaxUID = MPEG2MPML  # video: not a syntax the node accepts
    mpeg.PixelData = encapsulate([b"\x00\x00\x01\xb3" + bytes(60)])  # an MPEG-2 sequence header start
    mpeg.SOPInstanceUID = mpeg.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    mpeg.save_as(tmp_path / "mpeg.dcm", enforce_file_format=True)
    response = stow.post([ct, ((tmp_path / "mpeg.dcm").read_bytes(), None), (b"not dicom", "application/dicom"),
                          (find_test_file(US).read_bytes(), "application/octet-stream")])
    assert response.status_code == 409, response.text
    body = response.json()
    assert REFERENCED not in body
    assert [item[REASON]["Value"][0] for item in body[FAILED]["Value"]] == [
        FailureReason.SOP_CLASS_NOT_SUPPORTED, FailureReason.TRANSFER_SYNTAX_NOT_SUPPORTED,
        FailureReason.CANNOT_UNDERSTAND, FailureReason.CANNOT_UNDERSTAND]
    assert stow.stored() == [] and stow.db.studies() == []
    reasons = sorted(json.loads(p.with_suffix(".json").read_text())["reason"] for p in stow.quarantined())
    assert len(reasons) == 2 and reasons[0].startswith("not-dicom") and "application/octet-stream" in reasons[1]


def test_a_failing_hand_on_keeps_the_instance_and_asks_to_send_again(start_stow: Callable[..., Stow]) -> None:
    def broken(instance: StoredInstance) -> None:
        raise RuntimeError("queue unavailable")

    stow = start_stow(on_stored=broken)
    response = stow.post([dicom(US)])
    assert response.status_code == 409
    assert response.json()[FAILED]["Value"][0][REASON]["Value"] == [FailureReason.OUT_OF_RESOURCES_HAND_ON]
    assert len(stow.stored()) == 1 and stow.quarantined() == []


# --- refusals of the whole request -----------------------------------------------------------------------

@pytest.mark.parametrize("content_type", ["application/dicom", 'multipart/related; type="application/dicom+json"',
                                          "multipart/form-data; boundary=x", "multipart/related; boundary=x", ""])
def test_another_media_type_is_415(start_stow: Callable[..., Stow], content_type: str) -> None:
    stow = start_stow()
    response = httpx.post(f"{stow.url}/studies", content=find_test_file(US).read_bytes(), timeout=60,
                          headers={**AUTH, "Content-Type": content_type})
    assert _problem(response, 415)["type"] == "urn:dvt-us:problem:unsupported-media-type"
    assert stow.stored() == [] and stow.leftovers() == []


@pytest.mark.parametrize("body", [b"", b"--b\r\nContent-Type: application/dicom\r\n\r\nDICM", b"--b--\r\n",
                                  b"garbage without any boundary"], ids=["empty", "unterminated", "no-parts", "junk"])
def test_a_broken_multipart_body_is_400(start_stow: Callable[..., Stow], body: bytes) -> None:
    stow = start_stow()
    response = httpx.post(f"{stow.url}/studies", content=body, timeout=60,
                          headers={**AUTH, "Content-Type": 'multipart/related; type="application/dicom"; boundary=b'})
    _problem(response, 400)
    assert stow.stored() == [] and stow.leftovers() == []


def test_a_body_over_the_limit_is_413_and_nothing_is_stored(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow(max_stow_bytes=200_000)
    assert stow.post([dicom(RLE)]).status_code == 200, "under the limit"
    _problem(stow.post([dicom(US)]), 413)  # Content-Length says so
    content_type, body = multipart([dicom(RLE), dicom(US)])

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        for start in range(0, len(body), 65536):
            yield body[start:start + 65536]

    streamed = httpx.post(f"{stow.url}/studies", content=chunks(), timeout=60,
                          headers={**AUTH, "Content-Type": content_type})
    assert "content-length" not in streamed.request.headers
    _problem(streamed, 413)
    assert len(stow.stored()) == 1 and stow.leftovers() == []


def test_low_free_disk_is_503_with_retry_after(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow(min_free_disk_mb=10**9)
    response = stow.post([dicom(US)])
    assert _problem(response, 503)["type"] == "urn:dvt-us:problem:low-disk"
    assert int(response.headers["retry-after"]) > 0
    assert stow.stored() == []


def test_an_accept_without_dicom_json_is_406(start_stow: Callable[..., Stow]) -> None:
    stow = start_stow()
    _problem(stow.post([dicom(US)], Accept="application/dicom+xml"), 406)
    assert stow.post([dicom(US)], Accept="application/json, */*;q=0.1").status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}],
                         ids=["none", "wrong", "basic"])
@pytest.mark.parametrize("path", ["/studies", "/studies/1.2.3"])
def test_stow_needs_the_token(start_stow: Callable[..., Stow], path: str, headers: dict[str, str]) -> None:
    stow = start_stow()
    content_type, body = multipart([dicom(US)])
    response = httpx.post(stow.url + path, content=body, timeout=60, headers={**headers, "Content-Type": content_type})
    assert _problem(response, 401)["type"] == "urn:dvt-us:problem:unauthorized"
    assert stow.stored() == [] and stow.db.studies() == []


def test_a_bad_study_uid_in_the_path_is_422(start_stow: Callable[..., Stow]) -> None:
    _problem(start_stow().post([dicom(US)], path="/studies/not-a-uid"), 422)


def test_openapi_describes_stow(start_stow: Callable[..., Stow]) -> None:
    spec = httpx.get(f"{start_stow().url}/openapi.json", headers=AUTH, timeout=30).json()
    for path in ("/studies", "/studies/{study_uid}"):
        post = spec["paths"][path]["post"]
        assert 'multipart/related; type="application/dicom"' in post["requestBody"]["content"]
        assert {"200", "202", "409", "413", "415", "401"} <= set(post["responses"])


# --- a real PACS as the STOW-RS client ---------------------------------------------------------------------

def _orthanc(pacs: Orthanc, method: str, path: str, body: bytes | dict[str, object]) -> object:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{pacs.http_port}{path}", data=data, method=method)
    with urllib.request.urlopen(request, timeout=120) as response:
        text = response.read().decode()
    return json.loads(text) if text.strip() else None


@pytest.mark.parametrize("token_ok", [True, False], ids=["token", "wrong-token"])
def test_orthanc_sends_a_study_by_stow_rs(start_stow: Callable[..., Stow], tmp_path: Path, token_ok: bool) -> None:
    """Orthanc's DICOMweb plugin POSTs what it holds to /studies with the configured bearer token."""
    stow = start_stow()
    names = [US, RLE, "color-px.dcm"]
    with running_orthanc(tmp_path / "orthanc") as pacs:
        ids = [_orthanc(pacs, "POST", "/instances", find_test_file(n).read_bytes()) for n in names]
        resources = [str(i["ID"]) for i in ids if isinstance(i, dict)]
        token = TOKEN if token_ok else "not-the-token"
        _orthanc(pacs, "PUT", "/dicom-web/servers/dvtus",
                 {"Url": f"{stow.url}/", "HttpHeaders": {"Authorization": f"Bearer {token}"}})
        if not token_ok:
            with pytest.raises(urllib.error.HTTPError):
                _orthanc(pacs, "POST", "/dicom-web/servers/dvtus/stow", {"Resources": resources})
            assert stow.stored() == [] and stow.db.studies() == []
            return
        _orthanc(pacs, "POST", "/dicom-web/servers/dvtus/stow", {"Resources": resources})
    assert len(resources) == len(names)
    by_uid = {pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID: p for p in stow.stored()}
    assert set(by_uid) == {uids(n).SOPInstanceUID for n in names}
    for name in names:
        sent = pydicom.dcmread(find_test_file(name))
        assert pydicom.dcmread(by_uid[sent.SOPInstanceUID]).PixelData == sent.PixelData
    assert sum(s.instance_count for s in stow.db.studies()) == len(names)
