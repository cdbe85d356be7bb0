"""Every rendered output of one visit folder, beside its report.json (DESIGN.md section 5).

``report.html`` and ``report.pdf`` (one template), ``report-pdf.dcm`` (the PDF as an Encapsulated PDF
instance for PACS viewers), ``sr.dcm`` (TID 1500 Measurement Report) and ``seg/<SOPInstanceUID>.dcm``
(one DICOM SEG per analysed clip). They are functions of the visit folder alone: rendering again after a
reader's change gives new instances (new UIDs), never an edit of the old ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dvt_us.report.encapsulated_pdf import write_encapsulated_pdf
from dvt_us.report.human.render import write_human_report
from dvt_us.report.seg import write_segs
from dvt_us.report.sr import write_sr
from dvt_us.report.visit_folder import VisitFolder

HTML_FILE, PDF_FILE, PDF_DICOM_FILE, SR_FILE, SEG_DIR = "report.html", "report.pdf", "report-pdf.dcm", "sr.dcm", "seg"


@dataclass(frozen=True)
class VisitOutputs:
    """Paths of what :func:`write_visit_outputs` wrote; ``None`` and a note in ``skipped`` for what it could not."""

    html: Path
    pdf: Path
    pdf_dicom: Path | None
    sr: Path | None
    segs: tuple[Path, ...]
    skipped: tuple[str, ...] = ()


def remove_visit_outputs(visit: VisitFolder) -> None:
    """Delete the rendered outputs of a visit folder (they no longer match a new report.json)."""
    for name in (HTML_FILE, PDF_FILE, PDF_DICOM_FILE, SR_FILE):
        (visit.path / name).unlink(missing_ok=True)
    for seg in (visit.path / SEG_DIR).glob("*.dcm"):
        seg.unlink()


def write_visit_outputs(visit: VisitFolder) -> VisitOutputs:
    """Render the human report, the SR, the SEGs and the encapsulated PDF of one visit folder.

    A visit without analysed clips still gets its HTML/PDF (which lists why each clip was not analysed) and,
    when any source header was kept, the encapsulated PDF; the SR needs a segment finding.
    """
    remove_visit_outputs(visit)
    skipped = []
    html, pdf = write_human_report(visit, visit.path / HTML_FILE, visit.path / PDF_FILE)
    pdf_dicom = None
    if visit.source_headers(analysed_only=False):
        pdf_dicom = write_encapsulated_pdf(visit, pdf.read_bytes(), visit.path / PDF_DICOM_FILE)
    else:
        skipped.append(f"{PDF_DICOM_FILE}: no source header to take patient and study from")
    sr = None
    if visit.document["segments"] and visit.source_headers():
        sr = write_sr(visit, visit.path / SR_FILE)
    else:
        skipped.append(f"{SR_FILE}: no segment finding (no analysed clip assigned to a segment and side)")
    segs = write_segs(visit, visit.path / SEG_DIR)
    return VisitOutputs(html, pdf, pdf_dicom, sr, tuple(segs), tuple(skipped))
