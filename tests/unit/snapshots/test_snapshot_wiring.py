"""The snapshot use cases are built once, by the composition root, from narrow ports."""

from __future__ import annotations

import inspect
from pathlib import Path

from vmrestore.app.bootstrap import build_services
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.app.snapshots import cleanup, scan


def test_built_once_and_shared_by_every_front_end(tmp_path: Path) -> None:
    services = build_services(str(tmp_path / "home"), secrets=MemorySecretStore())
    try:
        uses = services.snapshots
        assert uses is services.snapshots  # one instance, not one per call
        assert uses.cleanup.scanner is uses.scan and uses.orphans.scanner is uses.scan
        # Each port is the real piece the composition root owns, not the bag of services.
        assert uses.cleanup.connection is services.connection and uses.cleanup.jobs is services.scheduler
        assert uses.cleanup.settings is services.settings and uses.cleanup.lock_home == services.paths.home
        assert uses.scan.connection is services.connection
    finally:
        services.close()


def test_use_cases_name_their_ports_and_never_the_services_bag() -> None:
    for cls in (scan.ScanSnapshots, cleanup.CleanupSnapshots):
        params = inspect.signature(cls).parameters
        assert "services" not in params
        assert all(p.annotation != "Any" for p in params.values()), cls
    source = inspect.getsource(cleanup) + inspect.getsource(scan)
    assert "getattr(" not in source and "hasattr(" not in source
