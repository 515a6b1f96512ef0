"""VMware Tools guest operations: run a program in the guest, wait for its exit code, move files.

Shaped after govmomi's ``guest`` package. What matters for a restore console:

- A program's success is its **exit code**, read with ``ListProcessesInGuest`` once ``endTime`` is
  set; ``StartProgramInGuest`` itself returns only a pid.
- Data reaches a program as **environment variables** (``envVariables``), never spliced into its
  command line: a volume label or a path can then never become a command.
- The guest password travels only inside the ``NamePasswordAuthentication`` of each call; it is never
  logged, never put into an argument, a variable or a file.
- File transfer URLs point at the ESXi host (``https://*/guestFile?...``); ``*`` means "the server
  you called" and is replaced by the vCenter's address. Many networks block the workstation from
  ESXi's port 443, so :func:`download` returns ``None`` on failure instead of raising: a step's
  success never depends on fetching its text output.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from pyVmomi import vim

from vmrestore.errors import AuthFailed, NotFound, Refused, VmrestoreError
from vmrestore.model import GuestCredentials
from vmrestore.vsphere.properties import retrieve_objects
from vmrestore.vsphere.refs import ref
from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)

_Auth: Any = vim.vm.guest.NamePasswordAuthentication
_ProgramSpec: Any = vim.vm.guest.ProcessManager.ProgramSpec
_FileAttributes: Any = vim.vm.guest.FileManager.FileAttributes


class GuestUnavailable(VmrestoreError):
    """VMware Tools are not running (or guest operations are not ready) in the VM."""

    code = "guest_unavailable"


class GuestFileExists(VmrestoreError):
    """The guest already has a file at the path and overwriting was not asked for."""

    code = "guest_file_exists"


class GuestTimeout(VmrestoreError):
    """A guest program did not finish in time."""

    code = "guest_timeout"


@dataclass(frozen=True, slots=True)
class GuestProcess:
    pid: int
    exit_code: int | None  # None while running
    ended: datetime | None


def _auth(creds: GuestCredentials) -> Any:
    return _Auth(username=creds.username, password=creds.password, interactiveSession=False)


def _managers(session: VsphereSession) -> tuple[Any, Any]:
    gom = session.content.guestOperationsManager
    if gom is None:
        raise GuestUnavailable("This vCenter offers no guest operations")
    props = retrieve_objects(session, [gom], ["processManager", "fileManager"])
    if not props:
        raise GuestUnavailable("This vCenter offers no guest operations")
    return props[0].props["processManager"], props[0].props["fileManager"]


def _call(session: VsphereSession, fn: Callable[..., Any], *args: Any, idempotent: bool = False) -> Any:
    """``session.call`` with the guest faults turned into errors an operator can act on."""
    try:
        return session.call(fn, *args, idempotent=idempotent)
    except VmrestoreError as exc:
        cause = exc.__cause__
        if isinstance(cause, vim.fault.InvalidGuestLogin):
            raise AuthFailed("The guest refused the user name or password (guest login)") from cause
        if isinstance(cause, (vim.fault.GuestOperationsUnavailable, vim.fault.GuestOperationsFault)) and not \
                isinstance(cause, (vim.fault.InvalidGuestLogin, vim.fault.GuestPermissionDenied)):
            if isinstance(cause, vim.fault.OperationDisabledByGuest):
                raise Refused("Guest operations are disabled inside this VM (VMware Tools configuration)") from cause
            raise GuestUnavailable("VMware Tools in the VM cannot run guest operations right now") from cause
        if isinstance(cause, vim.fault.GuestPermissionDenied):
            raise Refused("The guest account may not do this (guest permission denied)") from cause
        if isinstance(cause, vim.fault.FileAlreadyExists):
            raise GuestFileExists("The file already exists in the guest") from cause
        if isinstance(cause, vim.fault.InvalidPowerState):
            raise GuestUnavailable("The VM is not powered on") from cause
        raise


def start_program(
    session: VsphereSession,
    vm_moid: str,
    creds: GuestCredentials,
    program: str,
    arguments: str,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> int:
    """Start ``program`` in the guest; return its pid. ``env`` carries the data (never the password)."""
    pm, _ = _managers(session)
    for key, value in (env or {}).items():
        if "=" in key or "\0" in value or "\0" in key:
            raise ValueError(f"bad guest environment variable {key!r}")
    spec = _ProgramSpec(programPath=program, arguments=arguments, workingDirectory=cwd,
                        envVariables=[f"{k}={v}" for k, v in (env or {}).items()])
    vm = ref(session, "VirtualMachine", vm_moid)
    pid = int(_call(session, pm.StartProgramInGuest, vm, _auth(creds), spec))
    log.info("started %s in %s as pid %s", program, vm_moid, pid)
    return pid


def processes(
    session: VsphereSession, vm_moid: str, creds: GuestCredentials, pids: Iterable[int]
) -> list[GuestProcess]:
    pm, _ = _managers(session)
    vm = ref(session, "VirtualMachine", vm_moid)
    infos = _call(session, pm.ListProcessesInGuest, vm, _auth(creds), list(pids), idempotent=True) or []
    return [GuestProcess(pid=int(i.pid), exit_code=int(i.exitCode) if i.endTime is not None else None,
                         ended=i.endTime) for i in infos]


def wait_for_exit(
    session: VsphereSession,
    vm_moid: str,
    creds: GuestCredentials,
    pid: int,
    *,
    timeout: float = 600.0,
    poll: float = 0.25,
    check_cancelled: Callable[[], None] | None = None,
) -> int:
    """Poll ``ListProcessesInGuest`` until the process has an ``endTime``; return its exit code."""
    deadline = time.monotonic() + timeout
    while True:
        if check_cancelled is not None:
            check_cancelled()
        found = [p for p in processes(session, vm_moid, creds, [pid]) if p.pid == pid]
        if not found:
            raise NotFound(f"Process {pid} vanished from the guest before reporting its exit code")
        if found[0].exit_code is not None:
            return found[0].exit_code
        if time.monotonic() > deadline:
            raise GuestTimeout(f"The guest program (pid {pid}) did not finish within {timeout:.0f} s")
        time.sleep(poll)


def create_temp_file(session: VsphereSession, vm_moid: str, creds: GuestCredentials, prefix: str,
                     suffix: str) -> str:
    _, fm = _managers(session)
    vm = ref(session, "VirtualMachine", vm_moid)
    return str(_call(session, fm.CreateTemporaryFileInGuest, vm, _auth(creds), prefix, suffix))


def make_directory(session: VsphereSession, vm_moid: str, creds: GuestCredentials, path: str) -> bool:
    """Create a guest folder and its parents; False when it already existed."""
    _, fm = _managers(session)
    vm = ref(session, "VirtualMachine", vm_moid)
    try:
        _call(session, fm.MakeDirectoryInGuest, vm, _auth(creds), path, True)
    except GuestFileExists:
        return False
    return True


def delete_file(session: VsphereSession, vm_moid: str, creds: GuestCredentials, path: str) -> bool:
    """Delete a guest file; False when it was already gone."""
    _, fm = _managers(session)
    vm = ref(session, "VirtualMachine", vm_moid)
    try:
        _call(session, fm.DeleteFileInGuest, vm, _auth(creds), path, idempotent=True)
    except NotFound:
        return False
    return True


def _transfer_target(session: VsphereSession, url: str) -> tuple[str, int, str, ssl.SSLContext]:
    """Host, port, path+query and TLS context for a transfer URL (``*`` = the server we called)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.hostname in (None, "*"):
        host, port = session.endpoint_host_port
        return host, port, path, session.tls_context
    # Another host (an ESXi): it presents its own certificate, which the system trust store must accept.
    return parts.hostname, parts.port or 443, path, ssl.create_default_context()


def upload(
    session: VsphereSession,
    vm_moid: str,
    creds: GuestCredentials,
    guest_path: str,
    source: BinaryIO,
    size: int,
    *,
    overwrite: bool = False,
    mtime: datetime | None = None,
    timeout: float = 60.0,
) -> None:
    """Copy ``size`` bytes from ``source`` to ``guest_path`` (InitiateFileTransferToGuest + HTTP PUT)."""
    _, fm = _managers(session)
    vm = ref(session, "VirtualMachine", vm_moid)
    attributes = _FileAttributes(modificationTime=mtime) if mtime is not None else _FileAttributes()
    url = str(_call(session, fm.InitiateFileTransferToGuest, vm, _auth(creds), guest_path, attributes, size,
                    overwrite))
    host, port, path, context = _transfer_target(session, url)
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Length", str(size))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.endheaders()
        left = size
        while left > 0:
            chunk = source.read(min(left, 1 << 20))
            if not chunk:
                raise VmrestoreError(f"The source ended {left} bytes early while uploading {guest_path}")
            conn.send(chunk)
            left -= len(chunk)
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise VmrestoreError(f"The host refused the upload of {guest_path} (HTTP {response.status})")
    except (OSError, http.client.HTTPException) as exc:
        raise VmrestoreError(
            f"Cannot reach the ESXi host {host}:{port} to upload {guest_path}: {exc}. "
            "Guest file transfer needs this computer to reach the VM's host on port 443."
        ) from exc
    finally:
        conn.close()


def download(session: VsphereSession, vm_moid: str, creds: GuestCredentials, guest_path: str,
             *, max_bytes: int = 4 << 20, timeout: float = 30.0) -> bytes | None:
    """A guest file's bytes, or ``None`` if it cannot be fetched (logged, never raised)."""
    try:
        _, fm = _managers(session)
        vm = ref(session, "VirtualMachine", vm_moid)
        info = _call(session, fm.InitiateFileTransferFromGuest, vm, _auth(creds), guest_path, idempotent=True)
        host, port, path, context = _transfer_target(session, str(info.url))
        conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            data = response.read(max_bytes + 1)
            if response.status != 200:
                log.warning("download of guest %s failed: HTTP %s", guest_path, response.status)
                return None
            return data[:max_bytes]
        finally:
            conn.close()
    except (VmrestoreError, OSError, http.client.HTTPException, ssl.SSLError) as exc:
        log.warning("cannot fetch guest file %s (output only, the step still counts): %s", guest_path,
                    type(exc).__name__)
        return None
