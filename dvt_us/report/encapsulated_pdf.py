"""``report-pdf.dcm``: a visit's PDF report as an Encapsulated PDF instance (PS3.3 A.45.1), for PACS viewers.

highdicom has no class for this IOD, so the instance is a ``highdicom.SOPClass`` (file meta, SOP Common,
patient, study, series, equipment) completed with pydicom: SC Equipment (ConversionType ``WSD``) and
Encapsulated Document (title, concept name, MIME type, source instances, the document bytes). The PDF is
filed in the study of the visit's first analysed source; Source Instance Sequence lists every analysed clip.

Burned In Annotation (0028,0301) is ``YES`` by default: for an encapsulated document it says whether the
document's content identifies the patient and the date (PS3.3 Table C.24-2), and the report prints the subject,
the visit and its study dates; a de-identification pipeline uses the flag to decide whether to open the PDF.
Pass ``burned_in_annotation=False`` only for a PDF rendered without them.
"""

from __future__ import annotations

import datetime
from pathlib import Path

import highdicom as hd
from pydicom.dataset import Dataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian
from pydicom.valuerep import DT

from dvt_us import codes
from dvt_us.report.atomic import atomic_path
from dvt_us.report.dicom_common import equipment, set_trial_visit
from dvt_us.report.provenance import Provenance
from dvt_us.report.visit_folder import VisitFolder

PDF_MIME_TYPE = "application/pdf"


def document_title(visit: VisitFolder) -> str:
    """DocumentTitle (0042,0010): ``"dvt-us DVT duplex report <subject> <visit>"``."""
    return f"dvt-us DVT duplex report {visit.document['subject']} {visit.document['visit']}"


def build_encapsulated_pdf(
    visit: VisitFolder, pdf: bytes, *, series_number: int = 902, burned_in_annotation: bool = True,
) -> Dataset:
    """The Encapsulated PDF Storage instance (1.2.840.10008.5.1.4.1.1.104.1) of a visit's PDF report.

    Parameters
    ----------
    visit
        The visit folder; patient and study come from its first analysed source header.
    pdf
        The PDF file's bytes (must start with ``%PDF-``).
    series_number
        SeriesNumber (0020,0011) of the new series (new SeriesInstanceUID, Modality ``DOC``).
    burned_in_annotation
        BurnedInAnnotation (0028,0301): whether the PDF's content identifies the patient and date.

    Returns
    -------
    pydicom.Dataset
        With file meta (Explicit VR Little Endian); EncapsulatedDocument (0042,0011) is the PDF padded
        with one 0x00 to even length, EncapsulatedDocumentLength (0042,0015) the unpadded length in bytes.

    Raises
    ------
    ValueError
        ``pdf`` is not a PDF, or the visit has no analysed clip to take patient and study from.
    """
    if not pdf.startswith(b"%PDF-"):
        raise ValueError(f"not a PDF: starts with {pdf[:8]!r}")
    sources = visit.source_headers() or visit.source_headers(analysed_only=False)
    if not sources:
        raise ValueError(f"{visit.path}: no source header, so no patient or study to file the PDF under")
    first = sources[0]
    provenance = Provenance.from_json(visit.document["provenance"])
    now = datetime.datetime.now()
    ds = hd.SOPClass(
        study_instance_uid=first.StudyInstanceUID, series_instance_uid=hd.UID(), series_number=series_number,
        sop_instance_uid=hd.UID(), sop_class_uid=EncapsulatedPDFStorage, instance_number=1, modality="DOC",
        **equipment(provenance), transfer_syntax_uid=ExplicitVRLittleEndian,
        series_description=f"{provenance.software_name} report", content_date=now.date(), content_time=now.time(),
    )
    ds.copy_patient_and_study_information(first)
    set_trial_visit(ds, visit.document)
    if "SpecificCharacterSet" in first:
        ds.SpecificCharacterSet = first.SpecificCharacterSet
    ds.ConversionType = "WSD"
    ds.BurnedInAnnotation = "YES" if burned_in_annotation else "NO"
    ds.RecognizableVisualFeatures = "NO"
    ds.AcquisitionDateTime = DT(now)
    ds.DocumentTitle = document_title(visit)
    ds.ConceptNameCodeSequence = [hd.sr.CodedConcept.from_code(codes.LOWER_EXTREMITY_VENOUS_DUPLEX)]
    ds.SourceInstanceSequence = [_reference(source) for source in sources]
    ds.MIMETypeOfEncapsulatedDocument = PDF_MIME_TYPE
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.EncapsulatedDocument = pdf + b"\x00" * (len(pdf) % 2)
    return ds


def write_encapsulated_pdf(visit: VisitFolder, pdf: bytes, path: Path) -> Path:
    """Write :func:`build_encapsulated_pdf` to ``path`` (atomically: the file appears only when complete)."""
    ds = build_encapsulated_pdf(visit, pdf)
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return path


def pdf_from_encapsulated(ds: Dataset) -> bytes:
    """The document bytes of an Encapsulated PDF, without the pad byte.

    Uses EncapsulatedDocumentLength (0042,0015) when present; otherwise drops one trailing 0x00 of an
    even-length value (a PDF ends with ``%%EOF`` and an end-of-line, never with NUL).
    """
    if ds.get("MIMETypeOfEncapsulatedDocument") != PDF_MIME_TYPE:
        raise ValueError(f"not an encapsulated PDF: MIME type {ds.get('MIMETypeOfEncapsulatedDocument')!r}")
    document: bytes = ds.EncapsulatedDocument
    if "EncapsulatedDocumentLength" in ds:
        return document[: int(ds.EncapsulatedDocumentLength)]
    return document[:-1] if document.endswith(b"\x00") else document


def _reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    return item
