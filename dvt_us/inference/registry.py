"""The models dvt-us can run: ``models/<name>/<version>/`` folders, their manifests, verified by sha256.

A manifest (written by ``dvt-us export``) says what the ONNX file takes and gives and how its input is
prepared; it is read into typed objects here, once, at the edge.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
"""``models/`` of the source tree; a deployment points the registry elsewhere."""


class ModelError(ValueError):
    """An unknown, incomplete or tampered model."""


@dataclass(frozen=True)
class ModelManifest:
    """What ``manifest.json`` says, plus where the model lives."""

    name: str
    version: str
    task: str
    folder: Path
    input_name: str
    input_shape: tuple[str | int, ...]
    output_name: str
    labels: tuple[str, ...]
    preprocessing: dict[str, Any]
    thresholds: dict[str, float]
    sha256: str
    metrics: dict[str, Any]

    @property
    def onnx_path(self) -> Path:
        """The ONNX file."""
        return self.folder / "model.onnx"

    @property
    def provenance(self) -> dict[str, str]:
        """Name, version and sha256, as every report states them."""
        return {"name": self.name, "version": self.version, "sha256": self.sha256}

    @classmethod
    def from_folder(cls, folder: Path) -> ModelManifest:
        """Parse ``folder/manifest.json``; raise :class:`ModelError` naming what is missing."""
        path = folder / "manifest.json"
        try:
            raw = json.loads(path.read_text())
            return cls(
                name=str(raw["name"]), version=str(raw["version"]), task=str(raw["task"]), folder=folder,
                input_name=str(raw["inputs"][0]["name"]), input_shape=tuple(raw["inputs"][0]["shape"]),
                output_name=str(raw["outputs"][0]["name"]), labels=tuple(raw["labels"]),
                preprocessing=dict(raw["preprocessing"]), thresholds=dict(raw.get("thresholds", {})),
                sha256=str(raw["sha256"]), metrics=dict(raw.get("metrics", {})),
            )
        except FileNotFoundError:
            raise ModelError(f"{folder}: no manifest.json") from None
        except (KeyError, IndexError, TypeError, json.JSONDecodeError) as exc:
            raise ModelError(f"{path}: invalid manifest ({type(exc).__name__}: {exc})") from None

    def verify(self) -> None:
        """Check that model.onnx is the file the manifest was written for."""
        if not self.onnx_path.exists():
            raise ModelError(f"{self.folder}: no model.onnx")
        digest = hashlib.sha256(self.onnx_path.read_bytes()).hexdigest()
        if digest != self.sha256:
            raise ModelError(f"{self.onnx_path}: sha256 {digest} does not match the manifest's {self.sha256}")


def _version_key(version: str) -> tuple[int, Version | str]:
    """PEP 440 order (``0.10.0rc1`` < ``0.10.0`` < ``0.10.1``); names that are not versions sort first."""
    try:
        return 1, Version(version)
    except InvalidVersion:
        return 0, version


class ModelRegistry:
    """Models found under a folder of ``<name>/<version>/manifest.json``."""

    def __init__(self, root: Path = DEFAULT_MODELS_DIR) -> None:
        self.root = Path(root)

    def available(self) -> dict[str, list[str]]:
        """Model names and their versions, oldest first."""
        found: dict[str, list[str]] = {}
        for manifest in sorted(self.root.glob("*/*/manifest.json")):
            found.setdefault(manifest.parent.parent.name, []).append(manifest.parent.name)
        return {name: sorted(versions, key=_version_key) for name, versions in found.items()}

    def get(self, name: str, version: str | None = None) -> ModelManifest:
        """The manifest of ``name`` (latest version unless given), with its ONNX file verified."""
        available = self.available()
        if name not in available:
            valid = ", ".join(sorted(available)) or "none"
            raise ModelError(f"unknown model {name!r} in {self.root}; valid models: {valid}")
        versions = available[name]
        chosen = version or versions[-1]
        if chosen not in versions:
            raise ModelError(f"model {name!r} has no version {chosen!r}; valid versions: {', '.join(versions)}")
        manifest = ModelManifest.from_folder(self.root / name / chosen)
        manifest.verify()
        return manifest
