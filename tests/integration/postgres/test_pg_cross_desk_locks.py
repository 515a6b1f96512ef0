"""Two workstations (two ``VMRESTORE_HOME`` folders, so their OS file locks never meet) sharing one
PostgreSQL catalog: ``snapshots cleanup`` on one datastore never overlaps across desks, because the
datastore lock is also a server advisory lock (issue 12 §2). Real cluster, real simulator, two CLI processes.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.conftest import cli_env
from tests.integration.snapshots.snaphelpers import open_session, snapshot, vms
from tests.integration.snapshots.test_snapshots_cli import BARRIER_HOOK, ROOT, entry_point
from vmrestore.catalog.pg_locks import PgResourceLocks
from vmrestore.engine import resourcelock
from vmrestore.errors import Transient

pytestmark = pytest.mark.vcsim

# The control run keeps each desk's OS lock but never installs the server lock: it shows that the OS
# lock alone does not serialise two homes, and that the check below sees an overlap when there is one.
SHARED_OFF_HOOK = BARRIER_HOOK + """
if os.environ.get("VMRESTORE_TEST_SHARED_OFF") == "1":
    resourcelock.use_shared_locks = lambda locks: None
"""


def _two_desks(vcsim_factory: VcsimFactory, pg_url: str, tmp_path: Path, delay_ms: int, *,
               shared_off: bool) -> list[float]:
    tmp_path.mkdir(parents=True)
    sim = vcsim_factory(vm=2, host=1, delay={"RemoveSnapshot_Task": delay_ms})
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    names = sorted(machines)  # both VMs are on LocalDS_0
    for name in names:
        snapshot(session, machines[name], "old")
    session.close()
    hook, barrier = tmp_path / "hook", tmp_path / "barrier"
    hook.mkdir()
    barrier.mkdir()
    (hook / "sitecustomize.py").write_text(SHARED_OFF_HOOK)
    procs = []
    for i, name in enumerate(names):
        env = {**cli_env(sim, tmp_path / f"desk{i}"), "PYTHONPATH": f"{hook}{os.pathsep}{ROOT}",
               "VMRESTORE_CATALOG": pg_url, "VMRESTORE_TEST_BARRIER": str(barrier), "VMRESTORE_TEST_PARTIES": "2",
               "VMRESTORE_TEST_LOCK_OFF": "0", "VMRESTORE_TEST_SHARED_OFF": "1" if shared_off else "0"}
        procs.append(subprocess.Popen([*entry_point(), "snapshots", "cleanup", "--vm", name, "--yes", "--json"],
                                      env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    assert all(len(json.loads(o[0])["removed"]) == 1 for o in outs)
    passed = sorted(json.loads(f.read_text()) for f in barrier.glob("passed-*.json"))
    assert len(passed) == 2 and passed[1] - passed[0] < 0.5, passed  # both stood at the lock together
    starts = sorted(r["time"] for r in sim.requests() if r["method"] == "RemoveSnapshot_Task")
    assert len(starts) == 2
    return starts


def test_two_desks_cleaning_one_datastore_never_overlap(vcsim_factory: VcsimFactory, pg_url: str,
                                                        tmp_path: Path) -> None:
    delay_ms = 1500
    starts = _two_desks(vcsim_factory, pg_url, tmp_path / "shared", delay_ms, shared_off=False)
    assert starts[1] - starts[0] >= delay_ms / 1000 * 0.95, starts  # serialised across homes
    control = _two_desks(vcsim_factory, pg_url, tmp_path / "os-only", delay_ms, shared_off=True)
    assert control[1] - control[0] < delay_ms / 1000 * 0.5, control  # OS locks alone: overlapped


def test_the_server_lock_is_exclusive_waits_and_frees(pg_url: str, tmp_path: Path) -> None:
    """In one process, two homes: the second holder waits for the first, a timeout says who holds it."""
    locks = PgResourceLocks(pg_url)
    resourcelock.use_shared_locks(locks)
    key = resourcelock.datastore_key("vc1", "LocalDS_0")
    try:
        with resourcelock.resource_lock(tmp_path / "a", key):
            with pytest.raises(Transient, match="busy in another workstation"), \
                    resourcelock.resource_lock(tmp_path / "b", key, timeout=0.3):
                pass
            other = locks.lock(resourcelock.datastore_key("vc1", "LocalDS_1"))
            assert other.try_acquire()  # another datastore is free
            other.release()
        got = threading.Event()

        def take() -> None:
            with resourcelock.resource_lock(tmp_path / "b", key, timeout=5):
                got.set()

        worker = threading.Thread(target=take)
        worker.start()
        worker.join(10)
        assert got.is_set()  # released on leaving the block
    finally:
        resourcelock.use_shared_locks(None)
