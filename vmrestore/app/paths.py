"""Where vmrestore keeps its state on this workstation.

Everything lives under one *home* folder so that an admin can find, back up or wipe it:
``VMRESTORE_HOME`` if set (tests and scripted use), else the per-user data folder from platformdirs
(``%LOCALAPPDATA%\\vmrestore`` on Windows). The catalog may live elsewhere (``VMRESTORE_CATALOG``:
a SQLite file or a ``postgresql://`` URL for a shared team catalog).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "vmrestore"


@dataclass(frozen=True, slots=True)
class AppPaths:
    home: Path

    @property
    def state_db(self) -> Path:
        """Journal and job history (engine.state.StateStore)."""
        return self.home / "state.sqlite"

    @property
    def audit_log(self) -> Path:
        return self.home / "audit.log"

    @property
    def known_hosts(self) -> Path:
        """Pinned SHA-256 certificate thumbprints per vCenter, like govc's known_hosts."""
        return self.home / "known_hosts.json"

    @property
    def settings_file(self) -> Path:
        return self.home / "settings.json"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def catalog(self) -> str:
        return os.environ.get("VMRESTORE_CATALOG") or str(self.home / "catalog.sqlite")

    def ensure(self) -> AppPaths:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        return self


def resolve_paths(home: str | os.PathLike[str] | None = None) -> AppPaths:
    """The home folder: explicit argument, then ``VMRESTORE_HOME``, then the per-user data dir."""
    chosen = home or os.environ.get("VMRESTORE_HOME") or platformdirs.user_data_dir(APP_NAME, appauthor=False)
    return AppPaths(Path(chosen).expanduser().resolve()).ensure()


def machine_policy_file() -> Path:
    """Machine-wide settings an administrator sets (e.g. the role), which a user cannot override.

    ``%PROGRAMDATA%\\vmrestore\\policy.json`` on Windows, ``/etc/vmrestore/policy.json`` elsewhere;
    ``VMRESTORE_POLICY`` overrides the location (tests).
    """
    override = os.environ.get("VMRESTORE_POLICY")
    if override:
        return Path(override)
    return Path(platformdirs.site_config_dir(APP_NAME, appauthor=False, multipath=False)) / "policy.json"
