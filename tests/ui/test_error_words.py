"""OS errors from a restore (missing or unwritable destination, full disk, share gone) read as words."""

from __future__ import annotations

import errno

import pytest

from vmrestore.ui.errors import describe


@pytest.mark.parametrize(("exc", "title", "words"), [
    (FileNotFoundError(errno.ENOENT, "No such file or directory", r"\\nas01\restore\alice"),
     "Folder or file not found", "share is still reachable"),
    (PermissionError(errno.EACCES, "Permission denied", "D:/Restored"), "Not allowed", "may not write to D:/Restored"),
    (OSError(errno.ENOSPC, "No space left on device", "D:/Restored/a.vhdx"), "Disk full", "not enough free space"),
    (OSError(errno.ESTALE, "Stale file handle", r"\\nas01\restore"), "Network share unavailable", "connection"),
    (NotADirectoryError(errno.ENOTDIR, "Not a directory", "D:/file.txt"), "Not a folder", "is a file, not a folder"),
])
def test_os_errors_in_words(exc: OSError, title: str, words: str) -> None:
    text = describe(exc)
    assert text.title == title
    assert words in text.text
    assert "probably a bug" not in text.text and "Errno" not in text.text
