"""Browse a guest file system (NTFS, ext2/3/4, FAT, XFS) inside a disk, read-only, one API for all.

Paths are '/'-separated from the volume root. Symlinks, junctions and mount points are reported as
``FileType.SYMLINK`` with their stored target and are never followed, not even as an intermediate path
component: following a guest link would read (and later write) something other than what the operator
picked. Directory walks remember visited directories, because NTFS's root index lists itself as ``.``
and a damaged file system can contain cycles.
"""

from __future__ import annotations

import io
import stat as st
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, BinaryIO

from dissect.extfs import ExtFS
from dissect.fat import FATFS
from dissect.ntfs import ATTRIBUTE_TYPE_CODE, NTFS
from dissect.ntfs.util import segment_reference
from dissect.xfs import XFS

from vmrestore.disks._streams import guard
from vmrestore.disks.fs_exfat import ExfatVolume
from vmrestore.disks.ntfs_listing import MftScan
from vmrestore.disks.ntfs_mft_parse import MftScanStats
from vmrestore.disks.ntfs_mft_read import mft_layout
from vmrestore.disks.volumes import DiskStream, volume_stream
from vmrestore.errors import CorruptImage, InvalidInput, NotFound
from vmrestore.model import FileEntry, FileType, VolumeInfo

_NTFS_FIRST_USER_RECORD = 24  # MFT records 0-23 are metafiles ($MFT, $Bitmap, $Extend...) or reserved
_FILE_NAME_DOS = 2  # a DOS-only 8.3 alias: the same file under a second name


def split_path(path: str) -> list[str]:
    """Volume path → components. '.' and empty parts vanish; '..' is refused (no climbing out)."""
    parts = [p for p in path.split("/") if p and p != "."]
    if ".." in parts:
        raise InvalidInput(f"path {path!r} contains '..'")
    return parts


def join_path(parent: str, name: str) -> str:
    return (parent.rstrip("/") + "/" + name) if parent != "/" else "/" + name


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class GuestFileSystem(ABC):
    """Read-only view of one guest volume. Errors: ``NotFound``, ``InvalidInput``, ``CorruptImage``."""

    def __init__(self, volume: VolumeInfo, what: str) -> None:
        self.volume = volume
        self.what = what

    # Each backend works with its own node type; the public methods translate and guard.
    @abstractmethod
    def _root(self) -> Any: ...

    @abstractmethod
    def _children(self, node: Any) -> Iterator[tuple[str, Any]]: ...

    @abstractmethod
    def _entry(self, path: str, name: str, node: Any) -> FileEntry: ...

    @abstractmethod
    def _open(self, node: Any) -> tuple[Any, int]: ...

    def _node_id(self, node: Any) -> object:
        return id(node)

    def _lookup(self, path: str) -> Any:
        node = self._root()
        walked = "/"
        for part in split_path(path):
            entry = self._entry(walked, "", node)
            if entry.type is not FileType.DIR:
                raise NotFound(f"{self.what}: {walked} is not a directory (looking up {path})")
            for name, child in self._children(node):
                if self._same_name(name, part):
                    node = child
                    break
            else:
                raise NotFound(f"{self.what}: {path} does not exist")
            walked = join_path(walked, part)
        return node

    def _same_name(self, a: str, b: str) -> bool:
        return a == b

    def _guarded(self, action: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (NotFound, InvalidInput, CorruptImage):
            raise
        except Exception as exc:  # dissect signals damage with many unrelated exception types
            raise CorruptImage(f"{self.what}: cannot {action}: {exc}") from exc

    def stat(self, path: str) -> FileEntry:
        def run() -> FileEntry:
            node = self._lookup(path)
            parts = split_path(path)
            return self._entry("/" + "/".join(parts[:-1]), parts[-1] if parts else "", node)

        result: FileEntry = self._guarded(f"read {path}", run)
        return result

    def listdir(self, path: str = "/") -> list[FileEntry]:
        def run() -> list[FileEntry]:
            node = self._lookup(path)
            base = "/" + "/".join(split_path(path))
            if self._entry(base, "", node).type is not FileType.DIR:
                raise InvalidInput(f"{self.what}: {path} is not a directory")
            return sorted(
                (self._entry(base, name, child) for name, child in self._children(node)),
                key=lambda e: e.name,
            )

        result: list[FileEntry] = self._guarded(f"list {path}", run)
        return result

    def node_key(self, path: str) -> object:
        """What identifies the file system object at ``path`` (inode, MFT record, cluster): two paths with
        the same key are the same directory, which in a damaged file system means a loop."""
        return self._node_id(self._guarded(f"read {path}", self._lookup, path))

    def walk(self, path: str = "/") -> Iterator[FileEntry]:
        """Every entry below ``path`` (depth first, parents before children), never following links."""
        start = self._guarded(f"read {path}", self._lookup, path)
        base = "/" + "/".join(split_path(path))
        seen: set[object] = {self._node_id(start)}
        stack: list[tuple[str, Any]] = [(base, start)]
        while stack:
            dir_path, node = stack.pop()
            children = self._guarded(f"list {dir_path}", lambda n=node: list(self._children(n)))
            entries = []
            for name, child in children:
                entry = self._guarded(f"read {join_path(dir_path, name)}", self._entry, dir_path, name, child)
                entries.append((entry, child))
            subdirs = []
            for entry, child in sorted(entries, key=lambda ec: ec[0].name):
                yield entry
                if entry.type is FileType.DIR:
                    key = self._node_id(child)
                    if key not in seen:
                        seen.add(key)
                        subdirs.append((entry.path, child))
            stack.extend(reversed(subdirs))

    def scan(self, path: str = "/") -> Iterable[FileEntry]:
        """The same entries as :meth:`walk`, in no particular order, by the fastest means the backend has.

        Indexing uses this; browsing keeps ``walk``/``listdir``. The default is the walk itself.
        """
        return self.walk(path)

    def scan_warnings(self) -> list[str]:
        """What the last :meth:`scan` skipped (damaged records...), in words for the index report."""
        return []

    def open(self, path: str) -> BinaryIO:
        """A read-only stream of the file's bytes; reading damaged data raises ``CorruptImage``."""

        def run() -> BinaryIO:
            node = self._lookup(path)
            entry = self._entry("/", "x", node)
            if entry.type is not FileType.FILE:
                raise InvalidInput(f"{self.what}: {path} is a {entry.type.value}, not a file")
            raw, size = self._open(node)
            return guard(raw, size, f"{self.what}: {path}")

        result: BinaryIO = self._guarded(f"open {path}", run)
        return result


class NtfsFileSystem(GuestFileSystem):
    def __init__(self, volume: VolumeInfo, what: str, stream: BinaryIO) -> None:
        super().__init__(volume, what)
        self.stream = stream
        self.fs = NTFS(stream)
        self.scan_stats: MftScanStats | None = None  # of the last whole-volume scan()

    def scan(self, path: str = "/") -> Iterable[FileEntry]:
        """Whole volume: one sequential pass over the $MFT (ntfs_mft), ~10x the walk's speed; the result
        is also a ``ListingSource`` (ntfs_listing), which the catalog reads in its own shape.

        Damaged FILE records and names whose parent chain is broken are skipped and counted in
        ``scan_stats`` instead of failing the volume. Below a sub-path this is the walk.
        """
        if split_path(path):
            return self.walk(path)
        self.scan_stats = MftScanStats()
        layout = mft_layout(self.fs, self.what)
        return MftScan(self.stream, layout, self.what, self.scan_stats)

    def scan_warnings(self) -> list[str]:
        stats = self.scan_stats
        if stats is None:
            return []
        notes = []
        if stats.corrupt:
            shown = ", ".join(str(n) for n in stats.corrupt_records[:10]) + ("…" if stats.corrupt > 10 else "")
            notes.append(f"{stats.corrupt} damaged MFT record(s) skipped (record {shown})")
        if stats.orphans:
            notes.append(f"{stats.orphans} name(s) whose parent folder is damaged or gone were not indexed")
        return notes

    def _root(self) -> Any:
        return self.fs.mft.root

    def _node_id(self, node: Any) -> object:
        return int(node.segment)

    def _same_name(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()  # Windows semantics: case-insensitive, case-preserving

    def _children(self, node: Any) -> Iterator[tuple[str, Any]]:
        is_root = int(node.segment) == 5
        seen: set[tuple[int, str]] = set()
        for index_entry in node.index("$I30").entries():
            attr = index_entry.attribute
            if attr is None or attr.flags == _FILE_NAME_DOS:
                continue
            name = str(attr.file_name)
            ref = int(segment_reference(index_entry.header.FileReference))
            if name == "." or ref == int(node.segment):
                continue  # the root index lists itself
            if is_root and ref < _NTFS_FIRST_USER_RECORD:
                continue  # $MFT, $Bitmap, $Extend...: metafiles, not guest files ($Recycle.Bin stays)
            if (ref, name) in seen:
                continue
            seen.add((ref, name))
            yield name, index_entry.dereference()

    def _entry(self, path: str, name: str, node: Any) -> FileEntry:
        full = join_path(path, name) if name else path
        info = node.attributes[ATTRIBUTE_TYPE_CODE.STANDARD_INFORMATION]
        mtime = _utc(info.last_modification_time) if info else None
        if node.is_reparse_point() and (node.is_symlink() or node.is_mount_point()):
            try:
                target = str(node.reparse_point_name)
            except Exception:
                target = ""
            return FileEntry(full, name, FileType.SYMLINK, 0, mtime, target)
        if node.is_dir():
            return FileEntry(full, name, FileType.DIR, 0, mtime)
        size = int(node.size()) if node.has_stream("") else 0
        return FileEntry(full, name, FileType.FILE, size, mtime)

    def _open(self, node: Any) -> tuple[Any, int]:
        if not node.has_stream(""):
            return io.BytesIO(b""), 0
        return node.open(), int(node.size())


class _InodeFileSystem(GuestFileSystem):
    """ext2/3/4 and XFS share the POSIX shape: inodes, mode bits, '.' and '..' entries."""

    fs: Any

    def _root(self) -> Any:
        return self.fs.root

    def _node_id(self, node: Any) -> object:
        return int(node.inum)

    def _children(self, node: Any) -> Iterator[tuple[str, Any]]:
        for child in node.iterdir():
            if child.filename in (".", ".."):
                continue
            yield str(child.filename), child

    def _entry(self, path: str, name: str, node: Any) -> FileEntry:
        full = join_path(path, name) if name else path
        mode = int(node.inode.di_mode if hasattr(node.inode, "di_mode") else node.inode.i_mode)
        mtime = _utc(node.mtime)
        if st.S_ISLNK(mode):
            return FileEntry(full, name, FileType.SYMLINK, int(node.size), mtime, str(node.link))
        if st.S_ISDIR(mode):
            return FileEntry(full, name, FileType.DIR, 0, mtime)
        if st.S_ISREG(mode):
            return FileEntry(full, name, FileType.FILE, int(node.size), mtime)
        # devices, fifos, sockets: listed so the tree is honest, but they hold no bytes to restore
        return FileEntry(full, name, FileType.SYMLINK, 0, mtime, f"<special file mode {oct(mode)}>")

    def _open(self, node: Any) -> tuple[Any, int]:
        return node.open(), int(node.size)


class ExtFileSystem(_InodeFileSystem):
    def __init__(self, volume: VolumeInfo, what: str, stream: BinaryIO) -> None:
        super().__init__(volume, what)
        self.fs = ExtFS(stream)


class XfsFileSystem(_InodeFileSystem):
    def __init__(self, volume: VolumeInfo, what: str, stream: BinaryIO) -> None:
        super().__init__(volume, what)
        self.fs = XFS(stream)


class FatFileSystem(GuestFileSystem):
    """FAT stores local wall-clock times without a zone; they are reported as if they were UTC."""

    def __init__(self, volume: VolumeInfo, what: str, stream: BinaryIO) -> None:
        super().__init__(volume, what)
        self.fs = FATFS(stream)

    def _root(self) -> Any:
        return self.fs.root

    def _node_id(self, node: Any) -> object:
        return int(node.cluster or 0) if node is not self.fs.root else "root"

    def _same_name(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()

    def _children(self, node: Any) -> Iterator[tuple[str, Any]]:
        for child in node.iterdir():
            if child.is_volume_id() or child.name in (".", ".."):
                continue
            yield _fat_name(child), child

    def _entry(self, path: str, name: str, node: Any) -> FileEntry:
        full = join_path(path, name) if name else path
        if node is self.fs.root:
            return FileEntry(full, name, FileType.DIR, 0, None)
        try:
            mtime = _utc(node.mtime)
        except (ValueError, OverflowError):
            mtime = None  # an impossible DOS date: keep the file, drop the time
        if node.is_directory():
            return FileEntry(full, name, FileType.DIR, 0, mtime)
        return FileEntry(full, name, FileType.FILE, int(node.size), mtime)

    def _open(self, node: Any) -> tuple[Any, int]:
        return node.open(), int(node.size)


def _fat_name(entry: Any) -> str:
    """The name Windows shows: the long name, or the 8.3 name with the NT lower-case flags applied."""
    if entry.ldirents:
        return str(entry.name)
    name = str(entry.short_name)
    flags = int(entry.dirent.DIR_NTRes)
    base, dot, ext = name.partition(".")
    if flags & 0x08:
        base = base.lower()
    if flags & 0x10:
        ext = ext.lower()
    return base + dot + ext


class ExfatFileSystem(GuestFileSystem):
    """exFAT, parsed directory by directory by :mod:`vmrestore.disks.fs_exfat`."""

    def __init__(self, volume: VolumeInfo, what: str, stream: BinaryIO) -> None:
        super().__init__(volume, what)
        self.fs = ExfatVolume(stream)

    def _root(self) -> Any:
        return self.fs.root

    def _node_id(self, node: Any) -> object:
        return int(node.first_cluster)

    def _same_name(self, a: str, b: str) -> bool:
        return a.casefold() == b.casefold()

    def _children(self, node: Any) -> Iterator[tuple[str, Any]]:
        for child in self.fs.children(node):
            yield child.name, child

    def _entry(self, path: str, name: str, node: Any) -> FileEntry:
        return self.fs.entry(join_path(path, name) if name else path, name, node)

    def _open(self, node: Any) -> tuple[Any, int]:
        return self.fs.open(node), int(node.size)


_BACKENDS: dict[str, type[GuestFileSystem]] = {
    "ntfs": NtfsFileSystem,
    "ext2": ExtFileSystem,
    "ext3": ExtFileSystem,
    "ext4": ExtFileSystem,
    "fat12": FatFileSystem,
    "fat16": FatFileSystem,
    "fat32": FatFileSystem,
    "xfs": XfsFileSystem,
    "exfat": ExfatFileSystem,
}


def open_filesystem(disk: DiskStream, volume_index: int, what: str = "disk") -> GuestFileSystem:
    """Open volume ``volume_index`` (as numbered by ``list_volumes``) of ``disk`` for browsing."""
    volume, stream = volume_stream(disk, volume_index, what)
    label = f"{what}, volume {volume_index}"
    if not volume.readable:
        raise CorruptImage(f"{label} cannot be read: {volume.reason}")
    backend = _BACKENDS.get(volume.fs)
    if backend is None:
        raise CorruptImage(f"{label}: {volume.fs} file systems are not supported")
    try:
        return backend(volume, label, stream)  # type: ignore[call-arg]
    except CorruptImage:
        raise
    except Exception as exc:
        raise CorruptImage(f"{label}: damaged {volume.fs} file system: {exc}") from exc
