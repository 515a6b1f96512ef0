"""Reading a VM's ``.vmx`` configuration file as ghettoVCB copies it into each restore point.

We only need what discovery shows and what the disk reader needs: the display name, the guest OS and
the virtual disks (controller slot → VMDK file name). The format is ``key = "value"`` lines with
``#`` comments; keys are case-insensitive (ESXi writes ``fileName``, older hosts ``filename``), values
escape special characters as ``|XX`` hex, and ``.encoding`` names the character set of the file.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

from vmrestore.model import VmxController, VmxDisk, VmxHardware, VmxNic

__all__ = ["VmxController", "VmxDisk", "VmxHardware", "VmxInfo", "VmxNic", "hardware_of", "parse_vmx_text",
           "read_vmx"]

# Only these controllers hold VMDK-backed disks; "floppy" and "serial" lines must never match.
_DISK_KEY = re.compile(r"^(scsi|sata|nvme|ide)(\d+):(\d+)\.(present|filename|devicetype)$")
_ESCAPE = re.compile(r"\|([0-9A-Fa-f]{2})")
_ENCODING_LINE = re.compile(rb'^\s*\.encoding\s*=\s*"([^"]+)"', re.IGNORECASE | re.MULTILINE)
_CONTROLLER_ORDER = {"scsi": 0, "sata": 1, "nvme": 2, "ide": 3}

# A .vmx is a few KiB; a file this big is not one, and reading it whole would waste memory.
MAX_VMX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class VmxInfo:
    display_name: str | None
    guest_os: str | None
    disks: tuple[VmxDisk, ...]
    values: dict[str, str]  # every key (lower-cased) → unescaped value, for callers that need more


def _unquote(raw: str) -> str:
    raw = raw.strip()
    if len(raw) >= 2 and raw[0] == '"':
        end = raw.find('"', 1)
        raw = raw[1:end] if end != -1 else raw[1:]
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), raw)


def parse_vmx_text(text: str) -> VmxInfo:
    """Parse .vmx text; later duplicate keys win, as they do for the VMX process itself."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        key, _, raw = stripped.partition("=")
        values[key.strip().lower()] = _unquote(raw)

    slots: dict[tuple[str, int, int], dict[str, str]] = {}
    for key, value in values.items():
        m = _DISK_KEY.match(key)
        if m:
            slots.setdefault((m.group(1), int(m.group(2)), int(m.group(3))), {})[m.group(4)] = value

    disks: list[tuple[tuple[int, int, int], VmxDisk]] = []
    for (ctype, bus, unit), attrs in slots.items():
        if attrs.get("present", "").lower() != "true":
            continue
        file_name = attrs.get("filename", "")
        if not file_name.lower().endswith(".vmdk"):
            continue
        if "cdrom" in attrs.get("devicetype", "").lower():
            continue
        order = (_CONTROLLER_ORDER[ctype], bus, unit)
        disks.append((order, VmxDisk(controller_key=f"{ctype}{bus}:{unit}", file_name=file_name)))
    disks.sort(key=lambda item: item[0])

    return VmxInfo(
        display_name=values.get("displayname"),
        guest_os=values.get("guestos"),
        disks=tuple(d for _, d in disks),
        values=values,
    )


def decode_vmx(data: bytes) -> str:
    """Decode with the charset the file declares; ESXi writes UTF-8, very old hosts a Windows code page."""
    encoding = "utf-8"
    m = _ENCODING_LINE.search(data[:4096])
    if m:
        declared = m.group(1).decode("ascii", "replace")
        try:
            codecs.lookup(declared)
            encoding = declared
        except LookupError:
            encoding = "utf-8"
    return data.decode(encoding)


def read_vmx(path: str | Path) -> VmxInfo:
    """Read and parse a .vmx file. Raises OSError, UnicodeDecodeError or ValueError (not a .vmx)."""
    p = Path(path)
    if p.stat().st_size > MAX_VMX_BYTES:
        raise ValueError(f"{p.name} is {p.stat().st_size} bytes, too big to be a .vmx")
    data = p.read_bytes()
    if b"\x00" in data:
        raise ValueError(f"{p.name} is binary, not a .vmx text file")
    return parse_vmx_text(decode_vmx(data))


# -- hardware, for re-creating the VM (instant recovery) ------------------------------------------------

_CONTROLLER_KEY = re.compile(r"^(scsi|sata|nvme)(\d+)\.present$")
_NIC_KEY = re.compile(r"^ethernet(\d+)\.present$")
_SLOT = re.compile(r"^(scsi|sata|nvme|ide)(\d+):(\d+)$")


def _int(values: dict[str, str], key: str, default: int) -> int:
    try:
        return int(values.get(key, "").strip() or default)
    except ValueError:
        return default


def hardware_of(info: VmxInfo) -> VmxHardware:
    """Hardware, firmware, guest OS, controllers and NICs of a parsed .vmx (absent keys get ESXi's defaults)."""
    v = info.values
    controllers = []
    for key, value in v.items():
        m = _CONTROLLER_KEY.match(key)
        if m and value.lower() == "true":
            kind, bus = m.group(1), int(m.group(2))
            model = v.get(f"{kind}{bus}.virtualdev", "lsilogic" if kind == "scsi" else "").lower()
            controllers.append(VmxController(kind, bus, model))
    # A disk on a controller whose own line is missing still needs that controller.
    present = {(c.kind, c.bus) for c in controllers}
    for disk in info.disks:
        m = _SLOT.match(disk.controller_key)
        if m is None:
            continue
        kind, bus = m.group(1), int(m.group(2))
        if kind != "ide" and (kind, bus) not in present:
            controllers.append(VmxController(kind, bus, "lsilogic" if kind == "scsi" else ""))
            present.add((kind, bus))
    nics = []
    for key, value in v.items():
        m = _NIC_KEY.match(key)
        if m and value.lower() == "true":
            n = int(m.group(1))
            nics.append(VmxNic(n, v.get(f"ethernet{n}.virtualdev", "e1000").lower(),
                               v.get(f"ethernet{n}.networkname", "")))
    version = v.get("virtualhw.version", "").strip()
    firmware = v.get("firmware", "bios").strip().lower()
    return VmxHardware(
        hw_version=int(version) if version.isdigit() else None,
        guest_os=(info.guest_os or "other").strip(),
        firmware="efi" if firmware == "efi" else "bios",
        memory_mb=_int(v, "memsize", 1024),
        cpus=_int(v, "numvcpus", 1),
        cores_per_socket=_int(v, "cpuid.corespersocket", 1),
        controllers=tuple(sorted(controllers, key=lambda c: (_CONTROLLER_ORDER[c.kind], c.bus))),
        nics=tuple(sorted(nics, key=lambda n: n.index)),
        disks=info.disks,
        nvram=v.get("nvram") or (f"{info.display_name}.nvram" if info.display_name else None),
    )
