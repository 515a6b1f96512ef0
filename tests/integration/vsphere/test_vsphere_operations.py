"""Operations against the simulator: permission denials, NFS datastores, waiting on many tasks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pyVmomi import vim

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.vsphere.vsphere_helpers import count, open_pinned
from vmrestore.errors import PermissionDenied, TaskFailed
from vmrestore.vsphere import inventory
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.tasks import wait_for_tasks
from vmrestore.vsphere.trust import KnownHosts

pytestmark = pytest.mark.vcsim


def test_denied_method_is_permission_denied_with_the_privilege(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory(deny=["helpdesk:PowerOffVM_Task:VirtualMachine.Interact.PowerOff"])
    with open_pinned(sim, known_hosts, username="helpdesk") as helpdesk:
        vm = retrieve(helpdesk, "VirtualMachine", ["name"])[0]
        with pytest.raises(PermissionDenied) as caught:
            helpdesk.call(vm.ref.PowerOffVM_Task, idempotent=False)
        assert caught.value.privilege == "VirtualMachine.Interact.PowerOff"
        assert caught.value.obj == vm.moid
        assert isinstance(caught.value.__cause__, vim.fault.NoPermission)
        assert caught.value.exit_code == 3
        assert sim.requests()[-1]["user"] == "helpdesk"

    with open_pinned(sim, known_hosts, username="admin") as admin:
        vm_ref = retrieve(admin, "VirtualMachine", ["name"])[0].ref
        wait_for_tasks(admin, [admin.call(vm_ref.PowerOffVM_Task, idempotent=False)], timeout=30)
        states = {v.moid: v.power_state for v in inventory.list_vms(admin)}
        assert states[vm_ref._moId] == "poweredOff"


def test_nas_datastore_gets_the_requested_name_over_the_mapped_dir(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts, tmp_path: Path
) -> None:
    export = tmp_path / "export"
    (export / "web01" / "2024-06-01").mkdir(parents=True)
    (export / "web01" / "2024-06-01" / "web01.vmx").write_text('displayName = "web01"\n')
    sim = vcsim_factory(nas={"nfs.example:/backups": str(export)})
    with open_pinned(sim, known_hosts) as session:
        host = retrieve(session, "HostSystem", ["configManager.datastoreSystem"])[0]
        dss = host.props["configManager.datastoreSystem"]
        spec = vim.host.NasVolume.Specification(
            remoteHost="nfs.example", remotePath="/backups/", localPath="backup-repo",
            accessMode="readOnly", type="NFS",
        )  # fmt: skip
        created = session.call(dss.CreateNasDatastore, spec, idempotent=False)

        stores = {d.name: d for d in inventory.list_datastores(session)}
        assert "backup-repo" in stores
        repo = stores["backup-repo"]
        assert repo.moid == created._moId
        assert repo.type == "NFS"
        assert os.path.realpath(repo.url) == str(export.resolve())
        assert (
            Path(repo.url) / "web01" / "2024-06-01" / "web01.vmx"
        ).read_text() == 'displayName = "web01"\n'
        request = [r for r in sim.requests() if r["method"] == "CreateNasDatastore"]
        assert len(request) == 1


def test_wait_for_tasks_follows_three_power_ons_with_one_filter(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory(vm=3, host=1)
    with open_pinned(sim, known_hosts) as session:
        vms = retrieve(session, "VirtualMachine", ["name"])
        assert len(vms) == 3
        offs = [session.call(vm.ref.PowerOffVM_Task, idempotent=False) for vm in vms]
        wait_for_tasks(session, offs, timeout=30)

        before = len(sim.requests())
        seen: list[tuple[str, int | None, str]] = []
        tasks = [session.call(vm.ref.PowerOnVM_Task, idempotent=False) for vm in vms]
        results = wait_for_tasks(session, tasks, on_progress=lambda *a: seen.append(a), timeout=30)

        assert len(results) == 3
        assert count(sim, "CreatePropertyCollector", since=before) == 1
        assert count(sim, "CreateFilter", since=before) == 1
        assert count(sim, "DestroyPropertyFilter", since=before) == 1
        assert count(sim, "DestroyPropertyCollector", since=before) == 1
        assert count(sim, "WaitForUpdatesEx", since=before) >= 1
        assert {moid for moid, _, state in seen if state == "success"} == {t._moId for t in tasks}
        assert {v.power_state for v in inventory.list_vms(session)} == {"poweredOn"}

        # Powering on a running VM fails on the server: the task's own fault, translated.
        again = [session.call(vms[0].ref.PowerOnVM_Task, idempotent=False)]
        with pytest.raises(TaskFailed) as caught:
            wait_for_tasks(session, again, timeout=30)
        assert isinstance(caught.value.__cause__, vim.fault.InvalidPowerState)


def test_empty_property_list_is_refused_before_any_request(
    vcsim_factory: VcsimFactory, known_hosts: KnownHosts
) -> None:
    sim = vcsim_factory()
    with open_pinned(sim, known_hosts) as session:
        before = len(sim.requests())
        with pytest.raises(ValueError):
            retrieve(session, "VirtualMachine", [])
        with pytest.raises(TypeError):
            retrieve(session, "VirtualMachine", "name")
        assert len(sim.requests()) == before
