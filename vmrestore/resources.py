"""Where the app's resources (icons, the application icon) are, without importing Qt.

One lookup for every way vmrestore runs, so the UI never guesses paths:

1. ``VMRESTORE_RESOURCES`` (a folder), for a packager that puts them elsewhere;
2. the PyInstaller bundle: ``resources/`` beside the bundled modules (``sys._MEIPASS``, where the spec puts it);
3. the source tree or an editable install: the repository's top-level ``resources/``;
4. a wheel install: ``<prefix>/share/vmrestore/resources`` (``[tool.setuptools.data-files]`` in pyproject).

Qt-free so that the CLI (``--self-check``), the packaging tests and the installer build can find the same files.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_ICON_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)

#: Icon (file stem under ``resources/icons``) for each area of the main window.
AREA_ICONS: dict[str, str] = {
    "points": "history",
    "mounts": "hard_drive",
    "snapshots": "camera",
    "jobs": "task_list_ltr",
    "audit": "shield_task",
    "settings": "settings",
}


class ResourcesMissing(FileNotFoundError):
    """No resources folder was found: a broken install (the message says where vmrestore looked)."""


def _candidates() -> list[Path]:
    found: list[Path] = []
    override = os.environ.get("VMRESTORE_RESOURCES")
    if override:
        found.append(Path(override))
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        found.append(Path(bundle) / "resources")
    found.append(Path(__file__).resolve().parent.parent / "resources")
    found.append(Path(sys.prefix) / "share" / "vmrestore" / "resources")
    return found


def resources_dir() -> Path:
    """The resources folder in use; raises ResourcesMissing naming every place tried."""
    tried = _candidates()
    for path in tried:
        if (path / "app" / "vmrestore.svg").is_file():
            return path
    raise ResourcesMissing("vmrestore's resources folder is missing; looked in: " + ", ".join(map(str, tried)))


def icon_path(name: str) -> Path:
    """The SVG of one icon of the set (``resources/icons/<name>.svg``); raises FileNotFoundError if unknown."""
    path = resources_dir() / "icons" / f"{name}.svg"
    if not path.is_file():
        raise FileNotFoundError(f"no icon named {name!r} in {path.parent}")
    return path


def area_icon_path(area: str) -> Path:
    return icon_path(AREA_ICONS[area])


def app_icon_path(kind: str = "svg", size: int | None = None) -> Path:
    """The application icon: ``svg``, ``ico`` (16–256 px, for Windows) or ``png`` at one of APP_ICON_SIZES."""
    app = resources_dir() / "app"
    if kind == "png":
        if size not in APP_ICON_SIZES:
            raise ValueError(f"no {size} px PNG of the app icon; sizes: {APP_ICON_SIZES}")
        return app / f"vmrestore-{size}.png"
    if kind in ("svg", "ico"):
        return app / f"vmrestore.{kind}"
    raise ValueError(f"unknown icon kind {kind!r}")
