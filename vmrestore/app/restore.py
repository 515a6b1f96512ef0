"""Restoring files to this computer and indexing repositories: the one use case both front ends call.

The GUI's "Restore to this computer…" and ``vmrestore files extract`` differ only in how they ask and
how they show. The rule lives here, once: the role check (before anything is asked or queued), the
audit entry (the same fields from both), and the copy as an engine job (progress and Cancel in Jobs,
one extraction per restore point at a time). The extractor writes each file under a hidden temporary
name and renames it at the end, so a cancelled or failed job never leaves a partial file under the
name the operator would open. Indexing gets the same gate in both front ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from vmrestore.app.ports import AuditTrail, JobQueue, RoleGate
from vmrestore.errors import InvalidInput
from vmrestore.model import Action, ExtractResult, GuestPath, Progress, ResourceKey

if TYPE_CHECKING:
    from vmrestore.app.catalog_index import IndexRepositoryJob
    from vmrestore.app.catalog_service import CatalogService
    from vmrestore.catalog.store import Repository
    from vmrestore.engine.jobcontext import JobContext, JobHandle

Conflict = Literal["keep_both", "overwrite", "skip"]
CONFLICTS: tuple[Conflict, ...] = ("keep_both", "overwrite", "skip")


def point_key(point_id: str) -> str:
    """The scheduler's resource key of a restore point: one extraction (or mount) of it at a time."""
    return str(ResourceKey.point(point_id))


@dataclass(frozen=True, slots=True)
class ExtractRequest:
    """Copy ``paths`` of one restore point to ``target_dir`` on this computer."""

    point_id: str
    paths: tuple[str, ...]
    target_dir: str
    conflict: Conflict = "keep_both"

    def audit_target(self) -> str:
        """``<point>:<first path> (+N more) -> <folder>``: the audit entry's target, the same from GUI and CLI."""
        more = f" (+{len(self.paths) - 1} more)" if len(self.paths) > 1 else ""
        return f"{self.point_id}:{self.paths[0]}{more} -> {self.target_dir}"


class ExtractFilesJob:
    """The copy itself, run by the scheduler: progress, Cancel, an audit entry whatever the outcome."""

    kind = "extract"

    def __init__(self, catalog: CatalogService, audit: AuditTrail, request: ExtractRequest) -> None:
        self._catalog = catalog
        self._audit = audit
        self.request = request
        count = len(request.paths)
        first = GuestPath.parse(request.paths[0])
        what = (first.name or "every disk") if count == 1 else f"{count} items"
        # Short enough for the Jobs table: the item and the restore point's folder; the log has the rest.
        self.title = f"Restore {what} from {request.point_id.rsplit('/', 1)[-1]}"
        self.resource_keys: tuple[str, ...] = (point_key(request.point_id),)

    async def run(self, ctx: JobContext) -> ExtractResult:
        def report(progress: Progress) -> None:
            ctx.progress(progress.fraction, progress.text)

        def work() -> ExtractResult:
            request = self.request
            with self._audit.audited(Action.EXTRACT, request.audit_target(), to=request.target_dir,
                                     paths=list(request.paths), conflict=request.conflict) as detail:
                result = self._catalog.extract(request.point_id, list(request.paths), request.target_dir,
                                               request.conflict, report, ctx.cancel_event)
                detail.update(files=result.files, bytes=result.bytes, renamed=len(result.renamed),
                              skipped=len(result.skipped))
            return result

        ctx.log(f"{', '.join(self.request.paths)} of {self.request.point_id} to {self.request.target_dir} "
                f"(if a file exists: {self.request.conflict.replace('_', ' ')})")
        result = await ctx.run_blocking(work)
        ctx.progress(1.0, f"{result.files} file(s) restored to {self.request.target_dir}")
        return result


class FileRestore:
    """Built once by the composition root; the GUI and the CLI hold the same instance's rules."""

    def __init__(self, catalog: CatalogService, gate: RoleGate, audit: AuditTrail, jobs: JobQueue) -> None:
        self._catalog = catalog
        self._gate = gate
        self._audit = audit
        self._jobs = jobs

    # -- extraction ------------------------------------------------------------------------------
    def check_extract(self) -> None:
        """Refuse at once (before a dialog asks anything) when the role may not extract."""
        self._gate.require(Action.EXTRACT)

    def extract_job(self, request: ExtractRequest) -> ExtractFilesJob:
        """The job for ``request``, after the role check and the checks that need no disk read."""
        self.check_extract()
        if not request.paths:
            raise InvalidInput("Name at least one file or folder to restore")
        if request.conflict not in CONFLICTS:
            raise InvalidInput(f"unknown conflict rule {request.conflict!r}")
        if not request.target_dir.strip():
            raise InvalidInput("Give the folder to restore into")
        for path in request.paths:
            GuestPath.parse(path)  # a malformed path is bad usage, said before anything is queued
        return ExtractFilesJob(self._catalog, self._audit, request)

    def start_extract(self, request: ExtractRequest) -> JobHandle:
        """Queue the copy (needs a running loop); it shows in Jobs with progress and Cancel."""
        return self._jobs.submit(self.extract_job(request))

    # -- indexing --------------------------------------------------------------------------------
    def index_job(self, repos: Sequence[Repository]) -> IndexRepositoryJob:
        """The index job for ``repos``, after the role check (the same in the GUI and the CLI)."""
        self._gate.require(Action.INDEX)
        if not repos:
            raise InvalidInput("There is no repository to index: add one with 'vmrestore repo add'")
        return self._catalog.index_job(list(repos))

    def start_index(self, repos: Sequence[Repository]) -> JobHandle:
        return self._jobs.submit(self.index_job(repos))
