"""The resources folder: found the same way from the source tree and a bundle; icon set complete and licensed."""

from __future__ import annotations

import shutil
import struct
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from vmrestore import resources

REPO = Path(__file__).resolve().parents[3]


def test_source_tree_resources_are_found() -> None:
    assert resources.resources_dir() == REPO / "resources"


@pytest.mark.parametrize("area", sorted(resources.AREA_ICONS))
def test_every_area_has_a_monochrome_svg(area: str) -> None:
    path = resources.area_icon_path(area)
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("viewBox") == "0 0 24 24"
    paths = list(root.iter("{http://www.w3.org/2000/svg}path"))
    assert paths and all(p.get("d") for p in paths)
    # ui/icons.py colours the icon by giving the root a fill: no element may carry its own colour
    assert not [e for e in root.iter() if e.get("fill") or e.get("stroke")]


def test_icon_set_has_its_licence_beside_it() -> None:
    text = (REPO / "resources" / "icons" / "LICENSE").read_text()
    assert "MIT License" in text and "Permission is hereby granted" in text and "@fluentui/svg-icons" in text


def test_unknown_icon_is_a_clear_error() -> None:
    with pytest.raises(FileNotFoundError, match="no icon named 'nope'"):
        resources.icon_path("nope")


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def test_app_icon_pngs_have_their_sizes() -> None:
    for size in resources.APP_ICON_SIZES:
        assert _png_size(resources.app_icon_path("png", size)) == (size, size)
    with pytest.raises(ValueError, match="no 17 px PNG"):
        resources.app_icon_path("png", 17)


def test_app_ico_holds_16_to_256_px() -> None:
    data = resources.app_icon_path("ico").read_bytes()
    reserved, kind, count = struct.unpack("<HHH", data[:6])
    assert (reserved, kind) == (0, 1)
    sizes = []
    for i in range(count):
        width, height, _colors, _res, planes, bits, length, offset = struct.unpack(
            "<BBBBHHII", data[6 + 16 * i : 22 + 16 * i]
        )
        size = width or 256
        assert (height or 256) == size and planes == 1 and bits == 32
        blob = data[offset : offset + length]
        assert len(blob) == length
        if size == 256:
            assert blob[:8] == b"\x89PNG\r\n\x1a\n"
        else:  # 32-bit DIB: BITMAPINFOHEADER, pixels, AND mask
            header_size, dib_w, dib_h = struct.unpack("<Iii", blob[:12])
            assert (header_size, dib_w, dib_h) == (40, size, 2 * size)
            assert length == 40 + size * size * 4 + ((size + 31) // 32) * 4 * size
            pixels = blob[40 : 40 + size * size * 4]
            assert any(pixels[i + 3] == 255 for i in range(0, len(pixels), 4))  # opaque tile, not empty
        sizes.append(size)
    assert sizes == [16, 20, 24, 32, 40, 48, 64, 256]


def test_bundle_location_is_used_when_frozen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PyInstaller sets sys._MEIPASS to the bundle's folder; the spec puts resources/ inside it.
    shutil.copytree(REPO / "resources", tmp_path / "resources")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert resources.resources_dir() == tmp_path / "resources"
    assert resources.app_icon_path("ico") == tmp_path / "resources" / "app" / "vmrestore.ico"


def test_override_and_broken_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(REPO / "resources", tmp_path / "res")
    monkeypatch.setenv("VMRESTORE_RESOURCES", str(tmp_path / "res"))
    assert resources.resources_dir() == tmp_path / "res"
    # an override without the files falls through to the next place rather than breaking the app
    monkeypatch.setenv("VMRESTORE_RESOURCES", str(tmp_path / "empty"))
    assert resources.resources_dir() == REPO / "resources"
