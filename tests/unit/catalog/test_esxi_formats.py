"""The ESXi parent-format rule shared by hot-add and instant recovery."""

from __future__ import annotations

import pytest

from vmrestore.catalog.esxi_formats import esxi_can_open, require_esxi_format
from vmrestore.errors import UnsupportedFormat


@pytest.mark.parametrize("fmt", ["vmfs", "vmfsSparse", "seSparse", "VMFS"])
def test_esxi_formats_accepted(fmt: str) -> None:
    assert esxi_can_open(fmt)
    require_esxi_format(fmt, "disk0")


@pytest.mark.parametrize("fmt", ["monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", ""])
def test_hosted_formats_refused_naming_the_format(fmt: str) -> None:
    assert not esxi_can_open(fmt)
    with pytest.raises(UnsupportedFormat) as info:
        require_esxi_format(fmt, "web01.vmdk")
    assert info.value.exit_code == 1
    assert info.value.to_json()["code"] == "unsupported_format"
    assert info.value.to_json()["format"] == fmt
    if fmt:
        assert fmt in str(info.value) and "web01.vmdk" in str(info.value)
