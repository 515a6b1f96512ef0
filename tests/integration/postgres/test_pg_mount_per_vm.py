"""Two workstations (two ``VMRESTORE_HOME`` folders, two OS users) on one shared PostgreSQL catalog mount onto
the same VM at once: the mount per VM is the server's advisory lock, so one proceeds and the other is refused
at once with exit 1 (``resource_busy``, shared/CLI.md) naming the holder's user, workstation and process
(issue 12 §2). Real cluster, real simulator, two ``vmrestore mount start`` processes.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory
from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.hotadd.hotadd_helpers import EXPORT, GUEST_PASSWORD, TARGET, Cli, build_repo, probe, world

pytestmark = [pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]

ATTACH_MS = 20000  # the simulator holds desk A's attach this long: desk B (a new process, slow on a
# loaded machine) arrives while A mounts


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(DiskFactory(), tmp_path_factory.mktemp("backups") / "repo")


def _desk(cli: Cli, pg_url: str, user: str) -> dict[str, str]:
    # getpass reads LOGNAME first: each desk runs as its own OS user, as two colleagues would.
    return cli.env(VMRESTORE_CATALOG=pg_url, LOGNAME=user, USER=user)


def test_two_desks_mount_onto_one_vm_one_proceeds_the_other_is_told_who(
        repo: Path, vcsim_factory: VcsimFactory, pg_url: str, tmp_path: Path) -> None:
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)},
                        delay={"ReconfigVM_Task": ATTACH_MS})
    sim.guest_script([], password=GUEST_PASSWORD)
    a, b = Cli(tmp_path / "a", sim), Cli(tmp_path / "b", sim)
    env_a, env_b = _desk(a, pg_url, "alice"), _desk(b, pg_url, "bob")
    a.run("repo", "add", "main", str(repo), "--nfs", EXPORT, VMRESTORE_CATALOG=pg_url)
    assert a.run("catalog", "index", VMRESTORE_CATALOG=pg_url)["errors"] == []
    point = next(p["id"] for p in a.run("points", "list", VMRESTORE_CATALOG=pg_url) if p["vm"] == "FS01")
    with probe(sim, tmp_path) as session:
        before = world(session)["disks"][TARGET]

    mount = ("mount", "start", point, "--vm", TARGET, "--letter", "r", "--ttl", "1h")
    desk_a = subprocess.Popen(a.argv(*mount), env=env_a, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while "ReconfigVM_Task" not in sim.methods():  # A holds the VM's lock and is attaching
            assert desk_a.poll() is None, desk_a.communicate()
            assert time.monotonic() < deadline, "desk A never reached the attach"
            time.sleep(0.05)
        refused = subprocess.run(b.argv(*mount), env=env_b, capture_output=True, text=True, timeout=300)
        still_attaching = desk_a.poll() is None
        out_a, err_a = desk_a.communicate(timeout=300)
    finally:
        if desk_a.poll() is None:
            desk_a.kill()
    assert still_attaching, "desk B must have been refused while A was still mounting"
    assert desk_a.returncode == 0, err_a
    assert json.loads(out_a)["letter"] == "R"

    assert refused.returncode == 1, refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "resource_busy" and error["type"] == "ResourceBusy"
    holder = error["holder"]
    assert (holder["user"], holder["pid"]) == ("alice", desk_a.pid)
    assert holder["workstation"] and holder["token"].startswith(f"{holder['workstation']}-{desk_a.pid}-")
    assert f"alice on {holder['workstation']} (process {desk_a.pid})" in error["message"]
    assert TARGET in error["message"]

    # B changed nothing: one attach (A's) reached the simulator, the VM has exactly A's one new disk.
    assert sim.methods().count("ReconfigVM_Task") == 1
    with probe(sim, tmp_path) as session:
        assert len(world(session)["disks"][TARGET]) == len(before) + 1

    # The lock went with A's job: B now gets past it, to the ordinary check that this disk is mounted there.
    again = subprocess.run(b.argv(*mount), env=env_b, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stderr
    assert json.loads(again.stdout)["error"]["code"] == "already_mounted"
