"""Use case: copy this workstation's catalog into a shared PostgreSQL catalog (issue 12).

The GUI (Settings › Catalog) and ``vmrestore catalog migrate --to postgresql://…`` both come here: the
role gate (admin only: it decides where the team's index lives), one audit entry with the counts, and the
copy as an engine job with progress and cancel (``catalog.migrate``; a cancel leaves the target as it was).
The password in the URL never reaches the job title, the audit entry or a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.catalog import display_url, is_server_url
from vmrestore.errors import InvalidInput
from vmrestore.model import Action

if TYPE_CHECKING:
    from vmrestore.engine.jobcontext import JobContext


@dataclass(frozen=True, slots=True)
class MigrationResult:
    points: int
    entries: int
    target: str  # display form, without the password


class MigrateCatalogJob:
    kind = "catalog.migrate"
    resource_keys: tuple[str, ...] = ()

    def __init__(self, source: str, target_url: str, audit: AuditTrail) -> None:
        self._source = source
        self._target = target_url
        self._audit = audit
        self.title = f"Copy the catalog to {display_url(target_url)}"

    async def run(self, ctx: JobContext) -> MigrationResult:
        from vmrestore.catalog.migrate import migrate_sqlite_to_postgres  # psycopg: only when it runs

        shown = display_url(self._target)
        with self._audit.audited(Action.CATALOG_MIGRATE, shown, source=self._source) as detail:
            report = await ctx.run_blocking(
                migrate_sqlite_to_postgres, self._source, self._target, ctx.progress, ctx.cancel_event)
            detail.update(points=report.points, entries=report.entries)
        return MigrationResult(points=report.points, entries=report.entries, target=shown)


@dataclass(frozen=True, slots=True)
class MigrationPlan:
    """What "Migrate this catalog to the shared server…" shows before it copies anything."""

    source: str
    points: int
    entries: int


class MigrateCatalog:
    """Checks the role and the two locations, then hands out the job to run."""

    def __init__(self, gate: RoleGate, audit: AuditTrail, source: str) -> None:
        self._gate = gate
        self._audit = audit
        self._source = source

    @property
    def local(self) -> bool:
        """True when this workstation's catalog is a local file (something to migrate)."""
        return not is_server_url(self._source)

    def plan(self) -> MigrationPlan:
        """Blocking (an executor): the points and entries the copy would take, read from the local file."""
        from vmrestore.catalog.migrate import source_counts

        if not self.local:
            raise InvalidInput("This workstation already uses a shared PostgreSQL catalog: nothing local to copy")
        points, entries = source_counts(self._source)
        return MigrationPlan(self._source, points, entries)

    def job(self, target_url: str) -> MigrateCatalogJob:
        self._gate.require(Action.CATALOG_MIGRATE)
        if not is_server_url(target_url):
            raise InvalidInput(f"--to must be a postgresql:// URL, not {display_url(target_url)!r}")
        if is_server_url(self._source):
            raise InvalidInput("This workstation already uses a shared PostgreSQL catalog: nothing local to copy")
        return MigrateCatalogJob(self._source, target_url, self._audit)
