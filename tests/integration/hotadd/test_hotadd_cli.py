"""File restore into a VM through the installed ``vmrestore`` entry point, against the simulator.

The simulator has no guest; the bench's scripted guest (tests/bench/vcsim/guestops.go, a SOAP-level
extension) answers VMware Tools guest operations and records every program, argument, environment
variable and upload, which these tests assert on exactly. The NFS export maps to the test's backup
folder (bench -nas). Every scenario hashes the backup files before and after: they are never written.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from pyVmomi import vim

from tests.bench.diskfactory import DiskFactory
from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.hotadd.hotadd_helpers import (
    EXPORT,
    GUEST_PASSWORD,
    GUEST_USER,
    HOSTED,
    HOSTILE,
    ROBOCOPY_SUMMARY,
    TARGET,
    Cli,
    build_repo,
    decoded_script,
    digest,
    env_of,
    probe,
    setup_catalog,
    starts,
    vm_moid,
    world,
)
from vmrestore.app.guest_scripts import POWERSHELL, SH, WINDOWS_COPY, WINDOWS_MOUNT, WINDOWS_UNMOUNT
from vmrestore.vsphere.tasks import wait_for_tasks

pytestmark = [pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(DiskFactory(), tmp_path_factory.mktemp("backups") / "repo")


@pytest.fixture
def scenario(repo: Path, vcsim_factory: VcsimFactory, tmp_path: Path) -> Iterator[tuple[Cli, dict[str, str]]]:
    """A fresh simulator (Tools running, NFS export mapped), a fresh home with the catalog indexed.

    After the test: the backup files hash as before.
    """
    before = digest(repo)
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)},
                        guest_family={"DC0_H0_VM1": "linuxGuest"})
    sim.guest_script([], password=GUEST_PASSWORD)
    cli = Cli(tmp_path / "home", sim)
    points = setup_catalog(cli, repo)
    yield cli, points
    assert digest(repo) == before, "the backup files must never be written"


def test_mount_copy_extend_stop_with_the_exact_guest_programs(scenario: tuple[Cli, dict[str, str]],
                                                              tmp_path: Path) -> None:
    cli, points = scenario
    sim = cli.sim
    with probe(sim, tmp_path) as session:
        empty = world(session)
    sim.guest_script([
        {"when": {"VMR_DEST": HOSTILE}, "exit": 1, "output": ROBOCOPY_SUMMARY},
        {"when": {"VMR_SRC_COUNT": "2"}, "exit": 3, "output": ROBOCOPY_SUMMARY},
    ], password=GUEST_PASSWORD)

    started = cli.run("mount", "start", points["FS01"], "--vm", TARGET, "--letter", "r", "--ttl", "2h")
    assert started["vm"] == TARGET and started["letter"] == "R"
    assert started["datastore"].startswith("vmrestore-")
    assert set(started) == {"session", "vm", "letter", "datastore", "expires"}
    session_id = started["session"]

    with probe(sim, tmp_path) as session:
        now = world(session)
    added = sorted(set(now["disks"][TARGET]) - set(empty["disks"][TARGET]))
    assert len(added) == 1
    delta, parent = added[0]
    assert parent == f"[{started['datastore']}] FS01/FS01-2026-11-20_01-00-00/FS01.vmdk"
    assert delta.split("] ")[1].split("/")[-1].startswith("vmrestore-")
    assert now["datastores"] == sorted([*empty["datastores"], started["datastore"]])

    # Exactly one program ran: the constant mount script, with the data only in its environment.
    (mount,) = starts(sim)
    assert mount["program"] == POWERSHELL and mount["user"] == GUEST_USER
    assert decoded_script(mount) == WINDOWS_MOUNT
    env = env_of(mount)
    assert env.pop("VMR_OUT").startswith("C:\\Windows\\Temp\\vmrestore-")
    assert env == {"VMR_SCSI_TARGET": "1", "VMR_SCSI_BUS": "0", "VMR_SIZE": str(14 << 20),
                   "VMR_VOLUME_OFFSET": str(1 << 20), "VMR_LETTER": "R", "VMR_WRITABLE": "0"}
    ops = [r["op"] for r in sim.guest_record()]
    assert ops == ["mktemp", "start", "initiate_download", "download", "delete"]

    listed = cli.run("mount", "list")
    assert [(m["session"], m["vm"], m["letter"], m["point"], m["state"]) for m in listed] == [
        (session_id, TARGET, "R", points["FS01"], "active")]
    assert {"user", "workstation", "expires"} <= set(listed[0])
    # Which process made the mount: the 'mount start' run (its OS user, pid and start; heartbeat since).
    owner = listed[0]["owner"]
    assert owner["user"] == getpass.getuser() and f"-{owner['pid']}-" in owner["token"]
    assert owner["workstation"] and owner["started"] <= owner["heartbeat"]

    copied = cli.run("mount", "copy", session_id, "/disk0/vol1/Users/alice/Documents",
                     "R:\\Users\\bob\\b.txt", "--dest", "C:\\Restore")
    assert copied["files"] == 2 and copied["skipped"] == 1 and copied["failed"] == 0 and copied["bytes"] == 580
    copy = starts(sim)[-1]
    assert decoded_script(copy) == WINDOWS_COPY
    env = env_of(copy)
    env.pop("VMR_OUT")
    assert env == {"VMR_LETTER": "R", "VMR_DEST": "C:\\Restore", "VMR_SRC_COUNT": "2", "VMR_COPYALL": "0",
                   "VMR_SRC_0": "Users\\alice\\Documents", "VMR_SRC_1": "Users\\bob\\b.txt"}

    # A hostile destination travels as data: the command line is the same constant, robocopy's exit
    # code 1 (files copied) is success.
    cli.run("mount", "copy", session_id, "/disk0/vol1/Users/bob", "--dest", HOSTILE)
    hostile_copy = starts(sim)[-1]
    assert hostile_copy["arguments"] == copy["arguments"]
    assert env_of(hostile_copy)["VMR_DEST"] == HOSTILE

    extended = cli.run("mount", "extend", session_id, "--ttl", "30m")
    assert datetime.fromisoformat(extended["expires"]) < datetime.fromisoformat(started["expires"])

    stopped = cli.run("mount", "stop", session_id, "--yes")
    assert stopped == {"session": session_id, "state": "stopped", "detached": True, "unmounted": True,
                       "guest_offline": True}
    offline = starts(sim)[-1]
    assert decoded_script(offline) == WINDOWS_UNMOUNT
    assert {k: v for k, v in env_of(offline).items() if k != "VMR_OUT"} == {
        "VMR_SCSI_TARGET": "1", "VMR_SIZE": str(14 << 20), "VMR_LETTER": "R"}
    with probe(sim, tmp_path) as session:
        assert world(session) == empty
    assert cli.run("mount", "list") == []
    assert cli.run("sweep")["found"] == []

    record = json.dumps(sim.guest_record())
    assert GUEST_PASSWORD not in record and "D'ATA" not in record  # the hostile label never reaches the guest
    for path in (cli.home / "audit.log", cli.home / "state.sqlite"):
        assert GUEST_PASSWORD.encode() not in path.read_bytes()
    actions = [(e["action"], e["result"]) for e in cli.run("audit", "list")]
    assert actions.count(("mount", "ok")) == 3  # start, extend, stop
    assert actions.count(("file_restore", "ok")) == 2


def test_letter_in_use_fails_and_leaves_nothing(scenario: tuple[Cli, dict[str, str]], tmp_path: Path) -> None:
    cli, points = scenario
    sim = cli.sim
    sim.guest_script([{"when": {"VMR_LETTER": "E"}, "exit": 10, "output": "letter in use: E"}],
                     password=GUEST_PASSWORD)
    with probe(sim, tmp_path) as session:
        empty = world(session)
    err = cli.run("mount", "start", points["FS01"], "--vm", TARGET, "--letter", "E:", expect=1)
    assert err["error"]["code"] == "letter_in_use" and err["error"]["guest_exit_code"] == 10
    assert "already in use" in err["error"]["message"]
    assert env_of(starts(sim)[0])["VMR_LETTER"] == "E"
    with probe(sim, tmp_path) as session:
        assert world(session) == empty  # the scheduler's safety net detached and unmounted at once
    assert cli.run("sweep")["found"] == []
    assert cli.run("mount", "list") == []

    bad = cli.run("mount", "start", points["FS01"], "--vm", TARGET, "--letter", "R;calc", expect=2)
    assert bad["error"]["code"] == "invalid_input"


def test_linux_guest_mounts_read_only_under_mnt(scenario: tuple[Cli, dict[str, str]]) -> None:
    cli, points = scenario
    started = cli.run("mount", "start", points["FS01"], "--vm", "DC0_H0_VM1")
    assert started["letter"] == "R"
    (mount,) = starts(cli.sim)
    assert mount["program"] == SH and mount["arguments"].startswith("-c '")
    assert "mount -o ro" in mount["arguments"] and "/mnt/vmrestore-$VMR_LETTER" in mount["arguments"]
    assert env_of(mount)["VMR_LETTER"] == "r"
    cli.run("mount", "stop", started["session"], "--yes")


@pytest.mark.parametrize("fmt", HOSTED)
def test_formats_esxi_cannot_open_are_refused(scenario: tuple[Cli, dict[str, str]], fmt: str) -> None:
    cli, points = scenario
    err = cli.run("mount", "start", points[f"H-{fmt}"], "--vm", TARGET, expect=1)
    assert err["error"]["code"] == "unsupported_format" and err["error"]["format"] == fmt
    assert fmt in err["error"]["message"] and "files push" in err["error"]["message"]
    if fmt == "twoGbMaxExtentSparse":
        assert "multiextent" in err["error"]["message"]
    assert not {"CreateNasDatastore", "ReconfigVM_Task"} & set(cli.sim.methods())
    assert starts(cli.sim) == []


def test_no_free_scsi_slot_and_tools_not_running_are_refused(scenario: tuple[Cli, dict[str, str]],
                                                             tmp_path: Path) -> None:
    cli, points = scenario
    sim = cli.sim
    with probe(sim, tmp_path) as session:
        vm = vm_moid(session, TARGET)
        props = retrieve_devices(session, vm)
        controller = next(d for d in props if isinstance(d, vim.vm.device.VirtualSCSIController))
        used = {d.unitNumber for d in props if getattr(d, "controllerKey", None) == controller.key}
        folder = next(d.backing.fileName for d in props if isinstance(d, vim.vm.device.VirtualDisk)).rsplit("/", 1)[0]
        changes = []
        for n, unit in enumerate(u for u in range(16) if u != 7 and u not in used):
            backing = vim.vm.device.VirtualDisk.FlatVer2BackingInfo(diskMode="persistent", thinProvisioned=True,
                                                                    fileName=f"{folder}/fill{n}.vmdk")
            disk = vim.vm.device.VirtualDisk(key=-10 - n, controllerKey=controller.key, unitNumber=unit,
                                             capacityInKB=1024, backing=backing)
            changes.append(vim.vm.device.VirtualDeviceSpec(operation="add", fileOperation="create", device=disk))
        ref = vim.VirtualMachine(vm, session.content.rootFolder._stub)
        wait_for_tasks(session, [ref.ReconfigVM_Task(vim.vm.ConfigSpec(deviceChange=changes))])
        full = world(session)
    err = cli.run("mount", "start", points["FS01"], "--vm", TARGET, expect=1)
    assert err["error"]["code"] == "no_free_scsi_slot"
    assert "does not add a controller" in err["error"]["message"]
    with probe(sim, tmp_path) as session:
        assert world(session) == full
    assert "CreateNasDatastore" not in sim.methods()


def test_tools_not_running_is_refused(repo: Path, vcsim_factory: VcsimFactory, tmp_path: Path) -> None:
    sim = vcsim_factory(standalone_host=1, tools_running=True, tools_off=[TARGET], nas={EXPORT: str(repo)})
    cli = Cli(tmp_path / "home", sim)
    points = setup_catalog(cli, repo)
    err = cli.run("mount", "start", points["FS01"], "--vm", TARGET, expect=1)
    assert err["error"]["code"] == "tools_not_running" and "VMware Tools" in err["error"]["message"]
    assert "CreateNasDatastore" not in sim.methods() and sim.guest_record() == []


def test_helpdesk_without_host_privilege_is_pointed_to_repo_mount(repo: Path, vcsim_factory: VcsimFactory,
                                                                    tmp_path: Path) -> None:
    before = digest(repo)
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)},
                        deny=["helpdesk:CreateNasDatastore:Host.Config.Storage"])
    sim.guest_script([], password=GUEST_PASSWORD)
    policy = tmp_path / "policy.json"
    policy.write_text('{"role": "helpdesk"}')
    admin = Cli(tmp_path / "home", sim)
    points = setup_catalog(admin, repo)
    helpdesk = Cli(tmp_path / "home", sim, user="helpdesk", policy=policy)
    with probe(sim, tmp_path) as session:
        empty = world(session)
        host = next(o.props["name"] for o in retrieve_hosts(session))

    err = helpdesk.run("mount", "start", points["FS01"], "--vm", TARGET, expect=3)
    assert err["error"]["code"] == "no_permission" and err["error"]["privilege"] == "Host.Config.Storage"
    assert "vmrestore repo mount main --host" in err["error"]["message"]
    with probe(sim, tmp_path) as session:
        assert world(session) == empty
    assert helpdesk.run("repo", "mount", "main", "--host", host, expect=3)["error"]["code"] == "role_denied"

    mounted = admin.run("repo", "mount", "main", "--host", host)
    assert mounted == {"datastore": "vmrestore-repo-main", "host": host, "export": EXPORT}
    started = helpdesk.run("mount", "start", points["FS01"], "--vm", TARGET)
    assert started["datastore"] == "vmrestore-repo-main"  # reused: same remote host and path
    copied = helpdesk.run("mount", "copy", started["session"], "/disk0/vol1/Users", "--dest", "D:\\R")
    assert copied["files"] is None and copied["exit_code"] == 0  # no summary in the output: counts unknown
    stopped = helpdesk.run("mount", "stop", started["session"], "--yes")
    assert stopped["unmounted"] is False  # an admin's repository mount stays
    with probe(sim, tmp_path) as session:
        assert world(session)["datastores"] == sorted([*empty["datastores"], "vmrestore-repo-main"])
    admin.run("repo", "unmount", "main", "--host", host)
    with probe(sim, tmp_path) as session:
        assert world(session) == empty
    audit = [(e["action"], e["result"]) for e in admin.run("audit", "list")]
    assert ("mount", "failed:no_permission") in audit and audit.count(("repo_mount", "ok")) == 2
    assert digest(repo) == before


def test_files_push_uploads_exact_bytes_with_times_and_if_exists(scenario: tuple[Cli, dict[str, str]]) -> None:
    cli, points = scenario
    sim = cli.sim
    point = points["H-streamOptimized"]  # a format ESXi cannot hot-add: guest copy still works
    out = cli.run("files", "push", point, "/disk0/vol1/Users/alice/Documents", "--vm", TARGET,
                  "--dest", "C:\\Restore")
    assert out == {"files": 2, "bytes": len("the Q3 report\n" * 40) + len("a hostile file name\n"),
                   "skipped": [], "failed": []}
    uploads = {r["path"]: r for r in sim.guest_record() if r["op"] == "upload"}
    assert uploads["C:\\Restore\\Documents\\Q3-report.xlsx"]["content"] == "the Q3 report\n" * 40
    assert uploads["C:\\Restore\\Documents\\$(calc) & notes.txt"]["content"] == "a hostile file name\n"
    times = {r["path"]: r.get("mtime") for r in sim.guest_record() if r["op"] == "initiate_upload"}
    assert times["C:\\Restore\\Documents\\Q3-report.xlsx"] == "2024-03-04T05:06:08Z"
    assert starts(sim) == []  # no program ran: pure file transfer

    again = cli.run("files", "push", point, "/disk0/vol1/Users/bob/b.txt", "--vm", TARGET, "--dest", "C:\\Restore")
    assert again["files"] == 1
    skip = cli.run("files", "push", point, "/disk0/vol1/Users/bob/b.txt", "--vm", TARGET, "--dest", "C:\\Restore",
                   "--if-exists", "skip")
    assert skip["files"] == 0 and skip["skipped"] == [{"path": "C:\\Restore\\b.txt", "reason": "exists in the guest"}]
    both = cli.run("files", "push", point, "/disk0/vol1/Users/bob/b.txt", "--vm", TARGET, "--dest", "C:\\Restore")
    assert both["files"] == 1
    assert "C:\\Restore\\b (1).txt" in {r["path"] for r in sim.guest_record() if r["op"] == "upload"}


def test_lease_expiry_is_swept(scenario: tuple[Cli, dict[str, str]], tmp_path: Path) -> None:
    import time

    cli, points = scenario
    with probe(cli.sim, tmp_path) as session:
        empty = world(session)
    started = cli.run("mount", "start", points["FS01"], "--vm", TARGET, "--ttl", "1s")
    time.sleep(1.5)
    assert cli.run("sweep")["found"] == []  # a plain sweep leaves a lease alone, expired or not
    swept = cli.run("sweep", "--expired")
    assert swept["expired"] == [started["session"]]
    with probe(cli.sim, tmp_path) as session:
        assert world(session) == empty
    assert cli.run("mount", "list") == []


def retrieve_devices(session: Any, vm: str) -> list[Any]:
    from vmrestore.vsphere.properties import retrieve

    return list(next(o for o in retrieve(session, "VirtualMachine", ["config.hardware.device"])
                     if o.moid == vm).props["config.hardware.device"])


def retrieve_hosts(session: Any) -> list[Any]:
    from vmrestore.vsphere.properties import retrieve

    return [o for o in retrieve(session, "HostSystem", ["name", "vm"])
            if any(v._moId == vm_moid(session, TARGET) for v in o.props.get("vm") or ())]
