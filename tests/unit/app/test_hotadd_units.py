"""Pure parts of file restore into a VM: guest script encoding, letters, robocopy summaries, TTLs, leases."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

import pytest

from vmrestore.app.guest_scripts import (
    LINUX_COPY,
    LINUX_MOUNT,
    LINUX_UNMOUNT,
    WINDOWS_MOUNT,
    check_guest_dir,
    check_letter,
    command,
    parse_letter,
    parse_robocopy,
    robocopy_failed,
)
from vmrestore.app.hotadd_session import parse_ttl
from vmrestore.engine.journal import DONE, Journal
from vmrestore.engine.leases import ACTIVE, STOPPED, STOPPING, LeaseStore
from vmrestore.engine.owner import ProcessOwner
from vmrestore.engine.state import StateStore
from vmrestore.errors import InvalidInput


def test_powershell_is_encoded_and_data_stays_in_the_environment() -> None:
    cmd = command(WINDOWS_MOUNT, True, {"VMR_LETTER": "R", "VMR_LABEL": "x'; calc; '"})
    b64 = cmd.arguments.rsplit(" ", 1)[1]
    assert base64.b64decode(b64).decode("utf-16-le") == WINDOWS_MOUNT
    assert "calc" not in cmd.arguments and cmd.env["VMR_LABEL"] == "x'; calc; '"
    with pytest.raises(InvalidInput):
        command(WINDOWS_MOUNT, True, {"VMR_DEST": "C:\\a\r\nrm -rf /"})


@pytest.mark.parametrize("script", [LINUX_MOUNT, LINUX_UNMOUNT, LINUX_COPY])
def test_linux_scripts_fit_in_single_quotes(script: str) -> None:
    cmd = command(script, False, {"VMR_LETTER": "r"})
    assert cmd.arguments == f"-c '{script}'"


def test_letters_and_guest_dirs() -> None:
    assert check_letter("r:") == "R" and check_letter(None) is None
    for bad in ("C", "AB", "1", "R;x", "$"):
        with pytest.raises(InvalidInput):
            check_letter(bad)
    assert check_guest_dir("C:\\Restore") == "C:\\Restore"
    for bad in ("Restore", 'C:\\a"b', "C:\\a\nb", ""):
        with pytest.raises(InvalidInput):
            check_guest_dir(bad)
    assert parse_letter("DISK=2\r\nLETTER=S\r\n") == "S" and parse_letter(None) is None


def test_robocopy_summary_sums_every_run() -> None:
    run = ("   Files :         3         2         1         0         0         0\n"
           "   Bytes :       601       580        21         0         0         0\n")
    failed = ("   Files :         2         0         0         0         2         0\n"
              "   Bytes :        10         0         0         0        10         0\n")
    summary = parse_robocopy(run + "noise\n" + failed)
    assert summary is not None
    assert (summary.copied, summary.skipped, summary.failed, summary.bytes) == (2, 1, 2, 580)
    assert parse_robocopy(None) is None and parse_robocopy("no summary") is None
    assert not robocopy_failed(1) and not robocopy_failed(3) and robocopy_failed(8) and robocopy_failed(16)


def test_ttl() -> None:
    assert parse_ttl("4h") == timedelta(hours=4)
    assert parse_ttl("2h30m") == timedelta(hours=2, minutes=30)
    assert parse_ttl("1d") == timedelta(days=1)
    for bad in ("", "0h", "4x", "-1h"):
        with pytest.raises(InvalidInput):
            parse_ttl(bad)


def test_lease_adopts_journal_entries_and_a_stop_journals_them_again(tmp_path: Path) -> None:
    state = StateStore(tmp_path / "state.sqlite")
    owner = ProcessOwner(tmp_path)
    journal = Journal(state, owner)
    try:
        nas = journal.begin("job1", "vsphere.nas_mounted", "host:h1", {}, {"host": "h1", "name": "ds"})
        disk = journal.begin("job1", "vsphere.disk_attached", "vm:vm1", {}, {"vm": "vm1", "file": "[ds] x.vmdk"})
        leases = LeaseStore(state)
        lease = leases.adopt("m-1", "mount", "alice", timedelta(hours=4), {"vm": "vm1"}, [nas, disk])
        assert lease.state == ACTIVE and journal.pending() == []
        assert journal.get(nas).state == DONE and journal.get(disk).state == DONE

        ids = leases.begin_stop(lease, journal, "job2", [("vsphere.disk_attached", "vm:vm1", {"vm": "vm1"})])
        assert leases.get("m-1").state == STOPPING
        assert [e.id for e in journal.pending()] == ids
        assert leases.settle(journal) == []  # its entries are still open and this process is alive
        journal.released(ids[0])
        leases.finish_stop("m-1")
        assert leases.get("m-1").state == STOPPED and leases.list_leases() == []
        with pytest.raises(InvalidInput):
            leases.extend("m-1", timedelta(hours=1))
    finally:
        owner.close()
        state.close()


def test_guest_credentials_env_keyring_prompt_and_unsaved_on_a_missing_keyring(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from vmrestore.app.guest_credentials import resolve_guest_credentials
    from vmrestore.app.secrets import KeyringUnavailable, MemorySecretStore

    store = MemorySecretStore()
    monkeypatch.setenv("VMRESTORE_GUEST_USERNAME", "CORP\\r")
    monkeypatch.setenv("VMRESTORE_GUEST_PASSWORD", "from-env")
    creds = resolve_guest_credentials(store, "vc:443")
    assert (creds.username, creds.password) == ("CORP\\r", "from-env") and "from-env" not in repr(creds)
    monkeypatch.delenv("VMRESTORE_GUEST_PASSWORD")
    asked: list[str] = []
    creds = resolve_guest_credentials(store, "vc:443", None, lambda u: asked.append(u) or "typed", save=True)
    assert creds.password == "typed" and asked == ["CORP\\r"]
    assert resolve_guest_credentials(store, "vc:443").password == "typed"  # saved only because save=True
    assert store.get("vc:443", "CORP\\r") is None  # guests are kept apart from vCenter logins

    class NoKeyring(MemorySecretStore):
        def set(self, server: str, user: str, secret: str) -> None:
            raise KeyringUnavailable("no keyring")

    assert resolve_guest_credentials(NoKeyring(), "vc", "root", lambda u: "pw", save=True).password == "pw"
    monkeypatch.delenv("VMRESTORE_GUEST_USERNAME")
    with pytest.raises(InvalidInput):
        resolve_guest_credentials(store, "vc:443")
