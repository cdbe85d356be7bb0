"""Tissue-region composition, mask frames read one at a time, and the bounded cache."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from dvt_us.ingest import Source, read_clip
from dvt_us.report.masks import MaskWriter
from dvt_us.service.workspace.cache import KeyedLocks, LruCache
from dvt_us.service.workspace.errors import NotFoundError
from dvt_us.service.workspace.media import ClipFiles, FrameMedia, MediaLimits
from dvt_us.service.workspace.tissue import TissueLayout, read_label_frames, tissue_frames
from tests.dicom_factory import UltrasoundSpec, frames_for, ultrasound_dataset, write

# Two tissue regions (x0, y0, x1, y1 inclusive) with annotation space around and between them.
LEFT, RIGHT = (8, 12, 71, 101), (90, 20, 151, 109)


@pytest.fixture
def split_screen(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """A split-screen cine whose annotation space (outside both regions) is burned-in white (255)."""
    spec = UltrasoundSpec(frames=5, rows=120, cols=160, regions=[LEFT, RIGHT], seed=4)
    pixels = frames_for(spec) // 2  # tissue never reaches 255
    tissue = np.zeros(pixels.shape[1:], bool)
    for x0, y0, x1, y1 in (LEFT, RIGHT):
        tissue[y0 : y1 + 1, x0 : x1 + 1] = True
    pixels[:, ~tissue] = 255
    return write(ultrasound_dataset(spec, pixels), tmp_path / "split.dcm"), pixels


def test_composite_holds_the_tissue_regions_only(split_screen: tuple[Path, np.ndarray]) -> None:
    path, pixels = split_screen
    clip = read_clip(Source(path))
    layout = TissueLayout.of(clip)
    assert (layout.box.row0, layout.box.col0, layout.box.row1, layout.box.col1) == (12, 8, 110, 152)
    frames = list(tissue_frames(clip, [3, 1]))
    assert [f.index for f in frames] == [3, 1]
    for frame in frames:
        source = pixels[frame.index, 12:110, 8:152]
        inside = np.zeros(layout.shape, bool)
        for box in layout.views:
            inside[layout.local(box)] = True
        assert np.array_equal(frame.bmode[inside], source[inside])
        assert not frame.bmode[~inside].any()  # the gap between the views and the corners are black
        assert (source[~inside] == 255).all()  # ... where the source has its annotation space


def test_jpeg_frames_never_show_annotation_space(split_screen: tuple[Path, np.ndarray]) -> None:
    path, pixels = split_screen
    media = FrameMedia()
    jpeg = cv2.imdecode(np.frombuffer(media.frame_jpeg(ClipFiles(path, None), 2, overlay=False), np.uint8),
                        cv2.IMREAD_UNCHANGED)
    assert jpeg.shape == (98, 144)  # the box around both views, not the 120 x 160 image
    gap = jpeg[:, 72 - 8 + 4 : 90 - 8 - 4]  # columns between the views, away from JPEG ringing at the edges
    assert gap.max() < 16
    source = pixels[2, 12:110, 8:152].astype(int)
    left = np.s_[4:86, 4:60]
    assert np.abs(jpeg[left].astype(int) - source[left]).mean() < 4
    with pytest.raises(NotFoundError, match="no frame 5"):
        media.frame_jpeg(ClipFiles(path, None), 5, overlay=False)
    with pytest.raises(NotFoundError, match="no masks"):
        media.frame_jpeg(ClipFiles(path, None), 0, overlay=True)


def test_overlay_is_drawn_inside_the_views_only(split_screen: tuple[Path, np.ndarray], tmp_path: Path) -> None:
    path, _ = split_screen
    labels = np.zeros((5, 120, 160), np.uint8)
    labels[:, 40:70, 20:50] = 1  # lumen inside the left view
    labels[:, 0:10, 0:160] = 2  # "thrombus" in annotation space: must not be drawn
    masks = tmp_path / "masks" / "split.npz"
    with MaskWriter(masks, 5, (120, 160)) as writer:
        for frame in labels:
            writer.write(frame)
    media = FrameMedia(MediaLimits(chunk_frames=2))
    over = cv2.imdecode(np.frombuffer(media.frame_jpeg(ClipFiles(path, masks), 1, overlay=True), np.uint8),
                        cv2.IMREAD_COLOR)
    b, g, r = (over[..., k].astype(int) for k in range(3))
    chroma = np.maximum(np.abs(r - g), np.abs(b - g))
    assert chroma[40 - 12 + 3 : 70 - 12 - 3, 20 - 8 + 3 : 50 - 8 - 3].mean() > 20  # lumen filled (sky blue)
    assert chroma[:, 72 - 8 + 4 : 90 - 8 - 4].max() < 16  # nothing in the gap, nor from the annotation labels
    assert media.stats().entries == 2  # frames 0 and 1: the chunk of frame 1


def test_label_frames_are_read_one_at_a_time(tmp_path: Path) -> None:
    labels = np.arange(4 * 6 * 7, dtype=np.uint8).reshape(4, 6, 7) % 4
    path = tmp_path / "m.npz"
    with MaskWriter(path, 4, (6, 7)) as writer:
        for frame in labels:
            writer.write(frame)
    found = read_label_frames(path, [3, 1, 3])
    assert sorted(found) == [1, 3]
    assert np.array_equal(found[1], labels[1]) and np.array_equal(found[3], labels[3])
    with pytest.raises(ValueError, match="no frame 4"):
        read_label_frames(path, [4])
    np.savez(tmp_path / "bad.npz", labels=labels.astype(np.int16))
    with pytest.raises(ValueError, match="expected uint8"):
        read_label_frames(tmp_path / "bad.npz", [0])


def test_lru_cache_stays_within_its_bound_and_evicts_the_least_recent() -> None:
    cache: LruCache[str, bytes] = LruCache(10, len)
    assert cache.put("a", b"1234") and cache.put("b", b"1234")
    assert cache.get("a") == b"1234"  # a is now more recent than b
    assert cache.put("c", b"1234")
    assert cache.get("b") is None and cache.get("a") == b"1234" and cache.get("c") == b"1234"
    assert not cache.put("huge", b"x" * 11) and cache.get("huge") is None
    stats = cache.stats()
    assert (stats.entries, stats.cost, stats.evictions) == (2, 8, 1)
    with pytest.raises(ValueError, match="max_cost"):
        LruCache(-1, len)


def test_keyed_locks_serialise_one_key_only() -> None:
    locks, inside, order = KeyedLocks(), threading.Event(), []
    release = threading.Event()

    def hold_a() -> None:
        with locks.hold("a"):
            inside.set()
            release.wait(10)
            order.append("first a")

    worker = threading.Thread(target=hold_a)
    worker.start()
    inside.wait(10)
    with locks.hold("b"):  # another key is free while "a" is held
        order.append("b")
    release.set()
    with locks.hold("a"):
        order.append("second a")
    worker.join(10)
    assert order == ["b", "first a", "second a"]
