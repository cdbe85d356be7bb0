"""Training from configs, ONNX export with parity, and evaluation through ONNX Runtime (tiny, on CPU)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

pytest.importorskip("torch", reason="training needs the train extra")

from training.cli import main as training_main
from training.config import TrainConfig, load_config

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "configs" / "train" / "tiny-segmentation.yaml"


def _tiny(tmp: Path, task: str) -> Path:
    raw = yaml.safe_load(TINY.read_text())
    raw["output"] = str(tmp / "runs")
    raw["data"]["cache_dir"] = str(tmp / "cache")
    if task == "compressibility":
        seg_model = tmp / "models" / raw["name"] / raw["version"]  # the tiny segmentation model, exported first
        raw |= {"task": "compressibility", "name": "tiny-compress",
                "compressibility": {"epochs": 3, "batch_size": 4, "steps": 16, "channels": [8, 8],
                                    "segmentation_model": str(seg_model)}}
    path = tmp / f"{task}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_config_rejects_unknown_keys(tmp_path: Path) -> None:
    raw = yaml.safe_load(TINY.read_text())
    raw["segmentation"]["epochz"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(ValidationError, match="epochz"):
        load_config(tmp_path / "bad.yaml")


def test_config_hash_is_stable() -> None:
    a, b = load_config(TINY), load_config(TINY)
    assert a.config_hash() == b.config_hash()
    changed = TrainConfig.model_validate({**a.model_dump(), "seed": 1})
    assert changed.config_hash() != a.config_hash()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("train")
    out = {}
    for task in ("segmentation", "compressibility"):
        config = _tiny(tmp, task)
        assert training_main(["train", str(config)]) == 0
        cfg = load_config(config)
        run = Path(cfg.output) / f"{cfg.name}-{cfg.version}"
        assert (run / "checkpoint.pt").exists() and (run / "metrics.jsonl").exists()
        model_dir = tmp / "models" / cfg.name / cfg.version
        assert training_main(["export", str(run), "--out", str(model_dir)]) == 0
        out[task] = model_dir
    out["data"] = next((tmp / "cache").glob("phantom-*"))
    return out


@pytest.mark.parametrize("task", ["segmentation", "compressibility"])
def test_export_has_parity_manifest_and_card(exported: dict[str, Path], task: str) -> None:
    folder = exported[task]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["task"] == task
    assert manifest["parity"]["max_abs_diff"] <= 1e-4
    assert manifest["parity"]["argmax_agreement"] >= 0.999
    assert manifest["sha256"] == hashlib.sha256((folder / "model.onnx").read_bytes()).hexdigest()
    assert (folder / "model.onnx").stat().st_size <= 30 * 2**20
    assert len(manifest["labels"]) == 4
    card = (folder / "MODEL_CARD.md").read_text()
    assert "phantom" in card and "No patient data" in card


def test_resume_continues_from_the_checkpoint(exported: dict[str, Path], tmp_path: Path) -> None:
    config = _tiny(tmp_path, "segmentation")
    cfg = load_config(config)
    run = Path(cfg.output) / f"{cfg.name}-{cfg.version}"
    shutil.copytree(exported["data"], tmp_path / "cache" / exported["data"].name)
    assert training_main(["train", str(config)]) == 0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    assert training_main(["train", str(config)]) == 0  # all epochs done: nothing more to train
    assert (run / "metrics.jsonl").read_text().splitlines() == lines


def test_evaluate_through_onnx_runtime(exported: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert training_main(["evaluate", str(exported["segmentation"]), str(exported["data"])]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["clips"] > 0
    assert 0.0 <= result["dice_vein"] <= 1.0
    assert training_main(["evaluate", str(exported["compressibility"]), str(exported["data"]),
                          "--segmentation", str(exported["segmentation"]), "--record"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["curves_from"] == "segmentation model"
    assert len(result["confusion"]) == 4
    manifest = json.loads((exported["compressibility"] / "manifest.json").read_text())
    assert manifest["evaluations"][-1]["metrics"]["accuracy"] == result["accuracy"]
    assert "| accuracy |" in (exported["compressibility"] / "MODEL_CARD.md").read_text()
