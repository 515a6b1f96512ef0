"""Which backup tool left which snapshot behind: one rule per tool we can cite, with its source.

A rule matches a snapshot's *name* and, where the tool writes a fixed one, its *description* too; every
pattern is anchored (``^...$`` or an anchored prefix) and case-sensitive where the tool's casing is fixed
in its code. So a person's "before veeam upgrade", or the vSphere Client's default name
"VM Snapshot 11/2/2026, 10:00:00 AM", is never a leftover. The source of each rule is named in its
comment and in the reason the operator reads.

Kept by design, never flagged: a Veeam *replica*'s ``Restore Point …`` snapshots are the replica's restore
points (Veeam keeps one snapshot per restore point on the replica VM); removing one loses that point.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vmrestore.vsphere.snapshots.types import SnapshotRecord


@dataclass(frozen=True, slots=True)
class LeftoverRule:
    tool: str
    what: str  # what the snapshot is, in the operator's words
    source: str  # where the name comes from (shown in the reason)
    name: re.Pattern[str] | None = None  # None: the name is not looked at
    description: re.Pattern[str] | None = None  # None: the description is not looked at

    def matches(self, snapshot: SnapshotRecord) -> bool:
        if self.name is None and self.description is None:
            return False
        if self.name is not None and not self.name.fullmatch(snapshot.name or ""):
            return False
        return self.description is None or bool(self.description.fullmatch(snapshot.description or ""))

    def reason(self) -> str:
        both = self.name is not None and self.description is not None
        fields = "name and description match" if both else ("name matches" if self.name else "description matches")
        return f"{fields} {self.tool}'s {self.what} (source: {self.source})"


_UUID4 = r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"

# Patterns are used with fullmatch: each one spells out the whole name (".*" where the tool appends text).
RULES: tuple[LeftoverRule, ...] = (
    # Veeam Backup & Replication's job snapshot, fixed upper-case name; Veeam's "Snapshot Hunter" looks
    # for exactly this name (Veeam Help Center, "Snapshot Hunter"; vCheck "Backup Garbage" plugin).
    LeftoverRule("Veeam Backup & Replication", "temporary job snapshot",
                 "Veeam Help Center, Snapshot Hunter",
                 name=re.compile(r"VEEAM BACKUP TEMPORARY SNAPSHOT")),
    # The description Veeam writes on that snapshot (same source), when the name was changed by hand.
    LeftoverRule("Veeam Backup & Replication", "temporary job snapshot",
                 "Veeam Help Center, Snapshot Hunter",
                 description=re.compile(r"Please do not delete this snapshot\. It is being used by Veeam Backup\.?")),
    # ghettoVCB.sh: SNAPSHOT_NAME="ghettoVCB-snapshot-$(date +%F)" (github.com/lamw/ghettoVCB).
    LeftoverRule("ghettoVCB", "backup snapshot", "ghettoVCB.sh, SNAPSHOT_NAME",
                 name=re.compile(r"ghettoVCB-snapshot-\d{4}-\d{2}-\d{2}")),
    # Bareos VMware plugin: name "BareosTmpSnap_jobId_%s", description "Bareos Tmp Snap jobId %s jobName %s"
    # (github.com/bareos/bareos, BareosFdPluginVMware.py, create_vm_snapshot).
    LeftoverRule("Bareos", "temporary backup snapshot", "Bareos VMware plugin, create_vm_snapshot",
                 name=re.compile(r"BareosTmpSnap_jobId_\d+"),
                 description=re.compile(r"Bareos Tmp Snap jobId \d+ jobName .*", re.DOTALL)),
    # vSphere's own helper during a failed consolidation; ManageIQ's MiqVimVm: CH_SNAPSHOT_NAME =
    # /^Consolidate Helper/ (github.com/ManageIQ/vmware_web_service).
    LeftoverRule("vSphere", "consolidation helper snapshot", "ManageIQ MiqVimVm, CH_SNAPSHOT_NAME",
                 name=re.compile(r"Consolidate Helper.*", re.DOTALL)),
    # Commvault Virtual Server Agent: backup, failover and test-boot snapshots (Commvault's own test
    # automation names them: INTEGRITY_SNAPSHOT_NAME '__GX_BACKUP__', FAILOVER_SNAPSHOT_NAME '__GX_FAILOVER__',
    # TESTBOOT_SNAPSHOT_NAME '__GX_TESTBOOT__'). Live Sync keeps __GX_BACKUP__ on purpose on its source
    # VMs: the reason says so, and the operator decides.
    LeftoverRule("Commvault", "VSA snapshot (Live Sync keeps __GX_BACKUP__ on its source VMs on purpose)",
                 "Commvault VSA, INTEGRITY/FAILOVER/TESTBOOT_SNAPSHOT_NAME",
                 name=re.compile(r"__GX_(?:BACKUP|FAILOVER|TESTBOOT)__")),
    # NetBackup for VMware: "NBU_SNAPSHOT <backup host> <time>" (Veritas NetBackup for VMware guide;
    # vCheck "Backup Garbage" plugin's default NBU_SNAPSHOT).
    LeftoverRule("NetBackup", "backup snapshot", "NetBackup for VMware; vCheck Backup Garbage",
                 name=re.compile(r"NBU_SNAPSHOT(?: .*)?", re.DOTALL)),
    # VMware Consolidated Backup; ManageIQ's MiqVimVm: VCB_SNAPSHOT_NAME = '_VCB-BACKUP_'.
    LeftoverRule("VMware Consolidated Backup", "backup snapshot", "ManageIQ MiqVimVm, VCB_SNAPSHOT_NAME",
                 name=re.compile(r"_VCB-BACKUP_")),
    # NetApp SnapManager for Virtual Infrastructure / VSC; ManageIQ's MiqVimVm: NETAPP_SNAPSHOT_NAME = /^smvi/
    # (a letter right after "smvi" is another word, e.g. "smvideo", not SMVI's).
    LeftoverRule("NetApp SMVI/VSC", "backup snapshot", "ManageIQ MiqVimVm, NETAPP_SNAPSHOT_NAME",
                 name=re.compile(r"smvi(?![A-Za-z]).*", re.DOTALL)),
    # ManageIQ SmartState scan: MiqVimVm EVM_SNAPSHOT_NAME = "EvmSnapshot"; description from
    # Snapshot.evm_snapshot_description: "Snapshot for scan job: <guid>, EVM Server build: ... Server Time: ...".
    LeftoverRule("ManageIQ", "SmartState scan snapshot", "ManageIQ MiqVimVm, EVM_SNAPSHOT_NAME",
                 name=re.compile(r"EvmSnapshot"),
                 description=re.compile(r"Snapshot for scan job: [^,]+, .+? Server Time: .+", re.DOTALL)),
    # TrueNAS VMware-snapshots: name str(uuid.uuid4()), description
    # f"{datetime.now().strftime('%Y-%m-%d %H:%M:%S')} TrueNAS Created Snapshot"
    # (github.com/truenas/middleware, plugins/vmware.py).
    LeftoverRule("TrueNAS", "VMware-sync snapshot", "TrueNAS middleware, plugins/vmware.py",
                 name=re.compile(_UUID4),
                 description=re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} TrueNAS Created Snapshot")),
    # IBM Spectrum Protect for Virtual Environments (Data Protection for VMware): "TSM-VM…" snapshots
    # (also listed by check_vmware_api's backup-snapshot check).
    LeftoverRule("IBM Spectrum Protect", "backup snapshot", "IBM Spectrum Protect for VE; check_vmware_api",
                 name=re.compile(r"TSM-VM.*", re.DOTALL)),
    # vmrestore's own temporary snapshots (app/: "vmrestore-<purpose>-...").
    LeftoverRule("vmrestore", "temporary snapshot", "vmrestore", name=re.compile(r"vmrestore-.+", re.DOTALL)),
)

# A Veeam replica's restore points: "Restore Point <date> <time>" on the replica VM (Veeam Help Center,
# "Replica Restore Points"). Kept by design: never flagged, whatever a settings pattern says.
_REPLICA_POINT = re.compile(r"Restore Point \d{1,4}[./-]\d{1,2}[./-]\d{1,4}.*", re.DOTALL)
REPLICA_POINT_NOTE = "a Veeam replica's restore point: kept by design, not a leftover"


def kept_by_design(snapshot: SnapshotRecord) -> str | None:
    """Why this snapshot is never a leftover, or None."""
    if _REPLICA_POINT.fullmatch(snapshot.name or ""):
        return REPLICA_POINT_NOTE
    return None


def leftover_reason(snapshot: SnapshotRecord, patterns: Sequence[str] = ()) -> str | None:
    """Why this snapshot looks left behind by a backup tool, or None.

    ``patterns`` are the operator's own globs (settings): matched case-sensitively against the whole name
    or a whole description line.
    """
    if kept_by_design(snapshot):
        return None
    for rule in RULES:
        if rule.matches(snapshot):
            return rule.reason()
    for pattern in patterns:
        if fnmatch.fnmatchcase(snapshot.name or "", pattern):
            return f"name matches the leftover pattern '{pattern}' (source: your settings)"
        lines = (snapshot.description or "").splitlines()
        if any(fnmatch.fnmatchcase(line, pattern) for line in lines):
            return f"description matches the leftover pattern '{pattern}' (source: your settings)"
    return None
