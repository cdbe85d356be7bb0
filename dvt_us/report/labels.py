"""The mask labels of DESIGN.md section 4 as every report shows them: names and display colours.

Colours are from the Okabe–Ito palette (distinguishable with the common colour-vision deficiencies); the
HTML/PDF overlays and the DICOM SEG's recommended display colours use the same ones.
"""

from __future__ import annotations

RGB = tuple[int, int, int]

LUMEN, THROMBUS, ARTERY = 1, 2, 3
LABEL_NAMES: dict[int, str] = {LUMEN: "vein lumen", THROMBUS: "thrombus", ARTERY: "artery"}
LABEL_RGB: dict[int, RGB] = {LUMEN: (86, 180, 233), THROMBUS: (230, 159, 0), ARTERY: (204, 121, 167)}
"""Sky blue, orange, reddish purple."""
