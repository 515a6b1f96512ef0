"""Guest operations through real pyVmomi against the bench's scripted guest.

The simulator has no guest (it would need Docker); the bench answers StartProgramInGuest,
ListProcessesInGuest, temporary files, deletes and file transfer at the SOAP level and records every
call (tests/bench/vcsim/guestops.go). These tests assert on that record.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.vsphere.vsphere_helpers import open_pinned
from vmrestore.errors import AuthFailed
from vmrestore.model import GuestCredentials
from vmrestore.vsphere import guestops
from vmrestore.vsphere.guestops import GuestFileExists, GuestUnavailable
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.vcsim

CREDS = GuestCredentials("CORP\\restore", "s3cret-Guest!")


def _vm(session: object, name: str) -> str:
    return next(o.moid for o in retrieve(session, "VirtualMachine", ["name"]) if o.props["name"] == name)  # type: ignore[arg-type]


def test_program_exit_code_env_and_transfer(vcsim_factory: VcsimFactory, known_hosts: KnownHosts) -> None:
    sim = vcsim_factory(standalone_host=1, tools_running=True)
    sim.guest_script([{"when": {"VMR_ACTION": "mount"}, "exit": 10, "output": "letter R: is in use",
                       "seconds": 0.5}], password=CREDS.password)
    with open_pinned(sim, known_hosts) as session:
        vm = _vm(session, "DC0_H0_VM0")
        out = guestops.create_temp_file(session, vm, CREDS, "vmr", ".txt")
        pid = guestops.start_program(session, vm, CREDS, "powershell.exe", "-NoProfile",
                                     {"VMR_ACTION": "mount", "VMR_OUT": out})
        assert guestops.processes(session, vm, CREDS, [pid])[0].exit_code is None  # still "running"
        assert guestops.wait_for_exit(session, vm, CREDS, pid, timeout=10) == 10
        assert guestops.download(session, vm, CREDS, out) == b"letter R: is in use"
        assert guestops.delete_file(session, vm, CREDS, out) is True
        assert guestops.delete_file(session, vm, CREDS, out) is False
        assert guestops.download(session, vm, CREDS, out) is None  # gone: None, not an exception

        other = guestops.start_program(session, vm, CREDS, "cmd.exe", "/c ver", {"VMR_ACTION": "other"})
        assert guestops.wait_for_exit(session, vm, CREDS, other, timeout=10) == 0

        mtime = datetime(2025, 1, 2, 3, 4, 6, tzinfo=UTC)
        guestops.upload(session, vm, CREDS, "C:\\Restore\\a.txt", io.BytesIO(b"hello"), 5, mtime=mtime)
        with pytest.raises(GuestFileExists):
            guestops.upload(session, vm, CREDS, "C:\\Restore\\a.txt", io.BytesIO(b"x"), 1)
        guestops.upload(session, vm, CREDS, "C:\\Restore\\a.txt", io.BytesIO(b"again"), 5, overwrite=True)

        with pytest.raises(AuthFailed):
            guestops.start_program(session, vm, GuestCredentials("x", "wrong"), "cmd.exe", "")

    record = sim.guest_record()
    starts = [r for r in record if r["op"] == "start"]
    assert [(s["program"], s["arguments"], s["env"]) for s in starts] == [
        ("powershell.exe", "-NoProfile", ["VMR_ACTION=mount", f"VMR_OUT={out}"]),
        ("cmd.exe", "/c ver", ["VMR_ACTION=other"]),
    ]
    assert all(s["user"] == "CORP\\restore" for s in starts)
    uploads = [r for r in record if r["op"] == "upload"]
    assert [(u["path"], u["content"]) for u in uploads] == [("C:\\Restore\\a.txt", "hello"),
                                                          ("C:\\Restore\\a.txt", "again")]
    assert [r.get("mtime") for r in record if r["op"] == "initiate_upload"] == ["2025-01-02T03:04:06Z", None], record
    assert CREDS.password not in str(record)


def test_tools_not_running_is_guest_unavailable(vcsim_factory: VcsimFactory, known_hosts: KnownHosts) -> None:
    sim = vcsim_factory(standalone_host=1, tools_running=True, tools_off=["DC0_H0_VM1"])
    with open_pinned(sim, known_hosts) as session:
        vm = _vm(session, "DC0_H0_VM1")
        props = retrieve(session, "VirtualMachine", ["name", "guest.guestOperationsReady", "guest.toolsRunningStatus"])
        ready = {o.props["name"]: o.props.get("guest.guestOperationsReady") for o in props}
        assert ready["DC0_H0_VM1"] is False and ready["DC0_H0_VM0"] is True
        with pytest.raises(GuestUnavailable):
            guestops.start_program(session, vm, CREDS, "cmd.exe", "")
    assert sim.guest_record() == []
