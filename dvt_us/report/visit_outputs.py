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
    """Paths of what :func:`write_visit_outputs` wrote."""

    html: Path
    pdf: Path
    pdf_dicom: Path
    sr: Path
    segs: tuple[Path, ...]


def write_visit_outputs(visit: VisitFolder) -> VisitOutputs:
    """Render the human report, the SR, the SEGs and the encapsulated PDF of one visit folder."""
    html, pdf = write_human_report(visit, visit.path / HTML_FILE, visit.path / PDF_FILE)
    pdf_dicom = write_encapsulated_pdf(visit, pdf.read_bytes(), visit.path / PDF_DICOM_FILE)
    sr = write_sr(visit, visit.path / SR_FILE)
    segs = write_segs(visit, visit.path / SEG_DIR)
    return VisitOutputs(html, pdf, pdf_dicom, sr, tuple(segs))
