"""Instant recovery end to end through the installed ``vmrestore`` entry point, on the simulator.

What the simulator lacks, and what the test asserts instead (shared/TESTING.md):
- it does not parse a .vmx or open parent disks: we assert on the CreateVM request's result read back
  (hardware, backings with their parent on the NFS datastore) and that RegisterVM was never asked for;
- RelocateVM_Task moves no files on the stock simulator; the bench's ``-relocate-moves`` (instant.go)
  does what vSphere does with moveAllDiskBackingsAndConsolidate (files moved, every disk a new file on
  the target without a parent). Without it, a relocate "succeeds" and moves nothing, and the app must
  say so and keep the VM running from the backup;
- it never asks the "moved or copied" question; the app sets ``uuid.action = create`` (asserted in the
  VM's extraConfig is not readable on the simulator; the spec is covered by a unit test).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyVmomi import vim

from tests.integration.instant.conftest import NVRAM, Bench, host_name, restored_name


def _disks(vm: dict[str, Any]) -> list[Any]:
    return [d for d in vm["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualDisk)]


def _nics(vm: dict[str, Any]) -> list[Any]:
    return [d for d in vm["config.hardware.device"] if isinstance(d, vim.vm.device.VirtualEthernetCard)]


def _ours(bench: Bench) -> list[str]:
    return [n for n in bench.datastores() if n.startswith("vmrestore-")]


def test_start_then_migrate_to_production(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(relocate_moves=True)
    host = host_name(bench)
    name = restored_name()
    vms_before = set(bench.vms())

    _, started, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host, "--datastore", "LocalDS_0",
                              "--wait-ip", "0")
    assert started["vm"] == name and started["state"] == "running" and started["network"] == "isolated"
    assert started["datastore"] == "LocalDS_0" and started["id"].startswith("ir-")
    backup_ds = started["backup_datastore"]
    assert backup_ds.startswith("vmrestore-ir-") and not started["reused_mount"]

    vm = bench.vms()[name]
    assert set(bench.vms()) - vms_before == {name}
    assert vm["moid"] == started["moref"] and vm["runtime.powerState"] == "poweredOn"
    assert vm["config.files.vmPathName"] == f"[LocalDS_0] {name}/{name}.vmx"
    assert vm["config.guestId"] == "otherLinux64Guest" and vm["config.hardware.memoryMB"] == 2048
    assert vm["config.hardware.numCPU"] == 2 and vm["config.firmware"] == "bios"
    assert bench.vmfs_point in vm["config.annotation"] and started["id"] in vm["config.annotation"]
    assert any(isinstance(d, vim.vm.device.VirtualLsiLogicSASController) for d in vm["config.hardware.device"])
    (disk,) = _disks(vm)
    assert disk.backing.fileName == f"[LocalDS_0] {name}/{name}.vmdk"
    folder = bench.vmfs_point.split("/", 1)[1]  # "web01/web01-2024-05-01_01-00-00"
    assert disk.backing.parent.fileName == f"[{backup_ds}] {folder}/web01.vmdk"
    (nic,) = _nics(vm)
    assert nic.connectable.startConnected is False and nic.addressType == "generated"
    # The backup's nvram was copied next to the new .vmx, byte for byte.
    assert (bench.ds_dir("LocalDS_0") / name / f"{name}.nvram").read_bytes() == NVRAM
    # Mounted read-only, and the .vmx in the backup folder was never registered.
    mounts = bench.datastores()[backup_ds]["host"]
    assert [m.mountInfo.accessMode for m in mounts] == ["readOnly"]
    assert bench.datastores()[backup_ds]["info"].nas.remoteHost == "nas01"
    assert "RegisterVM_Task" not in bench.sim.methods()

    _, listed, _ = bench.cli("instant", "list")
    assert [(r["id"], r["vm"], r["state"], r["host"], r["datastore"], r["point"]) for r in listed] == [
        (started["id"], name, "running", host, "LocalDS_0", bench.vmfs_point)]
    assert listed[0]["started"] and listed[0]["power"] == "poweredOn"

    _, migrated, _ = bench.cli("instant", "migrate", started["id"], "--datastore", "LocalDS_1", "--connect-network")
    assert migrated["state"] == "migrated" and migrated["datastore"] == "LocalDS_1"
    assert migrated["unmounted"] == backup_ds and migrated["network_connected"] == 1
    assert "RelocateVM_Task" in bench.sim.methods()
    vm = bench.vms()[name]
    (disk,) = _disks(vm)
    assert disk.backing.fileName == f"[LocalDS_1] {name}/{name}.vmdk" and disk.backing.parent is None
    assert vm["config.files.vmPathName"] == f"[LocalDS_1] {name}/{name}.vmx"
    assert _nics(vm)[0].connectable.connected is True and _nics(vm)[0].connectable.startConnected is True
    assert "Migrated to LocalDS_1" in vm["config.annotation"]
    assert backup_ds not in bench.datastores()
    assert bench.cli("instant", "list")[1] == []
    assert [r["state"] for r in bench.cli("instant", "list", "--all")[1]] == ["migrated"]
    actions = [(e["action"], e["result"]) for e in bench.cli("audit", "list")[1]]
    assert ("instant_recovery", "ok") in actions and ("migrate", "ok") in actions
    bench.assert_backup_untouched()


def test_relocate_that_moves_nothing_is_caught(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(relocate_moves=False)  # the stock simulator: success, nothing moved
    _, started, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench),
                              "--datastore", "LocalDS_0", "--name", "web01-ir", "--wait-ip", "0")
    _code, out, _err = bench.cli("instant", "migrate", started["id"], "--datastore", "LocalDS_1", expect=1)
    assert out["error"]["code"] == "still_on_backup" and started["backup_datastore"] in out["error"]["message"]
    assert [r["state"] for r in bench.cli("instant", "list")[1]] == ["running"]
    assert started["backup_datastore"] in bench.datastores(), "the backup must stay mounted: the VM runs from it"
    assert ("migrate", "failed:still_on_backup") in [(e["action"], e["result"]) for e in bench.cli("audit", "list")[1]]
    bench.cli("instant", "stop", started["id"], "--yes")
    bench.assert_backup_untouched()


def test_start_then_discard_deletes_only_our_files(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(question_on_poweron=True)  # the bench asks "moved or copied?" at power-on
    name = "web01-test"
    _, started, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), "--name", name,
                              "--network", "VM Network", "--wait-ip", "0")
    assert started["network"] == "VM Network" and started["power"] == "poweredOn"
    extra = {o.key: o.value for o in bench.vm_extra_config(name)}
    assert extra["uuid.action"] == "create"  # vSphere answers "copied" itself
    assert extra["bench.answer"] == "button.uuid.copiedTheVM"  # and a question that was asked anyway
    assert "AnswerVM" in bench.sim.methods()
    (nic,) = _nics(bench.vms()[name])
    assert nic.connectable.startConnected is True and nic.backing.deviceName == "VM Network"
    folder = bench.ds_dir(started["datastore"]) / name
    assert folder.is_dir()

    _, plan, _ = bench.cli("instant", "stop", started["id"], "--dry-run")
    assert plan["dry_run"] is True and plan["delete"]
    assert all(d["path"].startswith(f"[{started['datastore']}] {name}/") for d in plan["delete"]), plan
    assert plan["keep"] == [f"[{started['backup_datastore']}] {bench.vmfs_point.split('/', 1)[1]}/web01.vmdk"]
    assert name in bench.vms(), "a dry run changes nothing"

    _, stopped, _ = bench.cli("instant", "stop", started["id"], "--yes")
    assert stopped["state"] == "discarded" and stopped["unmounted"] == started["backup_datastore"]
    assert stopped["deleted"] == [f"[{started['datastore']}] {name}/{name}.vmdk"]
    assert name not in bench.vms() and not folder.exists() and _ours(bench) == []
    assert "Destroy_Task" in bench.sim.methods()
    assert ("instant_discard", "ok") in [(e["action"], e["result"]) for e in bench.cli("audit", "list")[1]]
    bench.assert_backup_untouched()


def test_second_start_reuses_the_read_only_mount_and_unmounts_after_the_last(bench_factory: Callable[..., Bench]
                                                                              ) -> None:
    bench = bench_factory()
    host = host_name(bench)
    _, a, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host, "--name", "a1", "--wait-ip", "0")
    _, b, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host, "--name", "b1", "--wait-ip", "0")
    assert b["reused_mount"] and b["backup_datastore"] == a["backup_datastore"]
    assert bench.sim.methods().count("CreateNasDatastore") == 1
    assert bench.cli("instant", "stop", a["id"], "--yes")[1]["unmounted"] is None  # b1 still runs from it
    assert a["backup_datastore"] in bench.datastores()
    assert bench.cli("instant", "stop", b["id"], "--yes")[1]["unmounted"] == a["backup_datastore"]
    assert _ours(bench) == []
    bench.assert_backup_untouched()


def test_name_collision_refused_before_anything(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory()
    existing = sorted(bench.vms())[0]
    _code, out, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), "--name", existing,
                             expect=1)
    assert out["error"]["code"] == "already_exists" and existing in out["error"]["message"]
    assert "CreateNasDatastore" not in bench.sim.methods() and "CreateVM_Task" not in bench.sim.methods()
    bench.assert_backup_untouched()


def test_hosted_format_point_refused_naming_the_format(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory()
    _code, out, err = bench.cli("instant", "start", bench.hosted_point, "--host", host_name(bench), expect=1)
    assert out["error"]["code"] == "unsupported_format" and out["error"]["format"] == "monolithicSparse"
    assert "monolithicSparse" in err
    assert "CreateNasDatastore" not in bench.sim.methods()
    bench.assert_backup_untouched()


def test_repository_without_export_refused(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(nfs=None)
    _code, out, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), expect=1)
    assert out["error"]["code"] == "not_found" and "NFS export" in out["error"]["message"]
    assert "CreateNasDatastore" not in bench.sim.methods()


def test_export_the_host_cannot_mount_leaves_nothing(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(nfs="nas02:/gone")  # not exported by the bench's NAS: the mount fails on the host
    vms = set(bench.vms())
    _code, _out, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), expect=1)
    assert "CreateNasDatastore" in bench.sim.methods() and "CreateVM_Task" not in bench.sim.methods()
    assert _ours(bench) == [] and set(bench.vms()) == vms
    assert bench.cli("sweep")[1]["found"] == []
    bench.assert_backup_untouched()


def test_helpdesk_refused_before_any_vcenter_call(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(role="helpdesk")
    calls = len(bench.sim.methods())
    _code, out, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", "DC0_C0_H0", expect=3)
    assert out["error"]["code"] == "role_denied"
    assert len(bench.sim.methods()) == calls, "refused before logging in"
    bench.assert_backup_untouched()


def test_vcenter_no_permission_exit_3_and_nothing_left(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory(deny=["user:CreateVM_Task:VirtualMachine.Inventory.Create"])
    vms = set(bench.vms())
    _code, out, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), expect=3)
    assert out["error"]["code"] == "no_permission" and out["error"]["privilege"] == "VirtualMachine.Inventory.Create"
    assert "CreateNasDatastore" in bench.sim.methods()  # mounted, then undone by the job's safety net
    assert _ours(bench) == [] and set(bench.vms()) == vms
    assert bench.cli("sweep")[1]["found"] == []
    assert ("instant_recovery", "failed:no_permission") in [(e["action"], e["result"])
                                                            for e in bench.cli("audit", "list")[1]]
    bench.assert_backup_untouched()


def test_newer_virtual_hardware_than_the_host_refused(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory()
    _, out, _ = bench.cli("instant", "start", bench.others["hw19"], "--host", host_name(bench), expect=1)
    assert "vmx-19" in out["error"]["message"] and "vmx-13" in out["error"]["message"]  # the simulator runs vmx-13
    assert "CreateNasDatastore" not in bench.sim.methods()
    bench.assert_backup_untouched()


def test_no_room_for_swap_and_deltas_refused(bench_factory: Callable[..., Bench]) -> None:
    bench = bench_factory()
    _, out, _ = bench.cli("instant", "start", bench.others["huge01"], "--host", host_name(bench), expect=1)
    assert out["error"]["code"] == "insufficient_space" and "MiB free" in out["error"]["message"]
    assert "CreateNasDatastore" not in bench.sim.methods()
    _, plan, _ = bench.cli("instant", "start", bench.vmfs_point, "--host", host_name(bench), "--dry-run")
    assert plan["dry_run"] and plan["needed"] < plan["free"] and plan["disks"][0]["format"] == "vmfs"
    assert "CreateNasDatastore" not in bench.sim.methods(), "a dry run changes nothing"
