"""``repo add|list|edit|remove|test``: backup repositories, through the same use cases as Settings › Repositories."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vmrestore.app.repositories import RepositoryAdmin
from vmrestore.cli.context import CliContext
from vmrestore.cli.output import emit_table, note
from vmrestore.errors import InvalidInput


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    repo = sub.add_parser("repo", help="backup repositories").add_subparsers(dest="verb", metavar="VERB")
    p = repo.add_parser("add", parents=[common], help="register a backup repository")
    p.add_argument("name")
    p.add_argument("path", help="local or UNC path as this computer sees it")
    p.add_argument("--nfs", help="HOST:/EXPORT as the ESXi hosts see it")
    p.set_defaults(func=repo_add)
    p = repo.add_parser("list", parents=[common], help="registered repositories")
    p.set_defaults(func=repo_list)
    p = repo.add_parser("edit", parents=[common], help="change a repository's path or NFS export")
    p.add_argument("name")
    p.add_argument("--path", help="new local or UNC path as this computer sees it")
    nfs = p.add_mutually_exclusive_group()
    nfs.add_argument("--nfs", help="new HOST:/EXPORT as the ESXi hosts see it")
    nfs.add_argument("--no-nfs", action="store_true", help="forget the NFS export")
    p.set_defaults(func=repo_edit)
    p = repo.add_parser("remove", parents=[common],
                        help="forget a repository and its restore points (backup files are not touched)")
    p.add_argument("name")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", action="store_true", help="say what would be forgotten, change nothing")
    mode.add_argument("--yes", action="store_true", help="remove without asking")
    p.set_defaults(func=repo_remove)
    p = repo.add_parser("test", parents=[common],
                        help="check that a folder is readable and holds restore points (changes nothing)")
    p.add_argument("path")
    p.set_defaults(func=repo_test, needs_sweep=False)
    from vmrestore.cli.commands_mount import register_repo_mount

    register_repo_mount(repo, common)


def _admin(ctx: CliContext) -> RepositoryAdmin:
    return ctx.services.repositories


def repo_add(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    repo = _admin(ctx).add(args.name, args.path, args.nfs)
    if not args.json:
        note(f"Repository {repo.name} added: {repo.path}")
    return {"name": repo.name, "path": repo.path, "nfs": repo.nfs}


def repo_list(ctx: CliContext, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows = [{"name": i.repo.name, "path": i.repo.path, "nfs": i.repo.nfs, "points": i.points}
            for i in ctx.services.catalog.repositories()]
    if not args.json:
        emit_table(rows, ["name", "path", "nfs", "points"])
    return rows


def repo_edit(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    if args.path is None and args.nfs is None and not args.no_nfs:
        raise InvalidInput("Give --path, --nfs or --no-nfs: what should change?")
    repo = _admin(ctx).edit(args.name, args.path, args.nfs, clear_nfs=args.no_nfs)
    if not args.json:
        note(f"Repository {repo.name}: {repo.path}" + (f" (NFS {repo.nfs})" if repo.nfs else ""))
    return {"name": repo.name, "path": repo.path, "nfs": repo.nfs}


def repo_remove(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    catalog = ctx.services.catalog
    repo = catalog.repository(args.name)
    points = len(catalog.points(repo=repo.name))
    plan = {"name": repo.name, "path": repo.path, "nfs": repo.nfs, "points": points}
    if args.dry_run:
        if not args.json:
            note(f"Would forget repository {repo.name} ({repo.path}) and its {points} restore point(s); "
                 "the backup files stay where they are")
        return {**plan, "removed": False, "dry_run": True}
    if not args.yes:
        if not sys.stdin.isatty():
            raise InvalidInput("Removing a repository needs --yes (or --dry-run to see what would be forgotten)")
        answer = input(f"Forget repository {repo.name} and its {points} restore point(s)? [y/N] ").strip().lower()
        if answer not in {"y", "yes"}:
            raise InvalidInput("Not removed")
    forgotten = _admin(ctx).remove(repo.name)
    if not args.json:
        note(f"Repository {repo.name} removed; {forgotten} restore point(s) forgotten, backup files untouched")
    return {**plan, "points": forgotten, "removed": True, "dry_run": False}


def repo_test(ctx: CliContext, args: argparse.Namespace) -> dict[str, Any]:
    check = _admin(ctx).test(args.path)
    if not args.json:
        note(check.message)
        for problem in check.problems:
            note(f"  {problem}")
    if not check.ok:
        ctx.exit_code = 1
    return {"path": check.path, "ok": check.ok, "readable": check.readable, "vms": check.vms,
            "points": check.points, "browsable": check.browsable, "problems": list(check.problems),
            "message": check.message}
