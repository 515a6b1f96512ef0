"""``repo add|edit|remove|test`` and ``settings show|set`` as an admin scripts them, on real disk images.

The same use cases back Settings › Repositories in the GUI; here each command is its own process with
``--json`` and we read the results back (catalog rows, settings file, files on disk, audit log).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.bench.disk_fixtures import BackupRepo


def _cli(home: Path, *args: str, expect: int = 0, policy: Path | None = None) -> Any:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "PYTHONPATH": os.getcwd(),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
           "VMRESTORE_POLICY": str(policy or home.parent / "no-policy.json")}
    env.pop("VMRESTORE_CATALOG", None)
    out = subprocess.run([sys.executable, "-m", "vmrestore", *args, "--json"], env=env, capture_output=True,
                         text=True, timeout=300, stdin=subprocess.DEVNULL)
    assert out.returncode == expect, f"{args}: exit {out.returncode}\n{out.stderr}"
    return json.loads(out.stdout)


def test_repo_test_add_edit_remove(backup_repo: BackupRepo, tmp_path: Path) -> None:
    home = tmp_path / "home"
    root = str(backup_repo.root)
    check = _cli(home, "repo", "test", root)
    assert (check["ok"], check["readable"], check["vms"], check["points"]) == (True, True, 2, 5)
    missing = _cli(home, "repo", "test", str(tmp_path / "nope"), expect=1)
    assert missing["ok"] is False and "does not exist" in missing["message"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no restore points" in _cli(home, "repo", "test", str(empty), expect=1)["message"]

    assert _cli(home, "repo", "add", "main", root)["nfs"] is None
    dup = _cli(home, "repo", "add", "main", root, expect=2)
    assert dup["error"]["code"] == "invalid_input" and "already a repository" in dup["error"]["message"]
    assert _cli(home, "repo", "add", "x", str(tmp_path / "nope"), expect=1)["error"]["code"] == "not_found"
    bad = _cli(home, "repo", "edit", "main", "--nfs", "just-a-host", expect=2)
    assert "host:/export" in bad["error"]["message"]
    edited = _cli(home, "repo", "edit", "main", "--nfs", "nas01.corp.example:/volume1/backups")
    assert edited["nfs"] == "nas01.corp.example:/volume1/backups"
    assert _cli(home, "repo", "list")[0]["nfs"] == "nas01.corp.example:/volume1/backups"
    assert _cli(home, "repo", "edit", "main", "--no-nfs")["nfs"] is None

    assert _cli(home, "catalog", "index")["points_added"] == 5
    before = _cli(home, "files", "search", "Q3-report")
    assert before
    plan = _cli(home, "repo", "remove", "main", "--dry-run")
    assert (plan["points"], plan["removed"]) == (5, False)
    assert _cli(home, "repo", "list")[0]["points"] == 5
    assert _cli(home, "repo", "remove", "main", expect=2)["error"]["code"] == "invalid_input"  # no --yes, no tty
    done = _cli(home, "repo", "remove", "main", "--yes")
    assert (done["points"], done["removed"]) == (5, True)
    assert _cli(home, "repo", "list") == []
    assert _cli(home, "points", "list") == []
    assert _cli(home, "files", "search", "Q3-report") == []
    assert _cli(home, "repo", "remove", "main", "--yes", expect=1)["error"]["code"] == "not_found"
    assert any(p.is_file() for p in backup_repo.root.rglob("*.vmdk")), "backup files must stay"
    # Added again, the repository indexes from scratch and search finds the files again (no stale rows).
    _cli(home, "repo", "add", "main", root)
    assert _cli(home, "catalog", "index")["points_added"] == 5
    assert _cli(home, "files", "search", "Q3-report") == before
    entries = [json.loads(line) for line in (home / "audit.log").read_text().splitlines()]
    # add, two edits, remove, add again; refused input is not an action and writes nothing
    assert [e["action"] for e in entries if e["action"] == "repo_add"] == ["repo_add"] * 5


def test_settings_validated_and_role_checked(tmp_path: Path) -> None:
    home = tmp_path / "home"
    shown = _cli(home, "settings", "show")
    assert shown["default_lease_hours"] == 4 and shown["appearance"] == "system" and shown["role"] == "admin"
    assert _cli(home, "settings", "set", "default_lease_hours", "8")["changed"] == ["default_lease_hours"]
    too_long = _cli(home, "settings", "set", "default_lease_hours", "1000", expect=2)
    assert "from 1 to 168" in too_long["error"]["message"]
    assert "every snapshot" in _cli(home, "settings", "set", "leftover_patterns", "*", expect=2)["error"]["message"]
    assert _cli(home, "settings", "set", "leftover_patterns", "Veeam*,ghettoVCB-snapshot-*")["leftover_patterns"] == [
        "Veeam*", "ghettoVCB-snapshot-*"]
    saved = json.loads((home / "settings.json").read_text())
    assert saved["default_lease_hours"] == 8 and saved["leftover_patterns"] == ["Veeam*", "ghettoVCB-snapshot-*"]

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"role": "helpdesk"}))
    refused = _cli(home, "settings", "set", "snapshot_watch_minutes", "30", expect=3, policy=policy)
    assert refused["error"]["code"] == "role_denied"
    assert _cli(home, "settings", "set", "appearance", "dark", policy=policy)["appearance"] == "dark"
    saved = json.loads((home / "settings.json").read_text())
    assert saved["snapshot_watch_minutes"] == 0 and saved["appearance"] == "dark"
    assert _cli(home, "repo", "add", "x", str(tmp_path), expect=3, policy=policy)["error"]["code"] == "role_denied"


@pytest.mark.parametrize("value", ["http://x", str(Path("/no/such/folder/catalog.sqlite")),
                                   "postgresql://vmrestore:secret@127.0.0.1:1/vmrestore"])
def test_catalog_location_refuses_what_cannot_work(tmp_path: Path, value: str) -> None:
    out = _cli(tmp_path / "home", "settings", "set", "catalog_location", value, expect=2)
    assert out["error"]["code"] == "invalid_input"
    assert "secret" not in out["error"]["message"]
    assert "catalog_location" not in json.loads((tmp_path / "home" / "settings.json").read_text()) \
        if (tmp_path / "home" / "settings.json").exists() else True
