"""``vmrestore snapshots scan|cleanup|orphans --json`` against the simulator, run as the operator runs it:
the installed ``vmrestore`` entry point (the console script beside this interpreter) in a subprocess.
``PYTHONPATH`` points it at this tree's code."""

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

ROOT = Path(__file__).resolve().parents[3]
VMRESTORE = str(Path(sys.executable).parent / "vmrestore")  # the entry point pip installed


def entry_point() -> list[str]:
    assert os.access(VMRESTORE, os.X_OK), f"the vmrestore entry point is not installed beside {sys.executable}"
    return [VMRESTORE]


def run_cli(env: dict[str, str], *args: str, timeout: float = 120) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    proc = subprocess.run([*entry_point(), *args], env={**env, "PYTHONPATH": str(ROOT)},
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


def test_cleanup_never_offers_a_snapshot_younger_than_the_setting(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    """With the default 24 h guard, a Veeam snapshot seconds old is held back with its reason: --yes removes
    nothing; with the guard at 0 (settings.json) the same command removes it."""
    sim = vcsim_factory(vm=1, host=1)
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    snapshot(session, machines[sorted(machines)[0]], "VEEAM BACKUP TEMPORARY SNAPSHOT")
    env = cli_env(sim, tmp_path / "home", min_age_hours=24)
    code, out, err = run_cli(env, "snapshots", "cleanup", "--class", "leftover", "--dry-run", "--json")
    assert code == 0, err
    assert out["plan"] == [] and [h["snapshot"] for h in out["held_back"]] == ["VEEAM BACKUP TEMPORARY SNAPSHOT"]
    assert "younger than 24 h" in out["held_back"][0]["reason"]
    code, out, err = run_cli(env, "snapshots", "cleanup", "--class", "leftover", "--yes", "--json")
    assert code == 0, err
    assert out["removed"] == [] and len(out["held_back"]) == 1
    assert "RemoveSnapshot_Task" not in sim.methods()
    code, out, err = run_cli(cli_env(sim, tmp_path / "home", min_age_hours=0),
                             "snapshots", "cleanup", "--class", "leftover", "--yes", "--json")
    assert code == 0, err
    assert [r["snapshot"] for r in out["removed"]] == ["VEEAM BACKUP TEMPORARY SNAPSHOT"]
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
    proc = subprocess.Popen([*entry_point(), "snapshots", "cleanup", "--older-than", "0d", "--yes", "--json"],
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


# Loaded by every Python process started with this folder first on PYTHONPATH (site imports sitecustomize):
# the cleanup's cross-process datastore lock is wrapped so that each process first waits at a file barrier
# until all of them stand right before it, records when it went through, then takes the real lock or, for
# the control run, no lock at all.
BARRIER_HOOK = """
import contextlib, json, os, time
from pathlib import Path
from vmrestore.engine import resourcelock

_real = resourcelock.resource_lock
_dir = Path(os.environ["VMRESTORE_TEST_BARRIER"])
_parties = int(os.environ["VMRESTORE_TEST_PARTIES"])
_lock_off = os.environ.get("VMRESTORE_TEST_LOCK_OFF") == "1"


@contextlib.contextmanager
def resource_lock(home, key, **kwargs):
    (_dir / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(_dir.glob("ready-*"))) < _parties:
        if time.monotonic() > deadline:
            raise RuntimeError("barrier: the other cleanup process never arrived")
        time.sleep(0.005)
    (_dir / f"passed-{os.getpid()}.json").write_text(json.dumps(time.time()))
    if _lock_off:
        yield
    else:
        with _real(home, key, **kwargs):
            yield


resourcelock.resource_lock = resource_lock
"""


def _two_cleanups(vcsim_factory: VcsimFactory, tmp_path: Path, delay_ms: int, *, lock_off: bool) -> list[float]:
    """Two ``snapshots cleanup`` processes (one per VM, both VMs on LocalDS_0, one home) released together at
    the datastore lock; returns when the simulator received each RemoveSnapshot_Task."""
    tmp_path.mkdir(parents=True)
    sim = vcsim_factory(vm=2, host=1, delay={"RemoveSnapshot_Task": delay_ms})
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    names = sorted(machines)
    for name in names:
        snapshot(session, machines[name], "old")
    session.close()
    hook = tmp_path / "hook"
    barrier = tmp_path / "barrier"
    hook.mkdir(parents=True)
    barrier.mkdir(parents=True)
    (hook / "sitecustomize.py").write_text(BARRIER_HOOK)
    env = {**cli_env(sim, tmp_path / "home"), "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}",
           "VMRESTORE_TEST_BARRIER": str(barrier), "VMRESTORE_TEST_PARTIES": "2",
           "VMRESTORE_TEST_LOCK_OFF": "1" if lock_off else "0"}
    procs = [subprocess.Popen([*entry_point(), "snapshots", "cleanup", "--vm", name, "--yes", "--json"],
                              env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for name in names]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all(len(json.loads(o[0])["removed"]) == 1 for o in outs)
    passed = sorted(json.loads(f.read_text()) for f in barrier.glob("passed-*.json"))
    assert len(passed) == 2 and passed[1] - passed[0] < 0.5, passed  # both stood at the lock together
    starts = sorted(r["time"] for r in sim.requests() if r["method"] == "RemoveSnapshot_Task")
    assert len(starts) == 2
    return starts


def test_two_cleanup_processes_on_one_datastore_never_overlap(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    """Both processes reach the datastore lock at the same moment (a barrier, so start-up skew plays no
    part): with the lock the second removal reaches vCenter only after the first one's (delayed) answer;
    the control run without the lock shows that this check does catch an overlap."""
    delay_ms = 1500
    starts = _two_cleanups(vcsim_factory, tmp_path / "locked", delay_ms, lock_off=False)
    assert starts[1] - starts[0] >= delay_ms / 1000 * 0.95, starts  # serialised
    control = _two_cleanups(vcsim_factory, tmp_path / "unlocked", delay_ms, lock_off=True)
    assert control[1] - control[0] < delay_ms / 1000 * 0.5, control  # overlapped: the check sees it
