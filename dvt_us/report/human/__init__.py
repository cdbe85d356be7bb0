"""The human report (report.html and report.pdf from one template) that core-lab readers review."""

from dvt_us.report.human.render import render_html, render_pdf, write_human_report

__all__ = ["render_html", "render_pdf", "write_human_report"]
