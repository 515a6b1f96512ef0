"""Which vmrestore role may perform which action.

This is vmrestore's own gate, applied before any vSphere call; vCenter's permissions still decide per
object afterwards (a helpdesk user without ``VirtualMachine.Config.AddExistingDisk`` is refused by
vCenter even though the role allows ``mount``).

The helpdesk role restores *data* for users: it may read backups and put files back, which touches a
VM only through a temporary, journalled hot-add that the sweep removes. Everything that changes what
runs in production or what is kept is admin-only:

- ``instant_recovery``, ``migrate`` and ``instant_discard``: start, move and destroy production VMs,
  consume datastore space.
- ``snapshot_cleanup`` and ``delete``: destroy data, not reversible.
- ``repo_add``: decides which storage the app trusts and mounts on ESXi hosts as NFS.
- ``catalog_migrate``: decides where the team's shared catalog lives.

``sweep`` is allowed to helpdesk because it only removes what vmrestore itself created and journalled;
blocking it would leave disks attached after a helpdesk user's crash. Unknown (future) actions are
denied until someone adds them here on purpose.
"""

from __future__ import annotations

from collections.abc import Mapping

from vmrestore.errors import RoleDenied
from vmrestore.model import Action, Role

_HELPDESK = frozenset({
    Action.CONNECT, Action.BROWSE, Action.INDEX, Action.EXTRACT, Action.FILE_RESTORE, Action.MOUNT,
    Action.SWEEP,
})

POLICY: Mapping[Role, frozenset[Action]] = {
    Role.ADMIN: frozenset(Action),
    Role.HELPDESK: _HELPDESK,
}


def allowed(role: Role, action: Action) -> bool:
    """``True`` if ``role`` may perform ``action`` (default deny for anything not listed)."""
    return action in POLICY.get(role, frozenset())


def require(role: Role, action: Action) -> None:
    """Raise :class:`vmrestore.errors.RoleDenied` (exit code 3) unless ``role`` may ``action``."""
    if not allowed(role, action):
        raise RoleDenied(str(role), str(action))
