"""Copy files and directories out of a guest file system onto the workstation, safely.

Safety rules, each because a backup may hold hostile or just Linux-shaped names:

- every name goes through :mod:`safenames`; renames are reported, never silent;
- nothing is written outside ``target_dir``: each parent is resolved (following any symlink an attacker
  or a previous restore left there) and checked to lie inside the resolved target;
- guest symlinks are never followed nor recreated: they are skipped and reported;
- a file is written to a hidden temporary name and renamed into place when complete, so a cancelled or
  failed copy never leaves a truncated file under the real name;
- two guest names that land on the same Windows name (``A.txt``/``a.txt``, ``a:b``/``a_b``) are both kept,
  whatever the conflict policy, because the policy is about files that existed *before* the restore.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

from dissect.util.stream import RangeStream, RunlistStream

from vmrestore.disks._streams import GuardedStream
from vmrestore.disks.filesystems import GuestFileSystem, split_path
from vmrestore.disks.safenames import safe_component, windows_long_path
from vmrestore.errors import Cancelled, CorruptImage, InvalidInput
from vmrestore.model import ExtractResult, FileEntry, FileType, Progress, SkippedEntry

Conflict = Literal["keep_both", "overwrite", "skip"]
CHUNK = 1024 * 1024  # measured: 1 MiB reads are the sweet spot for dissect streams (TESTING.md)

# A piece of a file: (disk byte offset, or None for a hole that reads as zeros, length in bytes).
Segment = tuple[int | None, int]


def direct_plan(src: BinaryIO) -> tuple[Any, list[Segment]] | None:
    """Map a file stream to disk offsets, so its bytes can be read straight from the disk image.

    dissect's file streams read run by run through three stream layers (file runs → volume range →
    disk), each aligning, buffering and joining. When ``src`` is exactly the plain shape we know
    (a guarded ``RunlistStream`` over a guarded ``RangeStream`` of a disk with ``read_at``) this
    returns the disk's ``read_at`` and the file as disk segments; for anything else (NTFS-compressed
    or resident data, FAT chains, raw disks) it returns None and the caller reads through dissect.
    The same rules as the slow path apply: a hole reads as zeros, a run outside the volume or a
    run list shorter than the file raises ``CorruptImage``.
    """
    if not isinstance(src, GuardedStream) or type(src.inner) is not RunlistStream:
        return None
    runs_stream = src.inner
    volume = getattr(runs_stream, "_fh", None)
    if not isinstance(volume, GuardedStream) or type(volume.inner) is not RangeStream:
        return None
    region = volume.inner
    disk = getattr(region, "_fh", None)
    read_at = getattr(disk, "read_at", None)
    if read_at is None or not isinstance(region.size, int):
        return None
    size, block, base, volume_size = int(src.size), int(runs_stream.block_size), int(region.offset), region.size
    segments: list[Segment] = []
    remaining = size
    for start, count in runs_stream.runlist:
        if remaining <= 0:
            break
        length = min(int(count) * block, remaining)
        if start is None:
            at = None
        else:
            vol_at = int(start) * block
            if vol_at < 0 or vol_at + length > volume_size:
                raise CorruptImage(
                    f"{src.what}: a run of {length} bytes at volume offset {vol_at} lies outside the "
                    f"{volume_size}-byte volume"
                )
            at = base + vol_at
        last = segments[-1] if segments else None
        if last is not None and (
            (at is None and last[0] is None) or (at is not None and last[0] is not None and last[0] + last[1] == at)
        ):
            segments[-1] = (last[0], last[1] + length)
        else:
            segments.append((at, length))
        remaining -= length
    if remaining > 0:
        raise CorruptImage(
            f"{src.what}: the run list covers only {size - remaining} of {size} bytes (damaged file record?)"
        )
    return read_at, segments


def _os(path: Path) -> str:
    """The string to hand to the OS: Windows needs the \\\\?\\ prefix past 260 characters."""
    text = str(path)
    return windows_long_path(text) if os.name == "nt" else text


def _inside(root: Path, path: Path) -> bool:
    real = Path(os.path.realpath(_os(path)))
    return real == root or root in real.parents


@dataclass
class _Run:
    fs: GuestFileSystem
    target: Path
    conflict: Conflict
    on_progress: Callable[[Progress], None] | None
    cancel: threading.Event | None
    total: int
    files: int = 0
    bytes: int = 0

    def __post_init__(self) -> None:
        self.renamed: list[tuple[str, str]] = []
        self.skipped: list[SkippedEntry] = []
        self.claimed: dict[Path, set[str]] = {}  # names this run created, per directory (case-folded)
        self.dir_times: list[tuple[Path, float]] = []
        self.dirs_done: set[object] = set()  # file-system keys of the directories copied (loop guard)

    def check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled(f"Extraction cancelled after {self.files} files")

    def progress(self, text: str) -> None:
        if self.on_progress is not None:
            fraction = min(1.0, self.bytes / self.total) if self.total else None
            self.on_progress(Progress(fraction, text))

    def rel(self, path: Path) -> str:
        return path.relative_to(self.target).as_posix()

    # -- naming ------------------------------------------------------------------------------------
    def _unique(self, parent: Path, name: str) -> str:
        stem, dot, ext = name.rpartition(".")
        if not dot or not stem:
            stem, ext = name, ""
        n = 1
        while True:
            candidate = f"{stem} ({n})" + (f".{ext}" if ext else "")
            if candidate.casefold() not in self.claimed.get(parent, set()) and not os.path.lexists(
                _os(parent / candidate)
            ):
                return candidate
            n += 1

    def place(self, parent: Path, entry: FileEntry) -> Path | None:
        """Decide the destination of ``entry`` in ``parent`` (None: skipped, already reported)."""
        name, _notes = safe_component(entry.name)
        claimed = self.claimed.setdefault(parent, set())
        dest = parent / name
        if name.casefold() in claimed:
            name = self._unique(parent, name)  # two guest names, one Windows name: keep both
            dest = parent / name
        elif os.path.lexists(_os(dest)):
            existing_dir = dest.is_dir() and not dest.is_symlink()
            if entry.type is FileType.DIR and existing_dir:
                pass  # merge into the existing folder
            elif self.conflict == "skip" or (
                self.conflict == "overwrite" and (existing_dir or dest.is_symlink())
            ):
                self.skipped.append(SkippedEntry(entry.path, f"{self.rel(dest)} already exists"))
                return None
            elif self.conflict == "keep_both" or entry.type is FileType.DIR:
                name = self._unique(parent, name)
                dest = parent / name
        if not _inside(self.target, parent) or not _inside(self.target, dest):
            self.skipped.append(SkippedEntry(entry.path, "would be written outside the target folder"))
            return None
        claimed.add(name.casefold())
        if name != entry.name:
            self.renamed.append((entry.path, self.rel(dest)))
        return dest

    # -- copying -----------------------------------------------------------------------------------
    def make_dir(self, dest: Path, entry: FileEntry) -> None:
        os.makedirs(_os(dest), exist_ok=True)
        if entry.mtime is not None:
            self.dir_times.append((dest, entry.mtime.timestamp()))

    def copy_file(self, dest: Path, entry: FileEntry) -> None:
        temp = dest.parent / f".{uuid.uuid4().hex[:12]}.vmrestore-partial"
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
        )
        try:
            src = self.fs.open(entry.path)
            plan = direct_plan(src)
            fd = os.open(_os(temp), flags, 0o644)
            with os.fdopen(fd, "wb", buffering=0) as out:
                if plan is not None:
                    read_at, segments = plan
                    self._copy_direct(read_at, segments, out, entry.path)
                else:
                    self._copy_stream(src, out, entry.path)
            if entry.mtime is not None:
                stamp = entry.mtime.timestamp()
                os.utime(_os(temp), (stamp, stamp))
            os.replace(_os(temp), _os(dest))
        except CorruptImage as exc:
            _remove(temp)
            self.skipped.append(SkippedEntry(entry.path, f"unreadable: {exc}"))
            return
        except BaseException:
            _remove(temp)
            raise
        self.files += 1

    def _copy_stream(self, src: BinaryIO, out: Any, what: str) -> None:
        while True:
            self.check_cancel()
            chunk = src.read(CHUNK)
            if not chunk:
                break
            _write_all(out, memoryview(chunk))
            self.bytes += len(chunk)
            self.progress(what)

    def _copy_direct(self, read_at: Any, segments: list[Segment], out: Any, what: str) -> None:
        """Fill one reusable buffer from the file's disk segments and write it: no per-chunk objects."""
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        fill = 0
        for at, length in segments:
            done = 0
            while done < length:
                n = min(length - done, CHUNK - fill)
                if at is None:
                    view[fill : fill + n] = bytes(n)
                else:
                    try:
                        read_at(at + done, view[fill : fill + n])
                    except OSError as exc:  # an unreadable backup file: this file is skipped, as on the slow path
                        raise CorruptImage(f"{what}: cannot read the disk image: {exc}") from exc
                fill += n
                done += n
                if fill == CHUNK:
                    self._flush(out, view, what)
                    fill = 0
        if fill:
            self._flush(out, view[:fill], what)

    def _flush(self, out: Any, view: memoryview, what: str) -> None:
        self.check_cancel()
        _write_all(out, view)
        self.bytes += len(view)
        self.progress(what)

    def extract_entry(self, parent: Path, entry: FileEntry) -> None:
        self.check_cancel()
        if entry.type is FileType.SYMLINK:
            self.skipped.append(
                SkippedEntry(entry.path, f"symbolic link not followed (points to {entry.target!r})")
            )
            return
        dest = self.place(parent, entry)
        if dest is None:
            return
        if entry.type is FileType.FILE:
            self.copy_file(dest, entry)
            return
        key = self.fs.node_key(entry.path)
        if key in self.dirs_done:  # a damaged directory that contains itself or an ancestor: copy it once
            self.skipped.append(SkippedEntry(entry.path, "directory loop in a damaged file system: "
                                                         "this folder was already restored under another name"))
            return
        self.dirs_done.add(key)
        self.make_dir(dest, entry)
        self.extract_children(dest, entry.path)

    def extract_children(self, dest: Path, guest_dir: str) -> None:
        for child in self.fs.listdir(guest_dir):
            self.extract_entry(dest, child)


def _write_all(out: Any, view: memoryview) -> None:
    """Unbuffered file objects may write less than asked: loop until everything is on disk."""
    while len(view):
        written = out.write(view)
        view = view[written:]


def _remove(path: Path) -> None:
    try:
        os.unlink(_os(path))
    except FileNotFoundError:
        pass


def _total_bytes(fs: GuestFileSystem, entries: Sequence[FileEntry]) -> int:
    total = 0
    for entry in entries:
        if entry.type is FileType.FILE:
            total += entry.size
        elif entry.type is FileType.DIR:
            total += sum(e.size for e in fs.walk(entry.path) if e.type is FileType.FILE)
    return total


def extract(
    fs: GuestFileSystem,
    paths: Sequence[str],
    target_dir: str | os.PathLike[str],
    conflict: Conflict = "keep_both",
    on_progress: Callable[[Progress], None] | None = None,
    cancel: threading.Event | None = None,
) -> ExtractResult:
    """Copy ``paths`` (files or directories, recursively) from ``fs`` into ``target_dir``.

    ``/Users/alice`` lands in ``target_dir/alice``; ``/`` copies the volume's content into ``target_dir``.
    Raises ``Cancelled`` when ``cancel`` is set (finished files stay, the partial one is removed),
    ``NotFound``/``InvalidInput`` for a bad selection; unreadable files are skipped and reported.
    """
    if conflict not in ("keep_both", "overwrite", "skip"):
        raise InvalidInput(f"unknown conflict policy {conflict!r}")
    os.makedirs(_os(Path(target_dir)), exist_ok=True)
    target = Path(os.path.realpath(_os(Path(target_dir))))
    selected = [fs.stat("/" + "/".join(split_path(p))) for p in paths]
    run = _Run(fs, target, conflict, on_progress, cancel, _total_bytes(fs, selected))
    run.progress("starting")
    try:
        for entry in selected:
            if entry.path == "/":
                run.dirs_done.add(fs.node_key("/"))
                run.extract_children(target, "/")
            else:
                run.extract_entry(target, entry)
    finally:
        # Directory times last: writing a child changes its parent's mtime.
        for path, stamp in reversed(run.dir_times):
            try:
                os.utime(_os(path), (stamp, stamp))
            except OSError:
                pass
    run.progress("done")
    return ExtractResult(run.files, run.bytes, tuple(run.renamed), tuple(run.skipped))
