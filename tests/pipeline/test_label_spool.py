"""The label spool gives back every frame as appended, in any order; mask files are the same bytes each time."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from dvt_us.pipeline.label_spool import LabelSpool
from dvt_us.report.masks import MaskWriter, write_npz


def test_frames_come_back_in_any_order() -> None:
    rng = np.random.default_rng(0)
    frames = [np.zeros((30, 40), np.uint8), (rng.random((30, 40)) < 0.2).astype(np.uint8) * 3]
    corner = np.zeros((30, 40), np.uint8)
    corner[29, 39], corner[0, 0] = 2, 1
    frames += [corner, np.full((30, 40), 1, np.uint8)]
    with LabelSpool((30, 40)) as spool:
        for f in frames:
            spool.append(f)
        assert len(spool) == len(frames)
        for i in (3, 0, 2, 1, 2):
            np.testing.assert_array_equal(spool.read(i), frames[i], strict=True)
        with pytest.raises(IndexError, match="frame 4 of a spool of 4"):
            spool.read(4)
        with pytest.raises(ValueError, match="expected uint8"):
            spool.append(np.zeros((30, 41), np.uint8))


def test_a_window_holding_every_label_reads_back_that_part() -> None:
    frames = [np.zeros((30, 40), np.uint8) for _ in range(3)]
    frames[0][5:9, 12:20] = 1
    frames[2][20, 30] = 3  # frame 1 is empty
    with LabelSpool((30, 40)) as spool:
        assert spool.bounds == (0, 0, 0, 0)
        for f in frames:
            spool.append(f)
        assert spool.bounds == (5, 21, 12, 31)
        for i in (2, 1, 0):
            np.testing.assert_array_equal(spool.read(i, spool.bounds), frames[i][5:21, 12:31], strict=True)
        np.testing.assert_array_equal(spool.read(0, (0, 30, 10, 25)), frames[0][:, 10:25], strict=True)
        with pytest.raises(ValueError, match=r"does not hold the labels of frame 2 \(rows 20:21, columns 30:31\)"):
            spool.read(2, (0, 30, 0, 30))


def _mask_file(path: Path, labels: np.ndarray) -> bytes:
    with MaskWriter(path, len(labels), labels.shape[1:]) as writer:
        for frame in labels:
            writer.write(frame)
    return path.read_bytes()


def test_mask_files_are_deterministic_and_load_with_numpy(tmp_path: Path) -> None:
    labels = (np.random.default_rng(1).random((5, 20, 30)) < 0.1).astype(np.uint8) * 2
    first = _mask_file(tmp_path / "a.npz", labels)
    assert _mask_file(tmp_path / "b.npz", labels) == first
    np.testing.assert_array_equal(np.load(tmp_path / "a.npz")["labels"], labels, strict=True)
    write_npz(tmp_path / "c.npz", {"x": labels, "y": np.arange(3.0)})
    with zipfile.ZipFile(tmp_path / "c.npz") as archive, zipfile.ZipFile(tmp_path / "a.npz") as masks:
        infos = archive.infolist() + masks.infolist()
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.compress_type for i in infos} == {zipfile.ZIP_DEFLATED}
    np.testing.assert_array_equal(np.load(tmp_path / "c.npz")["y"], np.arange(3.0))
