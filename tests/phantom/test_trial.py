"""The synthetic trial: the plan's clinical logic, and DICOM files that ingest back to their truth."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dvt_us.anatomy import Laterality, Segment
from dvt_us.ingest import ClipKind, ingest
from dvt_us.phantom import sample_params, simulate_cine, simulate_doppler
from dvt_us.phantom.dicom_writer import Encoding, InstanceIdentity, ScreenLayout, write_instance
from dvt_us.phantom.scene import VeinState
from dvt_us.phantom.trial import FEMOROPOPLITEAL, ILIOFEMORAL, VISITS, Arm, plan_trial
from dvt_us.phantom.trial_writer import RenderOptions, write_trial
from dvt_us.preprocess import iter_frames

SMALL = RenderOptions(shape=(160, 200), frames=6)


def test_plan_clinical_logic() -> None:
    plan = plan_trial(300, seed=11, protocol="full")
    assert len(plan.clips) == 300 * len(VISITS) * 2 * 11
    recanalised = {Arm.THROMBECTOMY: [], Arm.ANTICOAGULATION: []}
    for subject in plan.subjects:
        baseline = subject.states["BASELINE"]
        assert baseline and all(s in (VeinState.OCCLUSIVE, VeinState.NONOCCLUSIVE) for s in baseline.values())
        run = ILIOFEMORAL if subject.extent == "iliofemoral" else FEMOROPOPLITEAL
        positions = [run.index(s) for s in baseline]
        assert positions == sorted(positions)
        d10 = subject.states["D10"]
        recanalised[subject.arm] += [d10[s] is VeinState.NORMAL for s in baseline]
    # thrombectomy recanalises most segments by day 10; anticoagulation does so far less often
    assert np.mean(recanalised[Arm.THROMBECTOMY]) > 0.55
    assert np.mean(recanalised[Arm.ANTICOAGULATION]) < 0.25
    for clip in plan.clips:
        subject = next(s for s in plan.subjects if s.subject == clip.subject)
        if clip.side is not subject.affected_side:
            assert clip.state is VeinState.NORMAL, "the contralateral leg is normal"


def test_plan_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="valid protocols: full, short"):
        plan_trial(1, protocol="long")
    with pytest.raises(ValueError, match="visits"):
        plan_trial(1, visits=9)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def small_trial(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trial")
    write_trial(plan_trial(1, seed=5, protocol="short", visits=2), out, SMALL, jobs=2)
    return out


def test_trial_ingests_back_to_its_truth(small_trial: Path) -> None:
    truth = json.loads((small_trial / "truth" / "truth.json").read_text())
    assert (truth["seed"], truth["render"]) == (5, {"shape": [160, 200], "frames": 6})
    records = {c["sop_instance_uid"]: c for c in truth["clips"]}
    result = ingest([small_trial / "dicom"])
    assert not result.rejected and not result.skipped and not result.duplicates
    assert {c.sop_instance_uid for c in result.clips} == set(records)
    assert [v.visit for v in result.subjects[0].visits] == ["BASELINE", "D10"]
    for clip in result.clips:
        rec = records[clip.sop_instance_uid]
        assert clip.identity.subject == rec["subject"]
        assert clip.identity.visit == rec["visit"]
        assert clip.identity.side.value == rec["side"]
        assert clip.identity.segment.value == rec["segment"]
        assert clip.kind.value == rec["kind"]
        assert clip.spacing_mm == pytest.approx((rec["spacing_mm"], rec["spacing_mm"]), rel=0.01)
        masks = np.load(small_trial / "truth" / "masks" / f"{clip.sop_instance_uid}.npz")["labels"]
        assert masks.dtype == np.uint8
        assert masks.shape == (clip.frames, clip.pixels.rows, clip.pixels.columns)
        assert set(np.unique(masks).tolist()) <= {0, 1, 2, 3}
        box = clip.views[0].box
        outside = masks.copy()
        outside[:, box.row0 : box.row1, box.col0 : box.col1] = 0
        assert not outside.any(), "truth lies inside the tissue region"
        assert np.isin(masks[:, box.row0 : box.row1, box.col0 : box.col1], (1, 2)).any(axis=(1, 2)).all()
    assert {r["kind"] for r in truth["clips"]} == {"compression-cine", "colour-doppler"}
    assert {s["segment"] for s in truth["segments"]} == {"EIV", "CFV", "FV-M", "POP"}


def test_same_seed_same_bytes_whatever_the_job_count(small_trial: Path, tmp_path: Path) -> None:
    write_trial(plan_trial(1, seed=5, protocol="short", visits=2), tmp_path, SMALL, jobs=1)
    assert _digest(tmp_path) == _digest(small_trial)


def _identity(coded: bool, segment: Segment = Segment.FV_M) -> InstanceIdentity:
    return InstanceIdentity(
        subject="PH-900", visit="M6", visit_description="Month 6", study_date="20250707", side=Laterality.LEFT,
        segment=segment, coded_anatomy=coded, study_instance_uid="2.25.1", series_instance_uid="2.25.2",
        sop_instance_uid="2.25.3", series_number=1, instance_number=1,
    )


@pytest.mark.parametrize("coded", [True, False])
@pytest.mark.parametrize("encoding", list(Encoding))
def test_written_cine_pixels_and_identity(tmp_path: Path, coded: bool, encoding: Encoding) -> None:
    rng = np.random.default_rng(2)
    cine = simulate_cine(sample_params(rng, segment=Segment.FV_M, shape=(128, 160), n_frames=4), rng)
    layout = ScreenLayout(top=50, left=20, bottom=20, right=60, rgb=False)
    path = tmp_path / "clip.dcm"
    written = write_instance(path, _identity(coded), cine.frames, cine.labels, cine.spacing_mm, layout=layout,
                             encoding=encoding, frame_time_s=cine.frame_time_s, settings_text="5MHz")
    (clip,) = ingest([path]).clips
    assert (clip.identity.segment, clip.identity.side) == (Segment.FV_M, Laterality.LEFT)
    assert clip.frame_times_s[1] == pytest.approx(cine.frame_time_s, rel=1e-3)
    assert clip.views[0].box.shape == (128, 160)
    bmode = np.stack([f.views[0].bmode for f in iter_frames(clip)])
    error = np.abs(bmode.astype(int) - cine.frames).mean()
    assert error == 0 if encoding is Encoding.UNCOMPRESSED else error < 4
    assert written.labels.shape == (4, 50 + 128 + 20, 20 + 160 + 60)


def test_still_pair_is_a_split_screen_with_two_views(tmp_path: Path) -> None:
    plan = plan_trial(1, seed=8, protocol="full", visits=1)
    pair_plan = next(c for c in plan.clips if c.kind.value == "still-pair")
    write_trial(replace(plan, clips=(pair_plan,)), tmp_path, SMALL, jobs=1)
    (clip,) = ingest([tmp_path / "dicom"]).clips
    assert clip.kind is ClipKind.STILL and clip.frames == 1
    assert len(clip.views) == 2 and clip.views[0].box.col1 <= clip.views[1].box.col0
    masks = np.load(tmp_path / "truth" / "masks" / f"{clip.sop_instance_uid}.npz")["labels"]
    for view in clip.views:
        assert np.isin(masks[0, view.box.row0 : view.box.row1, view.box.col0 : view.box.col1], (1, 2)).any()
    truth = json.loads((tmp_path / "truth" / "truth.json").read_text())
    assert truth["clips"][0]["kind"] == "still-pair" and "compressibility" in truth["clips"][0]


def test_written_colour_doppler_has_a_colour_flow_region(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = simulate_doppler(sample_params(rng, segment=Segment.CFV, state=VeinState.NORMAL, shape=(160, 200)), rng)
    box = frame.colour_box
    path = tmp_path / "cd.dcm"
    write_instance(path, _identity(True, Segment.CFV), frame.rgb[None], frame.labels[None], frame.spacing_mm,
                   layout=ScreenLayout(40, 10, 10, 50, rgb=True), encoding=Encoding.UNCOMPRESSED,
                   colour_box=(box.top, box.left, box.bottom, box.right))
    (clip,) = ingest([path]).clips
    assert clip.kind is ClipKind.COLOUR_DOPPLER
    assert clip.views[0].colour_flow_box is not None
    flow = next(iter_frames(clip)).views[0].colour_flow
    assert flow is not None and (flow != 0).mean() > 0.001
