"""Findings: per clip, segment, leg and visit (DESIGN.md section 4). Pure functions of measurements."""
