"""Shared set-up for the hot-add / guest-copy tests: a real repository, the CLI, simulator read-backs."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, PointSpec, make_repository
from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.trust import KnownHosts

EXPORT = "nas01:/backups"
GUEST_USER = "CORP\\restore"
GUEST_PASSWORD = "Gu3st-P@ss'word;$(calc)"
TARGET = "DC0_H0_VM0"
HOSTILE = "C:\\x'; Remove-Item -Recurse C:\\ ; $(calc) `whoami` & del *"
HOSTED = ("monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse")

FILES: dict[str, bytes | str | None] = {
    "Users/alice/Documents/Q3-report.xlsx": "the Q3 report\n" * 40,
    "Users/alice/Documents/$(calc) & notes.txt": "a hostile file name\n",
    "Users/alice/Desktop": None,
    "Users/bob/b.txt": "bob\n",
}


def _point(subformat: str, label: str = "DATA") -> PointSpec:
    disk = DiskSpec("gpt", [PartitionSpec("ntfs", 12, label, FILES)])
    return PointSpec(datetime(2026, 11, 20, 1, 0, 0, tzinfo=UTC), [disk], subformat=subformat)


def build_repo(factory: DiskFactory, root: Path) -> Path:
    """FS01 in ESXi's vmfs layout (its volume label is hostile), plus one VM per hosted format."""
    vms = {"FS01": [_point("vmfs", label="D'ATA;$x")]}
    vms.update({f"H-{fmt}": [_point(fmt)] for fmt in HOSTED})
    make_repository(factory, root, vms)
    return root


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every backup file: must be identical before and after every scenario."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Cli:
    home: Path
    sim: Vcsim
    user: str | None = None
    policy: Path | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, "VMRESTORE_HOME": str(self.home), "VMRESTORE_URL": self.sim.url,
               "VMRESTORE_USERNAME": self.user or self.sim.username, "VMRESTORE_PASSWORD": self.sim.password,
               "VMRESTORE_THUMBPRINT": self.sim.thumbprint, "PYTHONPATH": os.getcwd(),
               "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
               "VMRESTORE_GUEST_USERNAME": GUEST_USER, "VMRESTORE_GUEST_PASSWORD": GUEST_PASSWORD,
               "VMRESTORE_CATALOG": str(self.home / "catalog.sqlite")}
        if self.policy:
            env["VMRESTORE_POLICY"] = str(self.policy)
        env.update(extra)
        return env

    def argv(self, *args: str) -> list[str]:
        """The installed entry point (``vmrestore`` next to this interpreter), as an operator runs it."""
        return [str(Path(sys.executable).parent / "vmrestore"), *args, "--json"]

    def run(self, *args: str, expect: int = 0, **extra: str) -> Any:
        out = subprocess.run(self.argv(*args), env=self.env(**extra), capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == expect, f"{args}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
        assert GUEST_PASSWORD not in out.stdout + out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else None

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)


def setup_catalog(cli: Cli, repo: Path) -> dict[str, str]:
    """``repo add`` + ``catalog index``; returns {vm name: point id}."""
    cli.run("repo", "add", "main", str(repo), "--nfs", EXPORT)
    report = cli.run("catalog", "index")
    assert report["errors"] == [], report
    return {p["vm"]: p["id"] for p in cli.run("points", "list")}


def probe(sim: Vcsim, tmp: Path) -> VsphereSession:
    spec = ConnectSpec(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)
    return VsphereSession.open(spec, KnownHosts(str(tmp / "probe_known_hosts.json")))


def vm_moid(session: VsphereSession, name: str) -> str:
    return next(o.moid for o in retrieve(session, "VirtualMachine", ["name"]) if o.props["name"] == name)


def world(session: VsphereSession) -> dict[str, Any]:
    """What a sweep must restore: every VM's disk files (with parents) and every datastore name."""
    disks: dict[str, list[tuple[str, str | None]]] = {}
    for o in retrieve(session, "VirtualMachine", ["name", "config.hardware.device"]):
        found = []
        for d in o.props.get("config.hardware.device") or ():
            backing = getattr(d, "backing", None)
            if backing is not None and str(getattr(backing, "fileName", "")).endswith(".vmdk"):
                parent = getattr(backing, "parent", None)
                found.append((backing.fileName, parent.fileName if parent is not None else None))
        disks[o.props["name"]] = sorted(found)
    stores = sorted(o.props["name"] for o in retrieve(session, "Datastore", ["name"]))
    return {"disks": disks, "datastores": stores}


def starts(sim: Vcsim) -> list[dict[str, Any]]:
    return [r for r in sim.guest_record() if r["op"] == "start"]


def decoded_script(start: Mapping[str, Any]) -> str:
    """The PowerShell script of a recorded start, decoded from its -EncodedCommand argument."""
    prefix = "-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand "
    assert start["arguments"].startswith(prefix), start["arguments"]
    return base64.b64decode(start["arguments"][len(prefix):]).decode("utf-16-le")


def env_of(start: Mapping[str, Any]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in start["env"])


ROBOCOPY_SUMMARY = """
-------------------------------------------------------------------------------
   ROBOCOPY     ::     Robust File Copy for Windows
-------------------------------------------------------------------------------
               Total    Copied   Skipped  Mismatch    FAILED    Extras
    Dirs :         3         3         0         0         0         0
   Files :         3         2         1         0         0         0
   Bytes :       601       580        21         0         0         0
"""
