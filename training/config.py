"""Training configuration: YAML read with ``safe_load`` into pydantic models that reject unknown keys.

An ML engineer retrains by editing a config, never code. The resolved config (defaults filled in) is
saved with every run and its hash goes into the exported model's manifest.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dvt_us.preprocess.model_input import InputSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PhantomData(_Strict):
    """Generate a phantom trial for training (cached in ``cache_dir`` by its parameters)."""

    subjects: int = Field(4, ge=1)
    visits: int = Field(5, ge=1, le=5)
    protocol: Literal["full", "short"] = "full"
    seed: int = 1000
    size: tuple[int, int] | None = None
    """Tissue image rows, cols; None draws them per clip."""
    frames: int | None = Field(None, ge=2, le=400)


class DataConfig(_Strict):
    """Where training and validation clips come from.

    ``folders`` are datasets in the documented layout (``dicom/`` + ``truth/masks/*.npz`` +
    ``truth/truth.json``), e.g. a core lab's own annotated data; ``phantom`` generates one.
    """

    folders: list[Path] = []
    phantom: PhantomData | None = None
    validation: PhantomData | None = None
    """Held-out phantom data (seeds never used in training); else 15 % of subjects are held out."""
    cache_dir: Path = Path(".cache/dvt-us-data")
    frames_per_clip: int = Field(8, ge=1)
    """Segmentation samples this many frames per cine per epoch."""
    frames_per_thrombus_clip: int | None = Field(None, ge=1)
    """Frames per epoch from a clip whose truth holds thrombus, drawn with repeats when the clip has fewer
    (a still); None samples it like any clip. Thrombus is rare in a trial, so this evens the classes."""

    @model_validator(mode="after")
    def _some_data(self) -> DataConfig:
        if not self.folders and self.phantom is None:
            raise ValueError("data needs `folders` or `phantom`")
        return self


class AugmentConfig(_Strict):
    """MONAI augmentation probabilities and ranges (applied to the model input)."""

    flip_lateral: float = 0.5
    intensity: float = 0.5
    gamma: float = 0.5
    noise: float = 0.3
    blur: float = 0.3
    elastic: float = 0.2
    scale: float = 0.5
    scale_range: float = 0.25


class SegmentationConfig(_Strict):
    """Vein/thrombus/artery segmentation (labels 0..3)."""

    network: Literal["basic_unet", "segresnet", "flexible_unet"] = "basic_unet"
    features: tuple[int, ...] = (16, 32, 64, 128, 256, 16)
    input_size: int = 160
    context: int = 1
    clip_extremes: bool = False
    """Also give the clip's per-pixel temporal max and min as channels (see dvt_us.preprocess.model_input)."""
    select_by: Literal["dice_vein", "mean_dice"] = "dice_vein"
    """Validation score that picks the best epoch: vein Dice, or the mean Dice of vein, thrombus and artery."""
    epochs: int = 30
    batch_size: int = 16
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    augment: AugmentConfig = AugmentConfig()

    @property
    def input_spec(self) -> InputSpec:
        """The model input this network is trained on (and served with)."""
        return InputSpec(self.input_size, self.context, self.clip_extremes)


class CompressibilityConfig(_Strict):
    """Temporal classifier over the clip's segmentation-derived curves."""

    steps: int = 32
    channels: tuple[int, ...] = (32, 64, 64)
    epochs: int = 60
    batch_size: int = 64
    learning_rate: float = 3e-3
    label_smoothing: float = 0.05
    mask_noise: float = 0.5
    """Probability of perturbing truth masks (erode/dilate/drop) when building training curves."""
    operating_point_min_specificity: float | None = Field(None, gt=0.0, le=1.0)
    """After training, lower the abnormal threshold (P(partial) + P(noncompressible), 0.5 … 0.05) as far as
    validation specificity stays at least this; None keeps the most probable class."""
    segmentation_model: Path | None = None
    """An exported segmentation model (models/<name>/<version>) whose predictions also feed the curves."""


class TrainConfig(_Strict):
    """One training run."""

    task: Literal["segmentation", "compressibility"]
    name: str
    version: str
    seed: int = 0
    threads: int | None = None
    output: Path = Path("runs")
    data: DataConfig
    segmentation: SegmentationConfig = SegmentationConfig()
    compressibility: CompressibilityConfig = CompressibilityConfig()

    def config_hash(self) -> str:
        """sha256 of the resolved config (what the manifest records)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


def load_config(path: Path) -> TrainConfig:
    """Read and validate a YAML config; errors name the offending key."""
    raw = yaml.safe_load(Path(path).read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a config is a YAML mapping")
    return TrainConfig.model_validate(raw)
