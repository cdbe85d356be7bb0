"""The human report (report.html, report.pdf): what a core-lab reader sees, checked on a real analysed phantom."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pypdfium2 as pdfium
import pytest
from numpy.typing import NDArray

from dvt_us.ingest.calibration import PixelBox
from dvt_us.report.human import render_html, render_pdf, write_human_report
from dvt_us.report.human.figures import FILL_ALPHA, SCALE_BAR_RGB, choose_scale_bar, key_frame_figure
from dvt_us.report.human.leg_diagram import GRADE_COLOURS, NOT_IMAGED, leg_diagram_svg
from dvt_us.report.labels import LABEL_RGB, LUMEN, THROMBUS
from dvt_us.report.visit_folder import KeyFrames, VisitFolder

LUMEN_RGB, THROMBUS_RGB = LABEL_RGB[LUMEN], LABEL_RGB[THROMBUS]

A4_PT = (595.28, 841.89)


# ---------------------------------------------------------------------------------------------------
# Rendered once per session
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rendered(visits: list[VisitFolder]) -> dict[str, tuple[str, bytes]]:
    """visit id → (HTML, PDF bytes) of each visit of the phantom run."""
    return {v.document["visit"]: (render_html(v), render_pdf(v)) for v in visits}


def _pages_text(pdf: bytes) -> list[str]:
    doc = pdfium.PdfDocument(pdf)
    try:
        return [doc[i].get_textpage().get_text_bounded() for i in range(len(doc))]
    finally:
        doc.close()


def _find_box(page: pdfium.PdfPage, text: str) -> tuple[float, float, float, float] | None:
    """(left, bottom, right, top) in PDF points of the first occurrence of ``text`` on ``page``."""
    textpage = page.get_textpage()
    found = textpage.search(text, match_case=True).get_next()
    if found is None:
        return None
    box: tuple[float, float, float, float] = textpage.get_charbox(found[0])
    return box


def _render(page: pdfium.PdfPage, scale: float = 1.0) -> NDArray[np.uint8]:
    rgb: NDArray[np.uint8] = page.render(scale=scale, rev_byteorder=True).to_numpy()[:, :, :3]
    return rgb


def _hex_rgb(colour: str) -> NDArray[np.int16]:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], np.int16)


# ---------------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------------


def test_pdf_pages_are_a4_and_not_blank(rendered: dict[str, tuple[str, bytes]]) -> None:
    for visit, (_, pdf) in rendered.items():
        doc = pdfium.PdfDocument(pdf)
        assert len(doc) >= 2, visit
        for i in range(len(doc)):
            width, height = doc[i].get_size()
            assert abs(width - A4_PT[0]) < 1 and abs(height - A4_PT[1]) < 1, (visit, i, width, height)
            pixels = _render(doc[i], 0.5).astype(np.float64)
            assert pixels.std() > 10, f"{visit} page {i + 1} looks blank"
        doc.close()


def test_page_one_holds_the_leg_diagram_above_the_segment_table(rendered: dict[str, tuple[str, bytes]]) -> None:
    for visit, (_, pdf) in rendered.items():
        doc = pdfium.PdfDocument(pdf)
        page = doc[0]
        header = _find_box(page, "Compressibility")
        diagram_title = _find_box(page, "RIGHT")
        legend = _find_box(page, "flagged for a reader")
        assert header is not None and diagram_title is not None and legend is not None, visit
        # PDF y grows upwards: the diagram (title and legend) lies above the table's header row.
        assert diagram_title[1] > legend[1] > header[3], (visit, diagram_title, legend, header)
        assert _find_box(page, "Segment") is not None
        # The diagram is drawn, not only its text: grade-0 green fills many pixels of page 1.
        rgb = _render(page, 2.0).astype(np.int16)
        green = np.all(np.abs(rgb - _hex_rgb(GRADE_COLOURS[0])) <= 12, axis=2)
        assert green.sum() > 500, f"{visit}: leg diagram not drawn on page 1"
        doc.close()


def test_pdf_text_names_subject_visit_segments_phantom_and_models(
    visits: list[VisitFolder], rendered: dict[str, tuple[str, bytes]]
) -> None:
    for v in visits:
        doc = v.document
        pages = _pages_text(rendered[doc["visit"]][1])
        text = " ".join(" ".join(pages).split())
        assert doc["subject"] in pages[0] and doc["visit"] in pages[0]
        assert f"page 1 of {len(pages)}" in pages[0]
        assert f"Subject {doc['subject']} · visit {doc['visit']}" in pages[-1], "running header missing"
        for seg in doc["segments"]:
            assert seg["segment"] in pages[0], seg["segment"]
        assert "trained on a physics phantom, not on patients" in text
        assert "confirmed by a reader" in text
        assert doc["read_status"] in text
        for model in doc["provenance"]["models"]:
            assert model["name"] in text and model["version"] in text
            assert model["sha256"][:16] in text
        assert doc["provenance"]["software"]["version"] in text


def test_change_since_baseline_only_after_baseline(rendered: dict[str, tuple[str, bytes]]) -> None:
    baseline_text = " ".join(_pages_text(rendered["BASELINE"][1]))
    d10_text = " ".join(_pages_text(rendered["D10"][1]))
    assert "Change since baseline" in d10_text
    assert "Change since baseline" not in baseline_text
    assert "Thrombus score by visit" in baseline_text and "Thrombus score by visit" in d10_text


def test_change_table_matches_the_grades_of_both_visits(visits: list[VisitFolder]) -> None:
    baseline, d10 = visits
    html = render_html(d10)
    before = {(s["side"], s["segment"]): s["grade"] for s in baseline.document["segments"]}
    now = {(s["side"], s["segment"]): s["grade"] for s in d10.document["segments"]}
    rows = _ChangeRows()
    rows.feed(html)
    side_names = {"R": "right", "L": "left"}
    for (side, key), grade in now.items():
        b = before.get((side, key))
        row = rows.rows["—" if key == "IVC" else side_names[side], key]
        assert row[:2] == ("—" if b is None else str(b), "—" if grade is None else str(grade))
        if b is not None and grade is not None and b > 0 and grade == 0:
            assert row[2] == "recanalised"
        if b is not None and grade is not None and b == grade:
            assert row[2] == "unchanged"


def test_pdf_and_html_are_deterministic(visits: list[VisitFolder], rendered: dict[str, tuple[str, bytes]]) -> None:
    d10 = VisitFolder.open(visits[1].path)  # a fresh object: nothing cached
    html, pdf = rendered["D10"]
    assert render_html(d10) == html
    assert render_pdf(d10) == pdf
    assert b"/CreationDate" not in pdf


def test_write_human_report_writes_both_files(visits: list[VisitFolder], tmp_path: Path) -> None:
    html_path, pdf_path = write_human_report(visits[0], tmp_path / "out" / "report.html", tmp_path / "report.pdf")
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert pdf_path.read_bytes().startswith(b"%PDF-")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["report.html", "report.pdf"]


# ---------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------


class _Collector(HTMLParser):
    """Tags, URL attributes and leg-diagram segment attributes of an HTML document."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[tuple[str, str, str]] = []
        self.segments: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        values = dict(attrs)
        for name in ("src", "href", "xlink:href", "data", "poster"):
            if values.get(name) is not None:
                self.urls.append((tag, name, str(values[name])))
        if tag == "g" and values.get("class") == "segment":
            self.segments.append(values)


class _ChangeRows(HTMLParser):
    """(side, segment) → (grade at baseline, grade now, change) from the change table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[tuple[str, str], tuple[str, ...]] = {}
        self._in_table = False
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table" and "change-table" in (dict(attrs).get("class") or ""):
            self._in_table = True
        elif self._in_table and tag == "tr":
            self._row = []
        elif self._in_table and tag == "td" and self._row is not None:
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row:
            self.rows[self._row[0], self._row[1]] = tuple(self._row[2:])
            self._row = None
        elif tag == "table":
            self._in_table = False


def test_html_parses_and_is_self_contained(rendered: dict[str, tuple[str, bytes]]) -> None:
    for visit, (html, _) in rendered.items():
        found = _Collector()
        found.feed(html)
        found.close()
        assert "svg" in found.tags and "table" in found.tags, visit
        assert found.urls, "expected embedded images and internal links"
        for tag, name, url in found.urls:
            assert not url.lower().startswith(("http://", "https://", "//", "file:")), (tag, name, url)
            assert url.startswith(("data:", "#")), (tag, name, url)
        assert "<link" not in html and "@import" not in html and "@font-face" not in html
        assert sum(url.startswith("data:image/png;base64,") for _, _, url in found.urls) >= 3


def test_leg_diagram_carries_the_grades_of_report_json(
    visits: list[VisitFolder], rendered: dict[str, tuple[str, bytes]]
) -> None:
    for v in visits:
        found = _Collector()
        found.feed(rendered[v.document["visit"]][0])
        drawn = {(str(g["data-side"]), str(g["data-segment"])): g for g in found.segments}
        assert len(drawn) == len(found.segments) == 23  # 11 segments per leg + the IVC
        listed = set()
        for seg in v.document["segments"]:
            if seg["segment"] == "unassigned":
                continue
            side = "unassigned" if seg["segment"] == "IVC" else seg["side"]
            element = drawn[side, seg["segment"]]
            expected = "indeterminate" if seg["grade"] is None else str(seg["grade"])
            assert element["data-grade"] == expected, (seg["side"], seg["segment"])
            assert element["data-flagged"] == str(seg["flagged"]).lower()
            listed.add((side, seg["segment"]))
        for key, element in drawn.items():
            if key not in listed:
                assert element["data-grade"] == NOT_IMAGED, key


def test_leg_diagram_of_synthetic_segments() -> None:
    svg = str(leg_diagram_svg([
        {"side": "unassigned", "segment": "IVC", "grade": 3, "flagged": True, "thrombus": "occlusive",
         "compressibility": "indeterminate"},
        {"side": "L", "segment": "PER", "grade": None, "flagged": False},
        {"side": "R", "segment": "unassigned", "grade": 1, "flagged": False},
    ]))
    found = _Collector()
    found.feed(svg)
    by_key = {(g["data-side"], g["data-segment"]): g for g in found.segments}
    assert by_key["unassigned", "IVC"]["data-grade"] == "3"
    assert by_key["unassigned", "IVC"]["data-flagged"] == "true"
    assert by_key["L", "PER"]["data-grade"] == "indeterminate"
    assert by_key["R", "PER"]["data-grade"] == NOT_IMAGED
    assert ("R", "unassigned") not in by_key
    assert GRADE_COLOURS[3] in svg


def test_edited_folder_escapes_text_lists_skipped_clips_and_says_uncalibrated(
    visits: list[VisitFolder], tmp_path: Path
) -> None:
    folder = tmp_path / visits[1].path.parent.name / visits[1].path.name
    shutil.copytree(visits[1].path, folder)
    doc = json.loads((folder / "report.json").read_text())
    doc["visit_description"] = "<script>alert('x')</script> & co"
    skipped, uncalibrated = doc["clips"][0], next(c for c in doc["clips"] if c["kind"] == "compression-cine")
    skipped.update(analysed=False, reason="no tissue region <found>")
    uncalibrated.update(spacing_mm=None, calibrated=False)
    (folder / "report.json").write_text(json.dumps(doc))
    kf_path = folder / "key_frames" / f"{uncalibrated['sop_instance_uid']}.npz"
    key = KeyFrames.load(kf_path)
    KeyFrames(key.names, key.frames, key.boxes, key.bmode, key.colour_flow, (None, None)).save(kf_path)

    html = render_html(VisitFolder.open(folder))
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; co" in html
    assert "Clips not analysed" in html and "no tissue region &lt;found&gt;" in html
    assert 'id="clip-1"' not in html, "a clip that was not analysed has no evidence block"
    number = doc["clips"].index(uncalibrated) + 1
    block = html[html.index(f'id="clip-{number}"'):]
    block = block[: block.index("</article>")]
    assert "uncalibrated (pixels only)" in block and "· uncalibrated</figcaption>" in block
    assert "px²" in block


# ---------------------------------------------------------------------------------------------------
# Key-frame figures (synthetic)
# ---------------------------------------------------------------------------------------------------


def _decode(png: bytes) -> NDArray[np.uint8]:
    bgr = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert bgr is not None, "not a PNG"
    return np.asarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), np.uint8)


def _synthetic(grey: int, spacing_mm: tuple[float, float] | None, shape: tuple[int, int] = (120, 160),
               ) -> tuple[KeyFrames, NDArray[np.uint8], NDArray[np.bool_], NDArray[np.bool_]]:
    """Key frames of a 3-frame clip whose view box starts at (30, 40) of a 200 × 260 source grid.

    Returns the key frames, the source-grid masks and the thrombus and lumen masks of frame 2, on the crop.
    """
    rows, cols = shape
    box = PixelBox(30, 40, 30 + rows, 40 + cols)
    masks = np.zeros((3, 200 + rows, 260 + cols), np.uint8)
    yy, xx = np.mgrid[:rows, :cols]
    lumen = (yy - rows // 2) ** 2 + (xx - cols // 3) ** 2 < (rows // 4) ** 2
    thrombus = lumen & (xx < cols // 3)
    crop = np.where(thrombus, 2, np.where(lumen, 1, 0)).astype(np.uint8)
    masks[2, box.row0 : box.row1, box.col0 : box.col1] = crop
    masks[0, 5:15, 5:15] = 2  # outside the view box: must not appear
    key = KeyFrames(
        names=("uncompressed", "max_compression"), frames=(0, 2), boxes=(box, box),
        bmode=np.full((2, rows, cols), grey, np.uint8), colour_flow=None, spacings_mm=(spacing_mm, spacing_mm),
    )
    return key, masks, thrombus, lumen & ~thrombus


def test_thrombus_pixels_take_the_thrombus_colour() -> None:
    grey = 100
    key, masks, thrombus, lumen = _synthetic(grey, (0.1, 0.1))
    figure = key_frame_figure(key, masks, "max_compression")
    assert figure.frame == 2
    rgb = _decode(figure.png).astype(np.int16)
    k = figure.rows // thrombus.shape[0]  # small crops are upsampled by a whole factor
    assert k >= 1 and rgb.shape[:2] == (k * thrombus.shape[0], k * thrombus.shape[1])
    thrombus, lumen = (np.repeat(np.repeat(m, k, axis=0), k, axis=1) for m in (thrombus, lumen))
    inner = cv2.erode(thrombus.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    expected = np.rint((1 - FILL_ALPHA) * grey + FILL_ALPHA * np.array(THROMBUS_RGB)).astype(np.int16)
    assert inner.sum() > 100
    assert np.abs(rgb[inner] - expected).max() <= 1
    # The outline is drawn in the pure thrombus colour on the mask's edge.
    edge = thrombus & ~inner
    assert np.all(rgb[edge] == np.array(THROMBUS_RGB), axis=1).sum() > 20
    # Lumen pixels are not thrombus-coloured; background stays grey (away from the scale bar).
    inner_lumen = cv2.erode(lumen.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    lumen_expected = np.rint((1 - FILL_ALPHA) * grey + FILL_ALPHA * np.array(LUMEN_RGB)).astype(np.int16)
    assert np.abs(rgb[inner_lumen] - lumen_expected).max() <= 1
    top = np.zeros_like(thrombus)
    top[:20, :] = True
    assert np.all(rgb[top & ~lumen & ~thrombus] == grey)


def test_uncompressed_frame_without_masks_is_plain_grey() -> None:
    key, masks, _, _ = _synthetic(80, (0.1, 0.1))
    rgb = _decode(key_frame_figure(key, masks, "uncompressed").png)
    assert np.all(rgb[:60] == 80), "frame 0 has no label inside the view box"


def test_colour_flow_is_drawn_red_towards_and_blue_away() -> None:
    rows, cols = 90, 120
    box = PixelBox(0, 0, rows, cols)
    flow = np.zeros((1, rows, cols), np.float32)
    flow[0, 10:30, 10:40] = 0.8
    flow[0, 10:30, 60:90] = -0.8
    key = KeyFrames(("flow",), (0,), (box,), np.full((1, rows, cols), 60, np.uint8), flow, ((0.2, 0.2),))
    figure = key_frame_figure(key, np.zeros((1, rows, cols), np.uint8), "flow")
    rgb = _decode(figure.png).astype(np.int16)
    k = figure.rows // rows
    towards = rgb[12 * k : 28 * k, 12 * k : 38 * k].reshape(-1, 3)
    away = rgb[12 * k : 28 * k, 62 * k : 88 * k].reshape(-1, 3)
    assert np.all(towards[:, 0] > towards[:, 2] + 100), "positive flow must be red"
    assert np.all(away[:, 2] > away[:, 0] + 100), "negative flow must be blue"
    assert np.all(rgb[40 * k : 60 * k, :] == 60), "no colour where there is no flow"


def _longest_white_run(rgb: NDArray[np.uint8]) -> int:
    white = np.all(rgb == np.array(SCALE_BAR_RGB), axis=2)
    best = 0
    for row in white:
        padded = np.concatenate([[0], row.astype(np.int8), [0]])
        starts, stops = np.flatnonzero(np.diff(padded) == 1), np.flatnonzero(np.diff(padded) == -1)
        if len(starts):
            best = max(best, int((stops - starts).max()))
    return best


@pytest.mark.parametrize(("shape", "spacing"), [((120, 300), (0.1, 0.1)), ((200, 240), (0.07, 0.0625)),
                                                ((800, 900), (0.05, 0.05)), ((90, 120), (0.2, 0.2))])
def test_scale_bar_length_is_mm_over_spacing(shape: tuple[int, int], spacing: tuple[float, float]) -> None:
    key, masks, _, _ = _synthetic(0, spacing, shape)
    figure = key_frame_figure(key, masks, "uncompressed")
    assert figure.scale_bar is not None and figure.pixel_mm is not None
    pixel_col_mm = spacing[1] * shape[1] / figure.cols  # after any downsampling of large crops
    assert figure.pixel_mm[1] == pytest.approx(pixel_col_mm)
    assert figure.scale_bar.length_px == round(figure.scale_bar.length_mm / pixel_col_mm)
    assert figure.scale_bar.length_px <= figure.cols / 3
    assert _longest_white_run(_decode(figure.png)) == figure.scale_bar.length_px


def test_scale_bar_choice() -> None:
    assert choose_scale_bar(300, 0.1).length_mm == 10.0
    assert choose_scale_bar(300, 0.1).length_px == 100
    assert choose_scale_bar(100, 0.25).length_mm == 5.0
    with pytest.raises(ValueError, match="positive"):
        choose_scale_bar(100, 0.0)


def test_uncalibrated_key_frame_has_no_scale_bar() -> None:
    key, masks, _, _ = _synthetic(50, None)
    figure = key_frame_figure(key, masks, "uncompressed")
    assert figure.scale_bar is None and figure.pixel_mm is None
    assert _longest_white_run(_decode(figure.png)) == 0

