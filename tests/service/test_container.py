"""The service image's recipe: what the Dockerfile promises, checked against the config and the package.

No Docker daemon runs here or in CI, so the image itself is not built; these tests check that the
Dockerfile, its config and the package agree (entrypoint, healthcheck, ports, volume, user, no torch).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from dvt_us.service.config import load_service_config

ROOT = Path(__file__).resolve().parents[2]
IMAGE_ROOT = Path("/opt/dvt-us")


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def _one(kind: str) -> str:
    [value] = [v for k, v in _instructions() if k == kind]
    return value


def test_the_image_runs_dvt_us_serve_as_a_non_root_user_with_a_healthcheck() -> None:
    assert json.loads(_one("ENTRYPOINT")) == ["dvt-us", "serve"]
    healthcheck = _one("HEALTHCHECK")
    assert json.loads(healthcheck.split("CMD", 1)[1]) == ["dvt-us", "health"]
    user = _one("USER")
    assert user not in ("root", "0")
    kinds = [k for k, _ in _instructions()]
    assert kinds.index("USER") > max(i for i, (k, v) in enumerate(_instructions()) if k == "RUN"), \
        "every RUN (installs) happens before switching to the service user"
    assert any(f"useradd --create-home --uid 10001 {user}" in v for k, v in _instructions() if k == "RUN")


def test_the_image_installs_the_service_extra_only_and_can_swap_in_onnxruntime_gpu() -> None:
    runs = " ".join(v for k, v in _instructions() if k == "RUN")
    assert 'pip install --no-cache-dir ".[service]"' in runs
    assert "[train" not in runs and "torch" not in runs
    assert _one("ARG").startswith("ONNXRUNTIME=")
    assert 'pip uninstall -y onnxruntime && pip install --no-cache-dir "$ONNXRUNTIME"' in runs
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    image_deps = project["dependencies"] + project["optional-dependencies"]["service"]
    assert not [d for d in image_deps if re.match(r"(torch|monai|nvidia)", d, re.IGNORECASE)]
    assert any(d.startswith("onnxruntime==") for d in project["dependencies"])


def test_the_image_config_matches_its_ports_volume_and_files() -> None:
    env = _one("ENV")
    config_in_image = Path(re.search(r"DVT_US_CONFIG=(\S+)", env).group(1))  # type: ignore[union-attr]
    config_here = ROOT / config_in_image.relative_to(IMAGE_ROOT)
    copied = {v.split()[0] for k, v in _instructions() if k == "COPY"}
    assert {"configs", "models", "dvt_us"} <= copied
    config = load_service_config(config_here)
    assert config.data_dir == Path("/data") and json.loads(_one("VOLUME")) == ["/data"]
    assert config.models_dir == IMAGE_ROOT / "models"
    assert {config.dicom.host, config.http.host} == {"0.0.0.0"}
    assert {int(p) for p in _one("EXPOSE").split()} == {config.dicom.port, config.http.port}
    assert yaml.safe_load(config_here.read_text())["http"]["enabled"] is True


def test_serve_and_health_read_the_config_named_by_dvt_us_config(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump({"http": {"enabled": False}}))
    done = subprocess.run([sys.executable, "-m", "dvt_us", "health"], capture_output=True, text=True, check=False,
                          timeout=120, env={**os.environ, "DVT_US_CONFIG": str(path)})
    assert done.returncode == 2 and "http.enabled is false" in done.stderr, done.stderr
