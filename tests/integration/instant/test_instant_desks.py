"""Instant recovery from two workstations (two ``VMRESTORE_HOME`` folders, two OS users) on one shared
PostgreSQL catalog and one simulator (issue 12 §2):

- desk A's instant VM, mid-start, survives desk B's sweep while A beats, and is undone by B's sweep once A
  was SIGKILLed and its heartbeat expired; a datastore vmrestore did not create (an admin's ``repo mount``
  that A's start reused) is left mounted by that sweep;
- a started instant VM is listed by B's ``instant list --all`` with A's identity, and no sweep of B's ever
  undoes it, even after A's process is long gone (it is kept on purpose, like a lease);
- B's instant VMs reuse the NFS datastore A's start mounted: B's discard never unmounts it while A's VM runs
  from it, A's discard not while B's does, and the last one out (whichever desk) unmounts it.

Everything is read back from the simulator through the real API.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.bench.disk_fixtures import BackupRepo
from tests.bench.vcsim_fixtures import Vcsim
from tests.integration.instant.conftest import EXPORT, VMRESTORE, Bench, cli_env, digest, host_name

pytestmark = [pytest.mark.vcsim, pytest.mark.slow]

BEAT = 0.5  # seconds; a heartbeat older than 3 beats is expired


def _desk(sim: Vcsim, home: Path, pg_url: str, user: str) -> dict[str, str]:
    return {**cli_env(sim, home), "VMRESTORE_CATALOG": pg_url, "VMRESTORE_HEARTBEAT_SECONDS": str(BEAT),
            "LOGNAME": user, "USER": user}


def test_instant_vms_of_two_desks(vcsim_factory: Callable[..., Vcsim], instant_repo: BackupRepo, pg_url: str,
                                  tmp_path: Path) -> None:
    sim = vcsim_factory(ds=2, nas={EXPORT: str(instant_repo.root)})
    env_a = _desk(sim, tmp_path / "a", pg_url, "alice")
    env_b = _desk(sim, tmp_path / "b", pg_url, "bob")
    bench = Bench(sim, instant_repo, tmp_path / "a", env_a, "", "", digest(instant_repo.root))

    def a(*args: str, expect: int | None = 0) -> Any:
        return bench.cli(*args, expect=expect, env=env_a)[1]

    def b(*args: str, expect: int | None = 0) -> Any:
        return bench.cli(*args, expect=expect, env=env_b)[1]

    a("repo", "add", "main", str(instant_repo.root), "--nfs", EXPORT)
    assert a("catalog", "index")["errors"] == []
    point = next(p["id"] for p in b("points", "list", "--vm", "web01") if p["disks"][0]["format"] == "vmfs")
    host = host_name(bench)
    vms_before = set(bench.vms())

    # -- 1. A dies mid-start: B's sweep waits for A's heartbeat to expire, then undoes A's objects; the admin's
    #       datastore that A's start reused (not created, so never journaled) stays mounted.
    a("repo", "mount", "main", "--host", host)
    admin_ds = "vmrestore-repo-main"
    assert admin_ds in bench.datastores()
    start = [VMRESTORE, "instant", "start", point, "--host", host, "--datastore", "LocalDS_0", "--name", "dying-ir",
             "--wait-ip", "600", "--json"]
    child = subprocess.Popen(start, env=env_a, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while "PowerOnVM_Task" not in sim.methods():  # created, nvram copied, powered on: waiting for an IP
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(BEAT * 4)  # longer than the limit: only a beating owner is still live
        live = b("sweep")
        assert live["found"] == [] and live["undone"] == []
        assert "dying-ir" in bench.vms()
        with psycopg.connect(pg_url) as conn:
            kinds = [r[0] for r in conn.execute(
                "SELECT j.kind FROM desk_journal j JOIN desk_owners o ON o.token = j.owner"
                " WHERE o.pid = %s AND j.state = 'pending' ORDER BY j.id", (child.pid,))]
        assert kinds == ["vsphere.vm_created", "vsphere.file_copied"]  # no datastore entry: it was reused
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    time.sleep(BEAT * 4)  # A's heartbeat expires
    swept = b("sweep")
    assert [e["kind"] for e in swept["undone"]] == ["vsphere.file_copied", "vsphere.vm_created"]
    assert swept["failed"] == []
    assert set(bench.vms()) == vms_before
    assert admin_ds in bench.datastores()  # the sweep never unmounts what vmrestore did not create
    a("repo", "unmount", "main", "--host", host)
    assert admin_ds not in bench.datastores()

    # -- 2. A's finished start: listed on B with A's identity; no sweep of B's touches it, A long gone.
    started = a("instant", "start", point, "--host", host, "--datastore", "LocalDS_0", "--name", "a-ir",
                "--wait-ip", "0")
    assert not started["reused_mount"]
    backup_ds = started["backup_datastore"]
    assert b("instant", "list") == []
    (seen,) = b("instant", "list", "--all")
    assert (seen["id"], seen["vm"], seen["state"], seen["backup_datastore"], seen["colleague"]) == (
        started["id"], "a-ir", "running", backup_ds, True)
    assert seen["owner"]["user"] == "alice" and seen["workstation"] == seen["owner"]["workstation"]
    assert seen["power"] == "poweredOn"
    time.sleep(BEAT * 4)  # the CLI that started it has exited: its heartbeat expired
    assert b("sweep")["found"] == []
    assert bench.vms()["a-ir"]["runtime.powerState"] == "poweredOn"

    # -- 3. B reuses A's datastore; B's discard leaves it to A's running VM.
    b1 = b("instant", "start", point, "--host", host, "--datastore", "LocalDS_1", "--name", "b-ir-1", "--wait-ip", "0")
    assert b1["reused_mount"] and b1["backup_datastore"] == backup_ds
    stopped = b("instant", "stop", b1["id"], "--yes")
    assert stopped["state"] == "discarded" and stopped["unmounted"] is None
    assert backup_ds in bench.datastores() and bench.vms()["a-ir"]["runtime.powerState"] == "poweredOn"

    # A's discard leaves it to B's running VM; B, the last one out, unmounts what A's start mounted.
    b2 = b("instant", "start", point, "--host", host, "--datastore", "LocalDS_1", "--name", "b-ir-2", "--wait-ip", "0")
    assert b2["reused_mount"]
    (mine,) = [r for r in b("instant", "list", "--all") if r["id"] == started["id"]]
    assert mine["state"] == "running"
    gone = a("instant", "stop", started["id"], "--yes")
    assert gone["unmounted"] is None and backup_ds in bench.datastores()
    assert bench.vms()["b-ir-2"]["runtime.powerState"] == "poweredOn"
    assert [r["id"] for r in b("instant", "list", "--all") if r["colleague"]] == []  # A's is discarded now
    last = b("instant", "stop", b2["id"], "--yes")
    assert last["unmounted"] == backup_ds
    assert backup_ds not in bench.datastores()
    assert set(bench.vms()) == vms_before
    with psycopg.connect(pg_url) as conn:
        states = dict(conn.execute("SELECT id, state FROM desk_instant").fetchall())
    assert states == {started["id"]: "discarded", b1["id"]: "discarded", b2["id"]: "discarded"}
    bench.assert_backup_untouched()


def test_a_dead_desks_discard_is_finished_by_another_desk(vcsim_factory: Callable[..., Vcsim],
                                                          instant_repo: BackupRepo, pg_url: str,
                                                          tmp_path: Path) -> None:
    """A's ``instant stop`` is SIGKILLed while vCenter powers the VM off: its journal entry is on the server,
    A's record only in A's state store. Once A stopped beating, B's sweep finishes the discard from the
    record's shared copy (VM destroyed, the datastore A's start mounted unmounted); A's own list then shows
    it discarded, read back from the server."""
    sim = vcsim_factory(ds=2, nas={EXPORT: str(instant_repo.root)}, delay={"PowerOffVM_Task": 1500})
    env_a = _desk(sim, tmp_path / "a", pg_url, "alice")
    env_b = _desk(sim, tmp_path / "b", pg_url, "bob")
    bench = Bench(sim, instant_repo, tmp_path / "a", env_a, "", "", digest(instant_repo.root))
    bench.cli("repo", "add", "main", str(instant_repo.root), "--nfs", EXPORT)
    assert bench.cli("catalog", "index")[1]["errors"] == []
    point = next(p["id"] for p in bench.cli("points", "list", "--vm", "web01")[1]
                 if p["disks"][0]["format"] == "vmfs")
    vms_before = set(bench.vms())
    _, started, _ = bench.cli("instant", "start", point, "--host", host_name(bench), "--datastore", "LocalDS_0",
                              "--name", "a-ir", "--wait-ip", "0")
    backup_ds = started["backup_datastore"]

    child = subprocess.Popen([VMRESTORE, "instant", "stop", started["id"], "--yes", "--json"], env=env_a,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while "PowerOffVM_Task" not in sim.methods():
            assert child.poll() is None, child.stderr.read() if child.stderr else b""
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    time.sleep(max(1.5 + 0.5, BEAT * 4))  # vCenter finishes the power-off; A's heartbeat expires

    _, swept, _ = bench.cli("sweep", env=env_b)
    assert swept["failed"] == [], [e["reason"] for e in swept["failed"]]
    assert [e["kind"] for e in swept["undone"]] == ["instant.discarding"]
    assert set(bench.vms()) == vms_before
    assert backup_ds not in bench.datastores()
    (mine,) = [r for r in bench.cli("instant", "list", "--all", env=env_a)[1] if r["id"] == started["id"]]
    assert mine["state"] == "discarded" and not mine["colleague"]
    assert bench.cli("instant", "list", env=env_a)[1] == []
    bench.assert_backup_untouched()
    # A's own journal still held its entry: A's next sweep reads from the server that B undid it, and closes it.
    _, again, _ = bench.cli("sweep", env=env_a)
    assert again["found"] == [] and again["failed"] == []
    assert bench.cli("sweep", env=env_a)[1]["found"] == []


def test_two_processes_never_work_on_one_instant_vm_at_once(bench_factory: Callable[..., Bench]) -> None:
    """A migrate or discard holds its VM's lock: a second ``instant stop`` of the same VM from another process
    (same workstation: the OS lock; across desks the server's) is refused at once, exit 1, while the first runs."""
    bench = bench_factory(delay={"PowerOffVM_Task": 20000})
    _, started, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench),
                              "--datastore", "LocalDS_0", "--name", "locked-ir", "--wait-ip", "0")
    first = subprocess.Popen([VMRESTORE, "instant", "stop", started["id"], "--yes", "--json"], env=bench.env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while "PowerOffVM_Task" not in bench.sim.methods():
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        code, refused, _ = bench.cli("instant", "stop", started["id"], "--yes", expect=None)
        still_running = first.poll() is None
        out, err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
    assert still_running
    assert code == 1 and refused["error"]["code"] == "resource_busy"
    assert "locked-ir" in refused["error"]["message"] and refused["error"]["holder"] is None
    assert first.returncode == 0, err
    assert json.loads(out)["state"] == "discarded"
    assert bench.sim.methods().count("PowerOffVM_Task") == 1
    assert "locked-ir" not in bench.vms()
