"""Training from configs, ONNX export with parity, and evaluation through ONNX Runtime (tiny, on CPU)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

pytest.importorskip("torch", reason="training needs the train extra")

from training.cli import main as training_main
from training.config import TrainConfig, load_config
from training.data import TrainClip
from training.segmentation import epoch_items

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
                                    "segmentation_model": str(seg_model), "operating_point_min_specificity": 0.9}}
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


def _clip(uid: str, frames: int, thrombus: bool) -> TrainClip:
    labels = np.zeros((frames, 8, 8), np.uint8)
    labels[:, 2:5, 2:5] = 1
    if thrombus:
        labels[-1, 3, 3] = 2  # one frame's truth holds thrombus
    return TrainClip(uid, "S1", "compression-cine", np.zeros((frames, 8, 8), np.float16), labels, (1.0, 1.0), 0)


def test_thrombosed_clips_give_more_frames_per_epoch() -> None:
    clips = [_clip("normal", 40, False), _clip("thrombosed", 40, True), _clip("thrombosed-still", 1, True)]
    assert [c.has_thrombus for c in clips] == [False, True, True]
    items = epoch_items(clips, 3, np.random.default_rng(0), per_thrombus_clip=12)
    per_clip = np.bincount([c for c, _ in items], minlength=3)
    assert per_clip.tolist() == [3, 12, 12]
    assert len({f for c, f in items if c == 1}) == 12  # a cine's frames are drawn without repeats
    assert {f for c, f in items if c == 2} == {0}  # a one-frame still repeats its frame
    plain = epoch_items(clips, 3, np.random.default_rng(0))
    assert np.bincount([c for c, _ in plain], minlength=3).tolist() == [3, 3, 1]


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
    if task == "segmentation":  # the tiny config uses the clip extremes: 3 frame channels + max + min
        assert manifest["preprocessing"]["clip_extremes"] is True
        assert manifest["inputs"][0]["shape"][1] == 5
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
    low, high = result["ci95"]["dice_vein"]
    assert low <= result["dice_vein"] <= high
    assert training_main(["evaluate", str(exported["compressibility"]), str(exported["data"]),
                          "--segmentation", str(exported["segmentation"]), "--record"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["curves_from"] == "segmentation model"
    assert len(result["confusion"]) == 4
    manifest = json.loads((exported["compressibility"] / "manifest.json").read_text())
    assert manifest["evaluations"][-1]["metrics"]["accuracy"] == result["accuracy"]
    truth = json.loads((exported["data"] / "truth" / "truth.json").read_text())
    assert manifest["evaluations"][-1]["phantom"]["seed"] == truth["seed"]
    assert manifest["evaluations"][-1]["phantom"]["render"] == truth["render"]
    # The tiny classifier's operating point, if validation allowed one, travels from training to evaluate.
    threshold = manifest["thresholds"].get("abnormal_min_probability")
    assert result["abnormal_min_probability"] == threshold
    low, high = result["ci95"]["accuracy"]
    assert low <= result["accuracy"] <= high
    assert f"| accuracy | {result['accuracy']:.4f} | {low:.3f} – {high:.3f} |" in (
        exported["compressibility"] / "MODEL_CARD.md").read_text()


def test_training_inputs_are_the_inputs_served(exported: dict[str, Path]) -> None:
    """What a training clip feeds the network equals, bit for bit, what serving builds from the same DICOM."""
    from dvt_us.ingest import ingest
    from dvt_us.preprocess import iter_frames
    from dvt_us.preprocess.model_input import InputSpec, model_frames
    from training.data import load_folder

    spec = InputSpec(64, context=1, clip_extremes=True)
    clips = {c.sop_instance_uid: c for c in load_folder(exported["data"], spec)}
    served = [c for c in ingest([exported["data"] / "dicom"]).clips if c.sop_instance_uid in clips and c.views]
    cines = [c for c in served if c.frames > 1 and len(c.views) == 1]
    assert cines
    for clip in cines[:3]:
        bmodes = np.stack([f.views[0].bmode for f in iter_frames(clip)])
        inputs, _ = model_frames(bmodes, spec)
        trained = clips[clip.sop_instance_uid]
        assert inputs.shape == (len(trained.images), 5, 64, 64)
        for i in (0, len(inputs) // 2, len(inputs) - 1):
            np.testing.assert_array_equal(trained.model_input(i, spec), inputs[i])


def test_the_operating_point_keeps_validation_specificity() -> None:
    from training.compressibility import abnormal_operating_point

    # Compressible clips whose abnormal probability (columns 1 + 2) is 0.03, 0.08, ..., 0.48; two abnormal clips.
    normal = [[1 - a, a, 0.0, 0.0] for a in np.arange(1, 11) * 0.05 - 0.02]
    probs = np.array([*normal, [0.7, 0.2, 0.1, 0.0], [0.2, 0.4, 0.4, 0.0]])
    truth = np.array([0] * 10 + [1, 2])
    # 0.45 keeps 9 of 10 normals below it, 0.4 keeps 8, 0.35 keeps 7: at specificity >= 0.8 the lowest is 0.4.
    assert abnormal_operating_point(probs, truth, 0.8) == pytest.approx(0.4)
    assert abnormal_operating_point(probs, truth, 0.95) == pytest.approx(0.5)  # 0.45 would drop to 0.9
    assert abnormal_operating_point(probs, truth, 0.1) == pytest.approx(0.05)
    shifted = probs.copy()
    shifted[:10, 1] += 0.1  # 0.13 ... 0.58: at 0.5, 8 of 10 normals are below it
    shifted[:10, 0] -= 0.1
    assert abnormal_operating_point(shifted, truth, 0.9) is None  # not even 0.5 keeps the floor
    assert abnormal_operating_point(probs[10:], truth[10:], 0.9) is None  # no compressible clips
