"""Paths inside a restore point as the operator types them: ``/disk0/vol1/Users/alice``.

``disk<N>`` is the N-th disk of the restore point in .vmx order (from 0), ``vol<M>`` the M-th volume on
it in partition-table order (from 1, as Windows Disk Management counts partitions), and the rest the
path inside that volume's file system.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vmrestore.errors import InvalidInput

_DISK = re.compile(r"^disk(\d+)$")
_VOL = re.compile(r"^vol(\d+)$")


@dataclass(frozen=True, slots=True)
class GuestPath:
    disk: int | None  # None: the restore point's root (list the disks)
    volume: int | None  # None: the disk's root (list the volumes)
    path: str  # inside the volume, '/'-separated, starts with '/'

    @property
    def disk_key(self) -> str:
        return f"disk{self.disk}"

    def __str__(self) -> str:
        if self.disk is None:
            return "/"
        if self.volume is None:
            return f"/disk{self.disk}"
        return f"/disk{self.disk}/vol{self.volume}{'' if self.path == '/' else self.path}"


def parse_guest_path(text: str) -> GuestPath:
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise InvalidInput(f"'..' is not allowed in a restore-point path: {text}")
    if not parts:
        return GuestPath(None, None, "/")
    disk = _DISK.match(parts[0])
    if not disk:
        raise InvalidInput(f"A restore-point path starts with /disk<N>, e.g. /disk0/vol1/Users: {text}")
    if len(parts) == 1:
        return GuestPath(int(disk.group(1)), None, "/")
    vol = _VOL.match(parts[1])
    if not vol:
        raise InvalidInput(f"The second part of the path is the volume, e.g. /disk0/vol1: {text}")
    return GuestPath(int(disk.group(1)), int(vol.group(1)), "/" + "/".join(parts[2:]))
