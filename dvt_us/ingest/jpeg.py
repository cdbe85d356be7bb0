"""What a JPEG codestream says about its own colour space, for headers that say otherwise.

Scanners sometimes label JPEG baseline colour images ``RGB`` while the codestream is YCbCr (a JFIF file,
or Adobe APP14 with transform 1). Decoders then return YCbCr samples under an RGB label. The rule is
libjpeg's: APP14 decides when present; else JFIF means YCbCr; else component ids R, G, B mean RGB;
else a 3-component image is YCbCr.
"""

from __future__ import annotations

_SOI, _SOS, _EOI = 0xD8, 0xDA, 0xD9
_APP0, _APP14 = 0xE0, 0xEE
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def codestream_is_ycbcr(stream: bytes) -> bool | None:
    """True if a 3-component JPEG codestream holds YCbCr, False if RGB, None if not a colour JPEG."""
    if len(stream) < 4 or stream[0] != 0xFF or stream[1] != _SOI:
        return None
    jfif, adobe_transform, components, ids = False, None, 0, b""
    i = 2
    while i + 4 <= len(stream):
        if stream[i] != 0xFF:
            return None
        marker = stream[i + 1]
        if marker in (_SOS, _EOI):
            break
        length = int.from_bytes(stream[i + 2 : i + 4], "big")
        body = stream[i + 4 : i + 2 + length]
        if marker == _APP0 and body.startswith(b"JFIF\x00"):
            jfif = True
        elif marker == _APP14 and body.startswith(b"Adobe") and len(body) >= 12:
            adobe_transform = body[11]
        elif marker in _SOF_MARKERS and len(body) >= 6:
            components = body[5]
            ids = bytes(body[6 + 3 * c] for c in range(components) if 6 + 3 * c < len(body))
        i += 2 + length
    if components != 3:
        return None
    if adobe_transform is not None:
        return adobe_transform != 0
    if jfif:
        return True
    return ids != b"RGB"
