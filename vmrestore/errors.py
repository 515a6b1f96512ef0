"""Errors every layer speaks.

Adapters translate library faults (pyVmomi ``vmodl.MethodFault``, dissect exceptions, OS errors)
into these types and keep the original as ``__cause__``; the CLI maps ``exit_code`` to the process
exit status (shared/CLI.md) and the UI turns ``str(error)`` into a dialog. Messages are written for
an operator, never contain a password, and never depend on matching a library's message text.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class VmrestoreError(Exception):
    """Base class: an operation failed for a reason we can explain to the operator."""

    exit_code = 1
    code = "error"

    def to_json(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` body the CLI prints with ``--json``."""
        return {"code": self.code, "message": str(self), "type": type(self).__name__}


class Refused(VmrestoreError):
    """Refused by policy or permission: exit code 3 by the CLI contract."""

    exit_code = 3
    code = "refused"


class PermissionDenied(Refused):
    """vCenter answered ``NoPermission`` (or the app knows the privilege is missing)."""

    code = "no_permission"

    def __init__(self, privilege: str | None, obj: str | None, message: str | None = None) -> None:
        self.privilege = privilege
        self.obj = obj
        text = message or (
            f"vCenter denied this: privilege {privilege or 'unknown'} is missing on {obj or 'the object'}"
        )
        super().__init__(text)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "privilege": self.privilege, "object": self.obj}


class RoleDenied(Refused):
    """The operator's vmrestore role does not allow this action (helpdesk vs admin)."""

    code = "role_denied"

    def __init__(self, role: str, action: str) -> None:
        self.role = role
        self.action = action
        super().__init__(f"The {role} role may not {action}; ask a vmrestore admin")


class CertificateUntrusted(Refused):
    """The server's certificate is neither trusted by the system nor pinned."""

    code = "certificate_untrusted"

    def __init__(self, server: str, thumbprint: str) -> None:
        self.server = server
        self.thumbprint = thumbprint
        super().__init__(
            f"The certificate of {server} is not trusted. SHA-256 thumbprint: {thumbprint}. "
            "Verify it with your vCenter administrator, then trust it (connect and confirm, or pass --thumbprint)."
        )

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "server": self.server, "thumbprint": self.thumbprint}


class CertificateChanged(Refused):
    """A pinned server now presents another certificate: possible interception."""

    code = "certificate_changed"

    def __init__(self, server: str, pinned: str, presented: str) -> None:
        self.server = server
        self.pinned = pinned
        self.presented = presented
        super().__init__(
            f"WARNING: the certificate of {server} CHANGED. Pinned {pinned}, presented {presented}. "
            "Someone may be intercepting the connection; the connection was refused."
        )

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "server": self.server, "pinned": self.pinned, "presented": self.presented}


class AuthFailed(VmrestoreError):
    """Wrong user name or password (vCenter ``InvalidLogin``)."""

    code = "auth_failed"


class NotFound(VmrestoreError):
    """A named object or file does not exist."""

    code = "not_found"


class AlreadyExists(VmrestoreError):
    """An object with that name already exists (a VM name an instant recovery would take)."""

    code = "already_exists"


class InsufficientSpace(VmrestoreError):
    """A datastore or target folder lacks the space the operation needs."""

    code = "insufficient_space"


class TaskFailed(VmrestoreError):
    """A vSphere task ended in error; the message is the task's own localized message."""

    code = "task_failed"


class Transient(VmrestoreError):
    """The connection dropped or the server was unreachable; a retry may succeed."""

    code = "transient"


class ResourceBusy(Transient):
    """Another vmrestore process holds the resource (a VM being mounted, a datastore being cleaned): try later.

    ``holder`` names it when the shared catalog's server can say (workstation, user, pid, token), so the
    operator knows whom to ask; ``None`` for a process of this same workstation and home.
    """

    code = "resource_busy"

    def __init__(self, message: str, holder: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.holder = holder

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "holder": self.holder}


class CatalogPasswordRequired(Transient):
    """The shared catalog's server wants a password and none (or a wrong one) was given.

    ``where`` is the catalog as it may be shown (no password); ``wrong``: a password was given and refused.
    The composition root attaches ``supply``: give it a password typed by the operator (a prompt, a dialog,
    ``VMRESTORE_CATALOG_PASSWORD``) and it is kept for this process only; then build the services again.
    """

    code = "catalog_password_required"

    def __init__(self, message: str, where: str = "", wrong: bool = False) -> None:
        super().__init__(message)
        self.where = where
        self.wrong = wrong
        self.supply: Callable[[str], None] | None = None

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "catalog": self.where, "wrong_password": self.wrong}


class Cancelled(VmrestoreError):
    """The operator cancelled the job."""

    code = "cancelled"


class CorruptImage(VmrestoreError):
    """A VMDK, partition table or guest file system could not be read."""

    code = "corrupt_image"


class InvalidInput(VmrestoreError):
    """The operator asked for something malformed (bad path, unknown restore point...)."""

    exit_code = 2
    code = "invalid_input"


class UnsupportedFormat(VmrestoreError):
    """A disk's format cannot be used for this (e.g. a hosted VMDK that ESXi cannot attach)."""

    code = "unsupported_format"

    def __init__(self, disk_format: str, message: str) -> None:
        self.format = disk_format
        super().__init__(message)

    def to_json(self) -> dict[str, Any]:
        return {**super().to_json(), "format": self.format}


class BrokenChain(CorruptImage):
    """A snapshot (delta) VMDK's parent is missing or is not the disk it was taken from (CID mismatch)."""

    code = "broken_chain"
