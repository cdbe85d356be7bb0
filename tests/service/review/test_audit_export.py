"""The audit exports: CSV safe to open in a spreadsheet and verifiable offline; JSON Lines of the stored values."""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

import pytest

from dvt_us.cli import audit_command
from dvt_us.service.review import audit
from dvt_us.service.review.errors import PermissionDeniedError
from dvt_us.service.review.store import ReviewStore
from tests.service.review.conftest import Team, at

PAYLOADS = ("=cmd|' /C calc'!A0", "+1", "-2", "@SUM(1)", "'x", "\tx", "\rx")
"""Cell starts that a spreadsheet evaluates (or that look escaped), as actors, objects and reasons."""


def _append_payloads(store: ReviewStore) -> dict[str, int]:
    """One entry per payload (as actor, object and reason); payload → its seq."""
    seqs = {}
    for i, payload in enumerate(PAYLOADS):
        with store.write() as session:
            entry = audit.append(session, payload, "read.amend", payload, {"reason": payload, "i": i}, now=at(i))
        seqs[payload] = entry.seq
    return seqs


def _csv_rows(store: ReviewStore, team: Team) -> list[list[str]]:
    out = io.StringIO()
    audit.export_csv(store, team.root, out, at(100))
    return list(csv.reader(io.StringIO(out.getvalue(), newline="")))


def test_cells_a_spreadsheet_would_evaluate_are_escaped_and_the_csv_still_verifies(store: ReviewStore,
                                                                                    team: Team) -> None:
    seqs = _append_payloads(store)
    rows = _csv_rows(store, team)
    assert tuple(rows[0]) == audit.CSV_COLUMNS
    for cells in rows[1:]:
        for cell in cells:
            assert not cell.startswith(audit.CSV_FORMULA_STARTS), cells
    by_seq = {int(cells[0]): dict(zip(audit.CSV_COLUMNS, cells, strict=True)) for cells in rows[1:]}
    for payload, seq in seqs.items():
        row = by_seq[seq]
        assert row["actor"] == row["object"] == "'" + payload
        assert audit.csv_cell_value(row["actor"]) == payload
        assert json.loads(audit.csv_cell_value(row["details"]))["reason"] == payload
    assert by_seq[seqs["'x"]]["actor"] == "''x", "a leading quote is escaped too, so one is always removed"
    result = audit.verify_csv(rows)
    assert result.intact and result.entries == len(rows) - 1, result.problem


@pytest.mark.parametrize("value", ["plain", "=1+1", "'", "''=x", "-", "", "{\"a\": 1}", "\t\r"])
def test_escaping_gives_every_value_back(value: str) -> None:
    assert audit.csv_cell_value(audit.csv_cell(value)) == value
    assert audit.csv_cell(value) == value or audit.csv_cell(value) == "'" + value


@pytest.mark.parametrize("column", ["at", "actor", "action", "object", "details", "prev_hash", "hash"])
def test_one_changed_cell_breaks_the_chain_at_its_entry(store: ReviewStore, team: Team, column: str) -> None:
    seqs = _append_payloads(store)
    rows = _csv_rows(store, team)
    target = seqs["+1"]
    cells = rows[target]  # row 0 is the header, row n holds entry n
    assert int(cells[0]) == target
    index = audit.CSV_COLUMNS.index(column)
    cells[index] = {"at": cells[index].replace("09:00", "09:01"), "details": cells[index].replace('"+1"', '"+2"'),
                    "prev_hash": "f" * 64, "hash": "e" * 64}.get(column, cells[index] + "!")
    result = audit.verify_csv(rows)
    assert not result.intact and result.first_broken is not None
    assert result.first_broken.seq == target, result.problem
    assert result.entries == target


def test_removing_an_escape_or_a_row_is_found(store: ReviewStore, team: Team) -> None:
    seqs = _append_payloads(store)
    rows = _csv_rows(store, team)
    quoted = seqs["'x"]
    unescaped = [list(cells) for cells in rows]
    unescaped[quoted][2] = "'x"  # reads back as "x": not what was stored
    result = audit.verify_csv(unescaped)
    assert result.first_broken is not None and result.first_broken.seq == quoted
    result = audit.verify_csv(rows[:3] + rows[4:])
    assert result.first_broken is not None and result.first_broken.seq == 4
    assert result.problem is not None and "missing" in result.problem


def test_a_file_that_is_not_an_export_is_refused(store: ReviewStore, team: Team) -> None:
    rows = _csv_rows(store, team)
    with pytest.raises(ValueError, match="header"):
        audit.verify_csv(rows[1:])
    with pytest.raises(ValueError, match="row 2: 7 cells"):
        audit.verify_csv([rows[0], rows[1][:-1]])
    with pytest.raises(ValueError, match="row 2: seq 'one'"):
        audit.verify_csv([rows[0], ["one", *rows[1][1:]]])
    with pytest.raises(ValueError, match="row 2: at '2026-12-01' is not an ISO 8601 time with its UTC offset"):
        audit.verify_csv([rows[0], [rows[1][0], "2026-12-01", *rows[1][2:]]])
    with pytest.raises(ValueError, match="row 2: details is not JSON"):
        audit.verify_csv([rows[0], [*rows[1][:5], "{", *rows[1][6:]]])
    assert audit.verify_csv([rows[0]]).intact  # an empty trail


def test_jsonl_export_holds_the_stored_values_and_verifies(store: ReviewStore, team: Team) -> None:
    seqs = _append_payloads(store)
    out = io.StringIO()
    count = audit.export_jsonl(store, team.root, out, at(100))
    lines = out.getvalue().splitlines()
    assert len(lines) == count and all(line.isascii() for line in lines)
    stored = audit.audit_entries(store, team.root, at(101), limit=1000)
    assert [json.loads(line) for line in lines] == [audit.entry_document(e) for e in stored[:count]]
    assert json.loads(lines[seqs["=cmd|' /C calc'!A0"] - 1])["actor"] == "=cmd|' /C calc'!A0", "not escaped"
    assert stored[count].action == "audit.export" and stored[count].details == {"format": "jsonl", "entries": count}
    assert audit.verify_jsonl([*lines, ""]).intact
    changed = json.loads(lines[seqs["@SUM(1)"] - 1])
    changed["details"]["reason"] = "@SUM(2)"
    lines[seqs["@SUM(1)"] - 1] = json.dumps(changed)
    result = audit.verify_jsonl(lines)
    assert result.first_broken is not None and result.first_broken.seq == seqs["@SUM(1)"]
    with pytest.raises(ValueError, match="line 1: fields"):
        audit.verify_jsonl(['{"seq": 1}'])
    with pytest.raises(PermissionDeniedError):
        audit.export_jsonl(store, team.ada, io.StringIO(), at(102))


def _cli(action: str, file: Path) -> int:
    parser = argparse.ArgumentParser(prog="dvt-us audit")
    audit_command.register(parser)
    return audit_command.run(parser.parse_args([action, str(file)]))


def test_the_command_line_rechecks_an_exported_file(store: ReviewStore, team: Team, tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    _append_payloads(store)
    exported = tmp_path / "trail.csv"
    with exported.open("w", encoding="utf-8", newline="") as out:
        count = audit.export_csv(store, team.root, out, at(100))
    with (tmp_path / "trail.jsonl").open("w", encoding="utf-8") as out:
        audit.export_jsonl(store, team.root, out, at(101))
    assert _cli("verify-csv", exported) == 0
    head = list(audit.audit_entries(store, team.root, at(100), limit=count))[-1]
    assert f"intact, {count} entries; head: seq {count}, hash {head.hash}" in capsys.readouterr().out
    assert _cli("verify-jsonl", tmp_path / "trail.jsonl") == 0
    exported.write_text(exported.read_text(encoding="utf-8").replace("read.amend", "read.amended", 1),
                        encoding="utf-8")
    assert _cli("verify-csv", exported) == 1
    assert "broken: entry" in capsys.readouterr().err
    assert _cli("verify-jsonl", exported) == 2  # a CSV is not JSON Lines
    assert _cli("verify-csv", tmp_path / "absent.csv") == 2
    (tmp_path / "empty.jsonl").write_text("", encoding="utf-8")
    assert _cli("verify-jsonl", tmp_path / "empty.jsonl") == 2, "nothing to check is not 'intact'"
