"""``mount start|copy|list|extend|stop``, ``files push``, ``repo mount|unmount`` and ``sweep --expired``.

File restore into a VM from the command line, through the same use cases as the "Restore into VM"
wizard and the Mounted page (app/hotadd.py, app/hotadd_session.py, app/guest_push.py, app/repo_mount.py).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vmrestore.cli.context import CliContext
from vmrestore.cli.jobrun import run_job
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput, VmrestoreError
from vmrestore.model import GuestCredentials

# The use cases (and pyVmomi under them) load when a mount command runs, not for every CLI start.
if TYPE_CHECKING:
    from vmrestore.app.hotadd import HotAdd, MountSession
    from vmrestore.app.hotadd_session import HotAddSessions


def _guest_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--guest-user", help="guest OS user (env VMRESTORE_GUEST_USERNAME); the password is asked")
    p.add_argument("--save", action="store_true", help="save the guest password in the OS keyring")


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    mount = sub.add_parser("mount", help="hot-add a backed-up disk to a running VM").add_subparsers(
        dest="verb", metavar="VERB")
    p = mount.add_parser("start", parents=[common], help="hot-add a restore point's disk and give it a letter")
    p.add_argument("point")
    p.add_argument("--vm", required=True, help="the target VM (default in the GUI: the original)")
    p.add_argument("--disk", type=int, default=0, help="which disk of the restore point (0 = first)")
    p.add_argument("--letter", help="drive letter in the guest (D-Z); default: the next free one")
    p.add_argument("--ttl", help="lease, e.g. 4h (default: Settings, 4 h)")
    p.add_argument("--writable", action="store_true", help="leave the volume writable in the guest")
    _guest_options(p)
    p.set_defaults(func=mount_start)
    p = mount.add_parser("copy", parents=[common], help="copy from the mounted disk to a folder in the guest")
    p.add_argument("session")
    p.add_argument("paths", nargs="+", help="/diskN/volM/... of the point, or R:\\... on the mounted letter")
    p.add_argument("--dest", required=True, help="folder in the guest, e.g. C:\\Restore")
    p.add_argument("--copy-all", action="store_true", help="robocopy /COPYALL /B (ACLs, owner; needs backup rights)")
    _guest_options(p)
    p.set_defaults(func=mount_copy)
    p = mount.add_parser("list", parents=[common], help="live mount sessions")
    p.add_argument("--all", action="store_true",
                   help="also stopped ones, and with a shared catalog other workstations' live ones")
    p.set_defaults(func=mount_list)
    p = mount.add_parser("extend", parents=[common], help="extend a session's lease")
    p.add_argument("session")
    p.add_argument("--ttl", required=True, help="new lease from now, e.g. 2h")
    p.set_defaults(func=mount_extend)
    p = mount.add_parser("stop", parents=[common], help="offline in the guest, detach, unmount")
    p.add_argument("session")
    p.add_argument("--yes", action="store_true", help="stop without asking")
    p.add_argument("--dry-run", action="store_true", help="say what would be removed")
    _guest_options(p)
    p.set_defaults(func=mount_stop)


def register_files_push(files: argparse._SubParsersAction[argparse.ArgumentParser],
                        common: argparse.ArgumentParser) -> None:
    p = files.add_parser("push", parents=[common], help="copy files into a running VM (any backup format)")
    p.add_argument("point")
    p.add_argument("paths", nargs="+")
    p.add_argument("--vm", required=True)
    p.add_argument("--dest", required=True, help="folder in the guest, e.g. C:\\Restore")
    p.add_argument("--if-exists", choices=["keep-both", "overwrite", "skip"], default="keep-both")
    _guest_options(p)
    p.set_defaults(func=files_push)


def register_repo_mount(repo: argparse._SubParsersAction[argparse.ArgumentParser],
                        common: argparse.ArgumentParser) -> None:
    for verb, func, text in (("mount", repo_mount, "admin: mount the repository's NFS export on a host (read-only)"),
                             ("unmount", repo_unmount, "admin: unmount it from the host")):
        p = repo.add_parser(verb, parents=[common], help=text)
        p.add_argument("name")
        p.add_argument("--host", required=True)
        p.set_defaults(func=func)


# ---------------------------------------------------------------------------------------------- wiring


def _hotadd(ctx: CliContext) -> HotAdd:
    from vmrestore.app.hotadd import HotAdd

    s = ctx.services
    return HotAdd(s.connection, s.catalog, s.leases, s, s, s.paths.home)


def _sessions(ctx: CliContext) -> HotAddSessions:
    from vmrestore.app.hotadd_session import HotAddSessions

    return HotAddSessions(_hotadd(ctx))


def _ttl(text: str) -> timedelta:
    from vmrestore.app.hotadd_session import parse_ttl

    return parse_ttl(text)


def _creds(ctx: CliContext, args: argparse.Namespace) -> GuestCredentials:
    from vmrestore.app.guest_credentials import resolve_guest_credentials

    def prompt(user: str) -> str:
        if not sys.stdin.isatty():
            return ""
        return getpass.getpass(f"Guest password for {user}: ")

    identity = ctx.services.connection.identity
    return resolve_guest_credentials(ctx.services.secrets, identity.server if identity else "vcenter",
                                     args.guest_user, prompt, save=args.save)


def _creds_if_available(ctx: CliContext, args: argparse.Namespace) -> GuestCredentials | None:
    try:
        return _creds(ctx, args)
    except InvalidInput:
        return None


def _session_json(m: MountSession) -> dict[str, Any]:
    return {"session": m.session, "vm": m.vm, "letter": m.letter, "point": m.point, "user": m.user,
            "workstation": m.workstation, "expires": m.expires, "state": m.state, "disk": m.disk,
            "datastore": m.datastore, "owner": m.creator.as_dict() if m.creator else None}


# ------------------------------------------------------------------------------------------- commands


def mount_start(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ttl = _ttl(args.ttl) if args.ttl else timedelta(hours=ctx.services.settings.default_lease_hours)
    from vmrestore.app.hotadd import MountStartRequest

    request = MountStartRequest(point=args.point, vm=args.vm, disk=args.disk, letter=args.letter, ttl=ttl,
                                writable=args.writable)
    hotadd = _hotadd(ctx)
    ctx.connect()
    job = hotadd.start(request, _creds(ctx, args))
    m: MountSession = run_job(ctx.services.scheduler, job, quiet=args.json)
    if not args.json:
        note(f"Mounted {m.point} disk{m.disk} in {m.vm} as {m.letter + ':' if m.letter else 'a new drive'}; "
             f"session {m.session}, lease until {m.expires:%Y-%m-%d %H:%M} UTC")
    return {"session": m.session, "vm": m.vm, "letter": m.letter, "datastore": m.datastore, "expires": m.expires}


def mount_copy(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ctx.connect()
    job = _sessions(ctx).copy(args.session, args.paths, args.dest, _creds(ctx, args), args.copy_all)
    r = run_job(ctx.services.scheduler, job, quiet=args.json)
    if not args.json:
        if r.files is None:
            note(f"Copied (robocopy exit code {r.exit_code}); its summary could not be fetched from the host")
        else:
            note(f"{r.files} file(s), {r.bytes} bytes copied; {r.skipped} skipped, {r.failed} failed")
    return {"files": r.files, "bytes": r.bytes, "skipped": r.skipped, "failed": r.failed,
            "exit_code": r.exit_code, "report_available": r.report_available}


def mount_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    use = _sessions(ctx)
    sessions = use.sessions(include_stopped=args.all)
    if args.all:
        # With a shared catalog: colleagues' live mounts too (their workstation and process in "owner").
        sessions += use.colleagues()
    rows = [_session_json(m) for m in sessions]
    if not args.json:
        emit_table(rows, ["session", "vm", "letter", "point", "user", "workstation", "expires", "state"])
    return rows


def mount_extend(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    m = _sessions(ctx).extend(args.session, _ttl(args.ttl))
    if not args.json:
        note(f"Session {m.session} now ends at {m.expires:%Y-%m-%d %H:%M} UTC")
    return _session_json(m)


def mount_stop(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    sessions = _sessions(ctx)
    lease = ctx.services.leases.get(args.session)
    d = lease.data
    plan = {"session": lease.id, "vm": d.get("vm_name"), "letter": d.get("letter"), "detach": d.get("delta"),
            "unmount": d.get("datastore") if d.get("datastore_created") else None}
    if args.dry_run:
        if not args.json:
            note(f"Would take {d.get('letter')}: offline in {d.get('vm_name')}, detach {d.get('delta')}"
                 + (f", unmount {d.get('datastore')} if unused" if plan["unmount"] else ""))
        return {"plan": plan}
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput("mount stop removes the disk from the VM: add --yes (or --dry-run)")
        answer = input(f"Unmount {d.get('letter')}: from {d.get('vm_name')} (session {lease.id})? [y/N] ")
        if answer.strip().lower() not in {"y", "yes"}:
            raise VmrestoreError("Not stopped")
    ctx.connect()
    job = sessions.stop(args.session, _creds_if_available(ctx, args))
    r = run_job(ctx.services.scheduler, job, quiet=args.json)
    if not args.json:
        note(f"Session {r.session} stopped" + (f"; {d.get('datastore')} unmounted" if r.unmounted else ""))
    return {"session": r.session, "state": "stopped", "detached": r.detached, "unmounted": r.unmounted,
            "guest_offline": r.guest_offline}


def files_push(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    ctx.connect()
    from vmrestore.app.guest_push import FilesPush

    job = FilesPush(_hotadd(ctx), ctx.services.catalog).push(args.point, args.paths, args.vm, args.dest,
                                                              _creds(ctx, args), args.if_exists)
    r = run_job(ctx.services.scheduler, job, quiet=args.json)
    if not args.json:
        note(f"{r.files} file(s), {r.bytes} bytes copied into {args.vm}:{args.dest}")
        for s in r.skipped:
            note(f"  skipped {s['path']}: {s['reason']}")
        for f in r.failed:
            note(f"  FAILED {f['path']}: {f['reason']}")
    if r.failed:
        ctx.exit_code = 1
    return {"files": r.files, "bytes": r.bytes, "skipped": r.skipped, "failed": r.failed}


def repo_mount(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.app.repo_mount import RepoMount

    s = ctx.services
    ctx.connect()
    r = RepoMount(s.connection, s.catalog, s, s).mount(args.name, args.host)
    if not args.json:
        note(f"{args.name} is mounted on {r.host} as {r.datastore}" + ("" if r.changed else " (already)"))
    return {"datastore": r.datastore, "host": r.host, "export": r.export}


def repo_unmount(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    from vmrestore.app.repo_mount import RepoMount

    s = ctx.services
    ctx.connect()
    r = RepoMount(s.connection, s.catalog, s, s).unmount(args.name, args.host)
    if not args.json:
        note(f"{args.name} unmounted from {r.host}" if r.changed else f"{args.name} was not mounted on {r.host}")
    return {"datastore": r.datastore, "host": r.host, "export": r.export}


def sweep_expired(ctx: CliContext) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], str]]]:
    """Stop every mount whose lease ended (guest offline only when guest credentials are in the env)."""
    sessions = _sessions(ctx)
    expired = sessions.expired()
    done: list[dict[str, Any]] = []
    failed: list[tuple[dict[str, Any], str]] = []
    if not expired:
        return done, failed
    ctx.connect()
    creds = _creds_if_available(ctx, argparse.Namespace(guest_user=None, save=False))
    scheduler = ctx.services.scheduler

    async def stop_all() -> None:
        try:
            for lease in expired:
                item = {"id": lease.id, "kind": "lease.mount", "resource": f"vm:{lease.data.get('vm')}",
                        "job_id": "", "created": lease.created, "undo": {"session": lease.id}}
                try:
                    handle = scheduler.submit(sessions.stop(lease.id, creds, reason="expired"))
                    await handle.wait()
                except VmrestoreError as exc:
                    failed.append((item, str(exc)))
                    continue
                if handle.error is not None:
                    failed.append((item, str(handle.error)))
                else:
                    done.append(item)
        finally:
            await scheduler.shutdown()

    import asyncio  # here: ``files``, ``repo`` and ``mount`` load this module to register verbs (issue 13 §6)

    asyncio.run(stop_all())
    return done, failed
