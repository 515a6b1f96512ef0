"""Shared vocabulary: frozen dataclasses and enums that every layer speaks.

pyVmomi and dissect objects never leave their adapters; what crosses a layer boundary is one of
these values (or a plain ``dict`` inside them), so the UI, the CLI's JSON and the tests all see the
same shapes. Sizes are Python ints in bytes, times are timezone-aware ``datetime`` in UTC.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Role(enum.StrEnum):
    """vmrestore's own roles; vCenter's answer still decides per object."""

    ADMIN = "admin"
    HELPDESK = "helpdesk"


class Action(enum.StrEnum):
    """User actions that a role may or may not perform (and that the audit log names)."""

    CONNECT = "connect"
    BROWSE = "browse"
    INDEX = "index"
    EXTRACT = "extract"
    FILE_RESTORE = "file_restore"
    MOUNT = "mount"
    INSTANT_RECOVERY = "instant_recovery"
    MIGRATE = "migrate"
    SNAPSHOT_CLEANUP = "snapshot_cleanup"
    DELETE = "delete"
    SWEEP = "sweep"
    REPO_ADD = "repo_add"
    SETTINGS = "settings"  # workstation-wide settings (catalog, snapshot watch, lease): admin only


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"


class FileType(enum.StrEnum):
    FILE = "file"
    DIR = "dir"
    SYMLINK = "symlink"


@dataclass(frozen=True, slots=True)
class ServerIdentity:
    """Who we are talking to, as shown in the status bar and by ``vmrestore connect --json``."""

    server: str
    user: str
    thumbprint: str
    api_version: str
    certificate_state: str  # "system-trusted", "pinned", "insecure"


@dataclass(frozen=True, slots=True)
class VmInfo:
    moid: str
    name: str
    power_state: str
    host: str | None = None
    datastores: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One entry of a guest file system (inside a restore point's volume)."""

    path: str  # absolute inside the volume, '/' separated, e.g. "/Users/alice/Q3-report.xlsx"
    name: str
    type: FileType
    size: int
    mtime: datetime | None
    target: str | None = None  # symlink target, as stored (never followed)


@dataclass(frozen=True, slots=True)
class VolumeInfo:
    index: int
    fs: str  # "ntfs", "ext4", "fat32", "xfs", "unknown", ...
    label: str
    size: int
    offset: int
    readable: bool = True
    reason: str | None = None  # why not readable (BitLocker, ReFS, corrupt...)


@dataclass(frozen=True, slots=True)
class DiskInfo:
    file: str  # VMDK descriptor file name relative to the restore point folder
    capacity: int
    format: str  # createType from the descriptor: monolithicSparse, streamOptimized, ...
    controller_key: str = ""  # e.g. "scsi0:0" from the .vmx
    volumes: tuple[VolumeInfo, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class RestorePoint:
    id: str  # stable: "<repo>/<VM>/<folder name>"
    repo: str
    vm: str
    created: datetime
    path: str
    status: str  # "ok", "error", "warn", "unknown", "compressed"
    browsable: bool = True
    size: int = 0
    disks: tuple[DiskInfo, ...] = field(default_factory=tuple)
    reason: str | None = None  # why status is "error"/"compressed" or why it is not browsable, for the operator


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report of a job: fraction in [0, 1] (None when unknown) and a line of text."""

    fraction: float | None
    text: str


@dataclass(frozen=True, slots=True)
class HostInfo:
    """An ESXi host as the inventory lists it (ids are vCenter managed object ids)."""

    moid: str
    name: str
    connection_state: str  # "connected", "disconnected", "notResponding"
    power_state: str
    in_maintenance: bool = False
    datastores: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DatastoreInfo:
    """A datastore with its space in bytes, as ``snapshots scan`` and instant recovery need it."""

    moid: str
    name: str
    capacity: int
    free_space: int
    type: str  # "VMFS", "NFS", "NFS41", "vsan", "OTHER"...
    accessible: bool
    url: str


@dataclass(frozen=True, slots=True)
class SkippedEntry:
    """A guest path that an extraction did not write, and why (symlink, conflict, unreadable...)."""

    path: str
    reason: str


@dataclass(frozen=True, slots=True)
class ExtractResult:
    """What ``files extract`` did: counts, every rename (guest path → path relative to the target)."""

    files: int
    bytes: int
    renamed: tuple[tuple[str, str], ...] = ()
    skipped: tuple[SkippedEntry, ...] = ()
