"""``vmrestore snapshots scan|cleanup --json`` as a subprocess against the simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.conftest import cli_env
from tests.integration.snapshots.snaphelpers import grow_delta, open_session, snapshot, vms

pytestmark = pytest.mark.vcsim

RUNNER = os.path.join(os.path.dirname(__file__), "cli_runner.py")
ROOT = Path(__file__).resolve().parents[3]


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    proc = subprocess.run([sys.executable, RUNNER, *args], env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def test_scan_json_has_the_contract_keys(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=2, host=1)
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    vm = machines[sorted(machines)[0]]
    snapshot(session, vm, "ghettoVCB-snapshot-2026-02-01")
    grow_delta(session, sim, vm, 70_000)
    snapshot(session, vm, "second")
    code, out, err = run_cli(cli_env(sim, tmp_path / "home"), "snapshots", "scan", "--json")
    assert code == 0, err
    assert set(out) >= {"vms", "datastores", "orphan_files"}
    (row,) = out["vms"]
    assert set(row) >= {"vm", "moref", "snapshots", "delta_bytes"}
    first, second = row["snapshots"]
    assert set(first) >= {"name", "created", "age_days", "size", "class", "reasons"}
    assert first["class"] == "leftover" and first["size"] >= 70_000 and row["delta_bytes"] >= 70_000
    assert second["class"] == "ok" and second["reasons"] == []
    (ds,) = out["datastores"]
    assert set(ds) >= {"name", "capacity", "free", "delta_bytes"} and ds["delta_bytes"] >= 70_000
    assert out["orphan_files"] == []
    session.close()


def test_cleanup_dry_run_then_yes(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=2, host=1)
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    names = sorted(machines)
    snapshot(session, machines[names[0]], "VEEAM BACKUP TEMPORARY SNAPSHOT")
    snapshot(session, machines[names[1]], "keep-me")
    env = cli_env(sim, tmp_path / "home")
    code, out, err = run_cli(env, "snapshots", "cleanup", "--class", "leftover", "--dry-run", "--json")
    assert code == 0, err
    assert [p["snapshot"] for p in out["plan"]] == ["VEEAM BACKUP TEMPORARY SNAPSHOT"]
    assert out["removed"] == [] and out["freed_bytes"] == 0
    assert "RemoveSnapshot_Task" not in sim.methods()
    code, out, err = run_cli(env, "snapshots", "cleanup", "--class", "leftover", "--yes", "--json")
    assert code == 0, err
    assert set(out) >= {"plan", "removed", "failed", "freed_bytes"}
    assert [r["snapshot"] for r in out["removed"]] == ["VEEAM BACKUP TEMPORARY SNAPSHOT"] and out["failed"] == []
    code, out, _ = run_cli(env, "snapshots", "scan", "--json")
    assert [s["name"] for v in out["vms"] for s in v["snapshots"]] == ["keep-me"]
    code, _, err = run_cli(env, "snapshots", "cleanup", "--dry-run", "--json")
    assert code == 2  # no criteria: bad usage
    session.close()


def test_refusals_exit_3(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=1, host=1, deny=["viewer:RemoveSnapshot_Task"])
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    snapshot(session, machines[sorted(machines)[0]], "old")
    code, out, _ = run_cli(cli_env(sim, tmp_path / "h1", role="helpdesk"),
                           "snapshots", "cleanup", "--older-than", "0d", "--yes", "--json")
    assert code == 3 and out["error"]["code"] == "role_denied"
    code, out, _ = run_cli(cli_env(sim, tmp_path / "h2", user="viewer"),
                           "snapshots", "cleanup", "--older-than", "0d", "--yes", "--json")
    assert code == 3 and out["removed"] == [] and out["failed"][0]["error"] == "no_permission"
    session.close()


def test_killed_mid_cleanup_then_rescan_and_rerun_are_consistent(
    vcsim_factory: VcsimFactory, tmp_path: Path
) -> None:
    sim = vcsim_factory(vm=1, host=1, delay={"RemoveSnapshot_Task": 700})
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    vm = machines[sorted(machines)[0]]
    for i in range(4):
        snapshot(session, vm, f"old-{i}")
    home = tmp_path / "home"
    env = {**cli_env(sim, home), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, RUNNER, "snapshots", "cleanup", "--older-than", "0d", "--yes", "--json"],
                            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    audit = home / "audit.log"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if audit.exists() and b'"result":"ok"' in audit.read_bytes().replace(b" ", b""):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()  # type: ignore[union-attr]
    proc.stderr.close()  # type: ignore[union-attr]
    time.sleep(1.0)  # vCenter finishes a removal it had accepted before the kill (the 0.7 s delay)
    removed_by_audit = audit.read_text().count('"ok"')
    assert removed_by_audit >= 1
    code, out, err = run_cli(cli_env(sim, home), "snapshots", "scan", "--json")
    assert code == 0, err
    left = [s["name"] for v in out["vms"] for s in v["snapshots"]]
    # Each audited removal is gone; at most the one in flight at the kill also went through.
    assert 4 - removed_by_audit - 1 <= len(left) <= 4 - removed_by_audit
    code, out, err = run_cli(cli_env(sim, home), "snapshots", "cleanup", "--older-than", "0d", "--yes", "--json")
    assert code == 0, err
    assert len(out["removed"]) == len(left) and out["failed"] == []
    code, out, _ = run_cli(cli_env(sim, home), "snapshots", "scan", "--json")
    assert out["vms"] == []
    session.close()


def test_two_cleanup_processes_on_one_datastore_never_overlap(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    """Two ``snapshots cleanup`` processes (one per VM, both VMs on LocalDS_0) share the home: the
    datastore's OS lock makes the second removal start only after the first one ended."""
    delay_ms = 1500
    sim = vcsim_factory(vm=2, host=1, delay={"RemoveSnapshot_Task": delay_ms})
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    names = sorted(machines)
    for name in names:
        snapshot(session, machines[name], "old")
    env = {**cli_env(sim, tmp_path / "home"), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, RUNNER, "snapshots", "cleanup", "--vm", name, "--yes", "--json"],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in names]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all(len(json.loads(o[0])["removed"]) == 1 for o in outs)
    starts = sorted(r["time"] for r in sim.requests() if r["method"] == "RemoveSnapshot_Task")
    assert len(starts) == 2
    # Serialised: the second request arrives after the first one's (delayed) answer.
    assert starts[1] - starts[0] >= delay_ms / 1000 * 0.95, starts
    session.close()
