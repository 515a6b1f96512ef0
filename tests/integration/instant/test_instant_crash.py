"""A crash at every journaled step of ``instant start`` is undone by ``vmrestore sweep``.

The simulator delays the step's vSphere call; the CLI process is SIGKILLed while the call is in flight
(so the server finishes creating the object after its client died, the case a write-ahead journal is
for); then a new ``vmrestore sweep`` must leave the simulator as it was: no VM, no VM folder, no
vmrestore datastore, nothing pending, the backup byte-for-byte unchanged.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.integration.instant.conftest import VMRESTORE, Bench, host_name

NAS, VM, FILE = "vsphere.nas_mounted", "vsphere.vm_created", "vsphere.file_copied"
# The step killed → the journal entries the sweep must find (each written before its call).
STEPS = {
    "CreateNasDatastore": [NAS],
    "SearchDatastore_Task": [NAS],
    "CreateVM_Task": [NAS, VM],
    "CopyDatastoreFile_Task": [NAS, VM, FILE],
    "PowerOnVM_Task": [NAS, VM, FILE],
}
DELAY_MS = 1500


@pytest.mark.parametrize("step", list(STEPS))
def test_kill_at_each_step_then_sweep(bench_factory: Callable[..., Bench], step: str) -> None:
    bench = bench_factory(delay={step: DELAY_MS})
    vms_before = set(bench.vms())
    folders_before = {p.name for p in bench.ds_dir("LocalDS_0").iterdir()}
    child = subprocess.Popen([VMRESTORE, "instant", "start", bench.vmfs_point, "--host", host_name(bench),
                              "--datastore", "LocalDS_0", "--name", "crash-ir", "--wait-ip", "0", "--json"],
                             env=bench.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while step not in bench.sim.methods():
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline, f"{step} was never called"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    time.sleep(DELAY_MS / 1000 + 0.5)  # the server completes the call its dead client made

    _, report, _ = bench.cli("sweep")
    assert report["failed"] == []
    assert [e["kind"] for e in report["found"]] == STEPS[step]
    # Newest first: the nvram before the VM, the VM before the datastore its disks hang from.
    assert [e["kind"] for e in report["undone"]] == STEPS[step][::-1]
    assert set(bench.vms()) == vms_before
    assert {p.name for p in bench.ds_dir("LocalDS_0").iterdir()} == folders_before
    assert not [n for n in bench.datastores() if n.startswith("vmrestore-")]
    assert bench.cli("sweep")[1]["found"] == []
    assert bench.cli("instant", "list")[1] == []
    bench.assert_backup_untouched()
