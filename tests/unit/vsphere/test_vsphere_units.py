"""Thumbprints, the known-hosts file and fault translation: pure functions over real pyVmomi types."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from pyVmomi import vim, vmodl

from vmrestore.errors import (
    AuthFailed,
    CertificateChanged,
    InsufficientSpace,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TaskFailed,
    Transient,
    VmrestoreError,
)
from vmrestore.vsphere.certs import CertificatePinMismatch, normalize_thumbprint, sha256_thumbprint
from vmrestore.vsphere.faults import translate
from vmrestore.vsphere.properties import managed_type
from vmrestore.vsphere.session import ConnectSpec
from vmrestore.vsphere.trust import KnownHosts

DIGEST = "0123456789abcdef" * 4
COLONS = ":".join(DIGEST.upper()[i : i + 2] for i in range(0, 64, 2))


def test_sha256_thumbprint_of_known_bytes() -> None:
    # sha256(b"") is a well-known constant.
    assert sha256_thumbprint(b"").startswith("E3:B0:C4:42:98:FC:1C:14")
    assert len(sha256_thumbprint(b"x")) == 95


@pytest.mark.parametrize("text", [DIGEST, DIGEST.upper(), COLONS, COLONS.lower(), f"  {COLONS} "])
def test_normalize_thumbprint_accepts_any_spelling(text: str) -> None:
    assert normalize_thumbprint(text) == COLONS


@pytest.mark.parametrize("text", ["", "AB:CD", DIGEST[:40], DIGEST[:-1] + "g"])
def test_normalize_thumbprint_rejects_non_sha256(text: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_thumbprint(text)


def test_known_hosts_pin_get_forget_persist(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "known_hosts.json"
    hosts = KnownHosts(str(path))
    assert hosts.get("vc:443") is None
    hosts.pin("vc:443", DIGEST)
    hosts.pin("other:443", COLONS)
    assert json.loads(path.read_text()) == {"vc:443": COLONS, "other:443": COLONS}
    assert KnownHosts(str(path)).get("vc:443") == COLONS
    assert hosts.forget("vc:443") is True
    assert hosts.forget("vc:443") is False
    assert KnownHosts(str(path)).get("vc:443") is None
    assert [p.name for p in path.parent.iterdir()] == ["known_hosts.json"]  # no temp files left


def test_password_is_not_in_the_spec_repr() -> None:
    assert "hunter2" not in repr(ConnectSpec("https://vc/sdk", "admin", "hunter2"))


def test_no_permission_maps_to_permission_denied_with_privilege_and_object() -> None:
    fault = vim.fault.NoPermission(privilegeId="Datastore.Browse", object=vim.Datastore("datastore-12"))
    error = translate(fault)
    assert isinstance(error, PermissionDenied)
    assert (error.privilege, error.obj) == ("Datastore.Browse", "datastore-12")


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        (vim.fault.NotAuthenticated(privilegeId="System.View"), AuthFailed),  # a NoPermission subclass
        (vim.fault.InvalidLogin(), AuthFailed),
        (vim.fault.FileNotFound(file="[ds] vm/vm.vmx"), NotFound),
        (vmodl.fault.ManagedObjectNotFound(obj=vim.VirtualMachine("vm-1")), NotFound),
        (vim.fault.NoDiskSpace(datastore="ds1"), InsufficientSpace),
        (vim.fault.InsufficientStorageSpace(), InsufficientSpace),
        (vmodl.fault.HostNotConnected(), Transient),
        (http.client.RemoteDisconnected("gone"), Transient),
        (ConnectionRefusedError(111, "refused"), Transient),
        (CertificatePinMismatch(COLONS, COLONS.replace("01", "FF")), CertificateChanged),
    ],
)
def test_faults_map_by_type(fault: BaseException, expected: type[VmrestoreError]) -> None:
    assert type(translate(fault)) is expected


def test_unknown_fault_is_task_failed_only_inside_a_task() -> None:
    fault = vim.fault.InvalidPowerState(msg="The VM is powered on")
    assert type(translate(fault, in_task=True)) is TaskFailed
    assert str(translate(fault, in_task=True)) == "The VM is powered on"
    assert type(translate(fault)) is VmrestoreError


def test_managed_type_refuses_data_types() -> None:
    assert managed_type("VirtualMachine") is vim.VirtualMachine
    with pytest.raises(ValueError):
        managed_type("VirtualMachineConfigSpec")
    with pytest.raises(ValueError):
        managed_type("NoSuchThing")
