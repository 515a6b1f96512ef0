"""Turning a managed object id back into a pyVmomi reference, inside the vsphere package only.

Journal entries and dataclasses carry plain moids (``vm-42``); to act on one again (possibly in a
new process after a crash) the adapter needs a moref bound to the live session's stub.
"""

from __future__ import annotations

from typing import Any

from vmrestore.vsphere.properties import managed_type
from vmrestore.vsphere.session import VsphereSession


def ref(session: VsphereSession, type_name: str, moid: str) -> Any:
    """A moref of ``type_name`` (e.g. ``"VirtualMachine"``) with id ``moid`` on this session."""
    stub = session.content.rootFolder._stub
    return managed_type(type_name)(moid, stub)
