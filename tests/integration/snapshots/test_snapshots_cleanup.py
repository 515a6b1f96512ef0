"""The cleanup use case against the simulator: exact plan, removal with/without children, audit, denials,
the young-snapshot and running-task guards, a host really in maintenance mode."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.snapshots.snaphelpers import grow_delta, open_session, snapshot, vms
from vmrestore.app.snapshots.cleanup import CleanupCriteria
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
    use = services.snapshots.cleanup

    async def go():  # type: ignore[no-untyped-def]
        report = await use.scanner.run(orphans=False)
        plan = use.plan_blocking(report, CleanupCriteria(classes=frozenset({SnapshotClass.LEFTOVER})))
        assert [i.moref for i in plan.items] == [ids["b"]]
        result = await use.run(plan)
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert [o.item.moref for o in result.removed] == [ids["b"]] and result.failed == [] and result.verified
    left = services.snapshots.scan.run_blocking(orphans=False)
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
    use = services.snapshots.cleanup

    async def go():  # type: ignore[no-untyped-def]
        report = await use.scanner.run(orphans=False)
        plan = use.plan_blocking(report, CleanupCriteria(vms=frozenset({name})), remove_children=True)
        assert [i.moref for i in plan.items] == [a]  # b is covered by a's subtree
        assert plan.items[0].size >= 50_000
        result = await use.run(plan)
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert [o.item.moref for o in result.removed] == [a] and result.verified
    after = services.snapshots.scan.run_blocking(orphans=False)
    assert not [s for s in after.snapshots if s.moref in (a, b)]
    props = retrieve(session, "VirtualMachine", ["name", "snapshot"])
    assert "snapshot" not in next(o for o in props if o.moid == vm._moId).props
    session.close()


def test_helpdesk_role_is_refused_before_any_call(
    vcsim_factory: VcsimFactory, services_for  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    services = services_for(sim, role="helpdesk")
    use = services.snapshots.cleanup
    report = use.scanner.run_blocking(orphans=False)  # scanning is allowed to helpdesk
    with pytest.raises(RoleDenied) as info:
        use.plan_blocking(report, CleanupCriteria(older_than_days=0))
    assert info.value.exit_code == 3
    assert "RemoveSnapshot_Task" not in sim.methods()


def test_vcenter_no_permission_is_a_failure_with_the_reason(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1, deny=["viewer:RemoveSnapshot_Task:VirtualMachine.State.RemoveSnapshot"])
    session, _vm, _ids = _tree(sim, tmp_path)
    services = services_for(sim, user="viewer")
    use = services.snapshots.cleanup

    async def go():  # type: ignore[no-untyped-def]
        plan = use.plan_blocking(await use.scanner.run(orphans=False), CleanupCriteria(older_than_days=0))
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


def test_unticked_snapshot_is_not_removed(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=1)
    session, _vm, ids = _tree(sim, tmp_path)
    services = services_for(sim)
    use = services.snapshots.cleanup

    async def go():  # type: ignore[no-untyped-def]
        plan = use.plan_blocking(await use.scanner.run(orphans=False), CleanupCriteria(older_than_days=0))
        result = await use.run(plan.without([ids["a"]]))
        await services.scheduler.shutdown()
        return result

    result = asyncio.run(go())
    assert {o.item.moref for o in result.removed} == {ids["b"], ids["c"]}
    assert [s.moref for s in use.scanner.run_blocking(orphans=False).snapshots] == [ids["a"]]
    session.close()


def _host_of(session, vm):  # type: ignore[no-untyped-def]
    (props,) = [o for o in retrieve(session, "VirtualMachine", ["runtime.host"]) if o.moid == vm._moId]
    host = props.props["runtime.host"]
    return host, next(o for o in retrieve(session, "HostSystem", ["name"]) if o.moid == host._moId).props["name"]


def _in_maintenance(session, host) -> bool:  # type: ignore[no-untyped-def]
    (props,) = [o for o in retrieve(session, "HostSystem", ["runtime.inMaintenanceMode"]) if o.moid == host._moId]
    return bool(props.props["runtime.inMaintenanceMode"])


def test_the_vms_host_in_maintenance_mode_blocks_its_snapshots(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    sim = vcsim_factory(vm=1, host=2)
    session, vm, _ids = _tree(sim, tmp_path)
    services = services_for(sim)
    use = services.snapshots.cleanup
    criteria = CleanupCriteria(older_than_days=0)
    host, host_name = _host_of(session, vm)
    assert not _in_maintenance(session, host)
    before = use.dry_run_blocking(use.scanner.run_blocking(orphans=False), criteria)
    assert before.preflight.blocked == () and len(before.preflight.ok) == 3
    # The VM's own host, really in maintenance mode on the simulator (read back, not assumed).
    wait_for_tasks(session, [host.EnterMaintenanceMode_Task(0)])
    assert _in_maintenance(session, host)
    during = use.dry_run_blocking(use.scanner.run_blocking(orphans=False), criteria)
    assert during.preflight.ok == () and len(during.preflight.blocked) == 3
    assert all(f"host {host_name} is in maintenance mode" in why for _i, why in during.preflight.blocked)
    assert next(b["reason"] for b in during.to_json()["blocked"]).startswith(f"host {host_name}")
    # Back out of maintenance: offered again.
    wait_for_tasks(session, [host.ExitMaintenanceMode_Task(0)])
    after = use.dry_run_blocking(use.scanner.run_blocking(orphans=False), criteria)
    assert len(after.preflight.ok) == 3
    assert "RemoveSnapshot_Task" not in sim.methods()
    session.close()


def test_young_snapshots_and_a_vm_with_a_running_task_are_never_offered(
    vcsim_factory: VcsimFactory, services_for, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    """The guards read real state: snapshot ages from the tree, a task the bench keeps running in the VM's
    recentTask (TaskManager.CreateTask, which the simulator lacks: tests/bench/vcsim/tasks.go)."""
    sim = vcsim_factory(vm=2, host=1)
    session = open_session(sim, str(tmp_path))
    machines = vms(session)
    busy_name, free_name = sorted(machines)
    busy_vm, free_vm = machines[busy_name], machines[free_name]
    busy_snap = snapshot(session, busy_vm, "VEEAM BACKUP TEMPORARY SNAPSHOT")
    free_snap = snapshot(session, free_vm, "VEEAM BACKUP TEMPORARY SNAPSHOT")
    leftovers = CleanupCriteria(classes=frozenset({SnapshotClass.LEFTOVER}))

    # Default settings: a snapshot seconds old is held back, with the reason; nothing is offered.
    guarded = services_for(sim, min_age_hours=24).snapshots.cleanup
    plan = guarded.plan_blocking(guarded.scanner.run_blocking(orphans=False), leftovers)
    assert plan.items == ()
    assert sorted(h.item.moref for h in plan.held_back) == sorted([busy_snap, free_snap])
    assert all("younger than 24 h" in h.reason for h in plan.held_back)

    # Age guard off: a backup job's task running on one VM holds that VM's snapshot back.
    use = services_for(sim).snapshots.cleanup
    info = session.content.taskManager.CreateTask(obj=busy_vm, taskTypeId="com.veeam.backup.job",
                                                  initiatedBy="svc-veeam", cancelable=False)
    assert str(info.state) == "running"
    plan = use.plan_blocking(use.scanner.run_blocking(orphans=False), leftovers)
    assert [i.moref for i in plan.items] == [free_snap]
    (held,) = plan.held_back
    assert held.item.moref == busy_snap and "com.veeam.backup.job" in held.reason
    # The task ends: the snapshot is offered again (the task stays in recentTask, its state says it ended).
    info.task.SetTaskState(state="success")
    plan = use.plan_blocking(use.scanner.run_blocking(orphans=False), leftovers)
    assert sorted(i.moref for i in plan.items) == sorted([busy_snap, free_snap]) and plan.held_back == ()
    # A task started after the plan was made: the run's own pre-flight stops it.
    late = session.content.taskManager.CreateTask(obj=busy_vm, taskTypeId="com.acme.backup", initiatedBy="svc",
                                                  cancelable=False)

    async def go():  # type: ignore[no-untyped-def]
        try:
            return await use.run(plan)
        finally:
            await use.jobs.shutdown()  # type: ignore[attr-defined]

    result = asyncio.run(go())
    assert [o.item.moref for o in result.removed] == [free_snap]
    assert [(o.item.moref, o.error_code) for o in result.failed] == [(busy_snap, "preflight")]
    assert "com.acme.backup" in (result.failed[0].reason or "")
    late.task.SetTaskState(state="success")
    session.close()
