"""``dvt-us health`` (the container's HEALTHCHECK) against a real service on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from dvt_us.service.app import Service
from dvt_us.service.config import DicomNodeConfig, HttpConfig, JobsConfig, ServiceConfig

TOKEN = "health-check-token"


def _health(config: Path, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvt_us", "health", "--config", str(config), "--url", url],
                          capture_output=True, text=True, check=False, timeout=120)


def _config_file(tmp_path: Path, name: str, token: str) -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"http": {"token": token}}))
    return path


def test_health_is_0_for_a_running_service_and_1_for_a_wrong_token_or_a_stopped_one(tmp_path: Path) -> None:
    config = ServiceConfig(data_dir=tmp_path / "data", dicom=DicomNodeConfig(port=0, min_free_disk_mb=0),
                           jobs=JobsConfig(study_idle_s=1.0, poll_s=0.2), http=HttpConfig(port=0, token=TOKEN))
    good, wrong = _config_file(tmp_path, "good.yaml", TOKEN), _config_file(tmp_path, "wrong.yaml", "not-it")
    with Service(config) as service:
        url = f"http://127.0.0.1:{service.http_port}"
        healthy, refused = _health(good, url), _health(wrong, url)
    stopped = _health(good, url)
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert "ok" in healthy.stdout
    assert refused.returncode == 1 and "401" in refused.stderr, refused.stderr
    assert stopped.returncode == 1 and "unhealthy" in stopped.stderr, stopped.stderr


def test_health_without_http_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "off.yaml"
    path.write_text(yaml.safe_dump({"http": {"enabled": False}}))
    done = subprocess.run([sys.executable, "-m", "dvt_us", "health", "--config", str(path)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert done.returncode == 2 and "http.enabled is false" in done.stderr
