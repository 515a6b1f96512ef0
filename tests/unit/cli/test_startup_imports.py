"""What a read-only command loads (issue 13 §6: ``points list`` under 0.2 s): not the job engine, not asyncio,
not another command's modules. A new process each, so the test sees exactly what the command imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_PROBE = """
import json, sys
from vmrestore.__main__ import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""

# Heavy and not needed to list restore points: the scheduler (asyncio, process pools), TLS, pyVmomi, dissect,
# the keyring, PostgreSQL, the snapshot and mount stacks, and the use cases the command does not call.
NOT_LOADED = ("asyncio", "ssl", "multiprocessing", "concurrent.futures", "pyVmomi", "dissect", "keyring",
              "psycopg", "PySide6", "vmrestore.engine.jobs", "vmrestore.engine.jobcontext",
              "vmrestore.app.snapshots", "vmrestore.cli.commands_snapshots", "vmrestore.app.repositories",
              "vmrestore.app.settings_edit", "vmrestore.app.catalog_migrate", "vmrestore.catalog.layout")


def _modules(tmp_path: Path, *argv: str, code: int = 0) -> set[str]:
    env = {**os.environ, "VMRESTORE_HOME": str(tmp_path / "home")}
    env.pop("VMRESTORE_CATALOG", None)
    proc = subprocess.run([sys.executable, "-c", _PROBE, *argv], env=env, capture_output=True, text=True,
                          check=False, timeout=120)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    assert report["code"] == code, proc.stderr
    return set(report["modules"])


@pytest.mark.parametrize("argv", [("points", "list", "--json"), ("files", "search", "x", "--json")])
def test_read_only_command_loads_no_engine_or_adapter(tmp_path: Path, argv: tuple[str, ...]) -> None:
    loaded = _modules(tmp_path, *argv)
    assert "vmrestore.catalog.sqlite_store" in loaded  # it did read the catalog
    heavy = sorted(m for m in loaded if any(m == n or m.startswith(n + ".") for n in NOT_LOADED))
    assert heavy == []


def test_a_job_command_still_builds_the_scheduler(tmp_path: Path) -> None:
    """The lazy scheduler is built when a command runs a job (``catalog index``; with no repository the job
    refuses to start, exit 2, after the scheduler was built)."""
    loaded = _modules(tmp_path, "catalog", "index", "--json", code=2)
    assert {"asyncio", "vmrestore.engine.jobs"} <= loaded
