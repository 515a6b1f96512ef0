"""A crash at every journaled step of ``instant migrate`` and ``instant stop`` is settled by ``vmrestore sweep``.

The VM is started normally; then the simulator delays the step's vSphere call, the migrate or stop CLI is
SIGKILLed while the call is in flight (the server finishes it after its client died), and a new
``vmrestore sweep`` decides from what it reads back:

- a discard is finished: VM destroyed, its folder on the writable datastore gone, the export unmounted,
  the record ``discarded``;
- a migrate whose disks all left the backup is finished (network reconnected as asked, export unmounted,
  record ``migrated``); one whose disks still read from the backup (the stock simulator's relocate moves
  nothing) goes back to ``running``, the VM left running and the export mounted.

The backup is hashed before and after every scenario.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
from pyVmomi import vim

from tests.integration.instant.conftest import VMRESTORE, Bench, host_name

DELAY_MS = 1500
NAME = "crash-fin"


def _start(bench: Bench) -> dict[str, Any]:
    _, started, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench),
                              "--datastore", "LocalDS_0", "--name", NAME, "--wait-ip", "0")
    return dict(started)


def _kill_during(bench: Bench, step: str, *args: str) -> None:
    """Run ``vmrestore *args`` and SIGKILL it while the simulator holds its (first new) ``step`` call."""
    seen = len(bench.sim.methods())
    child = subprocess.Popen([VMRESTORE, *args, "--json"], env=bench.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while step not in bench.sim.methods()[seen:]:
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline, f"{step} was never called"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    time.sleep(DELAY_MS / 1000 + 0.5)  # the server completes the call its dead client made


def _sweep(bench: Bench, kind: str) -> None:
    _, report, _ = bench.cli("sweep")
    assert report["failed"] == [], [e["reason"] for e in report["failed"]]
    assert [e["kind"] for e in report["found"]] == [kind]
    assert [e["kind"] for e in report["undone"]] == [kind]
    assert bench.cli("sweep")[1]["found"] == []


def _record(bench: Bench, instant_id: str) -> dict[str, Any]:
    (rec,) = [r for r in bench.cli("instant", "list", "--all")[1] if r["id"] == instant_id]
    return dict(rec)


def _disk(vm: dict[str, Any]) -> Any:
    (disk,) = [d for d in vm["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualDisk)]
    return disk


# Discard: power off, remove (and destroy) the delta disks, destroy the VM, unmount the export (Datastore
# Destroy_Task; the first Destroy_Task of a discard is the VM's).
@pytest.mark.parametrize("step", ["PowerOffVM_Task", "ReconfigVM_Task", "Destroy_Task"])
def test_kill_during_discard_then_sweep_finishes_it(bench_factory: Callable[..., Bench], step: str) -> None:
    bench = bench_factory(delay={step: DELAY_MS})
    started = _start(bench)
    folders_before = {p.name for p in bench.ds_dir("LocalDS_0").iterdir()}
    assert NAME in folders_before

    _kill_during(bench, step, "instant", "stop", started["id"], "--yes")
    _sweep(bench, "instant.discarding")

    assert NAME not in bench.vms()
    assert {p.name for p in bench.ds_dir("LocalDS_0").iterdir()} == folders_before - {NAME}
    assert started["backup_datastore"] not in bench.datastores()
    assert _record(bench, started["id"])["state"] == "discarded"
    assert bench.cli("instant", "list")[1] == []
    bench.assert_backup_untouched()


# Migrate (the bench's relocate moves files as vSphere does): Storage vMotion, reconnect the network
# (ReconfigVM_Task), annotate, unmount the export (Destroy_Task).
@pytest.mark.parametrize("step", ["RelocateVM_Task", "ReconfigVM_Task", "Destroy_Task"])
def test_kill_during_migrate_off_the_backup_then_sweep_finishes_it(bench_factory: Callable[..., Bench],
                                                                   step: str) -> None:
    bench = bench_factory(delay={step: DELAY_MS}, relocate_moves=True)
    started = _start(bench)

    _kill_during(bench, step, "instant", "migrate", started["id"], "--datastore", "LocalDS_1", "--connect-network")
    _sweep(bench, "instant.migrating")

    vm = bench.vms()[NAME]
    assert vm["runtime.powerState"] == "poweredOn", "a VM that may be in production is never stopped"
    disk = _disk(vm)
    assert disk.backing.fileName == f"[LocalDS_1] {NAME}/{NAME}.vmdk" and disk.backing.parent is None
    (nic,) = [d for d in vm["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert nic.connectable.connected is True and nic.connectable.startConnected is True
    assert "Migrated to LocalDS_1" in vm["config.annotation"]
    assert started["backup_datastore"] not in bench.datastores()
    rec = _record(bench, started["id"])
    assert rec["state"] == "migrated" and rec["datastore"] == "LocalDS_1"
    bench.assert_backup_untouched()


def test_kill_during_migrate_still_on_backup_then_sweep_sets_it_running(bench_factory: Callable[..., Bench]
                                                                         ) -> None:
    # The stock simulator's relocate moves nothing: the disk still hangs from the backup after the task.
    bench = bench_factory(delay={"RelocateVM_Task": DELAY_MS}, relocate_moves=False)
    started = _start(bench)

    _kill_during(bench, "RelocateVM_Task", "instant", "migrate", started["id"], "--datastore", "LocalDS_1")
    _sweep(bench, "instant.migrating")

    vm = bench.vms()[NAME]
    assert vm["runtime.powerState"] == "poweredOn"
    disk = _disk(vm)
    assert disk.backing.parent.fileName.startswith(f"[{started['backup_datastore']}] ")
    assert started["backup_datastore"] in bench.datastores(), "the VM runs from it: it stays mounted"
    assert _record(bench, started["id"])["state"] == "running"
    # The operator can discard (or migrate) it again.
    _, stopped, _ = bench.cli("instant", "stop", started["id"], "--yes")
    assert stopped["state"] == "discarded" and NAME not in bench.vms()
    bench.assert_backup_untouched()
