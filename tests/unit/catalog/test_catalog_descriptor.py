"""VMDK descriptors of real qemu-img disks (all subformats) and hand-written snapshot chains."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.bench.tools import require_tool
from vmrestore.catalog.descriptor import chain, parse_descriptor_text, read_descriptor
from vmrestore.errors import BrokenChain, CorruptImage

GIB = 1 << 30


def qemu_vmdk(tmp_path: Path, subformat: str, size: str = "3G", adapter: str = "lsilogic") -> Path:
    qemu_img = require_tool("qemu-img", "qemu-utils")
    path = tmp_path / f"{subformat}.vmdk"
    subprocess.run(
        [
            qemu_img,
            "create",
            "-q",
            "-f",
            "vmdk",
            "-o",
            f"subformat={subformat},adapter_type={adapter}",
            str(path),
            size,
        ],
        check=True,
    )
    return path


@pytest.mark.disktools
@pytest.mark.parametrize(
    ("subformat", "embedded", "extents"),
    [
        ("monolithicSparse", True, [("SPARSE", "monolithicSparse.vmdk")]),
        ("streamOptimized", True, [("SPARSE", "streamOptimized.vmdk")]),
        ("monolithicFlat", False, [("FLAT", "monolithicFlat-flat.vmdk")]),
        (
            "twoGbMaxExtentSparse",
            False,
            [("SPARSE", "twoGbMaxExtentSparse-s001.vmdk"), ("SPARSE", "twoGbMaxExtentSparse-s002.vmdk")],
        ),
        (
            "twoGbMaxExtentFlat",
            False,
            [("FLAT", "twoGbMaxExtentFlat-f001.vmdk"), ("FLAT", "twoGbMaxExtentFlat-f002.vmdk")],
        ),
    ],
)
def test_qemu_img_subformats(
    tmp_path: Path, subformat: str, embedded: bool, extents: list[tuple[str, str]]
) -> None:
    path = qemu_vmdk(tmp_path, subformat)
    desc = read_descriptor(path)
    assert desc.create_type == subformat
    assert desc.embedded is embedded
    assert desc.capacity == 3 * GIB
    assert [(e.type, e.file) for e in desc.extents] == extents
    assert all(e.access == "RW" for e in desc.extents)
    assert desc.adapter_type == "lsilogic"
    assert desc.geometry == (391, 255, 63)
    assert len(desc.cid) == 8 and not desc.is_delta
    assert all(p.is_file() for p in desc.extent_paths())
    assert chain(path) == [desc]


@pytest.mark.disktools
def test_sparse_extent_of_split_disk_has_no_descriptor(tmp_path: Path) -> None:
    qemu_vmdk(tmp_path, "twoGbMaxExtentSparse")
    with pytest.raises(CorruptImage):
        read_descriptor(tmp_path / "twoGbMaxExtentSparse-s001.vmdk")


@pytest.mark.disktools
def test_flat_extent_is_not_a_descriptor(tmp_path: Path) -> None:
    qemu_vmdk(tmp_path, "monolithicFlat", size="8M")
    with pytest.raises(CorruptImage):
        read_descriptor(tmp_path / "monolithicFlat-flat.vmdk")


ESXI_BASE = """# Disk DescriptorFile
version=1
encoding="UTF-8"
CID=5c3a1b2d
parentCID=ffffffff
createType="vmfs"

# Extent description
RW 83886080 VMFS "web01-flat.vmdk"

# The Disk Data Base
#DDB

ddb.adapterType = "lsilogic"
ddb.geometry.cylinders = "5221"
ddb.geometry.heads = "255"
ddb.geometry.sectors = "63"
ddb.thinProvisioned = "1"
ddb.uuid = "60 00 C2 9a"
"""

DELTA = """# Disk DescriptorFile
version=1
encoding="UTF-8"
CID={cid}
parentCID={parent_cid}
createType="vmfsSparse"
parentFileNameHint="{hint}"
# Extent description
RW 83886080 VMFSSPARSE "{name}-delta.vmdk"

# The Disk Data Base
#DDB

ddb.longContentID = "abc"
"""


def write_chain(folder: Path, hint1: str = "web01.vmdk", parent_cid_2: str = "0a0a0a0a") -> Path:
    (folder / "web01.vmdk").write_text(ESXI_BASE)
    (folder / "web01-000001.vmdk").write_text(
        DELTA.format(cid="0a0a0a0a", parent_cid="5c3a1b2d", hint=hint1, name="web01-000001")
    )
    (folder / "web01-000002.vmdk").write_text(
        DELTA.format(cid="0b0b0b0b", parent_cid=parent_cid_2, hint="web01-000001.vmdk", name="web01-000002")
    )
    return folder / "web01-000002.vmdk"


def test_esxi_vmfs_descriptor() -> None:
    desc = parse_descriptor_text(ESXI_BASE, "web01.vmdk")
    assert desc.create_type == "vmfs"
    assert desc.capacity == 40 * GIB
    assert desc.extents[0].type == "VMFS" and desc.extents[0].file == "web01-flat.vmdk"
    assert desc.ddb["ddb.thinprovisioned"] == "1"


def test_chain_resolves_parents(tmp_path: Path) -> None:
    top = write_chain(tmp_path, hint1="/vmfs/volumes/datastore1/web01/web01.vmdk")
    got = chain(top)
    assert [Path(d.path).name for d in got] == ["web01-000002.vmdk", "web01-000001.vmdk", "web01.vmdk"]
    assert [d.cid for d in got] == ["0b0b0b0b", "0a0a0a0a", "5c3a1b2d"]
    assert got[0].is_delta and got[0].create_type == "vmfsSparse" and got[0].capacity == 40 * GIB


def test_chain_cid_mismatch(tmp_path: Path) -> None:
    top = write_chain(tmp_path, parent_cid_2="deadbeef")
    with pytest.raises(BrokenChain, match="parentCID deadbeef does not match CID 0a0a0a0a"):
        chain(top)


def test_chain_missing_parent(tmp_path: Path) -> None:
    top = write_chain(tmp_path)
    (tmp_path / "web01.vmdk").unlink()
    with pytest.raises(BrokenChain, match=r"parent disk 'web01\.vmdk' not found"):
        chain(top)


def test_not_a_descriptor(tmp_path: Path) -> None:
    p = tmp_path / "junk.vmdk"
    p.write_text("hello\nworld\n")
    with pytest.raises(CorruptImage):
        read_descriptor(p)


def test_cid_compared_as_numbers(tmp_path: Path) -> None:
    """qemu-img writes CIDs without zero padding; VMware pads them. Both name the same CID."""
    (tmp_path / "base.vmdk").write_text(ESXI_BASE.replace("CID=5c3a1b2d", "CID=c3a1b2d"))
    (tmp_path / "top.vmdk").write_text(
        DELTA.format(cid="0a0a0a0a", parent_cid="0c3a1b2d", hint="base.vmdk", name="top")
    )
    assert [d.cid for d in chain(tmp_path / "top.vmdk")] == ["0a0a0a0a", "0c3a1b2d"]
