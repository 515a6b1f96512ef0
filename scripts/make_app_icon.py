"""Render resources/app/vmrestore.svg into the PNGs and the multi-size .ico that Windows needs.

Run after changing the SVG (the outputs are committed, so neither the app nor the build needs this script):
``QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/make_app_icon.py``

Windows picks the nearest size from the .ico for the title bar (16), the taskbar (24/32), Alt+Tab (32/40/48),
Explorer's views (48/64/256) and the installer; sizes below 256 are stored as 32-bit BMP entries (read by every
Windows version and by Inno Setup), 256 as PNG (the format Windows expects at that size).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
from PySide6.QtGui import QGuiApplication, QImage, QPainter
from PySide6.QtSvg import QSvgRenderer

APP_DIR = Path(__file__).resolve().parents[1] / "resources" / "app"
PNG_SIZES = (16, 20, 24, 32, 40, 48, 64, 128, 256)
ICO_SIZES = (16, 20, 24, 32, 40, 48, 64, 256)


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    return image


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    return bytes(data.data())


def bmp_entry(image: QImage) -> bytes:
    """A 32-bit ICO bitmap: BITMAPINFOHEADER (height doubled for the AND mask), BGRA rows bottom-up, mask."""
    size = image.width()
    rows = [bytes(image.constScanLine(y))[: size * 4] for y in range(size)]  # ARGB32 is BGRA in memory
    mask_row = b"\x00" * (((size + 31) // 32) * 4)  # transparency comes from alpha; the mask stays clear
    header = struct.pack("<IiiHHIIiiII", 40, size, size * 2, 1, 32, 0, size * size * 4, 0, 0, 0, 0)
    return header + b"".join(reversed(rows)) + mask_row * size


def write_ico(path: Path, images: dict[int, QImage]) -> None:
    entries = [(size, png_bytes(images[size]) if size >= 256 else bmp_entry(images[size])) for size in ICO_SIZES]
    offset = 6 + 16 * len(entries)
    directory, payload = b"", b""
    for size, blob in entries:
        dim = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        directory += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(blob), offset + len(payload))
        payload += blob
    path.write_bytes(struct.pack("<HHH", 0, 1, len(entries)) + directory + payload)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(APP_DIR / "vmrestore.svg"))
    if not renderer.isValid():
        print("vmrestore.svg does not parse", file=sys.stderr)
        return 1
    images = {size: render(renderer, size) for size in PNG_SIZES}
    for size, image in images.items():
        image.save(str(APP_DIR / f"vmrestore-{size}.png"), "PNG")
    write_ico(APP_DIR / "vmrestore.ico", images)
    print(f"wrote {len(images)} PNGs and vmrestore.ico ({', '.join(map(str, ICO_SIZES))} px) into {APP_DIR}")
    del app
    return 0


if __name__ == "__main__":
    sys.exit(main())
