"""The damage-fuzz worker: index and browse each damaged restore point, report one JSON line per case.

Run by ``test_disks_fuzz.py`` as ``python -m tests.integration.disks.fuzz_worker CASES.json HOME`` in its own
process, with an address-space limit (unbounded memory becomes a ``MemoryError`` here, a failure there) and
a timeout per step (a hang is reported by name; the parent's own timeout catches one in C code).

Indexing is the real index job through the real use case and scheduler; the one change is that the job's
"worker process" is a thread of this process (``index_disk`` is the same function either way), so a case
costs milliseconds instead of a process start. Browsing is the catalog service the CLI's ``files ls`` and
``files extract`` call. Anything but a ``VmrestoreError`` escaping is a crash: the CLI would print a
traceback for it.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from vmrestore.app.bootstrap import AppServices, build_services
from vmrestore.app.catalog_service import CatalogService
from vmrestore.app.secrets import MemorySecretStore
from vmrestore.errors import VmrestoreError
from vmrestore.model import FileType, GuestPath, JobState

MEMORY_LIMIT = 3 * 1024**3
STEP_SECONDS = 20
MAX_ENTRIES = 400
MAX_FILES = 40


class Hang(BaseException):
    """A step ran past its time (raised by SIGALRM in the main thread)."""


def _alarm(_signum: int, _frame: Any) -> None:
    raise Hang(f"more than {STEP_SECONDS} s")


def _error(exc: VmrestoreError) -> dict[str, Any]:
    return {"code": exc.code, "exit": exc.exit_code, "message": str(exc)}


def browse(catalog: CatalogService, point_id: str, scratch: Path) -> dict[str, Any]:
    """``files ls`` every folder (bounded), ``files extract`` every file found (bounded)."""
    errors: list[dict[str, Any]] = []
    entries = files = 0
    todo = [GuestPath()]
    while todo and entries < MAX_ENTRIES:
        where = todo.pop()
        try:
            listing = catalog.list_dir(point_id, str(where))
        except VmrestoreError as exc:
            errors.append({"path": str(where), **_error(exc)})
            continue
        for entry in listing:
            entries += 1
            child = where.child(entry.name)
            if entry.type is FileType.DIR:
                todo.append(child)
            elif entry.type is FileType.FILE and files < MAX_FILES and child.is_inside_volume:
                files += 1
                try:
                    result = catalog.extract(point_id, [str(child)], str(scratch / f"f{files}"))
                    errors.extend({"path": s.path, "code": "skipped", "exit": 0, "message": s.reason}
                                  for s in result.skipped)
                except VmrestoreError as exc:
                    errors.append({"path": str(child), **_error(exc)})
    return {"entries": entries, "files": files, "errors": errors}


async def run_case(services: AppServices, case: dict[str, Any], scratch: Path) -> dict[str, Any]:
    out: dict[str, Any] = {"id": case["id"]}
    repo = services.catalog.add_repository(case["id"], case["repo"], None)
    handle = services.restore.start_index([repo])
    try:
        await asyncio.wait_for(handle.wait(), STEP_SECONDS)
    except TimeoutError:
        handle.cancel()
        out["hang"] = "index"
        return out
    out["index"] = str(handle.state)
    if handle.state is not JobState.DONE:
        cause = handle.error.__cause__ if handle.error is not None else None
        out["index_error"] = str(handle.error)
        out["crash"] = "".join(traceback.format_exception(cause)) if cause is not None else None
        return out
    out["report"] = handle.result.errors
    points = []
    for point in services.catalog.points(repo=repo.name):
        signal.alarm(STEP_SECONDS)
        try:
            seen = browse(services.catalog, point.id, scratch / point.id.replace("/", "_"))
        except Hang:
            out["hang"] = f"browse {point.id}"
            return out
        finally:
            signal.alarm(0)
        points.append({"id": point.id, "status": point.status, "browsable": point.browsable,
                       "reason": point.reason, **seen})
    out["points"] = points
    return out


async def run_all(services: AppServices, cases: list[dict[str, Any]], scratch: Path) -> None:
    for case in cases:
        try:
            out = await run_case(services, case, scratch)
        except (Exception, Hang):
            out = {"id": case["id"], "crash": traceback.format_exc()}
        print(json.dumps(out), flush=True)
    await services.scheduler.shutdown()


def main(argv: list[str]) -> int:
    cases = json.loads(Path(argv[0]).read_text())
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    signal.signal(signal.SIGALRM, _alarm)
    services = build_services(argv[1], secrets=MemorySecretStore())
    scheduler: Any = services.scheduler
    scheduler._process_pool = lambda: scheduler._threads  # the same worker function, in a thread (see above)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            asyncio.run(run_all(services, cases, Path(scratch)))
    finally:
        services.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
