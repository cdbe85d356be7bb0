"""Every coded concept dvt-us reads or writes, in one place.

Codes come from pydicom's code dictionary (SNOMED CT ``SCT``, NCI Thesaurus ``NCIt``, ``DCM``, LOINC
``LN``, ``UMLS``, ``UCUM``), drawn from CID 12110 (Lower Extremity Vein), CID 12114 (Abdominal Vein) and
CID 12116 (Vessel Segment Modifier) for anatomy, so that what we emit matches the DICOM standard's own
context groups. Findings with no standard code use the private scheme ``99DVTUS`` at the end of this
module (documented in docs/dicom-sr.md).
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
VESSEL_LUMEN_CROSS_SECTIONAL_AREA: Code = codes.SCT.VesselLumenCrossSectionalArea
CERTAINTY_OF_FINDING: Code = codes.DCM.CertaintyOfFinding
LOWER_LIMB: Code = codes.SCT.LowerLimb
"""Finding site of a finding whose segment is unassigned (the side is still known)."""

# Values of coded findings: CID 240 (Present-Absent) and CID 230 (Yes-No).
PRESENT: Code = codes.SCT.Present
ABSENT: Code = codes.SCT.Absent
UNDETERMINED: Code = codes.SCT.Undetermined
"""Every ``indeterminate`` of DESIGN.md section 4 (vein not found, poor quality, inadequate compression)."""
YES: Code = codes.SCT.Yes
NO: Code = codes.SCT.No

# The SR document (TID 1500): procedure reported (LOINC playbook code of the exam, CID 100 is extensible)
# and time point types (CID 6146).
LOWER_EXTREMITY_VENOUS_DUPLEX: Code = codes.LN.USDopplerLowerExtremityVesselsReport
"""Also the document title (CID 12100 / 7000) of the encapsulated PDF report."""
BASELINE_TIME_POINT: Code = codes.UMLS.Baseline
POSTTREATMENT_TIME_POINT: Code = codes.DCM.Posttreatment

DEVICE_OBSERVER: Code = codes.DCM.Device
"""Observer type (CID 270) of the software that made the findings."""

# DICOM SEG: segmented property categories (CID 7150) and types (CID 7151), algorithm family (CID 7162),
# purpose of reference (CID 7202) and derivation (CID 7203).
ANATOMICAL_STRUCTURE: Code = codes.SCT.AnatomicalStructure
MORPHOLOGICALLY_ABNORMAL_STRUCTURE: Code = codes.SCT.MorphologicallyAbnormalStructure
LUMEN_OF_BLOOD_VESSEL: Code = codes.SCT.LumenOfBloodVessel
ARTERY: Code = codes.SCT.Artery
ARTIFICIAL_INTELLIGENCE: Code = codes.cid7162.ArtificialIntelligence
SOURCE_IMAGE_FOR_PROCESSING: Code = codes.cid7202.SourceImageForImageProcessingOperation
SEGMENTATION_DERIVATION: Code = codes.cid7203.SegmentationImageDerivation

# UCUM units.
MILLIMETER: Code = codes.UCUM.Millimeter
SQUARE_MILLIMETER: Code = codes.UCUM.SquareMillimeter
RATIO: Code = codes.UCUM.Ratio
NO_UNITS: Code = codes.UCUM.NoUnits

# ---------------------------------------------------------------------------------------------------
# Private coding scheme 99DVTUS: findings that no standard code covers (DESIGN.md section 5).
# Documented in docs/dicom-sr.md and declared in each SR's Coding Scheme Identification Sequence.
# Code values are short mnemonics (SH, at most 16 characters); never reuse a value for a new meaning.
# ---------------------------------------------------------------------------------------------------

PRIVATE_SCHEME = "99DVTUS"
PRIVATE_SCHEME_NAME = "dvt-us private codes for venous duplex findings"
PRIVATE_SCHEME_VERSION = "1"
PRIVATE_SCHEME_RESPONSIBLE_ORGANIZATION = "dvt-us project"


def _private(value: str, meaning: str) -> Code:
    return Code(value, PRIVATE_SCHEME, meaning)


# Concept names.
COMPRESSIBILITY: Code = _private("COMPRESSIBILITY", "Vein compressibility")
PATENCY: Code = _private("PATENCY", "Vein patency")
THROMBUS_EXTENT: Code = _private("THROMBUS_EXTENT", "Thrombus extent")
THROMBUS_GRADE: Code = _private("THROMBUS_GRADE", "Segment thrombus grade")
"""0 none, 1 non-occlusive, 2 occlusive in part, 3 occlusive throughout (Porter/Moneta)."""
RESIDUAL_VEIN_THROMBOSIS: Code = _private("RVT", "Residual vein thrombosis")
FLAGGED_FOR_READER: Code = _private("READER_FLAG", "Flagged for reader review")
READER_CHANGED: Code = _private("READER_CHANGED", "Changed by reader")
COMPRESSION_STATE: Code = _private("COMPR_STATE", "Compression state")
"""Concept modifier (TID 300 row 2) of a diameter or area: uncompressed or at maximal compression."""
DIAMETER_RATIO: Code = _private("DIAMETER_RATIO", "Compressed to uncompressed AP diameter ratio")
AREA_RATIO: Code = _private("AREA_RATIO", "Compressed to uncompressed vein area ratio")
THROMBUS_AREA_FRACTION: Code = _private("THROMBUS_FRACT", "Thrombus area fraction at maximal compression")
FLOW_FILL_FRACTION: Code = _private("FLOW_FILL", "Colour flow fill fraction of the vein lumen")

# Values.
UNCOMPRESSED: Code = _private("UNCOMPRESSED", "Uncompressed")
MAXIMAL_COMPRESSION: Code = _private("MAX_COMPRESSION", "Maximal compression")
COMPRESSIBLE: Code = _private("COMPRESSIBLE", "Compressible")
PARTIALLY_COMPRESSIBLE: Code = _private("PARTIAL_COMPR", "Partially compressible")
NONCOMPRESSIBLE: Code = _private("NONCOMPRESSIBLE", "Noncompressible")
PATENT: Code = _private("PATENT", "Patent")
PARTIALLY_PATENT: Code = _private("PARTIAL_PATENT", "Partially patent")
OCCLUDED: Code = _private("OCCLUDED", "Occluded")
NO_THROMBUS: Code = _private("NO_THROMBUS", "No thrombus")
NONOCCLUSIVE_THROMBUS: Code = _private("NONOCCLUSIVE", "Non-occlusive thrombus")
OCCLUSIVE_THROMBUS: Code = _private("OCCLUSIVE", "Occlusive thrombus")

# Codes that other software writes for the same veins and that we accept on input: the femoral vein
# is also coded without the (deprecated) "superficial" qualifier.
INPUT_SYNONYMS: dict[tuple[str, str], Code] = {
    ("SCT", codes.SCT.FemoralVein.value): FEMORAL_VEIN,
}
