"""Two workstations (two ``VMRESTORE_HOME`` folders) on one shared PostgreSQL catalog and one simulator:
desk B's sweep never undoes desk A's live mount, and undoes it once A was SIGKILLed and its heartbeat
expired (issue 12 §2). The simulator's state is read back through the real API.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.integration.app.test_mount_crash_sweep import (
    CHILD,
    DISK_REL,
    EXPORT,
    _backup_repo,
    _datastore_names,
    _env,
    _session,
    _target,
    _vm_disk_files,
)
from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import MemorySecretStore

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.vcsim

BEAT = 0.5  # seconds; expired after 3 beats


def _desk(sim: Any, home: Path, pg_url: str) -> dict[str, str]:
    return {**_env(sim, home), "VMRESTORE_CATALOG": pg_url, "VMRESTORE_HEARTBEAT_SECONDS": str(BEAT)}


def _sweep(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "vmrestore", "sweep", "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_a_live_colleagues_mount_survives_and_a_dead_ones_is_swept(vcsim_factory: Any, pg_url: str,
                                                                   tmp_path: Path) -> None:
    repo = _backup_repo(tmp_path / "repo")
    sim = vcsim_factory(nas={EXPORT: str(repo)})
    desk_a, desk_b = _desk(sim, tmp_path / "a", pg_url), _desk(sim, tmp_path / "b", pg_url)
    with _session(sim, tmp_path) as probe:
        vm, host = _target(probe)
        disks_before = _vm_disk_files(probe, vm)
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, sim.url, sim.username, sim.password, sim.thumbprint, vm, host,
             EXPORT, DISK_REL], env=desk_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert child.stdout is not None
            line = child.stdout.readline()
            assert line.strip() == "ATTACHED", child.stderr.read() if child.stderr else ""
            # Desk A's entries are on the server, with its identity and a live heartbeat.
            with psycopg.connect(pg_url) as conn:
                rows = conn.execute("SELECT j.kind, j.state, o.pid, o.workstation FROM desk_journal j"
                                    " JOIN desk_owners o ON o.token = j.owner ORDER BY j.id").fetchall()
            assert [(r[0], r[1], r[2]) for r in rows] == [
                ("vsphere.nas_mounted", "pending", child.pid), ("vsphere.disk_attached", "pending", child.pid)]

            time.sleep(BEAT * 4)  # longer than the limit: only a beating owner is still "live"
            report = _sweep(desk_b)
            assert report["found"] == [] and report["undone"] == []
            assert len(_vm_disk_files(probe, vm)) == len(disks_before) + 1  # A's mount is still there
            assert any(n.startswith("vmrestore-") for n in _datastore_names(probe))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait(30)

        time.sleep(BEAT * 4)  # A's heartbeat expires
        report = _sweep(desk_b)
        assert [e["kind"] for e in report["undone"]] == ["vsphere.disk_attached", "vsphere.nas_mounted"]
        assert report["failed"] == []
        assert _vm_disk_files(probe, vm) == disks_before
        assert not any(n.startswith("vmrestore-") for n in _datastore_names(probe))
        with psycopg.connect(pg_url) as conn:
            states = [r[0] for r in conn.execute("SELECT state FROM desk_journal ORDER BY id")]
        assert states == ["undone", "undone"]
        assert _sweep(desk_b)["found"] == []  # settled: nothing left for any desk


def test_mount_list_all_shows_a_colleagues_live_mount(pg_url: str, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Desk A leases a mount (journal entries handed to a lease, as 'mount start' does); desk B's
    ``mount list --all`` shows it with A's workstation and process, plain ``mount list`` only B's own; once
    A stops it, it is gone from B's list too. B's sweep never counts a leased mount as a crash."""
    monkeypatch.setenv("VMRESTORE_CATALOG", pg_url)
    a = build_services(str(tmp_path / "a"), secrets=MemorySecretStore())
    try:
        nas = a.journal.begin("job1", "vsphere.nas_mounted", "host:h1", {}, {"host": "h1", "name": "vmrestore-x"})
        disk = a.journal.begin("job1", "vsphere.disk_attached", "vm:vm1", {}, {"vm": "vm1", "file": "[x] d.vmdk"})
        lease = a.leases.adopt("m-0a0b0c0d", "mount", "alice", timedelta(hours=2),
                               {"vm_name": "web01", "letter": "R", "point": "p1", "disk": 0}, [nas, disk])
        env = {**os.environ, "VMRESTORE_HOME": str(tmp_path / "b"), "VMRESTORE_CATALOG": pg_url,
               "PYTHONPATH": str(ROOT)}

        def listed(*flags: str) -> list[dict[str, Any]]:
            out = subprocess.run([sys.executable, "-m", "vmrestore", "mount", "list", *flags, "--json"], env=env,
                                 capture_output=True, text=True, timeout=120)
            assert out.returncode == 0, out.stderr
            return json.loads(out.stdout)  # type: ignore[no-any-return]

        assert listed() == []
        (seen,) = listed("--all")
        assert (seen["session"], seen["vm"], seen["letter"], seen["user"], seen["state"]) == (
            "m-0a0b0c0d", "web01", "R", "alice", "active")
        assert seen["owner"]["pid"] == os.getpid() and seen["owner"]["token"] == a.owner.token
        assert seen["workstation"] == lease.workstation
        assert _sweep(env)["found"] == []  # leased on purpose: no desk sweeps it

        a.leases.finish_stop(lease.id)
        assert listed("--all") == []
    finally:
        a.close()
