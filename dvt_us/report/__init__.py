"""Reports out: report.json (versioned schema) and the mask files (DESIGN.md section 5)."""
