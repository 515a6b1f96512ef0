"""File restore into a VM, the session verbs: list, extend, copy (robocopy in the guest), stop, expire.

``stop`` journals the lease's objects again before removing them (``LeaseStore.begin_stop``), so a
crash mid-stop is finished by the ordinary sweep: offline in the guest (best effort, needs guest
credentials), detach destroying only our delta, unmount the repository when vmrestore mounted it and
nothing uses it any more.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from vmrestore.app.guest_runner import run_script
from vmrestore.app.guest_scripts import (
    LINUX_COPY,
    LINUX_UNMOUNT,
    WINDOWS_COPY,
    WINDOWS_UNMOUNT,
    check_guest_dir,
    parse_robocopy,
    robocopy_failed,
)
from vmrestore.app.hotadd import LEASE_KIND, HotAdd, MountSession, session_of
from vmrestore.app.mount import AUTO_DATASTORE, detach_delta, unmount_nas_if_unused
from vmrestore.app.undo import DISK_ATTACHED, NAS_MOUNTED
from vmrestore.app.vm_lock import vm_locked
from vmrestore.engine.jobcontext import JobContext
from vmrestore.engine.leases import ACTIVE, STOPPING, Lease
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import Action, GuestCredentials, GuestPath, ResourceKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CopyResult:
    files: int | None  # None: robocopy's summary could not be fetched (the exit code still decided)
    bytes: int | None
    skipped: int | None
    failed: int | None
    exit_code: int
    report_available: bool


@dataclass(frozen=True, slots=True)
class StopResult:
    session: str
    detached: bool
    unmounted: bool
    guest_offline: bool | None  # None: not attempted (no guest credentials)


def parse_ttl(text: str) -> timedelta:
    """``4h``, ``90m``, ``2h30m``, ``45s``, ``1d`` → timedelta."""
    m = re.fullmatch(r"\s*(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*", text or "")
    if not text or not m or not any(m.groups()):
        raise InvalidInput(f"A lease time looks like 4h, 90m or 2h30m, not {text!r}")
    d, h, mi, s = (int(g or 0) for g in m.groups())
    ttl = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    if ttl <= timedelta(0):
        raise InvalidInput("A lease time must be longer than zero")
    return ttl


def guest_source(lease: Lease, path: str) -> str:
    """A path to copy, relative to the mounted volume, from a point path or a path on the mounted letter."""
    data = lease.data
    letter = data.get("letter")
    if re.match(r"^[A-Za-z]:[\\/]", path):
        if not letter or path[0].upper() != str(letter).upper():
            raise InvalidInput(f"{path} is not on the mounted letter {letter or '(unknown)'}:")
        rel = path[3:]
    else:
        where = GuestPath.parse(path)
        if where.disk != data.get("disk") or where.volume != data.get("volume"):
            raise InvalidInput(f"{path}: only /disk{data.get('disk')}/vol{data.get('volume')}/... is mounted in "
                               f"this session")
        rel = where.path.strip("/")
    rel = rel.replace("/", "\\") if not data.get("linux") else rel.replace("\\", "/")
    parts = re.split(r"[\\/]", rel)
    if not rel or ".." in parts or any(c in rel for c in '\0\r\n"'):
        raise InvalidInput(f"Not a path to copy: {path!r}")
    return rel


class HotAddSessions:
    """``mount list|extend|copy|stop`` and ``sweep --expired`` over the leases of ``HotAdd``."""

    def __init__(self, hotadd: HotAdd) -> None:
        self.h = hotadd

    def sessions(self, *, include_stopped: bool = False) -> list[MountSession]:
        return [session_of(lease) for lease in self.h.leases.list_leases(LEASE_KIND, include_stopped=include_stopped)]

    def colleagues(self) -> list[MountSession]:
        """Other workstations' live mounts on a shared catalog (none without one): ``mount list --all`` and the
        Mounted page show them with their owner; they are extended, copied from and unmounted on that desk."""
        return [session_of(lease, colleague=True) for lease in self.h.leases.colleagues(LEASE_KIND)]

    def extend(self, session_id: str, ttl: timedelta) -> MountSession:
        self.h.gate.require(Action.MOUNT)
        with self.h.audit.audited(Action.MOUNT, session_id, verb="extend", ttl_seconds=int(ttl.total_seconds())):
            lease = self.h.leases.extend(session_id, ttl)
        return session_of(lease)

    def expired(self, now: datetime | None = None) -> list[Lease]:
        now = now or datetime.now(UTC)
        leases = self.h.leases.list_leases(LEASE_KIND)
        return [lease for lease in leases if lease.state == ACTIVE and lease.expired(now)]

    def copy(self, session_id: str, paths: list[str], dest: str, creds: GuestCredentials,
             copy_all: bool = False) -> GuestCopyJob:
        self.h.gate.require(Action.FILE_RESTORE)
        lease = self.h.leases.get(session_id)
        if lease.state != ACTIVE:
            raise InvalidInput(f"Mount session {session_id} is {lease.state}")
        if not paths:
            raise InvalidInput("Name at least one file or folder to copy")
        sources = [guest_source(lease, p) for p in paths]
        return GuestCopyJob(self.h, lease, sources, check_guest_dir(dest), creds, copy_all)

    def stop(self, session_id: str, creds: GuestCredentials | None, *, reason: str = "stop") -> MountStopJob:
        self.h.gate.require(Action.MOUNT)
        lease = self.h.leases.get(session_id)
        if lease.state not in (ACTIVE, STOPPING):
            raise InvalidInput(f"Mount session {session_id} is already {lease.state}")
        return MountStopJob(self.h, lease, creds, reason)


class GuestCopyJob:
    kind = "guest_copy"

    def __init__(self, h: HotAdd, lease: Lease, sources: list[str], dest: str, creds: GuestCredentials,
                 copy_all: bool) -> None:
        self._h, self.lease, self.sources, self.dest, self._creds = h, lease, sources, dest, creds
        self.copy_all = copy_all
        self.title = f"Copy {len(sources)} item(s) to {dest} in {lease.data.get('vm_name')}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(str(lease.data.get('vm_name')))),)

    async def run(self, ctx: JobContext) -> CopyResult:
        d = self.lease.data
        # Never while another process (or desk) mounts onto, copies into or unmounts from this VM.
        async with vm_locked(ctx, self._h.lock_home, str(self._h.connection.session.server), str(d["vm"]),
                             str(d.get("vm_name") or d["vm"])):
            return await self._copy(ctx, d)

    async def _copy(self, ctx: JobContext, d: dict[str, Any]) -> CopyResult:
        with self._h.audit.audited(Action.FILE_RESTORE, f"{self.lease.id} -> {d.get('vm_name')}:{self.dest}",
                                   sources=len(self.sources)) as detail:
            letter = str(d.get("letter") or "")
            env = {"VMR_LETTER": letter.lower() if d.get("linux") else letter, "VMR_DEST": self.dest,
                   "VMR_SRC_COUNT": str(len(self.sources)), "VMR_COPYALL": "1" if self.copy_all else "0"}
            env.update({f"VMR_SRC_{i}": s for i, s in enumerate(self.sources)})
            linux = bool(d.get("linux"))
            ctx.progress(0.1, f"Copying inside {d.get('vm_name')} to {self.dest}")
            run = await ctx.run_blocking(run_script, self._h.connection.session, str(d["vm"]), self._creds,
                                         LINUX_COPY if linux else WINDOWS_COPY, not linux, env)
            for line in (run.report or "").splitlines():
                if line.strip():
                    ctx.log(line)
            summary = parse_robocopy(run.report) if not linux else None
            failed = robocopy_failed(run.exit_code) if not linux else run.exit_code != 0
            result = CopyResult(
                files=summary.copied if summary else None, bytes=summary.bytes if summary else None,
                skipped=summary.skipped if summary else None, failed=summary.failed if summary else None,
                exit_code=run.exit_code, report_available=run.report is not None)
            detail.update(files=result.files, bytes=result.bytes, failed=result.failed, exit_code=run.exit_code)
            if failed:
                raise VmrestoreError(
                    f"The copy in the guest failed (robocopy exit code {run.exit_code}"
                    + (f", {summary.failed} file(s) failed" if summary else "") + ")")
            ctx.progress(1.0, f"Copied {result.files if result.files is not None else 'the'} file(s) to {self.dest}")
        return result


class MountStopJob:
    kind = "unmount"

    def __init__(self, h: HotAdd, lease: Lease, creds: GuestCredentials | None, reason: str) -> None:
        self._h, self.lease, self._creds, self.reason = h, lease, creds, reason
        self.title = f"Unmount session {lease.id} from {lease.data.get('vm_name')}"
        self.resource_keys: tuple[str, ...] = (str(ResourceKey.vm(str(lease.data.get('vm_name')))),)

    async def run(self, ctx: JobContext) -> StopResult:
        h, d = self._h, self.lease.data
        session = h.connection.session
        vm, delta, host, datastore = str(d["vm"]), str(d["delta"]), str(d["host"]), str(d["datastore"])
        unmount = bool(d.get("datastore_created")) or bool(AUTO_DATASTORE.match(datastore))
        # Never while another process (or desk) mounts onto or unmounts from this VM.
        async with vm_locked(ctx, h.lock_home, str(session.server), vm, str(d.get("vm_name") or vm)):
            with h.audit.audited(Action.MOUNT, f"{self.lease.id} {d.get('vm_name')}", verb=self.reason) as detail:
                # Journal order = creation order (the datastore before the disk on it): the sweep undoes
                # newest first, so after a crash the disk goes before the datastore it hangs from.
                objects: list[tuple[str, str, dict[str, Any]]] = []
                if unmount:
                    objects.append((NAS_MOUNTED, str(ResourceKey.host(host)), {"host": host, "name": datastore,
                                                                  "only_if_unused": True}))
                objects.append((DISK_ATTACHED, str(ResourceKey.vm(vm)), {"vm": vm, "file": delta}))
                ids = await ctx.run_blocking(h.leases.begin_stop, self.lease, ctx.journal, ctx.job_id, objects)
                entries = dict(zip((kind for kind, _, _ in objects), ids, strict=True))
                offline: bool | None = None
                if self._creds is not None:
                    ctx.progress(0.1, "Taking the volume offline in the guest")
                    linux = bool(d.get("linux"))
                    env = {"VMR_SCSI_TARGET": str(d.get("scsi_target")), "VMR_SIZE": str(d.get("capacity")),
                           "VMR_LETTER": str(d.get("letter") or "").lower() if linux else str(d.get("letter") or "")}
                    try:
                        run = await ctx.run_blocking(run_script, session, vm, self._creds,
                                                     LINUX_UNMOUNT if linux else WINDOWS_UNMOUNT, not linux, env)
                        offline = run.exit_code == 0
                    except VmrestoreError as exc:  # the detach below removes the disk anyway
                        ctx.log(f"could not take the volume offline in the guest: {exc}")
                        offline = False
                ctx.progress(0.4, "Detaching the disk (only our delta file is deleted)")
                await detach_delta(ctx, session, vm, delta, entries[DISK_ATTACHED])
                unmounted = False
                if unmount:
                    ctx.progress(0.7, f"Unmounting {datastore} if nothing else uses it")
                    unmounted = await unmount_nas_if_unused(ctx, session, host, datastore, entries[NAS_MOUNTED])
                await ctx.run_blocking(h.leases.finish_stop, self.lease.id)
                detail.update(unmounted=unmounted, guest_offline=offline)
                ctx.progress(1.0, "Unmounted")
        return StopResult(self.lease.id, True, unmounted, offline)
