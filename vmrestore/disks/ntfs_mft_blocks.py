"""The incremental state of the $MFT pass: a hash of every block of ``BLOCK`` FILE records, and what a
previous pass left (``Reuse``) so that blocks whose bytes did not change are not parsed again.

A consecutive backup of a VM shares nearly every FILE record with the previous one, so comparing 8-byte
SHA-1 prefixes of 8-record blocks lets the parser skip ~92 % of the volume with 1 % of the files changed.
It is hashed once per chunk (one call per 4 MiB, never per record); ``ntfs_listing`` keeps the digests
and turns the re-parsed records into a changes listing.
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass

from vmrestore.disks.ntfs_mft_format import _Record

BLOCK = 8  # records hashed together: with 1 % of the files changed, ~8 % of the blocks are parsed again


@dataclass(frozen=True, slots=True)
class Reuse:
    """What a previous pass over the same volume's $MFT left: a hash per ``BLOCK`` records, the base
    records' results (this pass takes the dict over and changes it), and the records that are always
    parsed again (``MftParser.special``: extension records, base records with an attribute list, damage)."""

    digests: array[int]
    records: dict[int, _Record]
    special: frozenset[int]
    special_blocks: frozenset[int] = frozenset()

    @classmethod
    def of(cls, digests: array[int], records: dict[int, _Record], special: Iterable[int]) -> Reuse:
        special = frozenset(special)
        return cls(digests, records, special, frozenset(n // BLOCK for n in special))


def hash_blocks(view: memoryview, first: int, count: int, rs: int, digests: array[int],
                reuse: Reuse | None) -> Iterable[int]:
    """Hash every block of ``BLOCK`` records; with ``reuse``, the indexes (in this buffer) of the records
    of the blocks that differ from the previous pass or hold a record that is always parsed again (else
    all of them). ``digests`` gets every block's hash; ``first`` (the buffer's first record) starts a block."""
    assert first % BLOCK == 0
    sha1 = hashlib.sha1
    from_bytes = int.from_bytes
    span = BLOCK * rs
    total = count * rs
    block = first // BLOCK
    todo: list[int] = []
    for start in range(0, total, span):
        piece = view[start : min(start + span, total)]
        digest = from_bytes(sha1(piece).digest()[:8], "little")
        digests.append(digest)
        if reuse is not None and (block >= len(reuse.digests) or reuse.digests[block] != digest
                                  or block in reuse.special_blocks):
            todo.extend(range(start // rs, min(start + span, total) // rs))
        block += 1
    return todo if reuse is not None else range(count)
