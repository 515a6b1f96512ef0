"""The role table: helpdesk restores data; production-changing and destructive actions are admin-only."""

from __future__ import annotations

import pytest

from vmrestore.engine import allowed, require
from vmrestore.errors import RoleDenied
from vmrestore.model import Action, Role

HELPDESK_ALLOWED = {"connect", "browse", "index", "extract", "file_restore", "mount", "sweep"}
HELPDESK_DENIED = {
    "instant_recovery", "migrate", "instant_discard", "snapshot_cleanup", "delete", "repo_add", "settings",
    "repo_mount", "catalog_migrate",
}


def test_every_action_is_decided() -> None:
    # A new Action must be placed on purpose: this fails until the sets above are updated.
    assert {str(a) for a in Action} == HELPDESK_ALLOWED | HELPDESK_DENIED
    assert not HELPDESK_ALLOWED & HELPDESK_DENIED


@pytest.mark.parametrize("action", list(Action))
def test_policy_table(action: Action) -> None:
    assert allowed(Role.ADMIN, action)
    assert allowed(Role.HELPDESK, action) == (str(action) in HELPDESK_ALLOWED)


def test_require_raises_role_denied() -> None:
    require(Role.HELPDESK, Action.FILE_RESTORE)
    require(Role.ADMIN, Action.DELETE)
    with pytest.raises(RoleDenied) as info:
        require(Role.HELPDESK, Action.SNAPSHOT_CLEANUP)
    assert info.value.exit_code == 3
    assert (info.value.role, info.value.action) == ("helpdesk", "snapshot_cleanup")
