"""``vmrestore --self-check``: does this installation start? (Qt offscreen, state, catalog, libraries.)

A second small composition root beside ``__main__``: it builds the services once, runs the app layer's
Qt-free checks and the UI's main-window check over them, and prints the result (``{"ok","checks":[...],
"versions":{...}}`` with ``--json``). Exit code 0 when every check passed, 1 otherwise. The installer, an admin
after an upgrade and CI (against the PyInstaller bundle) run it.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from typing import Any

from vmrestore.app.selfcheck import (
    Check,
    check_adapters,
    check_catalog,
    check_resources,
    check_state,
    library_versions,
    run_check,
)


def self_check() -> tuple[list[Check], dict[str, str]]:
    checks = [run_check("resources", check_resources), run_check("libraries", check_adapters)]
    versions = library_versions()
    services: Any = None
    try:
        from vmrestore.app.bootstrap import build_services

        services = build_services()
        checks.append(Check("services", True, f"home {services.paths.home}"))
    except Exception as exc:
        checks.append(Check("services", False, f"{type(exc).__name__}: {exc}"))
    if services is not None:
        try:
            checks.append(run_check("state", lambda: check_state(services)))
            checks.append(run_check("catalog", lambda: check_catalog(services)))
            checks.append(run_check("qt", lambda: _qt_check(versions)))
            checks.append(run_check("main_window", lambda: _window_check(services)))
        finally:
            services.close()
    return checks, versions


def _qt_check(versions: dict[str, str]) -> str:
    from vmrestore.ui.selfcheck import qt_versions

    found = qt_versions()
    versions.update(found)
    return f"Qt {found['qt']}, PySide6 {found['pyside6']}"


def _window_check(services: Any) -> str:
    from vmrestore.ui.selfcheck import check_main_window

    return check_main_window(services)


def main(as_json: bool) -> int:
    checks, versions = self_check()
    ok = all(check.ok for check in checks)
    if as_json:
        json.dump({"ok": ok, "checks": [asdict(c) for c in checks], "versions": versions}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for check in checks:
            print(f"{'ok  ' if check.ok else 'FAIL'} {check.name}: {check.detail}")
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        print("self-check passed" if ok else "self-check FAILED")
    sys.stdout.flush()
    return 0 if ok else 1
