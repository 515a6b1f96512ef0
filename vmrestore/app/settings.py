"""Per-user settings and the machine-wide policy.

The role (admin / helpdesk) is decided by an administrator: a machine-wide policy file wins over the
per-user settings, so a helpdesk user cannot promote themselves by editing their own file. Nothing
secret is ever stored here (passwords go to the OS keyring through ``app.secrets``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from vmrestore.model import Role

log = logging.getLogger(__name__)

# The operator's own leftover globs (case-sensitive, whole name or description line), added to the
# built-in rules for the tools we can cite (app/snapshots/leftovers.py).
DEFAULT_LEFTOVER_PATTERNS: tuple[str, ...] = ()
# A cleanup never offers a snapshot younger than this (a leftover that young is most likely a backup
# in progress); 0 turns the guard off.
DEFAULT_CLEANUP_MIN_AGE_HOURS = 24.0


@dataclass
class AppSettings:
    role: Role = Role.ADMIN
    role_locked: bool = False  # True when the machine policy set the role
    last_server: str | None = None
    last_user: str | None = None
    snapshot_max_age_days: int = 7
    snapshot_max_bytes: int = 20 * 1024**3
    snapshot_max_datastore_share: float = 0.10
    snapshot_watch_minutes: int = 0  # background snapshot scan interval; 0 = off
    snapshot_cleanup_min_age_hours: float = DEFAULT_CLEANUP_MIN_AGE_HOURS
    leftover_patterns: list[str] = field(default_factory=lambda: list(DEFAULT_LEFTOVER_PATTERNS))
    default_lease_hours: int = 4  # how long a mounted disk or instant VM stays before the sweep ends it
    appearance: str = "system"  # "system", "light" or "dark"
    catalog_location: str | None = None  # a SQLite file or postgresql:// URL; None: catalog.sqlite in the home
    first_run_done: bool = False  # the first-run page was completed (or skipped on purpose)
    _path: Path | None = field(default=None, repr=False, compare=False)

    def save(self) -> None:
        """Write the per-user file atomically (never the machine policy)."""
        if self._path is None:
            return
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_") and k != "role_locked"}
        data["role"] = str(self.role)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._path.parent, prefix=".settings-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
        os.replace(tmp, self._path)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = json.load(fh)
        return data if isinstance(data, dict) else {}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return {}


def load_settings(user_file: Path, policy_file: Path | None = None) -> AppSettings:
    """Per-user settings overlaid by the machine policy (role only, for now)."""
    data = _read_json(user_file)
    settings = AppSettings(_path=user_file)
    for key in (
        "last_server",
        "last_user",
        "snapshot_max_age_days",
        "snapshot_max_bytes",
        "snapshot_max_datastore_share",
        "snapshot_watch_minutes",
        "snapshot_cleanup_min_age_hours",
        "leftover_patterns",
        "default_lease_hours",
        "appearance",
        "catalog_location",
        "first_run_done",
    ):
        if key in data:
            setattr(settings, key, data[key])
    if data.get("role") in {r.value for r in Role}:
        settings.role = Role(data["role"])
    if policy_file is not None:
        policy = _read_json(policy_file)
        if policy.get("role") in {r.value for r in Role}:
            settings.role = Role(policy["role"])
            settings.role_locked = True
    return settings
