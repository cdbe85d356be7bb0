"""Frame-by-frame pixel decoding of every ultrasound encoding, streaming (one frame in memory).

Decoding goes through pydicom's pixel backends (pylibjpeg, pyjpegls, GDCM, Pillow). Output frames
are 8-bit in one of three colour spaces: grayscale, RGB, or full-range YCbCr (kept as decoded, so
that B-mode luminance is the Y plane without a colour conversion). Palette colour is mapped through
its (possibly segmented) LUT, MONOCHROME1 is inverted, and more than 8 stored bits are scaled.
"""

from __future__ import annotations

import enum
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import cast

import cv2
import numpy as np
from numpy.typing import NDArray
from pydicom import uid as uids
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import iter_pixels

from dvt_us.ingest.clip import PixelFormat
from dvt_us.ingest.problems import IngestError, ProblemCode
from dvt_us.ingest.sources import Source, open_source

# Pillow decodes 8-bit JPEG baseline 3-4x faster than the other plugins and keeps YCbCr as is.
_PREFERRED_PLUGIN = {uids.JPEGBaseline8Bit: "pillow"}
_COLOUR_TAGS = (
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData",
    "GreenPaletteColorLookupTableData", "BluePaletteColorLookupTableData",
    "SegmentedRedPaletteColorLookupTableData", "SegmentedGreenPaletteColorLookupTableData",
    "SegmentedBluePaletteColorLookupTableData", "PaletteColorLookupTableUID",
)


class ColourSpace(enum.Enum):
    """Colour space of a decoded frame."""

    GRAY = "gray"
    RGB = "rgb"
    YBR = "ybr"
    """Full-range YCbCr (ITU-R BT.601 as in JPEG/JFIF)."""
    YBR_PARTIAL = "ybr-partial"
    """Studio-range YCbCr (YBR_PARTIAL_420/422)."""


@dataclass(frozen=True)
class RawFrame:
    """One decoded frame in the source pixel grid: uint8 ``[rows, cols]`` or ``[rows, cols, 3]``."""

    index: int
    pixels: NDArray[np.uint8]
    colour_space: ColourSpace


def _to_uint8(frame: NDArray[np.generic], bits_stored: int, signed: bool) -> NDArray[np.uint8]:
    if frame.dtype == np.uint8:
        return frame.view(np.uint8)
    values = frame.astype(np.int32)
    if signed:
        values += 1 << (bits_stored - 1)
    shift = max(bits_stored - 8, 0)
    scaled: NDArray[np.uint8] = np.clip(values >> shift, 0, 255).astype(np.uint8)
    return scaled


def _palette_lut(ds: Dataset, bits_stored: int) -> NDArray[np.uint8]:
    """The palette as an 8-bit RGB table indexed by stored value: ``[2**bits_stored, 3]``."""
    values = np.arange(1 << bits_stored, dtype=np.uint16 if bits_stored > 8 else np.uint8)
    lut = np.asarray(apply_color_lut(values, ds))
    if lut.dtype != np.uint8:
        top = int(lut.max())
        lut = (lut >> 8) if top > 255 else lut
    table: NDArray[np.uint8] = np.asarray(lut, dtype=np.uint8)
    return table


def _convert(frame: NDArray, decoded_as: str, pixels: PixelFormat, lut: NDArray[np.uint8] | None,
             index: int) -> RawFrame:
    if lut is not None:
        return RawFrame(index, lut[frame], ColourSpace.RGB)
    if frame.ndim == 3:
        # JPEG 2000 decoders undo the RCT/ICT component transform themselves: YBR_RCT/ICT arrive as RGB.
        if decoded_as.startswith("YBR_PARTIAL"):
            space = ColourSpace.YBR_PARTIAL
        elif decoded_as.startswith("YBR_FULL") or pixels.codestream_ycbcr:
            space = ColourSpace.YBR
        else:
            space = ColourSpace.RGB
        return RawFrame(index, _to_uint8(frame, pixels.bits_stored, False), space)
    gray = _to_uint8(frame, pixels.bits_stored, pixels.pixel_representation == 1)
    return RawFrame(index, 255 - gray if decoded_as == "MONOCHROME1" else gray, ColourSpace.GRAY)


def iter_raw_frames(source: Source, pixels: PixelFormat, indices: list[int] | None = None) -> Iterator[RawFrame]:
    """Decode the frames of one instance one at a time (all, or the 0-based ``indices``).

    Raises
    ------
    IngestError
        ``DECODE_FAILED`` naming the frame, when a backend cannot decode it.
    """
    plugin = _PREFERRED_PLUGIN.get(uids.UID(pixels.transfer_syntax_uid), "")
    photometric = pixels.photometric_interpretation
    palette = photometric == "PALETTE COLOR"
    wanted = list(range(pixels.frames)) if indices is None else indices
    frame_no = wanted[0] if wanted else 0
    try:
        with open_source(source) as fh:
            ds_out = Dataset()
            lut: NDArray[np.uint8] | None = None
            # indices=None lets pydicom walk the fragments once; a list would re-parse them for every frame.
            stream = cast(Generator[NDArray, None, None], iter_pixels(
                fh, ds_out=ds_out, indices=None if indices is None else wanted, as_rgb=False,
                decoding_plugin=plugin,
                specific_tags=[int(tag_for_keyword(k) or 0) for k in _COLOUR_TAGS] if palette else None,
            ))
            try:
                for frame_no in wanted:
                    frame = next(stream)
                    if palette and lut is None:
                        lut = _palette_lut(ds_out, pixels.bits_stored)
                    decoded_as = str(ds_out.get("PhotometricInterpretation", photometric))
                    yield _convert(frame, decoded_as, pixels, lut, frame_no)
            finally:
                stream.close()  # before the file closes, also when the consumer stops early
    except IngestError:
        raise
    except Exception as exc:  # any backend failure becomes a typed error naming the frame
        raise IngestError(
            source.label, ProblemCode.DECODE_FAILED,
            f"frame {frame_no + 1} ({pixels.encoding}, {photometric}): {type(exc).__name__}: {exc}",
        ) from exc


_NO_COLOUR_CHROMA = 16
"""Chroma of at most this in both Cb and Cr is below :data:`COLOUR_CHROMA_THRESHOLD` (16² + 16² < 24²)."""


def _gray_plane(frame: RawFrame) -> NDArray[np.uint8] | None:
    """The luminance of a three-channel frame that holds no colour at all, else None.

    B-mode arrives as RGB or YCbCr from many scanners: an RGB frame whose channels are equal everywhere,
    or a YCbCr frame whose chroma stays within :data:`_NO_COLOUR_CHROMA` of neutral, is gray, and its
    luminance is one plane. For RGB the full conversion below gives the same values several times slower;
    for YCbCr it would give the same luma and a chroma in which no pixel reaches the colour threshold.
    """
    first, second, third = (np.asarray(plane, np.uint8) for plane in cv2.split(frame.pixels))
    if frame.colour_space is ColourSpace.RGB:
        return first if np.array_equal(first, second) and np.array_equal(first, third) else None
    if frame.colour_space is ColourSpace.YBR:
        lo, hi = 128 - _NO_COLOUR_CHROMA, 128 + _NO_COLOUR_CHROMA
        extremes = [cv2.minMaxLoc(plane)[:2] for plane in (second, third)]
        return first if all(lo <= low and high <= hi for low, high in extremes) else None
    return None


def luma_chroma(frame: RawFrame) -> tuple[NDArray[np.uint8], NDArray[np.int16] | None]:
    """Split a frame into luminance (uint8) and chroma ``[..., (Cb, Cr)]`` centred on 0.

    The chroma is None when the frame has no colour: a grayscale frame, or a colour frame of gray pixels.
    """
    px = frame.pixels
    if frame.colour_space is ColourSpace.GRAY:
        return px, None
    gray = _gray_plane(frame)
    if gray is not None:
        return gray, None
    if frame.colour_space is ColourSpace.YBR:
        return px[..., 0], px[..., 1:].astype(np.int16) - 128
    if frame.colour_space is ColourSpace.YBR_PARTIAL:  # studio range: Y 16-235, Cb/Cr 16-240
        y = np.clip((px[..., 0].astype(np.float32) - 16) * (255 / 219), 0, 255)
        chroma = (px[..., 1:].astype(np.float32) - 128) * (255 / 224)
        return np.rint(y).astype(np.uint8), np.rint(chroma).astype(np.int16)
    rgb = px.astype(np.float32)
    y = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    cb = -0.168736 * rgb[..., 0] - 0.331264 * rgb[..., 1] + 0.5 * rgb[..., 2]
    cr = 0.5 * rgb[..., 0] - 0.418688 * rgb[..., 1] - 0.081312 * rgb[..., 2]
    chroma = np.stack([cb, cr], axis=-1)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8), np.rint(chroma).astype(np.int16)


COLOUR_CHROMA_THRESHOLD = 24
"""Chroma magnitude (in 8-bit YCbCr units) above which a pixel counts as colour Doppler."""


def colour_mask(chroma: NDArray[np.int16]) -> NDArray[np.bool_]:
    """Pixels saturated enough to be colour-flow overlay rather than gray B-mode."""
    cb, cr = chroma[..., 0].astype(np.int32), chroma[..., 1].astype(np.int32)
    return np.asarray(cb * cb + cr * cr > COLOUR_CHROMA_THRESHOLD**2)
