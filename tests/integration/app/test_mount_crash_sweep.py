"""A crash never leaves a disk attached or a datastore mounted behind (issue: engine + journal).

Against the real simulator over pinned TLS: the mount job journals each step before doing it;
(1) the *app process* is SIGKILLed while the disk is attached, and ``vmrestore sweep`` in a new process
detaches it and unmounts the repository; (2) the *simulator* is killed mid-job, the job fails cleanly
with a connection error, and after the simulator is back ``sweep`` settles the journal.
The simulator's NFS mount comes from the bench's NAS path map (a SOAP-level extension, see
tests/bench/vcsim/main.go): the export resolves to the test's backup folder.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from tests.bench.tools import require_tool
from vmrestore.app.bootstrap import build_services
from vmrestore.app.mount import MountDiskJob, MountRequest
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.app.undo import DISK_ATTACHED, NAS_MOUNTED
from vmrestore.errors import Transient
from vmrestore.model import JobState
from vmrestore.vsphere import disks_hotadd, inventory, nas
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.trust import KnownHosts

EXPORT = "nas01:/backups"
DISK_REL = "web01/web01-2026-11-20_01-00-00/web01.vmdk"


def _backup_repo(root: Path) -> Path:
    """A one-disk ghettoVCB restore point; the VMDK is made by qemu-img (a real monolithicFlat disk)."""
    qemu_img = require_tool("qemu-img", "qemu-utils")
    point = root / Path(DISK_REL).parent
    point.mkdir(parents=True)
    (point / "web01.vmx").write_text('displayName = "web01"\nscsi0:0.fileName = "web01.vmdk"\n')
    subprocess.run([qemu_img, "create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat",
                    str(point / "web01.vmdk"), "8M"], check=True)
    return root


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _env(sim: Any, home: Path) -> dict[str, str]:
    return {**os.environ, "VMRESTORE_HOME": str(home), "VMRESTORE_URL": sim.url,
            "VMRESTORE_USERNAME": sim.username, "VMRESTORE_PASSWORD": sim.password,
            "VMRESTORE_THUMBPRINT": sim.thumbprint, "PYTHONPATH": os.getcwd()}


def _session(sim: Any, tmp: Path) -> VsphereSession:
    spec = ConnectSpec(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)
    return VsphereSession.open(spec, KnownHosts(str(tmp / "probe_known_hosts.json")))


def _target(session: VsphereSession) -> tuple[str, str]:
    vm = next(v for v in inventory.list_vms(session) if v.power_state == "poweredOn" and v.host)
    assert vm.host is not None
    return vm.moid, vm.host


def _vm_disk_files(session: VsphereSession, vm_moid: str) -> list[str]:
    props = {o.moid: o.props for o in retrieve(session, "VirtualMachine", ["config.hardware.device"])}
    return [d.backing.fileName for d in props[vm_moid]["config.hardware.device"]
            if hasattr(d, "backing") and hasattr(d.backing, "fileName") and d.backing.fileName.endswith(".vmdk")]


def _datastore_names(session: VsphereSession) -> set[str]:
    return {d.name for d in inventory.list_datastores(session)}


CHILD = textwrap.dedent("""
    import asyncio, sys
    from vmrestore.app.bootstrap import build_services
    from vmrestore.app.mount import MountDiskJob, MountRequest
    from vmrestore.app.secrets import MemorySecretStore
    url, user, pw, tp, vm, host, export, disk = sys.argv[1:9]
    services = build_services(secrets=MemorySecretStore())
    services.connection.open_blocking(url, user, pw, thumbprint=tp)
    async def main():
        job = MountDiskJob(services.connection, MountRequest(vm, host, export, disk, 8 << 20, ttl_seconds=3600))
        services.scheduler.submit(job)
        await job.attached.wait()
        print("ATTACHED", flush=True)
        await asyncio.sleep(3600)
    asyncio.run(main())
""")


def test_killed_app_leaves_nothing_behind_after_sweep(vcsim_factory: Any, tmp_path: Path) -> None:
    repo = _backup_repo(tmp_path / "repo")
    before = _digest(repo)
    sim = vcsim_factory(nas={EXPORT: str(repo)})
    home = tmp_path / "home"
    env = _env(sim, home)
    with _session(sim, tmp_path) as probe:
        vm, host = _target(probe)
        disks_before = _vm_disk_files(probe, vm)

        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, sim.url, sim.username, sim.password, sim.thumbprint, vm, host,
             EXPORT, DISK_REL], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ATTACHED", child.stderr.read() if child.stderr else ""
            attached = _vm_disk_files(probe, vm)
            assert len(attached) == len(disks_before) + 1
            assert any(n.startswith("vmrestore-") for n in _datastore_names(probe))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)

        # A new process: the journal says a disk and a datastore are left; sweep removes both.
        out = subprocess.run([sys.executable, "-m", "vmrestore", "sweep", "--json"], env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert sorted(e["kind"] for e in report["found"]) == ["vsphere.disk_attached", "vsphere.nas_mounted"]
        assert len(report["undone"]) == 2 and report["failed"] == []
        # Reverse creation order: the disk goes before the datastore it hangs from.
        assert [e["kind"] for e in report["undone"]] == ["vsphere.disk_attached", "vsphere.nas_mounted"]

        assert _vm_disk_files(probe, vm) == disks_before
        assert not any(n.startswith("vmrestore-") for n in _datastore_names(probe))
    assert _digest(repo) == before, "the backup must never be written"

    again = subprocess.run([sys.executable, "-m", "vmrestore", "sweep", "--json"], env=env,
                           capture_output=True, text=True, timeout=120)
    assert json.loads(again.stdout)["found"] == []
    audit = subprocess.run([sys.executable, "-m", "vmrestore", "audit", "list", "--json"], env=env,
                           capture_output=True, text=True, timeout=60)
    assert [e["action"] for e in json.loads(audit.stdout)] == ["sweep"]


def test_simulator_killed_mid_job_fails_cleanly_and_sweep_settles(vcsim_factory: Any, tmp_path: Path) -> None:
    """The simulator dies mid-attach; it comes back with the objects a real vCenter would still have.

    The simulator keeps its inventory in memory only, so a restarted one is empty: a sweep against it
    would report "undone" whatever it did. A real vCenter persists its inventory, so after the restart
    the test puts back exactly what the journal says the dead job had created (the NFS datastore, and
    the delta disk the interrupted reconfigure may or may not have applied) through the real API, then
    asserts that the sweep removed both, by state read back and by the calls the bench recorded.
    """
    repo = _backup_repo(tmp_path / "repo")
    sim = vcsim_factory(nas={EXPORT: str(repo)}, delay={"ReconfigVM_Task": 3000})
    home = tmp_path / "home"
    with _session(sim, tmp_path) as probe:
        vm, host = _target(probe)
        disks_before = _vm_disk_files(probe, vm)

    services = build_services(str(home), secrets=MemorySecretStore())
    services.connection.open_blocking(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint)

    async def run_and_kill() -> Any:
        job = MountDiskJob(services.connection, MountRequest(vm, host, EXPORT, DISK_REL, 8 << 20, ttl_seconds=60))
        handle = services.scheduler.submit(job)
        # Kill the simulator while the (delayed) attach is in flight.
        deadline = time.monotonic() + 30
        while "ReconfigVM_Task" not in sim.methods():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        sim.kill()
        await handle.wait()
        return handle

    handle = asyncio.run(run_and_kill())
    assert handle.state == JobState.FAILED
    assert isinstance(handle.error, Transient), handle.error
    kinds = {e.kind: e for e in services.journal.pending()}
    assert set(kinds) == {NAS_MOUNTED, DISK_ATTACHED}
    mounted, attached = kinds[NAS_MOUNTED].undo, kinds[DISK_ATTACHED].undo
    parent = str(kinds[DISK_ATTACHED].params["parent"])
    services.close()

    sim.restart()
    with _session(sim, tmp_path) as probe:
        # The same inventory as before the crash: the mount completed, the attach is put back too.
        nas.mount_nas(probe, str(mounted["host"]), EXPORT, str(mounted["name"]))
        disks_hotadd.attach_linked_delta(probe, vm, parent, str(attached["file"]), 8 << 20)
        datastore = next(d.moid for d in inventory.list_datastores(probe) if d.name == mounted["name"])
        assert _vm_disk_files(probe, vm) == [*disks_before, attached["file"]]
    seen = len(sim.requests())

    out = subprocess.run([sys.executable, "-m", "vmrestore", "sweep", "--json"], env=_env(sim, home),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert len(report["found"]) == 2 and report["failed"] == [], report
    assert [e["kind"] for e in report["undone"]] == [DISK_ATTACHED, NAS_MOUNTED]
    # What the sweep asked the server to do, in order: detach the disk (ReconfigVM), then unmount.
    changes = [r for r in sim.requests()[seen:] if r["method"] in ("ReconfigVM_Task", "Destroy_Task")]
    assert [(r["method"], r["this"]) for r in changes] == [
        ("ReconfigVM_Task", f"VirtualMachine:{vm}"), ("Destroy_Task", f"Datastore:{datastore}")]
    with _session(sim, tmp_path) as probe:
        assert not any(n.startswith("vmrestore-") for n in _datastore_names(probe))
        assert _vm_disk_files(probe, vm) == disks_before


@pytest.fixture(autouse=True)
def _no_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our own port, not pyVmomi: subprocesses get passwords from the environment only."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.fail.Keyring")
