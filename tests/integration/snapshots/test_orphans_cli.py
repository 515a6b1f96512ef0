"""``vmrestore snapshots orphans`` through the installed entry point, against the simulator.

List (shared/CLI.md keys), quarantine (``--delete``), restore, purge, each with ``--dry-run`` and ``--yes``;
refusals exit 3; a process killed in the middle of a move leaves a journal entry that ``vmrestore sweep``
reverses (the file is back where it was). Files are read back from the simulator's datastore directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.conftest import cli_env
from tests.integration.snapshots.snaphelpers import write_file
from vmrestore.vsphere.snapshots.coverage import REASON_VMS

pytestmark = pytest.mark.vcsim

VMRESTORE = str(Path(sys.executable).with_name("vmrestore"))
ROOT = Path(__file__).resolve().parents[3]
LOST = "[LocalDS_0] gone-vm/gone-vm-000002.vmdk"


def run(env: dict[str, str], *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    proc = subprocess.run([VMRESTORE, *args], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}, proc.stderr


def in_quarantine(path: str) -> str:
    day = datetime.now(UTC).date().isoformat()
    return path.replace("[LocalDS_0] ", f"[LocalDS_0] .vmrestore-quarantine/{day}/")


def local(sim, path: str) -> str:  # type: ignore[no-untyped-def]
    return os.path.join(sim.datastore_dirs["LocalDS_0"], path.split("] ", 1)[1])


def test_list_quarantine_restore_purge(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=1, host=1)
    data = Path(write_file(sim, LOST, 2048)).read_bytes()
    env = cli_env(sim, tmp_path / "home")
    code, out, err = run(env, "snapshots", "orphans", "--json")
    assert code == 0, err
    assert out["orphans"] == [{"path": LOST, "datastore": "LocalDS_0", "size": 2048, "modified": out["orphans"][0][
        "modified"], "deletable": True, "reason": ""}]
    assert out["moved"] == [] and out["purged"] == []
    code, out, err = run(env, "snapshots", "orphans", "--delete", LOST, "--dry-run", "--json")
    assert code == 0, err
    assert out["plan"] == [{"from": LOST, "to": in_quarantine(LOST), "size": 2048}] and out["moved"] == []
    assert os.path.exists(local(sim, LOST))
    code, _, _ = run(env, "snapshots", "orphans", "--delete", LOST, "--json")  # no --yes, no terminal
    assert code == 2 and os.path.exists(local(sim, LOST))
    code, out, _ = run(cli_env(sim, tmp_path / "helpdesk", role="helpdesk"),
                       "snapshots", "orphans", "--delete", LOST, "--yes", "--json")
    assert code == 3 and out["error"]["code"] == "role_denied" and os.path.exists(local(sim, LOST))
    code, out, err = run(env, "snapshots", "orphans", "--delete", LOST, "--yes", "--json")
    assert code == 0, err
    assert out["moved"] == [{"from": LOST, "to": in_quarantine(LOST), "size": 2048}]
    assert not os.path.exists(local(sim, LOST)) and Path(local(sim, in_quarantine(LOST))).read_bytes() == data
    code, out, _ = run(env, "snapshots", "orphans", "--json")
    assert out["orphans"] == []  # the quarantine is not orphans

    code, out, err = run(env, "snapshots", "orphans", "--restore", in_quarantine(LOST), "--yes", "--json")
    assert code == 0, err
    assert out["moved"] == [{"from": in_quarantine(LOST), "to": LOST, "size": 2048}]
    assert Path(local(sim, LOST)).read_bytes() == data and not os.path.exists(local(sim, in_quarantine(LOST)))

    run(env, "snapshots", "orphans", "--json")
    code, out, err = run(env, "snapshots", "orphans", "--delete", LOST, "--yes", "--json")
    assert code == 0 and len(out["moved"]) == 1, err
    code, _, _ = run(env, "snapshots", "orphans", "--purge", "--yes", "--json")
    assert code == 2  # --purge needs --older-than
    code, out, err = run(env, "snapshots", "orphans", "--purge", "--older-than", "14d", "--yes", "--json")
    assert code == 0 and out["purged"] == [], err  # quarantined today: kept
    code, out, err = run(env, "snapshots", "orphans", "--purge", "--older-than", "0d", "--dry-run", "--json")
    assert code == 0 and out["purged"] == [] and [p["purge"] for p in out["plan"]] == [in_quarantine(LOST)], err
    assert os.path.exists(local(sim, in_quarantine(LOST)))
    code, out, err = run(env, "snapshots", "orphans", "--purge", "--older-than", "0d", "--yes", "--json")
    assert code == 0, err
    assert [(p["path"], p["original"], p["size"]) for p in out["purged"]] == [(in_quarantine(LOST), LOST, 2048)]
    assert not os.path.exists(local(sim, in_quarantine(LOST))) and not os.path.exists(local(sim, LOST))
    audit = (tmp_path / "home" / "audit.log").read_text()
    assert audit.count('"orphan_quarantine"') == 2 and '"orphan_restore"' in audit and '"orphan_purge"' in audit


def test_possibly_orphaned_is_listed_and_refused_with_exit_3(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=2, host=1, hide=["eve:DC0_C0_RP0_VM1"])
    write_file(sim, LOST, 2048)
    env = cli_env(sim, tmp_path / "eve", user="eve")
    code, out, err = run(env, "snapshots", "orphans", "--json")
    assert code == 0, err
    assert [(o["path"], o["deletable"], o["reason"]) for o in out["orphans"]] == [(LOST, False, REASON_VMS)]
    code, out, err = run(env, "snapshots", "scan", "--json")  # the scan's listing says the same
    assert code == 0, err
    assert [(o["path"], o["deletable"], o["reason"]) for o in out["orphan_files"]] == [(LOST, False, REASON_VMS)]
    code, out, err = run(env, "snapshots", "orphans", "--delete", LOST, "--yes", "--json")
    assert code == 3, err
    assert out["moved"] == [] and out["refused"] == [{"path": LOST, "reason": REASON_VMS}]
    assert os.path.exists(local(sim, LOST)) and "MoveDatastoreFile_Task" not in sim.methods()


def test_killed_mid_move_is_reversed_by_sweep(vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(vm=1, host=1, delay={"MoveDatastoreFile_Task": 1500})
    data = Path(write_file(sim, LOST, 4096)).read_bytes()
    env = cli_env(sim, tmp_path / "home")
    assert run(env, "snapshots", "orphans", "--json")[0] == 0
    proc = subprocess.Popen([VMRESTORE, "snapshots", "orphans", "--delete", LOST, "--yes", "--json"],
                            env={**env, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while "MoveDatastoreFile_Task" not in sim.methods() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(2.0)  # vCenter finishes the move it had accepted before the kill
    assert not os.path.exists(local(sim, LOST)) and os.path.exists(local(sim, in_quarantine(LOST)))
    code, out, err = run(env, "sweep", "--json")
    assert code == 0, err
    assert [(e["kind"], e["undo"]) for e in out["undone"]] == [
        ("vsphere.datastore_file_moved", {"from": LOST, "to": in_quarantine(LOST)})]
    assert Path(local(sim, LOST)).read_bytes() == data and not os.path.exists(local(sim, in_quarantine(LOST)))
    code, out, _ = run(env, "sweep", "--json")
    assert out["found"] == []
