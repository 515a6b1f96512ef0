"""The rows of the restore-point tree, Qt-free: what each node is, whether it is listed, why it cannot be.

``PointsTreeModel`` (tree_model.py) holds these nodes and turns them into Qt's index/data answers; the
rules about a node (can it be opened, is it damaged, its guest path) live here, next to the data.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from vmrestore.model import FileEntry, GuestPath, RestorePoint


class NodeKind(enum.Enum):
    VM = "vm"
    POINT = "point"
    DISK = "disk"
    VOLUME = "volume"
    DIR = "dir"


class LoadState(enum.Enum):
    IDLE = "idle"  # not listed yet
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class VmGroup:
    """The row value of a VM node: its name and its restore points, newest first."""

    name: str
    points: tuple[RestorePoint, ...]


class Node:
    """One row of the tree. ``where`` is the restore-point path it lists (``/disk0/vol1/Users``)."""

    __slots__ = ("children", "entries", "error", "kind", "parent", "payload", "point", "row", "state",
                 "waiters", "where")

    def __init__(self, kind: NodeKind, parent: Node | None, row: int, payload: Any,
                 point: RestorePoint | None = None, where: GuestPath | None = None) -> None:
        self.kind = kind
        self.parent = parent
        self.row = row
        self.payload = payload
        self.point = point
        self.where = where or GuestPath()
        self.children: list[Node] = []
        self.entries: list[FileEntry] = []
        self.state = LoadState.IDLE
        self.error: str | None = None
        self.waiters: list[asyncio.Future[None]] = []

    @property
    def unavailable_reason(self) -> str | None:
        """Why this node cannot be opened (compressed point, unreadable disk or volume), else None."""
        if self.kind is NodeKind.POINT:
            point: RestorePoint = self.payload
            if not point.browsable:
                return point.reason or f"this restore point is {point.status}"
        if self.kind is NodeKind.DISK and self.payload.error:
            return str(self.payload.error)
        if self.kind is NodeKind.VOLUME and not self.payload.readable:
            return self.payload.reason or "this volume cannot be read"
        return None

    @property
    def damaged(self) -> bool:
        """A point indexed as damaged (or failed), an unreadable disk or volume, or a listing that failed."""
        if self.kind is NodeKind.POINT:
            return self.payload.status in ("damaged", "error")
        if self.kind is NodeKind.DISK:
            return bool(self.payload.error) or self.state is LoadState.FAILED
        if self.kind is NodeKind.VOLUME:
            return not self.payload.readable or self.state is LoadState.FAILED
        return self.state is LoadState.FAILED

    @property
    def greyed(self) -> bool:
        if self.kind is NodeKind.POINT and self.payload.status in ("error", "compressed", "damaged"):
            return True
        return self.unavailable_reason is not None or self.state is LoadState.FAILED

    @property
    def expandable(self) -> bool:
        return self.unavailable_reason is None

    @property
    def path(self) -> str:
        """``/disk0/vol1/Users``: the guest path as the CLI and the catalog write it."""
        return str(self.where)
