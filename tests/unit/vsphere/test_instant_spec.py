"""The instant VM's CreateVM spec built from a backup's .vmx: hardware, linked deltas, isolated NICs, new identity."""

from __future__ import annotations

from pyVmomi import vim

from vmrestore.app.instant.plan import OVERHEAD_BYTES, MiB, needed_bytes
from vmrestore.catalog.vmx import hardware_of, parse_vmx_text
from vmrestore.vsphere.instant_vm import InstantDisk, InstantVmSpec, config_spec, delta_file, guest_id

VMX = """
displayName = "fs01"
guestOS = "windows9srv-64"
virtualHW.version = "14"
firmware = "efi"
memsize = "8192"
numvcpus = "4"
cpuid.coresPerSocket = "2"
scsi0.present = "TRUE"
scsi0.virtualDev = "pvscsi"
scsi0:0.present = "TRUE"
scsi0:0.fileName = "fs01.vmdk"
sata0:1.present = "TRUE"
sata0:1.fileName = "fs01_1.vmdk"
ethernet0.present = "TRUE"
ethernet0.virtualDev = "vmxnet3"
ethernet0.networkName = "Prod LAN"
ethernet0.addressType = "static"
ethernet0.address = "00:50:56:aa:bb:cc"
ethernet1.present = "FALSE"
floppy0.present = "TRUE"
"""


def test_hardware_of_reads_firmware_controllers_nics_and_nvram() -> None:
    hw = hardware_of(parse_vmx_text(VMX))
    assert (hw.hw_version, hw.firmware, hw.memory_mb, hw.cpus, hw.cores_per_socket) == (14, "efi", 8192, 4, 2)
    assert [(c.kind, c.bus, c.model) for c in hw.controllers] == [("scsi", 0, "pvscsi"), ("sata", 0, "")]
    assert [(n.index, n.model, n.network) for n in hw.nics] == [(0, "vmxnet3", "Prod LAN")]
    assert [d.controller_key for d in hw.disks] == ["scsi0:0", "sata0:1"]
    assert hw.nvram == "fs01.nvram"


def test_guest_ids() -> None:
    assert guest_id("windows9srv-64") == "windows9Server64Guest"
    assert guest_id("otherlinux-64") == "otherLinux64Guest"
    assert guest_id("ubuntu-64") == "ubuntu64Guest"
    assert guest_id("rhel8-64") == "rhel8_64Guest"
    assert guest_id("windows9") == "windows9Guest"
    assert guest_id("no-such-os-64") == "otherGuest64"


def _spec(network: str | None) -> InstantVmSpec:
    hw = hardware_of(parse_vmx_text(VMX))
    disks = tuple(InstantDisk(slot=d.controller_key, capacity=(n + 1) << 30,
                              parent=f"[vmrestore-ir-1] fs01/fs01-2026-11-20_01-00-00/{d.file_name}",
                              file=delta_file("ds1", "fs01-restored", n)) for n, d in enumerate(hw.disks))
    return InstantVmSpec(name="fs01-restored", datastore="ds1", hardware=hw, disks=disks, network=network,
                         nic_backing="VM Network", hw_version=hw.hw_version, annotation="instant")


def test_config_spec_gives_linked_deltas_over_the_backup_and_a_new_identity() -> None:
    spec = config_spec(_spec(None))
    assert spec.files.vmPathName == "[ds1] fs01-restored/fs01-restored.vmx"
    assert (spec.version, spec.firmware, spec.guestId) == ("vmx-14", "efi", "windows9Server64Guest")
    assert {o.key: o.value for o in spec.extraConfig}["uuid.action"] == "create"
    devices = [c.device for c in spec.deviceChange]
    disks = [d for d in devices if isinstance(d, vim.vm.device.VirtualDisk)]
    assert [d.backing.fileName for d in disks] == ["[ds1] fs01-restored/fs01-restored.vmdk",
                                                   "[ds1] fs01-restored/fs01-restored_1.vmdk"]
    assert [d.backing.parent.fileName for d in disks] == [
        "[vmrestore-ir-1] fs01/fs01-2026-11-20_01-00-00/fs01.vmdk",
        "[vmrestore-ir-1] fs01/fs01-2026-11-20_01-00-00/fs01_1.vmdk"]
    assert all(c.fileOperation == "create" for c in spec.deviceChange
               if isinstance(c.device, vim.vm.device.VirtualDisk))
    scsi = next(d for d in devices if isinstance(d, vim.vm.device.ParaVirtualSCSIController))
    sata = next(d for d in devices if isinstance(d, vim.vm.device.VirtualAHCIController))
    assert [d.controllerKey for d in disks] == [scsi.key, sata.key] and [d.unitNumber for d in disks] == [0, 1]
    (nic,) = [d for d in devices if isinstance(d, vim.vm.device.VirtualEthernetCard)]
    assert isinstance(nic, vim.vm.device.VirtualVmxnet3)
    # Isolated: a generated MAC (never the backup's static one) and not connected at power-on.
    assert nic.addressType == "generated" and not nic.macAddress
    assert nic.connectable.startConnected is False and nic.backing.deviceName == "VM Network"


def test_config_spec_on_a_port_group_connects_at_power_on() -> None:
    (nic,) = [c.device for c in config_spec(_spec("Recovery LAN")).deviceChange
              if isinstance(c.device, vim.vm.device.VirtualEthernetCard)]
    assert nic.connectable.startConnected is True and nic.backing.deviceName == "Recovery LAN"


def test_room_asked_for_swap_overhead_and_a_tenth_of_the_disks() -> None:
    hw = hardware_of(parse_vmx_text(VMX))
    assert needed_bytes(hw, [100 << 30]) == 8192 * MiB + OVERHEAD_BYTES + (10 << 30)
