"""The catalog from the command line, end to end, on a repository of real disk images.

``vmrestore repo add`` → ``catalog index`` → ``points list`` → ``files ls/search/versions/extract``,
each as its own process with ``--json``, the way an admin scripts it; bytes and names are compared
with what the disk bench put into the images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.bench.disk_fixtures import BackupRepo


def _cli(home: Path, *args: str, expect: int = 0) -> Any:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "PYTHONPATH": os.getcwd(),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    out = subprocess.run([sys.executable, "-m", "vmrestore", *args, "--json"], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == expect, f"{args}: exit {out.returncode}\n{out.stderr}"
    return json.loads(out.stdout)


def _cli_text(home: Path, *args: str) -> str:
    """What a person at a terminal sees (no --json)."""
    env = {**os.environ, "VMRESTORE_HOME": str(home), "PYTHONPATH": os.getcwd(),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    out = subprocess.run([sys.executable, "-m", "vmrestore", *args], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, f"{args}: exit {out.returncode}\n{out.stderr}"
    return out.stdout


@pytest.fixture(params=["sqlite", "postgresql"])
def indexed(request: pytest.FixtureRequest, backup_repo: BackupRepo, tmp_path: Path) -> tuple[Path, BackupRepo]:
    """Every command below runs against the embedded catalog and against a shared PostgreSQL one
    (Settings › Catalog: ``catalog_location`` in the workstation's settings file)."""
    home = tmp_path / "home"
    if request.param == "postgresql":
        home.mkdir()
        (home / "settings.json").write_text(json.dumps({"catalog_location": request.getfixturevalue("pg_url")}))
    added = _cli(home, "repo", "add", "main", str(backup_repo.root), "--nfs", "nas01:/backups")
    assert added == {"name": "main", "path": str(backup_repo.root.resolve()), "nfs": "nas01:/backups"}
    report = _cli(home, "catalog", "index")
    assert report["points_added"] == 5
    assert report["errors"] == []
    assert report["files_indexed"] > 0
    assert (home / "catalog.sqlite").exists() == (request.param == "sqlite")  # the backend asked for
    return home, backup_repo


def test_points_list_newest_first_with_disks_and_volumes(indexed: tuple[Path, BackupRepo]) -> None:
    home, _ = indexed
    points = _cli(home, "points", "list", "--vm", "web01")
    assert [p["created"][:10] for p in points] == ["2024-05-03", "2024-05-02", "2024-05-01"]
    assert [p["status"] for p in points] == ["warn", "ok", "ok"]
    volumes = points[0]["disks"][0]["volumes"]
    assert [(v["index"], v["fs"], v["label"]) for v in volumes] == [(1, "ntfs", "SYSTEM"), (2, "fat32", "EFI-DATA")]
    assert _cli(home, "repo", "list") == [
        {"name": "main", "path": points[0]["path"].rsplit("/", 2)[0], "nfs": "nas01:/backups", "points": 5}]


def test_ls_search_versions_and_extract_exact_bytes(indexed: tuple[Path, BackupRepo], tmp_path: Path) -> None:
    home, _ = indexed
    newest = _cli(home, "points", "list", "--vm", "web01")[0]["id"]
    listing = _cli(home, "files", "ls", newest, "/disk0/vol1/Users/alice/Documents")
    assert sorted(e["name"] for e in listing) == ["Q3-report.xlsx", "new-on-day-2.docx"]
    report_size = len(("report v3\n" * 50).encode())
    assert {e["name"]: e["size"] for e in listing}["Q3-report.xlsx"] == report_size
    assert all(e["path"].startswith("/disk0/vol1/Users/alice/Documents/") for e in listing)

    hits = _cli(home, "files", "search", "q3-REPORT")  # case-insensitive substring
    assert {h["path"] for h in hits} == {"/disk0/vol1/Users/alice/Documents/Q3-report.xlsx"}
    # Same size and mtime in all three points (the bench keeps mtimes): one version, seen 3 times.
    assert len(hits) == 1
    assert hits[0]["first_seen"][:10] == "2024-05-01" and hits[0]["last_seen"][:10] == "2024-05-03"
    assert _cli(home, "files", "search", "*.docx", "--vm", "db01") == []
    assert len(_cli(home, "files", "search", "*.docx", "--vm", "web01")) == 1
    # The date range picks the restore points: only the 2024-05-01 point of web01 is before May 2.
    early = _cli(home, "files", "search", "notes.txt", "--until", "2024-05-01T23:59:59")
    assert [h["created"][:10] for h in early] == ["2024-05-01"]
    assert _cli(home, "files", "search", "*.docx", "--until", "2024-05-01T23:59:59") == []
    # --with-total: the page and how many hits there are in all (exact below the store's cap).
    every = _cli(home, "files", "search", "o", "--limit", "1000")
    assert len(every) >= 3
    page = _cli(home, "files", "search", "o", "--limit", "2", "--with-total")
    assert set(page) == {"hits", "total", "total_is_lower_bound"}
    assert len(page["hits"]) == 2 and all(h in every for h in page["hits"])
    assert (page["total"], page["total_is_lower_bound"]) == (len(every), False)
    text = _cli_text(home, "files", "search", "o", "--limit", "2")
    assert text.splitlines()[-1] == f"showing 1–2 of {len(every)}"
    assert _cli_text(home, "files", "search", "zzz-nothing").splitlines()[-1] == "no hits"

    versions = _cli(home, "files", "versions", newest, "/disk0/vol1/Users/bob/notes.txt")
    assert len(versions) == 3
    assert [v["changed"] for v in versions][-1] is True  # the oldest is "new"
    assert [v["changed"] for v in versions][:2] == [False, False]

    target = tmp_path / "restored"
    result = _cli(home, "files", "extract", newest, "/disk0/vol1/Users/alice", "--to", str(target))
    assert result["files"] == 2
    assert (target / "alice" / "Documents" / "Q3-report.xlsx").read_bytes() == ("report v3\n" * 50).encode()
    assert (target / "alice" / "Desktop").is_dir()
    again = _cli(home, "files", "extract", newest, "/disk0/vol1/Users/alice/Documents/Q3-report.xlsx",
                 "--to", str(target / "alice" / "Documents"))
    assert again["files"] == 1
    assert sorted(p.name for p in (target / "alice" / "Documents").iterdir()) == [
        "Q3-report (1).xlsx", "Q3-report.xlsx", "new-on-day-2.docx"]

    audit = _cli(home, "audit", "list")
    assert [(e["action"], e["result"]) for e in audit] == [("repo_add", "ok"), ("extract", "ok"), ("extract", "ok")]


def test_bad_paths_and_unknown_points_are_clear_errors(indexed: tuple[Path, BackupRepo]) -> None:
    home, _ = indexed
    err = _cli(home, "files", "ls", "main/web01/nope", "/", expect=1)
    assert err["error"]["code"] == "not_found"
    newest = _cli(home, "points", "list", "--vm", "db01")[0]["id"]
    err = _cli(home, "files", "ls", newest, "/disk0/vol1/../../etc", expect=2)
    assert "'..'" in err["error"]["message"]
    root = _cli(home, "files", "ls", newest, "/")
    assert [e["name"] for e in root] == ["disk0", "disk1"]


def test_helpdesk_may_not_add_a_repository(tmp_path: Path, backup_repo: BackupRepo) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text('{"role": "helpdesk"}')
    os.environ["VMRESTORE_POLICY"] = str(policy)
    try:
        err = _cli(tmp_path / "home", "repo", "add", "x", str(backup_repo.root), expect=3)
    finally:
        del os.environ["VMRESTORE_POLICY"]
    assert err["error"]["code"] == "role_denied"
    assert "helpdesk" in err["error"]["message"]


def test_audit_verify_detects_a_changed_entry(indexed: tuple[Path, BackupRepo]) -> None:
    home, _ = indexed
    assert _cli(home, "audit", "verify") == {"ok": True, "entries": 1, "problems": []}
    settings = home / "settings.json"
    shared = json.loads(settings.read_text()).get("catalog_location") if settings.exists() else None
    if shared:  # the shared catalog's audit table: only its owner, switching the guard off, can change a row
        assert not (home / "audit.log").exists()
        with psycopg.connect(shared, autocommit=True) as conn:
            conn.execute("ALTER TABLE audit_log DISABLE TRIGGER USER")
            conn.execute("UPDATE audit_log SET result = 'failed' WHERE seq = 1")
    else:
        log = home / "audit.log"
        log.write_text(log.read_text().replace('"result": "ok"', '"result": "failed"', 1).replace(
            '"result":"ok"', '"result":"failed"', 1))
    tampered = _cli(home, "audit", "verify", expect=1)
    assert tampered["ok"] is False and tampered["problems"]
