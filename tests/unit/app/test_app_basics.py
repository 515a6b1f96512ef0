"""Settings and machine policy, restore-point paths, log redaction, URL normalisation."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from vmrestore.app.connection import normalize_url, server_key
from vmrestore.app.logging_setup import RedactSecrets
from vmrestore.app.settings import load_settings
from vmrestore.errors import InvalidInput
from vmrestore.model import GuestPath, Role


def test_machine_policy_role_wins_over_the_users_own_file(tmp_path: Path) -> None:
    user = tmp_path / "settings.json"
    user.write_text(json.dumps({"role": "admin", "last_user": "alice"}))
    policy = tmp_path / "policy.json"
    assert load_settings(user, policy).role is Role.ADMIN  # no policy file: the user's own choice
    policy.write_text(json.dumps({"role": "helpdesk"}))
    settings = load_settings(user, policy)
    assert settings.role is Role.HELPDESK and settings.role_locked
    settings.save()  # saving never writes the policy's role into the user's file as a lock
    assert json.loads(user.read_text())["role"] == "helpdesk"
    assert "role_locked" not in json.loads(user.read_text())
    assert json.loads(user.read_text())["last_user"] == "alice"


def test_unreadable_settings_fall_back_to_defaults(tmp_path: Path) -> None:
    user = tmp_path / "settings.json"
    user.write_text("{not json")
    assert load_settings(user).role is Role.ADMIN


@pytest.mark.parametrize(
    ("text", "disk", "volume", "path"),
    [
        ("/", None, None, "/"),
        ("/disk1", 1, None, "/"),
        ("/disk0/vol2", 0, 2, "/"),
        ("/disk0/vol1/Users/alice/", 0, 1, "/Users/alice"),
        ("\\disk0\\vol1\\Users", 0, 1, "/Users"),
    ],
)
def test_guest_paths(text: str, disk: int | None, volume: int | None, path: str) -> None:
    where = GuestPath.parse(text)
    assert (where.disk, where.volume, where.path) == (disk, volume, path)
    assert GuestPath.parse(str(where)) == where  # format and parse agree


@pytest.mark.parametrize("text", ["/disk0/vol1/../x", "/Users", "/disk0/partition1"])
def test_bad_guest_paths_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        GuestPath.parse(text)


def test_passwords_are_scrubbed_from_log_lines() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "login <password>s3cret!</password> password=hunter2",
                               None, None)
    RedactSecrets().filter(record)
    assert "s3cret" not in record.getMessage() and "hunter2" not in record.getMessage()


def test_urls_are_normalised_to_the_sdk_endpoint() -> None:
    assert normalize_url("vc01.corp.example") == "https://vc01.corp.example/sdk"
    assert normalize_url("https://vc01:8443/") == "https://vc01:8443/sdk"
    assert server_key("https://VC01:8443/sdk") == "vc01:8443"


def test_guest_path_children_parents_and_catalog_keys() -> None:
    root = GuestPath()
    users = root.child("disk0").child("vol1").child("Users")
    assert str(users) == "/disk0/vol1/Users"
    assert str(users.child("alice")) == "/disk0/vol1/Users/alice"  # never doubled (issue 15)
    assert users.child("alice").parent == users
    assert users.parent.parent.parent == root and users.volume_root == GuestPath(0, 1)
    assert GuestPath.in_volume("disk2", 3, "/a/b.txt") == GuestPath.parse("/disk2/vol3/a/b.txt")
    assert GuestPath(0, 1).volume_folder == "disk0-vol1" and GuestPath(0, 1).is_volume_root
    assert users.is_inside_volume and not GuestPath(0, 1).is_inside_volume and users.name == "Users"
    with pytest.raises(InvalidInput):
        users.child("../etc")


def test_one_size_format_for_gui_and_cli_text() -> None:
    from vmrestore.model import format_size

    assert [format_size(v) for v in (None, 0, 1023, 1024, 1536, 5 * 1024**3, 3 * 1024**5)] == [
        "", "0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 GiB", "3.0 PiB"]
