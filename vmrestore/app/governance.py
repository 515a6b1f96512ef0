"""The role gate and the audit trail: the two rules every use case owns, as small objects.

A use case receives these (``app.ports.RoleGate`` / ``AuditTrail``), not the whole ``AppServices``,
so the GUI and the CLI go through the very same check and write the very same entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from vmrestore.app.ports import IdentitySource
from vmrestore.app.settings import AppSettings
from vmrestore.engine import policy
from vmrestore.engine.audit import AuditStore
from vmrestore.errors import VmrestoreError
from vmrestore.model import Action


class SettingsRoleGate:
    """The operator's vmrestore role, as the settings (and the machine policy over them) say."""

    def __init__(self, settings: AppSettings) -> None:
        self._settings = settings

    def require(self, action: Action) -> None:
        """Refuse an action the operator's role does not allow (exit code 3 / a dialog)."""
        policy.require(self._settings.role, action)


class Auditor:
    """Writes one audit entry per audited block: the result is ``ok`` or ``failed:<error code>``."""

    def __init__(self, log: AuditStore, settings: AppSettings, identity: IdentitySource) -> None:
        self._log = log
        self._settings = settings
        self._identity = identity

    @contextmanager
    def audited(self, action: Action, target: str, **detail: Any) -> Iterator[dict[str, Any]]:
        """The yielded dict may be filled by the caller with details of the outcome (counts, bytes)."""
        extra: dict[str, Any] = dict(detail)
        identity = self._identity.identity
        try:
            yield extra
        except BaseException as exc:
            code = exc.code if isinstance(exc, VmrestoreError) else type(exc).__name__
            self._write(action, target, f"failed:{code}", extra, identity)
            raise
        self._write(action, target, "ok", extra, self._identity.identity or identity)

    def _write(self, action: Action, target: str, result: str, detail: dict[str, Any], identity: Any) -> None:
        self._log.append(action=str(action), target=target, result=result, role=str(self._settings.role),
                         vcenter_user=identity.user if identity else None, detail=detail)
