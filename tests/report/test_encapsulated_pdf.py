"""report-pdf.dcm: the PDF report as an Encapsulated PDF instance, validated by dciodvfy and read back."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
import weasyprint

from dvt_us.codes import LOWER_EXTREMITY_VENOUS_DUPLEX
from dvt_us.report.encapsulated_pdf import (
    build_encapsulated_pdf,
    pdf_from_encapsulated,
    write_encapsulated_pdf,
)
from dvt_us.report.visit_folder import VisitFolder
from tests.report.conftest import dciodvfy_errors

ACCEPTED_WARNINGS: set[str] = set()
"""dciodvfy has nothing to warn about; a new warning fails the test."""


@pytest.fixture(scope="module")
def pdfs() -> dict[str, bytes]:
    """A small real PDF (weasyprint), in an odd- and an even-length variant."""
    pdf = weasyprint.HTML(string="<h1>dvt-us</h1><p>PH-001 BASELINE: CFV compressible.</p>").write_pdf()
    assert pdf is not None and pdf.startswith(b"%PDF-")
    odd, even = (pdf, pdf + b"\n") if len(pdf) % 2 else (pdf + b"\n", pdf)
    return {"odd": odd, "even": even}


@pytest.mark.parametrize("parity", ["odd", "even"])
def test_document_bytes_round_trip(visits: list[VisitFolder], pdfs: dict[str, bytes], tmp_path: Path,
                                   parity: str) -> None:
    pdf = pdfs[parity]
    path = write_encapsulated_pdf(visits[0], pdf, tmp_path / "report-pdf.dcm")
    assert [p.name for p in tmp_path.iterdir()] == ["report-pdf.dcm"], "tmp file left"
    ds = pydicom.dcmread(path)
    stored = ds.EncapsulatedDocument
    assert len(stored) % 2 == 0 and len(stored) == len(pdf) + len(pdf) % 2
    assert stored[: len(pdf)] == pdf and stored[len(pdf) :] in (b"", b"\x00")
    assert int(ds.EncapsulatedDocumentLength) == len(pdf)
    assert pdf_from_encapsulated(ds) == pdf
    del ds.EncapsulatedDocumentLength  # readers of instances without it drop the pad byte alone
    assert pdf_from_encapsulated(ds) == pdf


def test_passes_dciodvfy(dciodvfy: str, visits: list[VisitFolder], pdfs: dict[str, bytes], tmp_path: Path) -> None:
    for visit in visits:
        for parity, pdf in pdfs.items():
            path = write_encapsulated_pdf(visit, pdf, tmp_path / visit.path.name / f"{parity}.dcm")
            errors, warnings = dciodvfy_errors(dciodvfy, path)
            assert errors == [], errors
            assert set(warnings) == ACCEPTED_WARNINGS, warnings


def test_attributes(visits: list[VisitFolder], pdfs: dict[str, bytes]) -> None:
    for visit in visits:
        ds = build_encapsulated_pdf(visit, pdfs["odd"])
        analysed = [c["sop_instance_uid"] for c in visit.clips if c["analysed"]]
        first = visit.source_header(analysed[0])
        assert ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.104.1" == ds.file_meta.MediaStorageSOPClassUID
        assert ds.Modality == "DOC" and int(ds.SeriesNumber) == 902 and int(ds.InstanceNumber) == 1
        subject, visit_id = visit.document["subject"], visit.document["visit"]
        assert ds.DocumentTitle == f"dvt-us DVT duplex report {subject} {visit_id}"
        (concept,) = ds.ConceptNameCodeSequence
        assert (concept.CodeValue, concept.CodingSchemeDesignator, concept.CodeMeaning) == (
            "44174-1", "LN", LOWER_EXTREMITY_VENOUS_DUPLEX.meaning)
        assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
        assert ds.BurnedInAnnotation == "YES", "the report names the subject and the study dates"
        assert build_encapsulated_pdf(visit, pdfs["odd"], burned_in_annotation=False).BurnedInAnnotation == "NO"
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDate", "AccessionNumber",
                        "ClinicalTrialSubjectID", "ClinicalTrialTimePointID", "ClinicalTrialProtocolID"):
            assert ds[keyword].value == first[keyword].value, keyword
        assert ds.ClinicalTrialSubjectID == subject and ds.ClinicalTrialTimePointID == visit_id
        assert [s.ReferencedSOPInstanceUID for s in ds.SourceInstanceSequence] == analysed
        assert ds.SeriesInstanceUID != first.SeriesInstanceUID
        assert str(ds.ContentDate) >= str(first.StudyDate) and str(ds.ContentDate) != str(first.ContentDate)
        again = build_encapsulated_pdf(visit, pdfs["odd"])
        assert (again.SOPInstanceUID, again.SeriesInstanceUID) != (ds.SOPInstanceUID, ds.SeriesInstanceUID)


def test_refuses_what_is_not_a_pdf(visits: list[VisitFolder]) -> None:
    with pytest.raises(ValueError, match="not a PDF"):
        build_encapsulated_pdf(visits[0], b"<html></html>")
