"""Every coded concept dvt-us reads or writes, in one place.

Codes come from pydicom's code dictionary (SNOMED CT ``SCT``, NCI Thesaurus ``NCIt``), drawn from
CID 12110 (Lower Extremity Vein), CID 12114 (Abdominal Vein) and CID 12116 (Vessel Segment Modifier),
so that what we emit matches the DICOM standard's own context groups.
"""

from __future__ import annotations

from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code

# CID 12110 / 12114: veins of the segment vocabulary (DESIGN.md section 3).
INFERIOR_VENA_CAVA: Code = codes.SCT.InferiorVenaCava
COMMON_ILIAC_VEIN: Code = codes.SCT.CommonIliacVein
EXTERNAL_ILIAC_VEIN: Code = codes.SCT.ExternalIliacVein
COMMON_FEMORAL_VEIN: Code = codes.SCT.CommonFemoralVein
SAPHENOFEMORAL_JUNCTION: Code = codes.SCT.SaphenofemoralJunction
PROFUNDA_FEMORIS_VEIN: Code = codes.SCT.ProfundaFemorisVein
FEMORAL_VEIN: Code = codes.SCT.SuperficialFemoralVein
POPLITEAL_VEIN: Code = codes.SCT.PoplitealVein
POSTERIOR_TIBIAL_VEIN: Code = codes.SCT.PosteriorTibialVein
PERONEAL_VEIN: Code = codes.SCT.PeronealVein

# CID 12116: vessel segment modifiers.
PROXIMAL: Code = codes.SCT.Proximal
MIDDLE: Code = codes.NCIt.Middle
DISTAL: Code = codes.SCT.Distal

# Laterality (CID 244).
RIGHT: Code = codes.SCT.Right
LEFT: Code = codes.SCT.Left

# Findings (DESIGN.md section 4); written by the report stage.
THROMBUS: Code = codes.SCT.Thrombus
OCCLUSION: Code = codes.SCT.Occlusion
VESSEL_LUMEN_DIAMETER: Code = codes.SCT.VesselLumenDiameter

# Codes that other software writes for the same veins and that we accept on input: the femoral vein
# is also coded without the (deprecated) "superficial" qualifier.
INPUT_SYNONYMS: dict[tuple[str, str], Code] = {
    ("SCT", codes.SCT.FemoralVein.value): FEMORAL_VEIN,
}
