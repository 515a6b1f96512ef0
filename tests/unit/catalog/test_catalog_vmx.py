"""Parsing .vmx files as ESXi writes them."""

from __future__ import annotations

from pathlib import Path

import pytest

from vmrestore.catalog.vmx import VmxDisk, parse_vmx_text, read_vmx

VMX = """.encoding = "UTF-8"
config.version = "8"
virtualHW.version = "19"
displayName = "web01 |22prod|22"
guestOS = "windows2019srv-64"
# a comment with scsi0:5.fileName = "commented.vmdk"
scsi0.present = "TRUE"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "web01.vmdk"
SCSI0:1.PRESENT = "true"
scsi0:1.FILENAME = "/vmfs/volumes/datastore2/web01/web01_1.vmdk"
scsi0:2.present = "FALSE"
scsi0:2.fileName = "disabled.vmdk"
sata0:0.present = "TRUE"
sata0:0.deviceType = "cdrom-image"
sata0:0.fileName = "/vmfs/volumes/iso/win.iso"
sata0:1.present = "TRUE"
sata0:1.deviceType = "cdrom-raw"
sata0:1.fileName = "odd.vmdk"
nvme0:0.present = "TRUE"
nvme0:0.fileName = "sub/web01_2.vmdk"
ide1:0.present = "TRUE"
ide1:0.fileName = "web01_3.vmdk"
ide1:1.fileName = "no-present-line.vmdk"
floppy0:0.present = "TRUE"
floppy0:0.fileName = "floppy.vmdk"
unquoted = bare value
"""


def test_disks_names_and_filters() -> None:
    info = parse_vmx_text(VMX)
    assert info.display_name == 'web01 "prod"'
    assert info.guest_os == "windows2019srv-64"
    assert info.disks == (
        VmxDisk("scsi0:0", "web01.vmdk"),
        VmxDisk("scsi0:1", "/vmfs/volumes/datastore2/web01/web01_1.vmdk"),
        VmxDisk("nvme0:0", "sub/web01_2.vmdk"),
        VmxDisk("ide1:0", "web01_3.vmdk"),
    )
    assert info.values["unquoted"] == "bare value"


def test_read_with_declared_encoding(tmp_path: Path) -> None:
    p = tmp_path / "x.vmx"
    p.write_bytes('.encoding = "windows-1252"\ndisplayName = "Büro"\n'.encode("cp1252"))
    assert read_vmx(p).display_name == "Büro"
    p.write_bytes('.encoding = "UTF-8"\ndisplayName = "Büro"\n'.encode())
    assert read_vmx(p).display_name == "Büro"


def test_binary_or_garbage_is_rejected(tmp_path: Path) -> None:
    p = tmp_path / "x.vmx"
    p.write_bytes(b"\x00\x01\x02KDMV" * 10)
    with pytest.raises(ValueError):
        read_vmx(p)
    p.write_bytes(b'displayName = "\xff\xfe"\n')
    with pytest.raises(UnicodeDecodeError):
        read_vmx(p)
