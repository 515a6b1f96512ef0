"""The NTFS on-disk vocabulary the $MFT pass decodes: FILE record flags, attribute types, reparse tags, the
``struct`` layouts read straight out of a chunk buffer, and FILETIME conversion.

Kept apart so the parser (``ntfs_mft_parse``), the path builder (``ntfs_mft_rows``) and the incremental
listing (``ntfs_listing``) share one definition of each field; nothing here runs per record by itself.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

FIRST_USER_RECORD = 24  # records 0-23: $MFT, $MFTMirr, $LogFile, ..., $Extend (11), reserved
ROOT_RECORD = 5
_REF_MASK = (1 << 48) - 1  # a file reference: 48-bit record number, 16-bit sequence number
_STRIDE = 512  # update sequence arrays protect the last two bytes of every 512-byte block

_IN_USE = 0x0001
_IS_DIR = 0x0002  # FILE_FILE_NAME_INDEX_PRESENT
_NS_DOS = 2  # a DOS-only 8.3 alias of a name that also exists in long form

_END = 0xFFFFFFFF
_STANDARD_INFORMATION = 0x10
_ATTRIBUTE_LIST = 0x20
_FILE_NAME = 0x30
_DATA = 0x80
_REPARSE_POINT = 0xC0
TAG_MOUNT_POINT = 0xA0000003  # junctions and volume mount points
TAG_SYMLINK = 0xA000000C
_TAG_UNREADABLE = -1  # a reparse point whose data we cannot read here (non-resident)

# signature, usa offset, usa count, $LogFile LSN, sequence, link count, first attribute, flags,
# bytes in use, bytes allocated, base record reference
_HEADER = struct.Struct("<4sHHQHHHHIIQ")
# type, length, non-resident, name length, name offset, flags, id, (resident) value length, value offset
_ATTR = struct.Struct("<IIBBHHHIH")
_FILE_NAME_HEAD = struct.Struct("<Q56xBB")  # parent reference ... name length (chars), namespace
_NONRESIDENT_SIZE = struct.Struct("<Q24xQ")  # lowest VCN at +0x10 ... real size at +0x30
_REPARSE_HEAD = struct.Struct("<IHHHHHH")  # tag, data length, reserved, subst off/len, print off/len
_U64 = struct.Struct("<Q")
_WINDOWS_EPOCH_S = 11_644_473_600
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)

# Per record after the pass: (sequence, header flags, size or -1, raw mtime or -1, reparse tag, target, names)
_Name = tuple[int, str, int]  # parent reference, name, namespace
_Record = tuple[int, int, int, int, int, str | None, list[_Name]]


def filetime_us(raw: int) -> int | None:
    """A FILETIME as integer microseconds since 1970, exactly as dissect's ``wintimestamp`` (a float
    computation, rounded half to even by ``datetime``) gives them, so both readers store the same value."""
    if raw < 0:
        return None
    dt = _filetime(raw)
    if dt is None:
        return None
    return (dt - _EPOCH) // _US


def _filetime(raw: int) -> datetime | None:
    """The same conversion as dissect's ``wintimestamp``, so both readers store the same microseconds."""
    if raw < 0:
        return None
    try:
        return datetime.fromtimestamp(raw * 1e-7 - _WINDOWS_EPOCH_S, UTC)
    except (OverflowError, OSError, ValueError):
        return None
