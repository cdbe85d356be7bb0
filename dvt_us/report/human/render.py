"""Render the human report of one visit folder: one Jinja2 template for both report.html and report.pdf.

The HTML is a single self-contained file (CSS inline, figures as ``data:`` URIs, the leg diagram as inline
SVG); the PDF is the same HTML laid out by WeasyPrint with the template's print CSS (A4, running header,
"page X of Y"). WeasyPrint is given a URL fetcher that only accepts ``data:`` URLs, so rendering never
touches the network or the file system. For the same visit folder the output is byte-identical: no
timestamps in the HTML, and no creation date or file identifier in the PDF (WeasyPrint writes a
``CreationDate`` only when the HTML carries ``<meta name="dcterms.created">``, which the template does not).
Fonts are subset by HarfBuzz (Debian package libharfbuzz-subset0, installed by ``make setup`` and the
Dockerfile), which is deterministic; WeasyPrint's fallback subsetter (fontTools) stamps each subset with
the current time, so without HarfBuzz-Subset the PDF bytes differ between renderings (its text does not).
"""

from __future__ import annotations

from pathlib import Path

import jinja2
from weasyprint import HTML, URLFetcher

from dvt_us.report.atomic import write_bytes_atomic
from dvt_us.report.human.context import build_context
from dvt_us.report.visit_folder import VisitFolder

TEMPLATE = "report.html.j2"


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("dvt_us.report.human", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "j2", "html.j2"), default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(visit: VisitFolder) -> str:
    """The human report of ``visit`` as one self-contained HTML document (UTF-8 text)."""
    context = build_context(visit)
    return _environment().get_template(TEMPLATE).render(r=context, doc=context.doc)


def html_to_pdf(html: str) -> bytes:
    """Lay out report HTML as PDF (A4, print CSS of the template); only ``data:`` URLs may be fetched."""
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    return pdf


def render_pdf(visit: VisitFolder) -> bytes:
    """The human report of ``visit`` as PDF bytes (what an Encapsulated PDF instance embeds)."""
    return html_to_pdf(render_html(visit))


def write_human_report(visit: VisitFolder, html_path: Path, pdf_path: Path) -> tuple[Path, Path]:
    """Write report.html and report.pdf of ``visit`` (each atomically: temporary file, then rename).

    Parameters
    ----------
    visit
        The analysed visit folder (report.json, masks, key frames; other visits of the subject beside it).
    html_path, pdf_path
        Where to write; parent folders are created.

    Returns
    -------
    tuple of pathlib.Path
        ``(html_path, pdf_path)``.
    """
    html = render_html(visit)
    pdf = html_to_pdf(html)
    write_bytes_atomic(html_path, html.encode("utf-8"))
    write_bytes_atomic(pdf_path, pdf)
    return html_path, pdf_path
