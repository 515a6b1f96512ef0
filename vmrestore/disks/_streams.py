"""A read-only stream wrapper that turns library failures into :class:`CorruptImage`.

dissect reports damage in many shapes (``EOFError`` from cstruct, ``ValueError``, ``zlib.error``, its own
error classes) and some damage not at all: a truncated extent just yields fewer bytes. Everything that
reads guest data goes through this wrapper so callers see one error type that names the image, and a
short read inside the stream's declared size is reported instead of silently returning garbage.
"""

from __future__ import annotations

import io
from typing import Any, BinaryIO

from vmrestore.errors import CorruptImage


class GuardedStream(io.RawIOBase):
    """Seekable, read-only view of ``inner`` (which has a known ``size``) that raises ``CorruptImage``."""

    def __init__(self, inner: Any, size: int, what: str) -> None:
        super().__init__()
        self._inner = inner
        self.size = size
        self._what = what
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def read(self, size: int | None = -1) -> bytes:
        remaining = max(0, self.size - self._pos)
        want = remaining if size is None or size < 0 else min(size, remaining)
        if want == 0:
            return b""
        try:
            self._inner.seek(self._pos)
            data = bytes(self._inner.read(want))
        except CorruptImage:
            raise
        except Exception as exc:  # dissect raises many unrelated types for damaged structures
            raise CorruptImage(
                f"{self._what}: cannot read {want} bytes at offset {self._pos}: {exc}"
            ) from exc
        if len(data) < want:
            raise CorruptImage(
                f"{self._what}: only {len(data)} of {want} bytes at offset {self._pos} could be read "
                "(is the file truncated?)"
            )
        self._pos += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    @property
    def inner(self) -> Any:
        """The wrapped stream, for readers that map file runs to disk offsets themselves."""
        return self._inner

    @property
    def what(self) -> str:
        return self._what

    def readall(self) -> bytes:
        return self.read(-1)


def guard(inner: BinaryIO | Any, size: int, what: str) -> BinaryIO:
    """Typed helper: the wrapper is a ``BinaryIO`` as far as callers are concerned."""
    return GuardedStream(inner, size, what)  # type: ignore[return-value]
