"""A malformed corpus made here: every file is reported with a reason, nothing crashes, nothing is lost."""

from __future__ import annotations

import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import RLELossless

from dvt_us.ingest import IngestError, ProblemCode, Source, ingest, read_clip
from dvt_us.preprocess import iter_frames
from tests.dicom_factory import UltrasoundSpec, jpeg_baseline, jpeg_with_broken_last_frame, ultrasound_dataset, write


def _seed_files(folder: Path) -> dict[str, bytes]:
    spec = UltrasoundSpec(frames=3, rows=64, cols=80, regions=[(4, 4, 75, 59)])
    plain = write(ultrasound_dataset(spec), folder / "plain.dcm").read_bytes()
    jpeg = write(jpeg_baseline(ultrasound_dataset(spec)), folder / "jpeg.dcm").read_bytes()
    rle_ds = ultrasound_dataset(spec)
    rle_ds.compress(RLELossless)
    rle = write(rle_ds, folder / "rle.dcm").read_bytes()
    for name in ("plain.dcm", "jpeg.dcm", "rle.dcm"):
        (folder / name).unlink()
    return {"plain": plain, "jpeg": jpeg, "rle": rle}


def _corpus(folder: Path) -> list[Path]:
    rng = np.random.default_rng(1234)
    paths = []

    def put(name: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        paths.append(path)

    for kind, data in _seed_files(folder / "seed").items():
        for offset in sorted({0, 10, 128, 132, 200, *rng.integers(0, len(data), 25).tolist(), len(data) - 1}):
            put(f"{kind}-trunc-{offset}.dcm", data[:offset])
        for i in range(12):  # corrupt a 4-byte length or a VR somewhere in the header
            buf = bytearray(data)
            pos = int(rng.integers(132, min(len(buf) - 4, 900)))
            if i % 2:
                buf[pos : pos + 4] = struct.pack("<I", int(rng.integers(0, 2**32)))
            else:
                buf[pos : pos + 2] = rng.choice([b"ZZ", b"UN", b"SQ", b"OB", b"\x00\x00"])
            put(f"{kind}-corrupt-{i}.dcm", bytes(buf))
        for i in range(12):  # flip random bytes anywhere
            buf = bytearray(data)
            for pos in rng.integers(0, len(buf), max(4, len(buf) // 200)):
                buf[pos] = int(rng.integers(0, 256))
            put(f"{kind}-fuzz-{i}.dcm", bytes(buf))
    put("empty.dcm", b"")
    put("random.bin", rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    put("preamble-only.dcm", b"\x00" * 128 + b"DICM")
    return paths


def test_malformed_corpus_never_crashes_and_reports_every_file(tmp_path: Path) -> None:
    paths = _corpus(tmp_path / "bad")
    result = ingest([tmp_path / "bad"])
    seen = [c.source.label for c in (*result.clips, *result.duplicates)]
    seen += [r.source for r in (*result.rejected, *result.skipped)]
    assert sorted(seen) == sorted(str(p) for p in paths), "every file is accounted for, once"
    assert result.rejected, "the corpus must contain rejected files"
    for rejected in result.rejected:
        assert rejected.message and rejected.code in ProblemCode
    # Whatever was accepted streams to the end, or stops with a typed error naming the file.
    for clip in (*result.clips, *result.duplicates):
        try:
            for _ in iter_frames(clip):
                pass
        except IngestError as err:
            assert err.source == clip.source.label
            assert err.code is ProblemCode.DECODE_FAILED


def test_good_files_survive_bad_neighbours(tmp_path: Path) -> None:
    write(ultrasound_dataset(UltrasoundSpec()), tmp_path / "good1.dcm")
    (tmp_path / "bad.dcm").write_bytes((tmp_path / "good1.dcm").read_bytes()[:700])
    write(ultrasound_dataset(UltrasoundSpec(side="L")), tmp_path / "good2.dcm")
    result = ingest([tmp_path])
    assert sorted(c.source.path.name for c in result.clips) == ["good1.dcm", "good2.dcm"]
    (rejected,) = result.rejected
    assert rejected.code in (ProblemCode.TRUNCATED, ProblemCode.NO_PIXEL_DATA)
    assert "truncated" in rejected.message


def _expect(path: Path, code: ProblemCode) -> IngestError:
    with pytest.raises(IngestError) as info:
        read_clip(Source(path))
    assert info.value.code is code, info.value
    assert str(path) in str(info.value)
    return info.value


def test_typed_reasons(tmp_path: Path) -> None:
    ds = ultrasound_dataset(UltrasoundSpec(frames=4))
    ds.NumberOfFrames = 6
    _expect(write(ds, tmp_path / "frames.dcm"), ProblemCode.FRAME_COUNT_MISMATCH)

    ds = ultrasound_dataset(UltrasoundSpec(frames=2))
    ds.PixelData = ds.PixelData[:1000]
    _expect(write(ds, tmp_path / "short.dcm"), ProblemCode.SHORT_PIXEL_DATA)

    ds = ultrasound_dataset(UltrasoundSpec())
    del ds.PixelData
    _expect(write(ds, tmp_path / "nopixels.dcm"), ProblemCode.NO_PIXEL_DATA)

    ds = ultrasound_dataset(UltrasoundSpec())
    ds.Modality = "CT"
    err = _expect(write(ds, tmp_path / "ct.dcm"), ProblemCode.NOT_ULTRASOUND)
    assert "CT" in err.message

    ds = ultrasound_dataset(UltrasoundSpec())
    ds.Rows = 60000
    _expect(write(ds, tmp_path / "huge.dcm"), ProblemCode.ABSURD_DIMENSIONS)

    ds = ultrasound_dataset(UltrasoundSpec())
    ds.file_meta.TransferSyntaxUID = "1.2.3.4.5.6.7"
    ds.save_as(tmp_path / "ts.dcm", implicit_vr=False, little_endian=True, enforce_file_format=True)
    _expect(tmp_path / "ts.dcm", ProblemCode.UNSUPPORTED_TRANSFER_SYNTAX)

    data = write(ultrasound_dataset(UltrasoundSpec(frames=8)), tmp_path / "full.dcm").read_bytes()
    (tmp_path / "cut.dcm").write_bytes(data[: len(data) - 5000])
    with pytest.raises(IngestError) as info:
        read_clip(Source(tmp_path / "cut.dcm"))
    assert info.value.code in (ProblemCode.TRUNCATED, ProblemCode.SHORT_PIXEL_DATA)


def test_corrupt_jpeg_frame_is_a_decode_error_naming_the_frame(tmp_path: Path) -> None:
    path = jpeg_with_broken_last_frame(tmp_path / "j.dcm")  # the third frame's headers wiped
    clip = read_clip(Source(path))
    with pytest.raises(IngestError) as info:
        list(iter_frames(clip))
    assert info.value.code is ProblemCode.DECODE_FAILED
    assert "frame 3" in info.value.message


def test_broken_zip_hidden_files_and_dicomdir_are_reported(tmp_path: Path) -> None:
    write(ultrasound_dataset(UltrasoundSpec()), tmp_path / "good.dcm")
    with zipfile.ZipFile(tmp_path / "broken.zip", "w") as archive:
        archive.writestr("a.dcm", b"x" * 100)
    data = (tmp_path / "broken.zip").read_bytes()
    (tmp_path / "broken.zip").write_bytes(data.replace(b"PK\x01\x02", b"XX\x01\x02"))  # central directory gone
    (tmp_path / ".hidden.dcm").write_bytes(b"x")
    (tmp_path / "DICOMDIR").write_bytes(b"x")
    result = ingest([tmp_path])
    assert [c.source.path.name for c in result.clips] == ["good.dcm"]
    names = {Path(s.source).name: s.code for s in (*result.skipped, *result.rejected)}
    assert names[".hidden.dcm"] is ProblemCode.IGNORED
    assert names["DICOMDIR"] is ProblemCode.IGNORED
    assert names["broken.zip"] is ProblemCode.UNREADABLE


def test_bad_optional_attributes_flag_instead_of_reject(tmp_path: Path) -> None:
    ds = ultrasound_dataset(UltrasoundSpec(frames=3))
    ds.FrameTime = "40.0"
    ds.SequenceOfUltrasoundRegions[0].PhysicalDeltaX = -0.01  # an axis running against the pixel index
    path = write(ds, tmp_path / "odd.dcm")
    data = path.read_bytes()
    assert data.count(b"40.0") == 1
    path.write_bytes(data.replace(b"40.0", b"fast"))  # a scanner's malformed DS value
    clip = read_clip(Source(path))
    codes = {p.code for p in clip.problems}
    assert ProblemCode.BAD_ATTRIBUTE in codes and ProblemCode.NO_FRAME_TIME in codes
    assert clip.spacing_mm == pytest.approx((0.1, 0.1))


def test_unreadable_regions_do_not_fall_back_to_the_whole_screen(tmp_path: Path) -> None:
    ds = ultrasound_dataset(UltrasoundSpec())
    del ds.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1
    clip = read_clip(Source(write(ds, tmp_path / "noregion.dcm")))
    assert clip.views == ()
    assert clip.kind.value == "not-analysable"
    assert "no readable region" in (clip.not_analysable_reason or "")


def test_coloured_marker_does_not_make_colour_doppler(tmp_path: Path) -> None:
    spec = UltrasoundSpec(frames=3, rgb=True)
    pixels = ultrasound_dataset(spec).pixel_array.copy()
    pixels[:, 30:32, 20:140] = (0, 255, 0)  # a green caliper line across the view
    pixels[:, 40:100, 100:101] = (255, 255, 0)
    clip = read_clip(Source(write(ultrasound_dataset(spec, pixels), tmp_path / "marker.dcm")))
    assert clip.kind.value == "compression-cine"
