"""Which VMDK formats an ESXi host can open as the *parent* of a linked delta (hot-add, instant recovery).

ESXi attaches only its own on-VMFS/NFS formats: the ``vmfs`` descriptor with a ``-flat`` extent that
ghettoVCB writes with ``vmkfstools -i`` (thin, zeroedthick, eagerzeroedthick), and the ``vmfsSparse`` and
``seSparse`` deltas. The hosted formats (``monolithicSparse``, ``streamOptimized``, ``monolithicFlat``) must
be imported with ``vmkfstools -i`` first, and ``twoGbMaxExtentSparse`` opens only with the host's
``multiextent`` module loaded, which we cannot see or rely on. The simulator attaches anything, so this
rule is the app's to enforce, before any vSphere call (shared/TESTING.md).
"""

from __future__ import annotations

from vmrestore.errors import UnsupportedFormat

#: createType values ESXi opens as a parent (compared case-insensitively).
ESXI_PARENT_FORMATS = frozenset({"vmfs", "vmfssparse", "sesparse", "vmfsthin"})

_WHY = {
    "monolithicsparse": "a hosted (Workstation) sparse disk",
    "streamoptimized": "a compressed export (OVF) disk",
    "monolithicflat": "a hosted flat disk",
    "twogbmaxextentsparse": "a split hosted disk (needs the host's multiextent module)",
    "twogbmaxextentflat": "a split hosted disk (needs the host's multiextent module)",
}


def esxi_can_open(create_type: str) -> bool:
    """True when ESXi can use a disk of this ``createType`` as a linked delta's parent."""
    return create_type.strip().lower() in ESXI_PARENT_FORMATS


def require_esxi_format(create_type: str, what: str) -> None:
    """Raise :class:`UnsupportedFormat` (exit 1) naming the format when ESXi cannot open ``what``."""
    if esxi_can_open(create_type):
        return
    kind = _WHY.get(create_type.strip().lower(), "not a format ESXi opens")
    raise UnsupportedFormat(
        create_type,
        f"{what} is {create_type or 'of an unknown format'} ({kind}); ESXi can attach only vmfs, vmfsSparse "
        "or seSparse disks. Restore files from it with 'files extract' or 'files push' instead.",
    )
