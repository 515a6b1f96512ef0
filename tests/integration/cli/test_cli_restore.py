"""``files ls/versions/extract`` as a script uses them, on real images (issue 15 §2).

Paths that ``ls`` prints are fed straight back to ``ls``, ``versions`` and ``extract``; a whole disk or the
whole point extracts each volume into its own folder; a compressed point and a damaged image fail with
exit 1 and a code a script can branch on. Most calls go through the CLI's own ``run`` in this process (the
same parser and code as the ``vmrestore`` entry point, fast enough to walk a volume); exit codes are
also checked through the installed ``vmrestore`` entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench.disk_fixtures import REPO_LAYOUT, BackupRepo
from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec, expected_tree
from vmrestore.cli.main import run

pytestmark = pytest.mark.disktools

AUDIT_DETAIL_KEYS = {"to", "paths", "conflict", "files", "bytes", "renamed", "skipped"}


class Cli:
    """``vmrestore ... --json`` in this process, with its own home; returns (exit code, parsed stdout)."""

    def __init__(self, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.home = home
        self.capsys = capsys

    def __call__(self, *args: str, expect: int = 0) -> Any:
        self.capsys.readouterr()
        code = run([*args, "--json"])
        out = self.capsys.readouterr()
        assert code == expect, f"{args}: exit {code}\n{out.err}"
        return json.loads(out.out)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("VMRESTORE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("VMRESTORE_POLICY", str(tmp_path / "no-policy.json"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
    monkeypatch.delenv("VMRESTORE_CATALOG", raising=False)
    return Cli(tmp_path / "home", capsys)


def _entry_point(home: Path, *args: str) -> tuple[int, Any]:
    """The installed ``vmrestore`` console script, as an admin's script calls it."""
    exe = shutil.which("vmrestore", path=str(Path(os.sys.executable).parent)) or "vmrestore"
    env = {**os.environ, "VMRESTORE_HOME": str(home), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    out = subprocess.run([exe, *args, "--json"], env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in out.stderr, out.stderr
    return out.returncode, json.loads(out.stdout)


def test_every_path_ls_prints_works_with_ls_versions_and_extract(cli: Cli, backup_repo: BackupRepo,
                                                                 tmp_path: Path) -> None:
    cli("repo", "add", "main", str(backup_repo.root))
    assert cli("catalog", "index")["errors"] == []
    newest = cli("points", "list", "--vm", "web01")[0]["id"]

    seen: dict[str, dict[str, Any]] = {}
    todo = ["/"]
    while todo:  # the whole point, every level: disks, volumes, every folder of both volumes
        folder = todo.pop()
        for row in cli("files", "ls", newest, folder):
            assert row["path"] not in seen, f"{row['path']} listed twice"
            assert row["path"].rstrip("/").rsplit("/", 1)[-1] == row["name"]
            seen[row["path"]] = row
            if row["type"] == "dir":
                todo.append(row["path"])
    assert not [p for p in seen if "/Users/Users" in p or "/alice/alice" in p]
    assert "/disk0/vol1/Users/alice/Documents/Q3-report.xlsx" in seen
    parts = backup_repo.points["web01"][-1].spec.disks[0].partitions
    want: dict[str, bytes | None] = {f"/disk0/vol{n}{p}": v for n, part in enumerate(parts, start=1)
                                     for p, v in expected_tree(part).items()}
    assert set(want) <= set(seen), sorted(set(want) - set(seen))  # nothing missing, nothing doubled

    files = [p for p, value in want.items() if value is not None]
    assert len(files) == 7  # 5 on the NTFS volume, 2 on the FAT32 one
    for path in files:
        versions = cli("files", "versions", newest, path)
        assert versions and versions[0]["point"] == newest and versions[0]["size"] == seen[path]["size"]
        target = tmp_path / "one" / path.strip("/").replace("/", "_")
        result = cli("files", "extract", newest, path, "--to", str(target))
        assert result["files"] == 1 and result["bytes"] == seen[path]["size"]
        assert (target / seen[path]["name"]).read_bytes() == want[path]


def test_a_whole_disk_or_point_extracts_each_volume_into_its_own_folder(cli: Cli, backup_repo: BackupRepo,
                                                                        tmp_path: Path) -> None:
    cli("repo", "add", "main", str(backup_repo.root))
    cli("catalog", "index")
    web = cli("points", "list", "--vm", "web01")[0]["id"]
    web_spec = backup_repo.points["web01"][-1].spec.disks[0]
    out = tmp_path / "web-disk0"
    result = cli("files", "extract", web, "/disk0", "--to", str(out))
    assert sorted(p.name for p in out.iterdir()) == ["disk0-vol1", "disk0-vol2"]
    total = 0
    for number, part in enumerate(web_spec.partitions, start=1):
        for rel, value in expected_tree(part).items():
            local = out / f"disk0-vol{number}" / rel.lstrip("/")
            if value is None:
                assert local.is_dir(), local
            else:
                assert local.read_bytes() == value, local
                total += len(value)
    assert result["bytes"] == total and result["skipped"] == []

    db = cli("points", "list", "--vm", "db01")[0]["id"]
    every = tmp_path / "db-all"
    result = cli("files", "extract", db, "/", "--to", str(every))
    assert sorted(p.name for p in every.iterdir()) == ["disk0-vol1", "disk1-vol1"]
    assert (every / "disk0-vol1" / "etc" / "hostname").read_text() == "db01\n"
    assert (every / "disk1-vol1" / "PG_VERSION").read_text() == "15\n"
    assert result["files"] == 4 and (every / "disk0-vol1" / "var" / "log" / "empty").is_dir()
    audit = [e for e in cli("audit", "list") if e["action"] == "extract"]
    assert [(e["target"], e["result"]) for e in audit] == [
        (f"{web}:/disk0 -> {out}", "ok"), (f"{db}:/ -> {every}", "ok")]
    # the fields the GUI's restore writes too (tests/ui/restore: the same use case writes both)
    assert set(audit[0]["detail"]) == AUDIT_DETAIL_KEYS and audit[0]["detail"]["paths"] == ["/disk0"]


def test_compressed_point_exits_1_and_damaged_images_say_corrupt_image(cli: Cli, make_repo, tmp_path: Path) -> None:
    day = datetime(2024, 5, 1, 22, 0, tzinfo=UTC)
    disk = DiskSpec("gpt", [PartitionSpec("ntfs", 8, "C", {"a.txt": "a"})])
    repo = make_repo({
        "packed": [PointSpec(day, [disk], compressed=True)],
        "brokendesc": [PointSpec(day, [disk], subformat="monolithicFlat")],
        "brokenheader": [PointSpec(day, [disk])],
        **{"web01": REPO_LAYOUT["web01"][:1]},
    })
    [desc] = repo.points["brokendesc"]
    descriptor = desc.folder / desc.disk_files[0]
    descriptor.write_text(descriptor.read_text().replace("createType", "creXteType"))  # a few flipped bytes
    [header] = repo.points["brokenheader"]
    with open(header.folder / header.disk_files[0], "r+b") as fh:  # the grain directory offset, in the header
        fh.seek(56)
        fh.write(b"\xff\xff\xff\x00")
    cli("repo", "add", "main", str(repo.root))
    report = cli("catalog", "index")
    assert report["points_added"] == 4
    assert any("brokendesc" in e and "damaged" in e for e in report["errors"]), report["errors"]
    assert any("brokenheader" in e and "damaged" in e for e in report["errors"]), report["errors"]

    points = {p["vm"]: p for p in cli("points", "list")}
    assert (points["web01"]["status"], points["web01"]["browsable"]) == ("ok", True)
    for vm in ("brokendesc", "brokenheader"):
        assert (points[vm]["status"], points[vm]["browsable"]) == ("damaged", False), points[vm]
        assert "disk0" in points[vm]["reason"]

    code, err = _entry_point(cli.home, "files", "ls", points["packed"]["id"], "/")
    assert code == 1 and err["error"]["code"] == "unsupported_format"
    assert "compressed" in err["error"]["message"]
    for vm, words in (("brokendesc", "descriptor"), ("brokenheader", "grain")):
        for path in ("/", "/disk0", "/disk0/vol1"):
            err = cli("files", "ls", points[vm]["id"], path, expect=1)
            assert err["error"]["code"] == "corrupt_image", err
            assert words in err["error"]["message"] and points[vm]["id"] in err["error"]["message"]
        err = cli("files", "extract", points[vm]["id"], "/", "--to", str(tmp_path / vm), expect=1)
        assert err["error"]["code"] == "corrupt_image"
        assert not (tmp_path / vm).exists() or list((tmp_path / vm).iterdir()) == []
    code, err = _entry_point(cli.home, "files", "ls", points["brokenheader"]["id"], "/disk0")
    assert code == 1 and err["error"]["code"] == "corrupt_image"
    # bad usage stays exit 2
    assert cli("files", "ls", points["web01"]["id"], "/vol1", expect=2)["error"]["code"] == "invalid_input"


def test_indexing_and_extraction_are_gated_by_the_same_rule_as_the_gui(cli: Cli, backup_repo: BackupRepo,
                                                                       monkeypatch: pytest.MonkeyPatch,
                                                                       tmp_path: Path) -> None:
    """Today's policy lets helpdesk index and extract; take both away from helpdesk in the policy table and
    the CLI refuses (exit 3), before any job runs, through the use case the GUI calls."""
    from vmrestore.engine import policy
    from vmrestore.model import Action, Role

    cli("repo", "add", "main", str(backup_repo.root))
    cli("catalog", "index")
    newest = cli("points", "list", "--vm", "web01")[0]["id"]
    (tmp_path / "helpdesk.json").write_text('{"role": "helpdesk"}')
    monkeypatch.setenv("VMRESTORE_POLICY", str(tmp_path / "helpdesk.json"))
    narrowed = {**policy.POLICY, Role.HELPDESK: policy.POLICY[Role.HELPDESK] - {Action.INDEX, Action.EXTRACT}}
    monkeypatch.setattr(policy, "POLICY", narrowed)
    err = cli("catalog", "index", expect=3)
    assert err["error"]["code"] == "role_denied" and "index" in err["error"]["message"]
    err = cli("files", "extract", newest, "/disk0/vol1/Users", "--to", str(tmp_path / "x"), expect=3)
    assert err["error"]["code"] == "role_denied" and not (tmp_path / "x").exists()
    assert [j["kind"] for j in cli("jobs", "list")] == ["index"]  # only the admin's first run
