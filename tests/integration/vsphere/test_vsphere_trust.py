"""Logging in with TLS verified against a pinned thumbprint, trust on first use, changed certificates."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.bench.vcsim_fixtures import Vcsim, VcsimFactory
from tests.integration.vsphere.vsphere_helpers import count, open_pinned, spec_for
from vmrestore.errors import CertificateChanged, CertificateUntrusted
from vmrestore.vsphere import certs, inventory
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.vcsim

MODEL_VMS = ["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1", "DC0_H0_VM0", "DC0_H0_VM1"]


def test_pinned_login_lists_vms_in_one_collector_call(vcsim: Vcsim, known_hosts: KnownHosts) -> None:
    with open_pinned(vcsim, known_hosts) as session:
        identity = session.identity
        assert identity.certificate_state == "pinned"
        assert identity.thumbprint == vcsim.thumbprint
        assert identity.user == vcsim.username
        assert identity.api_version == "6.5"

        before = len(vcsim.requests())
        vms = inventory.list_vms(session)
        assert count(vcsim, "RetrievePropertiesEx", since=before) == 1
        assert count(vcsim, "CreateContainerView", since=before) == 1
        assert count(vcsim, "DestroyView", since=before) == 1
        # Nothing else was read one attribute at a time.
        assert count(vcsim, "RetrieveProperties", since=before) == 0

        assert [vm.name for vm in vms] == MODEL_VMS
        assert {vm.power_state for vm in vms} == {"poweredOn"}
        hosts = {h.moid: h.name for h in inventory.list_hosts(session)}
        assert sorted(hosts.values()) == ["DC0_C0_H0", "DC0_C0_H1", "DC0_H0"]
        assert all(vm.host in hosts for vm in vms)
        (datastore,) = inventory.list_datastores(session)
        assert datastore.name == "LocalDS_0"
        assert datastore.url == vcsim.datastore_dirs["LocalDS_0"]
        assert datastore.capacity > datastore.free_space > 0
        assert all(vm.datastores == (datastore.moid,) for vm in vms)
    assert vcsim.methods()[-1] == "Logout"


def test_wrong_thumbprint_is_refused_before_login(vcsim: Vcsim, known_hosts: KnownHosts) -> None:
    wrong = "AB:" * 31 + "CD"
    before = len(vcsim.requests())
    with pytest.raises(CertificateChanged) as caught:
        open_pinned(vcsim, known_hosts, thumbprint=wrong.replace(":", "").lower())
    error = caught.value
    assert error.pinned == wrong
    assert error.presented == vcsim.thumbprint
    assert "CHANGED" in str(error) and vcsim.thumbprint in str(error) and wrong in str(error)
    assert error.exit_code == 3
    assert count(vcsim, "Login", since=before) == 0  # the password never left the machine
    assert known_hosts.get(f"127.0.0.1:{vcsim.port}") is None


def test_trust_on_first_use_pins_then_connects_without_prompt(vcsim: Vcsim, known_hosts: KnownHosts) -> None:
    asked: list[tuple[str, str]] = []

    def confirm(server: str, thumbprint: str) -> bool:
        asked.append((server, thumbprint))
        return True

    server = f"127.0.0.1:{vcsim.port}"
    with VsphereSession.open(spec_for(vcsim, thumbprint=None), known_hosts, confirm) as session:
        assert session.identity.certificate_state == "pinned"
    assert asked == [(server, vcsim.thumbprint)]
    assert KnownHosts(known_hosts.path).get(server) == vcsim.thumbprint  # persisted on disk

    def must_not_ask(server: str, thumbprint: str) -> bool:
        raise AssertionError("a pinned server must not prompt again")

    with VsphereSession.open(spec_for(vcsim, thumbprint=None), known_hosts, must_not_ask) as session:
        assert session.identity.thumbprint == vcsim.thumbprint
        assert len(inventory.list_vms(session)) == len(MODEL_VMS)


def test_unknown_certificate_without_confirmation_is_untrusted(vcsim: Vcsim, known_hosts: KnownHosts) -> None:
    before = len(vcsim.requests())
    with pytest.raises(CertificateUntrusted) as caught:
        VsphereSession.open(spec_for(vcsim, thumbprint=None), known_hosts)
    assert caught.value.thumbprint == vcsim.thumbprint
    assert vcsim.thumbprint in str(caught.value)
    assert caught.value.to_json()["thumbprint"] == vcsim.thumbprint

    with pytest.raises(CertificateUntrusted):
        VsphereSession.open(spec_for(vcsim, thumbprint=None), known_hosts, lambda server, tp: False)
    assert known_hosts.get(f"127.0.0.1:{vcsim.port}") is None
    assert count(vcsim, "Login", since=before) == 0


def test_changed_certificate_is_refused_loudly(vcsim_factory: VcsimFactory, known_hosts: KnownHosts) -> None:
    sim = vcsim_factory()
    server = f"127.0.0.1:{sim.port}"
    old = sim.thumbprint
    known_hosts.pin(server, old)
    session = VsphereSession.open(spec_for(sim, thumbprint=None), known_hosts)
    try:
        sim.restart(new_cert=True)
        assert sim.thumbprint != old
        before = len(sim.requests())

        # A session opened before the change meets the new certificate on its next connection.
        with pytest.raises(CertificateChanged) as during:
            inventory.list_vms(session)
        assert (during.value.pinned, during.value.presented) == (old, sim.thumbprint)
    finally:
        session.close()

    with pytest.raises(CertificateChanged) as caught:
        VsphereSession.open(spec_for(sim, thumbprint=None), known_hosts, lambda s, t: True)
    assert caught.value.pinned == old
    assert caught.value.presented == sim.thumbprint
    assert str(caught.value).startswith("WARNING")
    assert known_hosts.get(server) == old  # never silently re-pinned
    assert count(sim, "Login", since=before) == 0  # refused in the handshake, password never sent


def test_the_served_certificate_is_2048_bit(vcsim: Vcsim) -> None:
    der = certs.fetch_der_certificate(vcsim.host, vcsim.port)
    cert = x509.load_der_x509_certificate(der)
    key = cert.public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    assert key.key_size == 2048
    assert certs.sha256_thumbprint(der) == vcsim.thumbprint
    assert not certs.system_trusts(vcsim.host, vcsim.port)  # self-signed: only a pin can trust it
