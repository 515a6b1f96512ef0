"""Shared vocabulary: frozen dataclasses and enums that every layer speaks.

pyVmomi and dissect objects never leave their adapters; what crosses a layer boundary is one of
these values (or a plain ``dict`` inside them), so the UI, the CLI's JSON and the tests all see the
same shapes. Sizes are Python ints in bytes, times are timezone-aware ``datetime`` in UTC.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from vmrestore.errors import InvalidInput


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
    INSTANT_DISCARD = "instant_discard"
    SNAPSHOT_CLEANUP = "snapshot_cleanup"
    DELETE = "delete"
    SWEEP = "sweep"
    REPO_ADD = "repo_add"
    REPO_MOUNT = "repo_mount"  # mount/unmount a repository's NFS export on hosts ahead of time: admin only
    CATALOG_MIGRATE = "catalog_migrate"  # copy the local catalog into a shared PostgreSQL one: admin only
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
class ServerKey:
    """One vCenter, as the keyring (saved passwords) and known_hosts (pinned certificates) name it.

    ``vc01.corp.example``, ``https://VC01.corp.example/sdk`` and ``vc01.corp.example:443`` are the
    same server, so a password saved through one spelling is found through another and a certificate
    pinned once is pinned for all. Text form: ``host:port`` (``[v6addr]:port``), host in lower case.
    """

    host: str
    port: int = 443

    @classmethod
    def parse(cls, text: str) -> ServerKey:
        """From a URL or ``host[:port]``; ``ValueError`` when there is no host or the port is not a number."""
        raw = text.strip()
        parts = urlsplit(raw if "://" in raw else f"https://{raw}")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError(f"{text!r} has an invalid port") from exc
        if not parts.hostname:
            raise ValueError(f"{text!r} names no server")
        return cls(parts.hostname.lower(), port or 443)

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


class ResourceKind(enum.StrEnum):
    """What a job or a cross-process lock serialises on."""

    VM = "vm"
    HOST = "host"
    DATASTORE = "datastore"
    POINT = "point"
    REPO = "repo"


@dataclass(frozen=True, slots=True)
class ResourceKey:
    """A job's or a lock's resource: ``kind:name`` (``vm:vm-42``, ``datastore:vc01:443/ds1``).

    The scheduler limits jobs per kind (``{"datastore": 1}``), the journal names the resource an entry
    touches, and the cross-process lock file is named after it: all of them build and read the key here.
    """

    kind: ResourceKind
    name: str

    @classmethod
    def parse(cls, text: str) -> ResourceKey:
        kind, sep, name = text.partition(":")
        if not sep or not name or kind not in ResourceKind.__members__.values():
            raise ValueError(f"{text!r} is not a resource key (kind:name, kind one of {', '.join(ResourceKind)})")
        return cls(ResourceKind(kind), name)

    @classmethod
    def vm(cls, moid: str) -> ResourceKey:
        return cls(ResourceKind.VM, moid)

    @classmethod
    def vm_of(cls, server: ServerKey | str, moid: str) -> ResourceKey:
        """One VM of one vCenter (moids repeat across vCenters): the cross-desk lock of a mount onto it."""
        key = server if isinstance(server, ServerKey) else ServerKey.parse(server)
        return cls(ResourceKind.VM, f"{key}/{moid}")

    @classmethod
    def host(cls, moid: str) -> ResourceKey:
        return cls(ResourceKind.HOST, moid)

    @classmethod
    def repo(cls, name: str) -> ResourceKey:
        return cls(ResourceKind.REPO, name)

    @classmethod
    def point(cls, point_id: str) -> ResourceKey:
        return cls(ResourceKind.POINT, point_id)

    @classmethod
    def datastore(cls, server: ServerKey | str, name: str) -> ResourceKey:
        """One datastore of one vCenter (datastore names are unique per vCenter, not across them)."""
        key = server if isinstance(server, ServerKey) else ServerKey.parse(server)
        return cls(ResourceKind.DATASTORE, f"{key}/{name}")

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


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


@dataclass(frozen=True)
class GuestCredentials:
    """A guest OS login (VMware Tools guest operations). ``repr`` never shows the password."""

    username: str
    password: str = field(repr=False)


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


_DISK_PART = re.compile(r"^disk(\d+)$")
_VOL_PART = re.compile(r"^vol(\d+)$")


@dataclass(frozen=True, slots=True, order=True)
class GuestPath:
    """A place inside a restore point, as the operator types it: ``/disk0/vol1/Users/alice``.

    ``disk<N>`` is the N-th disk of the restore point in .vmx order (from 0), ``vol<M>`` the M-th volume
    on it in partition-table order (from 1, as Windows Disk Management counts partitions), and ``path``
    the place inside that volume's file system. The one definition of this shape: the CLI, the GUI,
    the catalog and the extraction all parse and format it here, never by splitting strings.
    """

    disk: int | None = None  # None: the restore point's root (it lists the disks)
    volume: int | None = None  # None: the disk's root (it lists the volumes)
    path: str = "/"  # inside the volume, '/'-separated, starts with '/'

    @classmethod
    def parse(cls, text: str) -> GuestPath:
        """``/disk0/vol1/Users`` (backslashes and doubled slashes accepted); ``..`` is refused."""
        parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
        if ".." in parts:
            raise InvalidInput(f"'..' is not allowed in a restore-point path: {text}")
        if not parts:
            return cls()
        disk = _DISK_PART.match(parts[0])
        if not disk:
            raise InvalidInput(f"A restore-point path starts with /disk<N>, e.g. /disk0/vol1/Users: {text}")
        if len(parts) == 1:
            return cls(int(disk.group(1)))
        vol = _VOL_PART.match(parts[1])
        if not vol:
            raise InvalidInput(f"The second part of the path is the volume, e.g. /disk0/vol1: {text}")
        return cls(int(disk.group(1)), int(vol.group(1)), "/" + "/".join(parts[2:]))

    @classmethod
    def in_volume(cls, disk_key: str, volume: int, path: str = "/") -> GuestPath:
        """A file of a volume as the catalog stores it: disk key (``disk0``), volume index, volume path."""
        match = _DISK_PART.match(disk_key)
        if not match:
            raise InvalidInput(f"not a disk key: {disk_key!r}")
        return cls(int(match.group(1)), volume, "/" + path.strip("/") if path.strip("/") else "/")

    def __str__(self) -> str:
        if self.disk is None:
            return "/"
        if self.volume is None:
            return f"/disk{self.disk}"
        return f"/disk{self.disk}/vol{self.volume}{'' if self.path == '/' else self.path}"

    @property
    def disk_key(self) -> str:
        """``disk0``: how the catalog names a disk of a restore point."""
        return disk_key(self.disk if self.disk is not None else 0)

    @property
    def is_volume_root(self) -> bool:
        return self.volume is not None and self.path == "/"

    @property
    def is_inside_volume(self) -> bool:
        """A file or folder of a volume (not a disk, a volume or the point's root)."""
        return self.volume is not None and self.path != "/"

    @property
    def volume_root(self) -> GuestPath:
        """``/disk0/vol1`` of anything inside that volume (extraction works one volume at a time)."""
        return GuestPath(self.disk, self.volume, "/")

    @property
    def name(self) -> str:
        """The last part: ``disk0``, ``vol1``, a file or folder name; empty for the point's root."""
        return str(self).rsplit("/", 1)[-1]

    @property
    def parent(self) -> GuestPath:
        if self.disk is None:
            return self
        if self.volume is None:
            return GuestPath()
        if self.path == "/":
            return GuestPath(self.disk)
        return GuestPath(self.disk, self.volume, self.path.rsplit("/", 1)[0] or "/")

    def child(self, name: str) -> GuestPath:
        """The entry ``name`` listed in this folder (``disk0`` at the root, ``vol1`` on a disk, a file name)."""
        if not name or "/" in name or name in (".", ".."):
            raise InvalidInput(f"not a single path component: {name!r}")
        if self.disk is None or self.volume is None:
            return GuestPath.parse(f"{self}/{name}")
        return GuestPath(self.disk, self.volume, f"{'' if self.path == '/' else self.path}/{name}")

    @property
    def volume_folder(self) -> str:
        """``disk0-vol1``: the folder a whole-volume extraction writes into."""
        return f"disk{self.disk}-vol{self.volume}"


def disk_key(number: int) -> str:
    """``disk0``: the catalog's key of the N-th disk of a restore point (the ``/disk0`` of a guest path)."""
    return f"disk{number}"


def format_size(value: float | None) -> str:
    """A byte count for people, the one unit system of the whole app (GUI and CLI text alike).

    Binary units with their IEC names (``1.5 GiB`` = 1.5 × 1024³ bytes), the way Windows Explorer and
    vSphere count, but named so nobody mistakes them for powers of 1000. ``None`` (unknown) is empty;
    JSON output never uses this: sizes there are integers in bytes.
    """
    if value is None:
        return ""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")
    amount, step = float(value), 0
    while abs(amount) >= 1024 and step < len(units) - 1:
        amount /= 1024
        step += 1
    return f"{int(value)} B" if step == 0 else f"{amount:.1f} {units[step]}"


# -- a backed-up VM's hardware, read from its .vmx (catalog) and re-created by instant recovery (vsphere) --

@dataclass(frozen=True, slots=True)
class VmxDisk:
    """One virtual disk: where it is attached and the VMDK descriptor it names (as written in the .vmx)."""

    controller_key: str  # "scsi0:1"
    file_name: str  # relative to the .vmx folder, or an absolute /vmfs/volumes/... path


@dataclass(frozen=True, slots=True)
class VmxController:
    kind: str  # "scsi", "sata", "nvme"
    bus: int
    model: str  # scsi: lsilogic, lsisas1068, pvscsi, buslogic; "" for sata/nvme


@dataclass(frozen=True, slots=True)
class VmxNic:
    index: int
    model: str  # vmxnet3, e1000, e1000e, vmxnet2...
    network: str  # the port group name the backup's VM was on ("" when not recorded)


@dataclass(frozen=True, slots=True)
class VmxHardware:
    """What a new VM needs to look like the backed-up one (the .vmx as ghettoVCB copied it)."""

    hw_version: int | None  # virtualHW.version
    guest_os: str  # the .vmx's guestOS value, e.g. "windows9srv-64"
    firmware: str  # "bios" or "efi"
    memory_mb: int
    cpus: int
    cores_per_socket: int
    controllers: tuple[VmxController, ...]
    nics: tuple[VmxNic, ...]
    disks: tuple[VmxDisk, ...]
    nvram: str | None  # the nvram file name next to the .vmx
