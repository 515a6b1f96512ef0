"""Instant recovery on the simulator, driven through the installed ``vmrestore`` entry point.

The repository is real: ghettoVCB folders with ESXi's own vmfs + -flat disk layout (and one hosted
monolithicSparse point that must be refused), made by the disk bench, mounted on the simulated host
through the bench's NAS mapping (``nas01:/backups`` → the repository folder).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.bench.disk_fixtures import BackupRepo
from tests.bench.diskfactory import DiskSpec, PartitionSpec, PointSpec
from tests.bench.vcsim_fixtures import Vcsim
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.trust import KnownHosts

EXPORT = "nas01:/backups"
VMRESTORE = str(Path(__file__).resolve().parents[3] / ".venv" / "bin" / "vmrestore")
NVRAM = bytes(range(256)) * 32  # the firmware settings the backup carries


def _disk() -> DiskSpec:
    return DiskSpec("gpt", [PartitionSpec("ext4", 6, "rootfs", {"etc/hostname": "web01\n"})])


def digest(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (names relative): compared before and after each scenario."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@dataclass
class Bench:
    sim: Vcsim
    repo: BackupRepo
    home: Path
    env: dict[str, str]
    vmfs_point: str
    hosted_point: str
    before: dict[str, str]
    others: dict[str, str] = field(default_factory=dict)  # vm -> point id of hw19 and huge01

    def cli(self, *args: str, expect: int | None = 0, env: dict[str, str] | None = None) -> tuple[int, Any, str]:
        out = subprocess.run([VMRESTORE, *args, "--json"], env=env or self.env, capture_output=True, text=True,
                             timeout=300)
        if expect is not None:
            assert out.returncode == expect, f"{args}: exit {out.returncode}\n{out.stdout}\n{out.stderr}"
        return out.returncode, json.loads(out.stdout) if out.stdout.strip() else None, out.stderr

    def session(self) -> VsphereSession:
        spec = ConnectSpec(self.sim.url, self.sim.username, self.sim.password, thumbprint=self.sim.thumbprint)
        return VsphereSession.open(spec, KnownHosts(str(self.home.parent / "probe_known_hosts.json")))

    def vms(self) -> dict[str, dict[str, Any]]:
        with self.session() as s:
            return {str(o.props["name"]): {"moid": o.moid, **o.props} for o in retrieve(
                s, "VirtualMachine", ["name", "config.files.vmPathName", "config.hardware.device",
                                      "runtime.powerState", "config.annotation", "config.guestId",
                                      "config.hardware.memoryMB", "config.hardware.numCPU", "config.firmware"])}

    def vm_extra_config(self, name: str) -> list[Any]:
        with self.session() as s:
            found = [o for o in retrieve(s, "VirtualMachine", ["name", "config.extraConfig"])
                     if o.props["name"] == name]
            return list(found[0].props.get("config.extraConfig") or ())

    def datastores(self) -> dict[str, dict[str, Any]]:
        with self.session() as s:
            return {str(o.props["name"]): {"moid": o.moid, **o.props}
                    for o in retrieve(s, "Datastore", ["name", "host", "info"])}

    def ds_dir(self, name: str) -> Path:
        return Path(self.sim.datastore_dirs[name])

    def assert_backup_untouched(self) -> None:
        assert digest(self.repo.root) == self.before, "a backup file was changed, added or removed"


def cli_env(sim: Vcsim, home: Path, role: str = "admin", user: str | None = None) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    policy = home / "policy.json"
    policy.write_text(json.dumps({"role": role}))
    env = {**os.environ, "VMRESTORE_HOME": str(home), "VMRESTORE_POLICY": str(policy), "VMRESTORE_URL": sim.url,
           "VMRESTORE_USERNAME": user or sim.username, "VMRESTORE_PASSWORD": sim.password,
           "VMRESTORE_THUMBPRINT": sim.thumbprint, "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    return env


def restored_name(vm: str = "web01") -> str:
    return f"{vm}-restored-{datetime.now(UTC).strftime('%Y-%m-%d')}"


@pytest.fixture
def instant_repo(make_repo: Callable[..., BackupRepo]) -> BackupRepo:
    day = datetime(2024, 5, 3, 1, 0, 0, tzinfo=UTC)
    repo = make_repo({
        "web01": [
            PointSpec(datetime(2024, 5, 1, 1, 0, 0, tzinfo=UTC), [_disk()], subformat="vmfs"),
            PointSpec(datetime(2024, 5, 2, 1, 0, 0, tzinfo=UTC), [_disk()], subformat="monolithicSparse"),
        ],
        "hw19": [PointSpec(day, [_disk()], subformat="vmfs")],  # newer virtual hardware than the host runs
        "huge01": [PointSpec(day, [_disk()], subformat="vmfs")],  # asks for more memory (swap) than fits
    })
    (repo.points["web01"][0].folder / "web01.nvram").write_bytes(NVRAM)
    for vm, old, new in (("hw19", 'virtualHW.version = "13"', 'virtualHW.version = "19"'),
                         ("huge01", 'memsize = "2048"', 'memsize = "1073741824"')):
        vmx = repo.points[vm][0].folder / f"{vm}.vmx"
        vmx.write_text(vmx.read_text().replace(old, new))
    return repo


@pytest.fixture
def bench_factory(vcsim_factory: Callable[..., Vcsim], instant_repo: BackupRepo, tmp_path: Path
                  ) -> Callable[..., Bench]:
    def make(*, nfs: str | None = EXPORT, role: str = "admin", user: str | None = None, **sim_options: Any) -> Bench:
        sim = vcsim_factory(ds=2, nas={EXPORT: str(instant_repo.root)}, **sim_options)
        home = tmp_path / f"home-{len(list(tmp_path.glob('home-*')))}"
        admin_env = cli_env(sim, home, "admin", user)
        bench = Bench(sim, instant_repo, home, admin_env, "", "", {})
        bench.cli("repo", "add", "main", str(instant_repo.root), *(["--nfs", nfs] if nfs else []))
        report = bench.cli("catalog", "index")[1]
        assert report["points_added"] == 4, report
        _, points, _ = bench.cli("points", "list", "--vm", "web01")
        bench.others = {p["vm"]: p["id"] for p in bench.cli("points", "list")[1] if p["vm"] != "web01"}
        formats = {p["disks"][0]["format"]: p["id"] for p in points}
        bench.vmfs_point, bench.hosted_point = formats["vmfs"], formats["monolithicSparse"]
        bench.before = digest(instant_repo.root)
        if role != "admin":
            bench.env = cli_env(sim, home, role, user)
        return bench

    return make


def host_name(bench: Bench) -> str:
    with bench.session() as s:
        return sorted(str(o.props["name"]) for o in retrieve(s, "HostSystem", ["name"])
                      if "_C0_" in str(o.props["name"]))[0]
