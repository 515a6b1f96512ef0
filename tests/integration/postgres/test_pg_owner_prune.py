"""Owner rows of dead processes are deleted once they own nothing open and their grace has passed, on the
shared catalog's server and in each workstation's state store (issue 12 §2 housekeeping). The workstations
connect as the operator role of docs/shared-catalog.md's grants, which may not DELETE an owner row itself:
only the schema owner's ``desk_owners_prune`` function does, and only for such rows. Real cluster, real
app processes (``vmrestore sweep`` and small scripts on the app's services).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.bench.postgres_fixtures import PgServer
from vmrestore.catalog import open_store

ROOT = Path(__file__).resolve().parents[3]
BEAT = 0.2
GRACE = 1.0  # seconds (VMRESTORE_OWNER_GRACE_SECONDS); never less than 3 beats

# A desk's process that journals a disk; with "lease" hands it to a live lease (as 'mount start' does),
# with "open" leaves the entry pending (its undo will fail: no vCenter here), with "stop" stops the lease.
CHILD = textwrap.dedent("""
    import sys
    from datetime import timedelta
    from vmrestore.app.bootstrap import build_services
    from vmrestore.app.secrets import MemorySecretStore
    s = build_services(secrets=MemorySecretStore())
    if sys.argv[1] == "stop":
        s.leases.finish_stop("m-00000001")
    else:
        e = s.journal.begin("job1", "vsphere.disk_attached", "vm:vm1", {}, {"vm": "vm1", "file": "[x] d.vmdk"})
        if sys.argv[1] == "lease":
            s.leases.adopt("m-00000001", "mount", "alice", timedelta(hours=2), {"vm_name": "web01"}, [e])
    print(s.owner.token, flush=True)
    s.close()
""")


def _operator_db(pg_server: PgServer) -> tuple[str, str]:
    """A catalog database made by its owner, and the URL of a new operator role with the documented grants."""
    database = pg_server.create_database("owners")
    open_store(pg_server.url(database)).close()  # the schema (every migration), as its owner
    operator = f"op_{uuid.uuid4().hex[:8]}"
    pg_server.psql(f"CREATE ROLE {operator} LOGIN")
    grants = re.search(r"```sql\n(.*?)```", (ROOT / "docs" / "shared-catalog.md").read_text(), re.S)
    assert grants is not None
    pg_server.psql(grants.group(1).replace("DATABASE vmrestore", f'DATABASE "{database}"')
                   .replace("vmrestore_operator", operator), database)
    return pg_server.url(database), pg_server.url(database, user=operator)


def _env(home: Path, url: str) -> dict[str, str]:
    env = {**os.environ, "VMRESTORE_HOME": str(home), "VMRESTORE_CATALOG": url, "PYTHONPATH": str(ROOT),
           "VMRESTORE_HEARTBEAT_SECONDS": str(BEAT), "VMRESTORE_OWNER_GRACE_SECONDS": str(GRACE),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    for name in ("VMRESTORE_URL", "VMRESTORE_USERNAME", "VMRESTORE_PASSWORD"):
        env.pop(name, None)
    return env


def _sweep(env: dict[str, str]) -> tuple[int, dict[str, Any]]:
    run = subprocess.Popen([sys.executable, "-m", "vmrestore", "sweep", "--json"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = run.communicate(timeout=120)
    assert out.strip(), err
    return run.pid, json.loads(out)


def _child(env: dict[str, str], what: str) -> str:
    out = subprocess.run([sys.executable, "-c", CHILD, what], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def _server_owners(owner_url: str) -> dict[str, int]:
    with psycopg.connect(owner_url) as conn:
        return dict(conn.execute("SELECT token, pid FROM desk_owners").fetchall())


def _local_owners(home: Path) -> set[str]:
    with sqlite3.connect(home / "state.sqlite") as conn:
        return {r[0] for r in conn.execute("SELECT token FROM owners")}


def test_dead_owners_that_own_nothing_are_pruned_after_their_grace(pg_server: PgServer, tmp_path: Path) -> None:
    owner_url, op_url = _operator_db(pg_server)
    home_a, home_b = tmp_path / "a", tmp_path / "b"
    env_a, env_b = _env(home_a, op_url), _env(home_b, op_url)

    idle_pid, first = _sweep(env_a)  # a process that made nothing
    assert first["owners_pruned"] == 0
    leased = _child(env_a, "lease")  # dead, but its mount lease is live
    pending = _child(env_a, "open")  # dead, its journal entry still open
    idle = next(t for t, pid in _server_owners(owner_url).items() if pid == idle_pid)
    assert {idle, leased, pending} <= set(_server_owners(owner_url))

    # Within the grace (an hour for this sweep, whatever the machine's speed) nothing goes, whatever it owns.
    _, early = _sweep({**env_b, "VMRESTORE_OWNER_GRACE_SECONDS": "3600"})
    assert early["owners_pruned"] == 0 and {idle, leased, pending} <= set(_server_owners(owner_url))

    time.sleep(GRACE + 0.5)
    sweeper_pid, report = _sweep(env_b)
    # B tried to undo the dead desk's open entry (no vCenter here): it stays open, so its owner stays.
    assert [e["kind"] for e in report["failed"]] == ["vsphere.disk_attached"]
    left = _server_owners(owner_url)
    assert idle not in left
    assert leased in left and pending in left  # a live lease, an open entry
    assert sweeper_pid in left.values()  # a beating process is never pruned
    assert report["owners_pruned"] >= 1

    # The operator role cannot delete an owner row itself (only the function, with its owner's rights).
    with psycopg.connect(op_url, autocommit=True) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM desk_owners")

    stopper = _child(env_a, "stop")  # the lease ends: its creator owns nothing any more
    time.sleep(GRACE + 0.5)
    _sweep(env_b)
    left = _server_owners(owner_url)
    assert leased not in left and stopper not in left
    assert pending in left

    # Desk A's own state store: the same rule against its local rows (the open entry's owner stays).
    assert {idle, leased, pending, stopper} <= _local_owners(home_a)
    _, local = _sweep(env_a)
    assert local["owners_pruned"] >= 3
    kept = _local_owners(home_a)
    assert pending in kept and not {idle, leased, stopper} & kept
