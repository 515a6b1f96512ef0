"""Backup repositories as an admin manages them: test a folder, add, edit, remove.

One use case per action, shared by the Settings dialog, the first-run page and ``vmrestore repo
add|edit|remove|test``: each owns its role check and its audit entry, so the two front ends cannot
drift. Every method blocks (it lists folders, possibly on a share): the GUI calls it from an executor.

"Test" never writes anything: it lists the folder and runs the same discovery as indexing, and says in
words what it found (how many VMs and restore points, how many cannot be opened and why).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from vmrestore.app.ports import AuditTrail, RoleGate
from vmrestore.catalog.layout import discover
from vmrestore.catalog.store import Repository
from vmrestore.errors import InvalidInput, NotFound
from vmrestore.model import Action

__all__ = ["RepositoryAdmin", "RepositoryCheck", "parse_nfs", "validate_name"]

# "host:/export" or "host:/export/sub" as ESXi's CreateNasDatastore takes them (remoteHost, remotePath).
_NFS = re.compile(r"^(?P<host>[A-Za-z0-9._\-\[\]:]+?):(?P<path>/\S*)$")


class RepositoryCatalog(Protocol):
    """What these use cases need of ``CatalogService``."""

    def add_repository(self, name: str, path: str, nfs: str | None) -> Repository: ...

    def repository(self, name: str) -> Repository: ...

    def list_repository_names(self) -> list[str]: ...

    def remove_repository(self, name: str) -> int: ...


@dataclass(frozen=True, slots=True)
class RepositoryCheck:
    """What ``test`` found in a folder; ``ok`` means it is readable and holds at least one restore point."""

    path: str
    readable: bool
    vms: int
    points: int
    browsable: int
    problems: tuple[str, ...]  # "web01-2024-...: the .vmx is missing" (first few)
    message: str  # one sentence for the operator

    @property
    def ok(self) -> bool:
        return self.readable and self.points > 0


def validate_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("Give the repository a name, e.g. “nas01-backups”.")
    if "/" in name or "\\" in name:
        raise InvalidInput(f"A repository name cannot contain slashes: {name!r}")
    if len(name) > 64:
        raise InvalidInput("A repository name can be at most 64 characters long.")
    return name


def parse_nfs(text: str | None) -> str | None:
    """``None`` for empty; ``host:/export`` checked and returned stripped."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    if not _NFS.match(value):
        raise InvalidInput(
            f"The NFS export must look like host:/export (as the ESXi hosts see it), e.g. "
            f"nas01.corp.example:/volume1/backups; got {value!r}.")
    return value


def check_folder(path: str) -> RepositoryCheck:
    """Is ``path`` a readable folder that holds restore points? Never raises for what it finds."""
    shown = path.strip()
    if not shown:
        return RepositoryCheck(path, False, 0, 0, 0, (), "Give the folder that holds the backups.")
    folder = Path(os.path.expandvars(os.path.expanduser(shown)))
    if not folder.exists():
        return RepositoryCheck(shown, False, 0, 0, 0, (),
                               f"{shown} does not exist or cannot be reached from this computer.")
    if not folder.is_dir():
        return RepositoryCheck(shown, False, 0, 0, 0, (), f"{shown} is a file, not a folder.")
    try:
        points = discover(folder, "test")
    except PermissionError:
        return RepositoryCheck(shown, False, 0, 0, 0, (),
                               f"This account may not read {shown}: ask for read access to the share.")
    except OSError as exc:
        return RepositoryCheck(shown, False, 0, 0, 0, (), f"{shown} cannot be read: {exc.strerror or exc}.")
    vms = {p.vm for p in points}
    browsable = sum(1 for p in points if p.browsable)
    problems = tuple(f"{p.vm} {p.created:%Y-%m-%d %H:%M}: {p.reason}" for p in points
                     if not p.browsable and p.reason)[:5]
    if not points:
        message = (f"{shown} is readable but holds no restore points (expected <VM>/<VM>-YYYY-MM-DD_HH-MM-SS "
                   "folders as ghettoVCB writes them).")
    else:
        message = f"Readable: {len(points)} restore point(s) of {len(vms)} VM(s)"
        unusable = len(points) - browsable
        message += f", {unusable} cannot be browsed." if unusable else ", all can be browsed."
    return RepositoryCheck(shown, True, len(vms), len(points), browsable, problems, message)


class RepositoryAdmin:
    """Add, edit, remove and test backup repositories (admin only, audited)."""

    def __init__(self, catalog: RepositoryCatalog, gate: RoleGate, audit: AuditTrail) -> None:
        self._catalog = catalog
        self._gate = gate
        self._audit = audit

    def test(self, path: str) -> RepositoryCheck:
        """Read-only: allowed to every role (it only lists a folder)."""
        return check_folder(path)

    def add(self, name: str, path: str, nfs: str | None = None) -> Repository:
        name, nfs = validate_name(name), parse_nfs(nfs)
        self._gate.require(Action.REPO_ADD)
        if name in self._catalog.list_repository_names():
            raise InvalidInput(f"There is already a repository named {name!r}: edit it or choose another name.")
        self._require_folder(path)
        with self._audit.audited(Action.REPO_ADD, name, path=path, nfs=nfs):
            return self._catalog.add_repository(name, path, nfs)

    def edit(self, name: str, path: str | None = None, nfs: str | None = None, *, clear_nfs: bool = False
             ) -> Repository:
        """Change where a repository is (``path``) or its NFS export; the name is its key and stays."""
        self._gate.require(Action.REPO_ADD)
        current = self._catalog.repository(name)
        new_path = path if path is not None and path.strip() else current.path
        new_nfs = None if clear_nfs else (parse_nfs(nfs) if nfs is not None else current.nfs)
        if new_path != current.path:
            self._require_folder(new_path)
        with self._audit.audited(Action.REPO_ADD, name, path=new_path, nfs=new_nfs, edit=True):
            return self._catalog.add_repository(name, new_path, new_nfs)

    def remove(self, name: str) -> int:
        """Forget a repository and its restore points in the catalog (the backup files are not touched).

        Returns how many restore points the catalog forgot.
        """
        self._gate.require(Action.REPO_ADD)
        self._catalog.repository(name)  # NotFound, with the words, before anything is written
        with self._audit.audited(Action.REPO_ADD, name, remove=True) as detail:
            forgotten = self._catalog.remove_repository(name)
            detail["points_forgotten"] = forgotten
        return forgotten

    @staticmethod
    def _require_folder(path: str) -> None:
        check = check_folder(path)
        if not check.readable:
            raise NotFound(check.message)

