"""CLI text output: byte counts in the app's one size format; JSON keeps integers (shared/CLI.md)."""

from __future__ import annotations

import json

import pytest

from vmrestore.cli.output import emit_json, emit_table


def test_text_tables_format_sizes_json_keeps_bytes(capsys: pytest.CaptureFixture[str]) -> None:
    rows = [{"name": "a.bin", "size": 5 * 1024**3, "capacity": None}, {"name": "b", "size": 12, "capacity": 2048}]
    emit_table(rows, ["name", "size", "capacity"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "CAPACITY"]
    assert lines[1].split() == ["a.bin", "5.0", "GiB", "-"] and lines[2].split() == ["b", "12", "B", "2.0", "KiB"]
    emit_json(rows)
    assert json.loads(capsys.readouterr().out)[0]["size"] == 5 * 1024**3
