"""``mount copy`` and ``files push`` hold the VM's lock as ``mount start``/``stop`` do (issue 12 §2): while a
colleague's desk holds a VM (a process of desk B taking the VM's lock as a job step does), this desk's copy
into the same VM (from its mount there) and its push are refused at once with exit 1 (``resource_busy``,
shared/CLI.md) naming the colleague's user, workstation and process, and touch nothing in the guest; once B
lets go the same copy goes through. Real cluster, real simulator, real processes of two workstations (two
homes, two OS users) on one shared catalog.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory
from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.hotadd.hotadd_helpers import (
    EXPORT,
    GUEST_PASSWORD,
    ROBOCOPY_SUMMARY,
    TARGET,
    Cli,
    build_repo,
    env_of,
    starts,
)

pytestmark = [pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]

# Desk B's process holding a VM the way a job step does (app.vm_lock): the app's services on the shared
# catalog, connected to the simulator, the VM's lock taken by ``resource_lock`` until stdin closes.
HOLDER = textwrap.dedent("""
    import os, sys
    from vmrestore.app.bootstrap import build_services
    from vmrestore.app.hotadd import find_vm
    from vmrestore.app.secrets import MemorySecretStore
    from vmrestore.engine.resourcelock import resource_lock, vm_key
    s = build_services(secrets=MemorySecretStore())
    s.connection.open_blocking(os.environ["VMRESTORE_URL"], os.environ["VMRESTORE_USERNAME"],
                               os.environ["VMRESTORE_PASSWORD"], thumbprint=os.environ["VMRESTORE_THUMBPRINT"])
    session = s.connection.session
    vm, name, _ = find_vm(session, sys.argv[1])
    with resource_lock(s.paths.home, vm_key(str(session.server), vm), timeout=0, on_wait=f"VM {name}"):
        print("held", flush=True)
        sys.stdin.readline()
    s.close()
""")


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(DiskFactory(), tmp_path_factory.mktemp("backups") / "repo")


def test_a_copy_into_a_vm_refuses_another_desks_copy_and_push_naming_who(
        repo: Path, vcsim_factory: VcsimFactory, pg_url: str, tmp_path: Path) -> None:
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)})
    sim.guest_script([{"when": {"VMR_DEST": "C:\\Restore"}, "exit": 1, "output": ROBOCOPY_SUMMARY}],
                     password=GUEST_PASSWORD)
    a, b = Cli(tmp_path / "a", sim), Cli(tmp_path / "b", sim)
    # getpass reads LOGNAME first: each desk runs as its own OS user, as two colleagues would.
    env_a = a.env(VMRESTORE_CATALOG=pg_url, LOGNAME="alice", USER="alice")
    env_b = b.env(VMRESTORE_CATALOG=pg_url, LOGNAME="bob", USER="bob")
    a.run("repo", "add", "main", str(repo), "--nfs", EXPORT, VMRESTORE_CATALOG=pg_url)
    assert a.run("catalog", "index", VMRESTORE_CATALOG=pg_url)["errors"] == []
    point = next(p["id"] for p in a.run("points", "list", VMRESTORE_CATALOG=pg_url) if p["vm"] == "FS01")
    session = a.run("mount", "start", point, "--vm", TARGET, "--letter", "r", "--ttl", "1h",
                    VMRESTORE_CATALOG=pg_url, LOGNAME="alice", USER="alice")["session"]

    copy = ("mount", "copy", session, "/disk0/vol1/Users/bob", "--dest", "C:\\Restore")
    push = ("files", "push", point, "/disk0/vol1/Users/bob/b.txt", "--vm", TARGET, "--dest", "C:\\Pushed")
    desk_b = subprocess.Popen([sys.executable, "-c", HOLDER, TARGET], env=env_b, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert desk_b.stdout is not None and desk_b.stdin is not None
        assert desk_b.stdout.readline().strip() == "held", desk_b.communicate()
        tries = [subprocess.Popen(a.argv(*verb), env=env_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for verb in (copy, push)]
        refused = [(t.communicate(timeout=300), t.returncode) for t in tries]
        _, err_b = desk_b.communicate("\n", timeout=60)  # B lets go
    finally:
        if desk_b.poll() is None:
            desk_b.kill()
    assert desk_b.returncode == 0, err_b

    for ((out, err), code), verb in zip(refused, ("mount copy", "files push"), strict=True):
        assert code == 1, f"{verb}: {out}\n{err}"
        error = json.loads(out)["error"]
        assert error["code"] == "resource_busy" and error["type"] == "ResourceBusy", verb
        holder = error["holder"]
        assert (holder["user"], holder["pid"]) == ("bob", desk_b.pid), verb
        assert f"bob on {holder['workstation']} (process {desk_b.pid})" in error["message"]
        assert TARGET in error["message"]
    # A's refused copy ran nothing in the guest; A's refused push uploaded nothing.
    assert [s for s in starts(sim) if "VMR_DEST" in env_of(s)] == []
    assert "InitiateFileTransferToGuest" not in sim.methods()

    # B let go: the same copy now goes through.
    copied = a.run(*copy, VMRESTORE_CATALOG=pg_url, LOGNAME="alice", USER="alice")
    assert copied["failed"] == 0 and copied["files"] == 2
    assert [env_of(s)["VMR_DEST"] for s in starts(sim) if "VMR_DEST" in env_of(s)] == ["C:\\Restore"]
