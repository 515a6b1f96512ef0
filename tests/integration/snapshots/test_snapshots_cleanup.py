"""The cleanup use case against the simulator: exact plan, removal with/without children, audit, denials."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import grow_delta, open_session, snapshot, vms
from vmrestore.app.snapshots.cleanup import CleanupCriteria, CleanupSnapshots
from vmrestore.app.snapshots.scan import ScanSnapshots
from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.errors import RoleDenied
from vmrestore.model import Action
from vmrestore.vsphere.properties import retrieve
from vmrestore.vsphere.tasks import wait_for_tasks

pytestmark = pytest.mark.vcsim


def _tree(sim, tmp: Path):  # type: ignore[no-untyped-def]
    session = open_session(sim, str(tmp))
    machines = vms(session)
    vm = machines[sorted(machines)[0]]
    ids = {
        "a": snapshot(session, vm, "a-root"),
        "b": snapshot(session, vm, "VEEAM BACKUP TEMPORARY SNAPSHOT"),
        "c": snapshot(session, vm, "c-leaf"),
    }
    return session, vm, ids


def test_remove_one_without_children_keeps_the_rest_and_is_audited(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    session, _vm, ids = _tree(sim, tmp_path)
    services = services_for(sim)
    use = CleanupSnapshots(services)

    async def go():  # type: ignore[no-untyped-def]
        report = await use.scanner.run(orphans=False)
        plan = use.plan(report, CleanupCriteria(classes=frozenset({SnapshotClass.LEFTOVER})))
        assert [i.moref for i in plan.items] == [ids["b"]]
        result = await use.run(plan)
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert [o.item.moref for o in result.removed] == [ids["b"]] and result.failed == [] and result.verified
    left = ScanSnapshots(services).run_blocking(orphans=False)
    tree = {s.moref: s.snapshot for s in left.snapshots}
    assert set(tree) == {ids["a"], ids["c"]} and tree[ids["c"]].parent == ids["a"]  # c re-parented
    entries = [e for e in services.audit.entries() if e.action == str(Action.SNAPSHOT_CLEANUP)]
    assert [(e.result, ids["b"] in e.target) for e in entries] == [("ok", True)]
    session.close()


def test_remove_with_children_takes_the_subtree_and_frees_real_bytes(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    name = sorted(machines)[0]
    vm = machines[name]
    a = snapshot(session, vm, "old-a")
    grow_delta(session, sim, vm, 50_000)
    b = snapshot(session, vm, "old-b")
    services = services_for(sim)
    use = CleanupSnapshots(services)

    async def go():  # type: ignore[no-untyped-def]
        report = await use.scanner.run(orphans=False)
        plan = use.plan(report, CleanupCriteria(vms=frozenset({name})), remove_children=True)
        assert [i.moref for i in plan.items] == [a]  # b is covered by a's subtree
        assert plan.items[0].size >= 50_000
        result = await use.run(plan)
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert [o.item.moref for o in result.removed] == [a] and result.verified
    after = ScanSnapshots(services).run_blocking(orphans=False)
    assert not [s for s in after.snapshots if s.moref in (a, b)]
    props = retrieve(session, "VirtualMachine", ["name", "snapshot"])
    assert "snapshot" not in next(o for o in props if o.moid == vm._moId).props
    session.close()


def test_helpdesk_role_is_refused_before_any_call(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    services = services_for(sim, role="helpdesk")
    use = CleanupSnapshots(services)
    report = use.scanner.run_blocking(orphans=False)  # scanning is allowed to helpdesk
    with pytest.raises(RoleDenied) as info:
        use.plan(report, CleanupCriteria(older_than_days=0))
    assert info.value.exit_code == 3
    assert "RemoveSnapshot_Task" not in sim.methods()


def test_vcenter_no_permission_is_a_failure_with_the_reason(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1, deny=["viewer:RemoveSnapshot_Task:VirtualMachine.State.RemoveSnapshot"])
    session, _vm, _ids = _tree(sim, tmp_path)
    services = services_for(sim, user="viewer")
    use = CleanupSnapshots(services)

    async def go():  # type: ignore[no-untyped-def]
        plan = use.plan(await use.scanner.run(orphans=False), CleanupCriteria(older_than_days=0))
        result = await use.run(plan)
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert result.removed == [] and len(result.failed) == 3 and result.refused
    assert all(o.error_code == "no_permission" for o in result.failed)
    assert "VirtualMachine.State.RemoveSnapshot" in (result.failed[0].reason or "")
    assert len(use.scanner.run_blocking(orphans=False).snapshots) == 3
    audit = [e.result for e in services.audit.entries() if e.action == str(Action.SNAPSHOT_CLEANUP)]
    assert audit == ["failed:no_permission"] * 3
    session.close()


def test_unticked_snapshot_is_not_removed_and_maintenance_blocks(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    session, _vm, ids = _tree(sim, tmp_path)
    services = services_for(sim)
    use = CleanupSnapshots(services)

    async def go():  # type: ignore[no-untyped-def]
        plan = use.plan(await use.scanner.run(orphans=False), CleanupCriteria(older_than_days=0))
        result = await use.run(plan.without([ids["a"]]))
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert {o.item.moref for o in result.removed} == {ids["b"], ids["c"]}
    assert [s.moref for s in use.scanner.run_blocking(orphans=False).snapshots] == [ids["a"]]
    # Host in maintenance: the pre-flight blocks the item with the reason.
    host = retrieve(session, "HostSystem", ["name"])[0]
    wait_for_tasks(session, [host.ref.EnterMaintenanceMode_Task(0)])
    plan = use.plan(use.scanner.run_blocking(orphans=False), CleanupCriteria(older_than_days=0))
    checked = use.preflight_blocking(plan)
    assert checked.ok == () and "maintenance" in checked.blocked[0][1]
    session.close()
