"""Translate pyVmomi faults and connection failures into vmrestore's errors, by type.

vCenter localizes fault messages and changes their wording between releases, so nothing here looks
at message text: the fault's class decides, and the original stays attached as ``__cause__`` for the
log. ``NotAuthenticated`` derives from ``NoPermission`` in the vim schema, so order matters below.
"""

from __future__ import annotations

import errno
import http.client
import socket
import ssl
from typing import Any

from pyVmomi import vim, vmodl

from vmrestore.errors import (
    AuthFailed,
    CertificateChanged,
    InsufficientSpace,
    NotFound,
    PermissionDenied,
    TaskFailed,
    Transient,
    VmrestoreError,
)
from vmrestore.vsphere.certs import CertificatePinMismatch

# Most specific first: the first isinstance match wins.
_NOT_FOUND: tuple[type[Any], ...] = (
    vim.fault.FileNotFound,
    vmodl.fault.ManagedObjectNotFound,
    vim.fault.NotFound,
)
_NO_SPACE: tuple[type[Any], ...] = (vim.fault.NoDiskSpace, vim.fault.InsufficientStorageSpace)
_UNREACHABLE_FAULTS: tuple[type[Any], ...] = (
    vmodl.fault.HostCommunication,  # includes HostNotConnected / HostNotReachable
    vim.fault.HostConnectFault,
)
# Raised by the HTTP layer under pyVmomi: the request may or may not have reached the server.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionError,  # RemoteDisconnected, ConnectionResetError, ConnectionRefusedError...
    http.client.HTTPException,
    TimeoutError,
    OSError,
)


def fault_message(fault: Any) -> str:
    """The server's own (localized) message, or the fault's type name when it sent none."""
    message = getattr(fault, "msg", None) or getattr(fault, "localizedMessage", None)
    if not message:
        for item in getattr(fault, "faultMessage", None) or ():
            if getattr(item, "message", None):
                return str(item.message)
    return str(message) if message else type(fault).__name__.rsplit(".", 1)[-1]


def moid_of(obj: Any) -> str | None:
    """The managed object id of a moref, without a round trip."""
    return getattr(obj, "_moId", None) if obj is not None else None


def connection_words(exc: BaseException, server: str | None = None) -> str:
    """A socket-level failure in plain words (never "[Errno 111]"): what happened, and what to check."""
    who = server or "vCenter"
    if isinstance(exc, ConnectionRefusedError):
        return (f"{who} refused the connection: nothing answers on that address and port (the service may be "
                "stopped), or a firewall blocks it.")
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                        http.client.RemoteDisconnected)):
        return f"{who} closed the connection (it may be restarting, or the network dropped)."
    if isinstance(exc, TimeoutError):
        return f"{who} did not answer in time (it may be overloaded, or the network is slow or down)."
    if isinstance(exc, socket.gaierror):
        return f"The name {who} could not be found (DNS): check the server address."
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return f"{who} cannot be reached from this computer: check the network or the VPN."
    if isinstance(exc, http.client.HTTPException):
        return f"{who} sent an answer that is not a vSphere API reply ({type(exc).__name__})."
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
    return f"The connection to {who} failed ({reason})."


def translate(exc: BaseException, *, in_task: bool = False, server: str | None = None) -> VmrestoreError:
    """Return the vmrestore error for ``exc`` (a fault, a task's ``info.error``, or a socket error).

    The caller raises it ``from exc``. ``in_task`` makes an unrecognised fault a ``TaskFailed`` (a
    task ended in error) rather than a generic failure of a call.
    """
    if isinstance(exc, VmrestoreError):
        return exc
    if isinstance(exc, vim.fault.NotAuthenticated):
        return AuthFailed("The vCenter session expired or was terminated; log in again")
    if isinstance(exc, vim.fault.NoPermission):
        privilege = getattr(exc, "privilegeId", None)
        missing = getattr(exc, "missingPrivileges", None) or ()
        if not privilege and missing:
            ids = [p for entry in missing for p in (getattr(entry, "privileges", None) or ())]
            privilege = ", ".join(ids) or None
        return PermissionDenied(privilege, moid_of(getattr(exc, "object", None)))
    if isinstance(exc, vim.fault.InvalidLogin):
        return AuthFailed("vCenter refused the user name or password")
    if isinstance(exc, _NOT_FOUND):
        return NotFound(fault_message(exc))
    if isinstance(exc, _NO_SPACE):
        return InsufficientSpace(fault_message(exc))
    if isinstance(exc, _UNREACHABLE_FAULTS):
        return Transient(fault_message(exc))
    if isinstance(exc, vmodl.MethodFault):
        return TaskFailed(fault_message(exc)) if in_task else VmrestoreError(fault_message(exc))
    if isinstance(exc, CertificatePinMismatch):
        return CertificateChanged(server or "vCenter", exc.pinned, exc.presented)
    if isinstance(exc, ssl.SSLError):
        return Transient(f"TLS failure talking to vCenter: {type(exc).__name__}")
    if isinstance(exc, CONNECTION_ERRORS):
        return Transient(connection_words(exc, server))
    return VmrestoreError(f"Unexpected failure: {type(exc).__name__}: {exc}")
