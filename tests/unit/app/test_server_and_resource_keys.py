"""One definition each: the server key (keyring and known_hosts) and job/lock resource keys (model.py)."""

from __future__ import annotations

import pytest

from vmrestore.app.connection import server_key
from vmrestore.engine.resourcelock import datastore_key
from vmrestore.errors import InvalidInput
from vmrestore.model import ResourceKey, ResourceKind, ServerKey
from vmrestore.vsphere.session import _parse_url


@pytest.mark.parametrize("spelling", [
    "vc01.corp.example", "VC01.corp.example", "https://vc01.corp.example/sdk", "vc01.corp.example:443",
    "https://Vc01.Corp.Example:443/", " vc01.corp.example ",
])
def test_every_spelling_of_a_server_is_one_key(spelling: str) -> None:
    # The keyring's key (ConnectionService) and the known_hosts key (the session) are the same string.
    assert server_key(spelling) == _parse_url(spelling).server == "vc01.corp.example:443"


def test_server_key_keeps_other_ports_and_ipv6() -> None:
    assert str(ServerKey.parse("https://vc01:8443/sdk")) == "vc01:8443"
    assert str(ServerKey.parse("https://[fe80::1]:8443/sdk")) == "[fe80::1]:8443"
    assert ServerKey.parse("[FE80::1]") == ServerKey("fe80::1", 443)
    with pytest.raises(InvalidInput):
        server_key("https://:443/sdk")
    with pytest.raises(ValueError):
        ServerKey.parse("vc01:notaport")


def test_resource_keys_round_trip_and_name_their_kind() -> None:
    for key in (ResourceKey.vm("vm-42"), ResourceKey.host("host-7"), ResourceKey.repo("nas01"),
                ResourceKey.point("nas01/web01/web01-2026-11-20_01-00-00"),
                ResourceKey.datastore("VC01.corp.example", "ds:1")):
        assert ResourceKey.parse(str(key)) == key
    assert str(ResourceKey.vm("vm-42")) == "vm:vm-42"
    assert ResourceKey.parse("datastore:vc01:443/ds1").kind is ResourceKind.DATASTORE
    for bad in ("vm", "vm:", "disk:x", ":x"):
        with pytest.raises(ValueError):
            ResourceKey.parse(bad)


def test_datastore_lock_key_is_per_server_whatever_its_spelling() -> None:
    """The cross-process lock of one datastore is the same lock however the server was typed."""
    assert datastore_key("vc01", "ds1") == datastore_key("https://VC01:443/sdk", "ds1") == "datastore:vc01:443/ds1"
    assert datastore_key("vc01", "ds1") != datastore_key("vc02", "ds1")
