"""A real Orthanc (Debian packages orthanc, orthanc-dicomweb) on loopback ports, as the PACS in tests."""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import json
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass(frozen=True)
class Orthanc:
    """A running Orthanc: its AE title, DICOM port and DICOMweb root."""

    aet: str
    dicom_port: int
    http_port: int

    @property
    def dicomweb(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/dicom-web"

    def get(self, url: str, accept: str) -> tuple[str, bytes]:
        """(content type, body) of a GET."""
        request = urllib.request.Request(url, headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.headers["Content-Type"], response.read()

    def qido(self, path: str) -> list[dict[str, Any]]:
        """A QIDO-RS query under the DICOMweb root, as DICOM JSON."""
        _, body = self.get(f"{self.dicomweb}/{path}", "application/dicom+json")
        found: list[dict[str, Any]] = json.loads(body) if body else []
        return found

    def retrieve(self, study: str, series: str, instance: str) -> bytes:
        """WADO-RS: the instance's Part 10 bytes."""
        content_type, body = self.get(f"{self.dicomweb}/studies/{study}/series/{series}/instances/{instance}",
                                      'multipart/related; type="application/dicom"')
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + body)
        parts = [p.get_payload(decode=True) for p in message.iter_parts()]
        if len(parts) != 1:
            raise ValueError(f"WADO-RS answered {len(parts)} parts, expected 1")
        payload: bytes = parts[0]
        return payload


@contextlib.contextmanager
def running_orthanc(work: Path) -> Iterator[Orthanc]:
    """Start Orthanc with its storage under ``work``; stop it on exit."""
    binary = shutil.which("Orthanc")
    if binary is None or not DICOMWEB_PLUGIN.exists():
        raise RuntimeError("Orthanc is missing: .ci/run installs the Debian packages orthanc and orthanc-dicomweb")
    work.mkdir(parents=True, exist_ok=True)
    server = Orthanc("DVTPACS", free_port(), free_port())
    config = {
        "Name": "dvt-us-test-pacs", "StorageDirectory": str(work / "storage"), "IndexDirectory": str(work / "index"),
        "DicomAet": server.aet, "DicomPort": server.dicom_port, "HttpPort": server.http_port,
        "RemoteAccessAllowed": False, "AuthenticationEnabled": False, "DicomCheckCalledAet": True,
        "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1, "LogExportedResources": False,
    }
    (work / "orthanc.json").write_text(json.dumps(config))
    log = (work / "orthanc.log").open("w")
    process = subprocess.Popen([binary, str(work / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                server.get(f"http://127.0.0.1:{server.http_port}/system", "application/json")
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Orthanc did not start: {(work / 'orthanc.log').read_text()[-2000:]}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def store(server: Orthanc, files: list[Path], *flags: str, calling_aet: str = "DVTUS",
          called_aet: str | None = None) -> subprocess.CompletedProcess[str]:
    """C-STORE ``files`` into Orthanc with dcmtk's storescu (Debian package dcmtk), proposing what they need."""
    command = ["storescu", "--required", *flags, "-aet", calling_aet, "-aec", called_aet or server.aet,
               "127.0.0.1", str(server.dicom_port), *map(str, files)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
