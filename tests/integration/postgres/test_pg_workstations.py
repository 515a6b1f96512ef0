"""Several workstations on one shared catalog: a restore point is indexed by one desk only, and the claim
of a desk that died is free again at once (issue 12 §2)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg

from tests.bench.disk_fixtures import BackupRepo
from tests.bench.postgres_fixtures import PgServer
from vmrestore.catalog import open_store

ROOT = Path(__file__).resolve().parents[3]

HOLDER = textwrap.dedent("""
    import sys, time
    from vmrestore.catalog import open_store
    store = open_store(sys.argv[1])
    claim = store.try_claim(sys.argv[2])
    print("CLAIMED" if claim else "REFUSED", flush=True)
    time.sleep(600)
""")


def test_a_claim_is_exclusive_and_a_dead_holders_claim_lapses(pg_url: str, tmp_path: Path) -> None:
    a, b = open_store(pg_url), open_store(pg_url)
    try:
        mine = a.try_claim("nas/web01/p1")
        assert mine is not None
        assert b.try_claim("nas/web01/p1") is None  # another desk holds it
        other = b.try_claim("nas/web01/p2")
        assert other is not None
        mine.release()
        again = b.try_claim("nas/web01/p1")
        assert again is not None
        again.release()
        other.release()

        # A desk that dies while holding a claim: its session ends with it, the point is free again.
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, pg_url, "nas/web01/p3"], text=True,
                                  stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "CLAIMED"
            assert b.try_claim("nas/web01/p3") is None
        finally:
            holder.send_signal(signal.SIGKILL)
            holder.wait(30)
        deadline = time.monotonic() + 10
        while (claim := b.try_claim("nas/web01/p3")) is None:
            assert time.monotonic() < deadline, "the dead desk's claim never lapsed"
            time.sleep(0.1)
        claim.release()
    finally:
        a.close()
        b.close()

    # The single-workstation catalog always grants (one desk, one scheduler).
    lite = open_store(tmp_path / "c.sqlite")
    first, second = lite.try_claim("p"), lite.try_claim("p")
    assert first is not None and second is not None
    lite.close()


def test_two_desks_indexing_one_repository_read_each_point_once(
    pg_server: PgServer, backup_repo: BackupRepo, tmp_path: Path
) -> None:
    url = pg_server.url(pg_server.create_database("desks"))
    desks = []
    for name in ("desk-a", "desk-b"):
        home = tmp_path / name
        home.mkdir()
        (home / "settings.json").write_text(json.dumps({"catalog_location": url}))
        desks.append(home)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    add = subprocess.run([sys.executable, "-m", "vmrestore", "repo", "add", "main", str(backup_repo.root), "--json"],
                         env={**env, "VMRESTORE_HOME": str(desks[0])}, capture_output=True, text=True, timeout=120)
    assert add.returncode == 0, add.stderr

    runs = [subprocess.Popen([sys.executable, "-m", "vmrestore", "catalog", "index", "--json"],
                             env={**env, "VMRESTORE_HOME": str(home)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for home in desks]
    reports = []
    for run in runs:
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, err
        reports.append(json.loads(out))

    with psycopg.connect(url) as conn:
        stored = conn.execute("SELECT coalesce(sum(entries), 0), count(*) FROM indexed_volumes").fetchone()
        points = conn.execute("SELECT count(*) FROM points").fetchone()
    assert stored is not None and points == (5,)
    # Every file entry was read and written by exactly one desk: the two reports add up to what is stored.
    assert sum(r["files_indexed"] for r in reports) == stored[0] > 0
    assert all(r["errors"] == [] for r in reports), reports
    # A point one desk skipped because the other held it was indexed by that other desk.
    skipped = [set(r["claimed_elsewhere"]) for r in reports]
    assert not skipped[0] & skipped[1]
