"""Changing settings: one validated, role-checked, audited use case for the Settings dialog and the CLI.

Each setting has one rule here (its type, its range, who may change it, and the words used when a value
is refused). ``SettingsEditor.update`` checks *every* change before it writes any, so a dialog with one bad
field saves nothing; the file is then written atomically (``AppSettings.save``).

Admin-only settings change how this workstation behaves for everyone who uses it (where the catalog
lives, background scans of vCenter, how long a mounted disk may stay); the appearance is a personal
choice and open to every role.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from vmrestore.app.catalog_secret import save_password, stored_password
from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.app.secrets import KeyringUnavailable, SecretStore
from vmrestore.app.settings import AppSettings
from vmrestore.catalog import open_store, server_key, split_password, url_user, with_password
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import Action, Role

APPEARANCES = ("system", "light", "dark")


@dataclass(frozen=True, slots=True)
class SettingRule:
    key: str
    label: str  # as the Settings dialog names it
    admin_only: bool
    parse: Callable[[Any], Any]  # raises InvalidInput with the words to show


def _int_in(low: int, high: int, what: str) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        try:
            number = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise InvalidInput(f"{what} must be a whole number from {low} to {high}; got {value!r}.") from None
        if isinstance(number, bool) or not low <= number <= high:
            raise InvalidInput(f"{what} must be from {low} to {high}; got {number}.")
        return number

    return parse


def _patterns(value: Any) -> list[str]:
    items = value.splitlines() if isinstance(value, str) else list(value)
    patterns = [str(p).strip() for p in items if str(p).strip()]
    for pattern in patterns:
        if len(pattern) > 200:
            raise InvalidInput(f"A leftover pattern can be at most 200 characters: {pattern[:40]}…")
        try:
            re.compile(fnmatch.translate(pattern))
        except re.error as exc:
            raise InvalidInput(f"The leftover pattern {pattern!r} is not a valid wildcard pattern: {exc}") from None
        if pattern.strip("*?") == "":
            raise InvalidInput(f"The leftover pattern {pattern!r} would match every snapshot; name a prefix, "
                               "e.g. “ghettoVCB-snapshot-*”.")
    return patterns


def _appearance(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in APPEARANCES:
        raise InvalidInput(f"Appearance must be one of {', '.join(APPEARANCES)}; got {value!r}.")
    return text


def parse_catalog_location(value: Any) -> str | None:
    """``None``/empty: the default file in the data folder; a ``postgresql://`` URL; or a SQLite file path."""
    text = "" if value is None else str(value).strip()
    if not text:
        return None
    if text.startswith(("postgresql://", "postgres://")):
        # Opened once now (it is a network service): a catalog this build or this network cannot open would
        # otherwise only show at the next start, as an app that does not start.
        try:
            store = open_store(text)
        except VmrestoreError as exc:
            raise InvalidInput(f"The catalog {_redact_url(text)} cannot be opened: {exc}") from None
        store.close()
        return text
    if "://" in text:
        raise InvalidInput(f"The catalog must be a file path or a postgresql:// URL; got {text!r}.")
    path = Path(text).expanduser()
    if path.is_dir():
        raise InvalidInput(f"{text} is a folder: give the catalog file, e.g. {path / 'catalog.sqlite'}.")
    if not path.parent.is_dir():
        raise InvalidInput(f"The folder {path.parent} does not exist: create it first, or choose another place.")
    return str(path)


RULES: dict[str, SettingRule] = {r.key: r for r in (
    SettingRule("snapshot_watch_minutes", "Snapshot watch interval (minutes, 0 = off)", True,
                _int_in(0, 24 * 60, "The snapshot watch interval")),
    SettingRule("snapshot_max_age_days", "Snapshots older than (days) are flagged", True,
                _int_in(1, 3650, "The snapshot age limit")),
    SettingRule("leftover_patterns", "Leftover snapshot name patterns", True, _patterns),
    SettingRule("snapshot_cleanup_min_age_hours",
                "A cleanup never offers snapshots younger than (hours, 0 = off)", True,
                _int_in(0, 24 * 365, "The cleanup's minimum snapshot age")),
    SettingRule("default_lease_hours", "Default lease of a mounted disk or instant VM (hours)", True,
                _int_in(1, 7 * 24, "The default lease")),
    SettingRule("catalog_location", "Catalog location", True, parse_catalog_location),
    SettingRule("appearance", "Appearance", False, _appearance),
)}


def admin_reason(role: Role, role_locked: bool) -> str | None:
    """Why admin-only settings are greyed out for this operator (``None``: they are not)."""
    if role is Role.ADMIN:
        return None
    where = "by your administrator's machine policy (policy.json)" if role_locked else "in your settings"
    return f"Only a vmrestore admin can change this. Your role is {role.value}, set {where}."


SESSION_ONLY_NOTICE = ("No password store (keyring) is available on this computer: the catalog password is kept "
                       "for this session only, and vmrestore will ask for it again at the next start.")


class SettingsEditor:
    def __init__(self, settings: AppSettings, gate: RoleGate, audit: AuditTrail,
                 secrets: SecretStore | None = None) -> None:
        self._settings = settings
        self._gate = gate
        self._audit = audit
        self._secrets = secrets  # the shared catalog's password goes here, never into settings.json
        #: What the last :meth:`update` wants the operator to read (e.g. a password kept for this session only).
        self.notices: list[str] = []

    def validate(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Every change parsed, or ``InvalidInput`` naming the first bad one (nothing is written)."""
        return self._validate(changes)[0]

    def _validate(self, changes: Mapping[str, Any]) -> tuple[dict[str, Any], str | None]:
        """The parsed changes (a catalog URL without its password) and the catalog password to keep."""
        parsed: dict[str, Any] = {}
        password: str | None = None
        for key, value in changes.items():
            rule = RULES.get(key)
            if rule is None:
                raise InvalidInput(f"There is no setting named {key!r}; settings are: {', '.join(RULES)}.")
            if key == "catalog_location" and value is not None:
                url, password = split_password(str(value).strip())
                known = password or stored_password(url, self._secrets)
                parsed[key] = split_password(rule.parse(with_password(url, known)) or "")[0] or None
            else:
                parsed[key] = rule.parse(value)
        return parsed, password

    def update(self, changes: Mapping[str, Any]) -> list[str]:
        """Validate all, check the role for admin-only keys, write, audit; returns the keys that changed.

        A catalog URL's password is taken out: the URL is saved without it, the password goes to the
        keyring (a new password for the same URL counts as a change of ``catalog_password``).
        """
        parsed, password = self._validate(changes)
        changed = {k: v for k, v in parsed.items() if getattr(self._settings, k) != v}
        url = parsed.get("catalog_location")
        new_password = password is not None and url is not None and password != stored_password(url, self._secrets)
        if not changed and not new_password:
            return []
        if new_password or any(RULES[k].admin_only for k in changed):
            self._gate.require(Action.SETTINGS)  # RoleDenied (exit 3) before anything is written
        keys = sorted(changed) + (["catalog_password"] if new_password else [])
        details = {k: (v if k != "catalog_location" else _redact_url(v)) for k, v in changed.items()}
        if new_password:
            details["catalog_password"] = "saved in the keyring"
        self.notices = []
        with self._audit.audited(Action.SETTINGS, ", ".join(keys), **details) as audit_detail:
            if new_password and url is not None and password is not None:
                if self._secrets is None:
                    raise InvalidInput("No password store is available to keep the catalog password.")
                try:
                    save_password(url, password, self._secrets)
                except KeyringUnavailable:  # kept in memory: this session works, the next start asks again
                    self._secrets.remember(str(server_key(url)), url_user(url), password)
                    audit_detail["catalog_password"] = "kept for this session only (no keyring)"
                    self.notices.append(SESSION_ONLY_NOTICE)
            for key, value in changed.items():
                setattr(self._settings, key, value)
            if changed:
                self._settings.save()
        return keys

    def values(self) -> dict[str, Any]:
        return {key: getattr(self._settings, key) for key in RULES}


def _redact_url(value: Any) -> Any:
    """``postgresql://user:secret@host/db`` → ``postgresql://user:***@host/db`` (audit and logs)."""
    if isinstance(value, str):
        return re.sub(r"(://[^:/@]+:)[^@]*@", r"\1***@", value)
    return value


class PinStore(Protocol):
    def pinned_certificates(self) -> dict[str, str]: ...

    def forget_certificate(self, server: str) -> bool: ...


class CertificatePins:
    """Pinned vCenter certificates: list them (anyone), forget one (admin, audited)."""

    def __init__(self, pins: PinStore, gate: RoleGate, audit: AuditTrail) -> None:
        self._pins = pins
        self._gate = gate
        self._audit = audit

    def list(self) -> dict[str, str]:
        return self._pins.pinned_certificates()

    def forget(self, server: str) -> bool:
        self._gate.require(Action.SETTINGS)
        if server not in self._pins.pinned_certificates():
            raise InvalidInput(f"No certificate is pinned for {server!r}.")
        with self._audit.audited(Action.SETTINGS, f"certificate of {server}", forget=True):
            return self._pins.forget_certificate(server)
