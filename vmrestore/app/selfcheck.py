"""The Qt-free half of ``vmrestore --self-check``: can this installation start and reach its state?

Each check opens or reads the real thing (the state database, the catalog, the resources folder, the adapters'
libraries) and reports what it found, so an admin who just installed vmrestore, or the CI job that tests the
bundle, learns which piece is missing. The Qt half (main window opened and closed offscreen) is in
``vmrestore.ui.selfcheck``; ``vmrestore.selfcheck`` runs both.
"""

from __future__ import annotations

import importlib
import platform
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import vmrestore
from vmrestore import resources


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def run_check(name: str, probe: Callable[[], str]) -> Check:
    """Run one probe; its return value is the detail, any exception makes the check fail with its text."""
    try:
        return Check(name, True, probe())
    except Exception as exc:  # a self-check reports every failure, whatever its kind
        return Check(name, False, f"{type(exc).__name__}: {exc}")


def check_resources() -> str:
    folder = resources.resources_dir()
    for area in resources.AREA_ICONS:
        resources.area_icon_path(area)
    ico = resources.app_icon_path("ico")
    if not ico.is_file():
        raise FileNotFoundError(f"{ico} is missing")
    return f"{folder} ({len(list((folder / 'icons').glob('*.svg')))} icons)"


def check_adapters() -> str:
    """The libraries the adapters load lazily (a bundle that left one out fails only when a user needs it)."""
    modules = ("pyVmomi", "dissect.hypervisor.disk.vmdk", "dissect.volume", "dissect.ntfs", "dissect.extfs",
               "dissect.fat", "dissect.xfs", "keyring", "platformdirs")
    for name in modules:
        importlib.import_module(name)
    return f"{len(modules)} libraries import"


def check_state(services: Any) -> str:
    state = services.state
    rows = state.query("SELECT COUNT(*) AS n FROM sqlite_master")
    return f"{services.paths.state_db} (schema {state.schema_version}, {rows[0]['n']} objects)"


def check_catalog(services: Any) -> str:
    repos = services.catalog.repositories()
    points = services.catalog.points()
    return f"{services.paths.catalog}: {len(repos)} repositories, {len(points)} restore points"


def library_versions() -> dict[str, str]:
    """Versions of vmrestore, Python and the libraries it is built on (bundle metadata may lack some)."""
    found: dict[str, str] = {
        "vmrestore": vmrestore.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "sqlite": sqlite3.sqlite_version,
        "frozen": str(bool(getattr(sys, "frozen", False))).lower(),
    }
    for dist in ("pyvmomi", "dissect.hypervisor", "dissect.ntfs", "keyring", "platformdirs", "qasync"):
        try:
            found[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            found[dist] = "unknown"
    try:
        import keyring

        found["keyring_backend"] = type(keyring.get_keyring()).__name__
    except Exception as exc:
        found["keyring_backend"] = f"unavailable ({type(exc).__name__})"
    return found
