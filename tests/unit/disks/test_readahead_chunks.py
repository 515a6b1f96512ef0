"""How readahead.chunk_fills cuts a file's disk segments into buffer-sized chunks."""

from __future__ import annotations

import random

from vmrestore.disks.readahead import Segment, chunk_fills


def _flatten(fills: list[list[tuple[int | None, int]]]) -> list[int | None]:
    """Disk offset (None: hole) of every byte, in file order."""
    out: list[int | None] = []
    for chunk in fills:
        for at, n in chunk:
            out.extend([None] * n if at is None else range(at, at + n))
    return out


def test_chunks_cover_the_segments_in_order_each_full_but_the_last() -> None:
    rng = random.Random(3)
    for _ in range(200):
        segments: list[Segment] = [
            (None if rng.random() < 0.3 else rng.randrange(10_000), rng.randrange(1, 50))
            for _ in range(rng.randrange(1, 12))
        ]
        chunk = rng.choice([1, 7, 16, 64])
        fills = list(chunk_fills(segments, chunk))
        expected: list[int | None] = []
        for at, n in segments:
            expected.extend([None] * n if at is None else range(at, at + n))
        assert _flatten(fills) == expected
        sizes = [sum(n for _at, n in chunk_) for chunk_ in fills]
        assert all(size == chunk for size in sizes[:-1]) and 0 < sizes[-1] <= chunk


def test_short_segments_share_one_chunk() -> None:
    fills = list(chunk_fills([(0, 10), (100, 10), (None, 5), (200, 10)], chunk=64))
    assert fills == [[(0, 10), (100, 10), (None, 5), (200, 10)]]


def test_empty_file_has_no_chunks() -> None:
    assert list(chunk_fills([], chunk=64)) == []
