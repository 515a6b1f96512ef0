"""A session survives what vCenter does to it: wrong passwords, expiry, termination, crashes."""

from __future__ import annotations

import http.client
import threading
import time

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.vsphere.vsphere_helpers import count, open_pinned, spec_for
from vmrestore.errors import AuthFailed, Transient
from vmrestore.vsphere import inventory
from vmrestore.vsphere.properties import retrieve, retrieve_objects
from vmrestore.vsphere.session import VsphereSession
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.vcsim

SECRET = "s3cret-Pa55!"


def test_wrong_password_is_auth_failed_without_the_password(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory(fixed_login=("restore-admin", SECRET))
    spec = spec_for(sim, password="not-the-password")
    with pytest.raises(AuthFailed) as caught:
        VsphereSession.open(spec, known_hosts)
    assert "not-the-password" not in str(caught.value)
    assert "not-the-password" not in repr(spec)
    assert sim.methods()[-1] == "Login"

    with pytest.raises(AuthFailed):
        VsphereSession.open(spec_for(sim, username="someone-else"), known_hosts)

    with open_pinned(sim, known_hosts) as session:
        assert session.identity.user == "restore-admin"
        assert len(inventory.list_vms(session)) == 2


def _session_key(session: VsphereSession) -> str:
    (props,) = retrieve_objects(session, [session.content.sessionManager], ["currentSession"])
    return str(props.props["currentSession"].key)


def test_terminated_session_logs_in_again_transparently(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory()
    with open_pinned(sim, known_hosts) as worker, open_pinned(sim, known_hosts) as admin:
        old_key = _session_key(worker)
        admin.call(admin.content.sessionManager.TerminateSession, [old_key])

        before = len(sim.requests())
        vms = inventory.list_vms(worker)
        assert [vm.name for vm in vms] == ["DC0_C0_RP0_VM0", "DC0_C0_RP0_VM1"]
        # The first attempt was refused (NotAuthenticated), one new Login, then the work again.
        assert sim.methods()[before:] == [
            "CreateContainerView",
            "Login",
            "CreateContainerView",
            "RetrievePropertiesEx",
            "DestroyView",
        ]
        assert _session_key(worker) != old_key


def test_idle_expired_session_recovers(vcsim_factory: VcsimFactory, known_hosts: KnownHosts) -> None:
    sim = vcsim_factory(session_idle_timeout=0.5)
    with open_pinned(sim, known_hosts) as session:
        logins = count(sim, "Login")
        time.sleep(1.6)  # the simulator checks idleness every timeout period
        assert len(inventory.list_vms(session)) == 2
        assert count(sim, "Login") == logins + 1
        session.keepalive()
        assert sim.methods()[-1] == "CurrentTime"


def test_killed_server_is_transient_then_the_session_recovers(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory(delay={"RetrievePropertiesEx": 1500})
    session = open_pinned(sim, known_hosts)
    try:
        killer = threading.Timer(0.5, sim.kill)
        killer.start()
        started = time.monotonic()
        with pytest.raises(Transient) as caught:
            inventory.list_vms(session)  # in flight when the server dies
        killer.join()
        assert time.monotonic() - started < 1.4  # it failed on the kill, not after the delay
        # The first failure was the dropped connection; the retry's login was refused.
        chain: list[BaseException] = []
        error: BaseException | None = caught.value
        while error is not None:
            chain.append(error)
            error = error.__cause__ or error.__context__
        assert any(isinstance(e, http.client.RemoteDisconnected | ConnectionResetError) for e in chain)
        assert any(isinstance(e, ConnectionRefusedError) for e in chain)

        sim.restart()
        before = len(sim.requests())
        assert len(inventory.list_vms(session)) == 2
        assert count(sim, "Login", since=before) == 1
    finally:
        session.close()


def test_non_idempotent_call_is_not_repeated_after_a_drop(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory(delay={"PowerOffVM_Task": 1500})
    session = open_pinned(sim, known_hosts)
    try:
        vm = retrieve(session, "VirtualMachine", ["name"])[0].ref
        logins = count(sim, "Login")
        threading.Timer(0.5, sim.kill).start()
        with pytest.raises(Transient):
            session.call(vm.PowerOffVM_Task, idempotent=False)
        # Sent once, not repeated, and no login attempted for a retry.
        assert count(sim, "PowerOffVM_Task") == 1
        assert count(sim, "Login") == logins

        sim.restart()
        before = len(sim.requests())
        session.keepalive()  # NotAuthenticated on the new server → one login → CurrentTime again
        assert sim.methods()[before:] == ["CurrentTime", "Login", "CurrentTime"]
    finally:
        session.close()
