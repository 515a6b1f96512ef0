"""The leftover classifier: each cited tool's rule, positive and negative, and what is never a leftover."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vmrestore.app.snapshots.classify import Thresholds, build_report
from vmrestore.app.snapshots.leftovers import RULES, kept_by_design, leftover_reason
from vmrestore.app.snapshots.types import SnapshotClass
from vmrestore.vsphere.snapshots.types import ScanResult, SnapshotRecord, VmSnapshotState

NOW = datetime(2026, 11, 26, tzinfo=UTC)
UUID = "3f2b8c1e-9a4d-4e6f-8b7a-0c1d2e3f4a5b"


def snap(name: str, description: str = "") -> SnapshotRecord:
    return SnapshotRecord("snapshot-1", name, description, NOW - timedelta(days=3), False, False, "poweredOff",
                          None, 0, True)


# (tool, name, description): what each tool really writes (see the rule's source).
POSITIVE = [
    ("Veeam Backup & Replication", "VEEAM BACKUP TEMPORARY SNAPSHOT", "Please do not delete this snapshot."),
    ("Veeam Backup & Replication", "renamed by hand",
     "Please do not delete this snapshot. It is being used by Veeam Backup."),
    ("ghettoVCB", "ghettoVCB-snapshot-2026-01-31", ""),
    ("Bareos", "BareosTmpSnap_jobId_4711", "Bareos Tmp Snap jobId 4711 jobName backup-web01"),
    ("vSphere", "Consolidate Helper- 0", ""),
    ("Commvault", "__GX_BACKUP__", ""),
    ("Commvault", "__GX_FAILOVER__", ""),
    ("Commvault", "__GX_TESTBOOT__", ""),
    ("NetBackup", "NBU_SNAPSHOT nbu-media01 1763812345", ""),
    ("VMware Consolidated Backup", "_VCB-BACKUP_", ""),
    ("NetApp SMVI/VSC", "smvi_4f1e0b4c-2d7e-4c55-9a51-7a1f4b1c2d3e", ""),
    ("ManageIQ", "EvmSnapshot",
     "Snapshot for scan job: 8b1f3c2e-11aa-4bb2-9cc3-0d4e5f607182, EVM Server build: 20241120 Server Time: "
     "2026-11-25T10:00:00Z"),
    ("TrueNAS", UUID, "2026-11-25 02:00:01 TrueNAS Created Snapshot"),
    ("IBM Spectrum Protect", "TSM-VM 2026-11-25 02:00", ""),
    ("vmrestore", "vmrestore-mount-7", ""),
]

NEGATIVE = [
    ("a person's note about Veeam", "before veeam upgrade", ""),
    ("the vSphere Client's default name", "VM Snapshot 11/2/2026, 10:00:00 AM", ""),
    ("Veeam's name, other casing", "Veeam Backup Temporary Snapshot", ""),
    ("Veeam's name inside other text", "old VEEAM BACKUP TEMPORARY SNAPSHOT copy", ""),
    ("ghettoVCB, other casing", "ghettovcb-snapshot-2026-01-31", ""),
    ("ghettoVCB without a date", "ghettoVCB-snapshot-latest", ""),
    ("Bareos name without Bareos' description", "BareosTmpSnap_jobId_4711", "taken by hand"),
    ("Consolidate Helper not at the start", "before Consolidate Helper", ""),
    ("Commvault, other casing", "__gx_backup__", ""),
    ("Commvault-like, unknown suffix", "__GX_OTHER__", ""),
    ("NetBackup, other casing", "nbu_snapshot host 1", ""),
    ("NetBackup prefix glued to a word", "NBU_SNAPSHOTS", ""),
    ("VCB inside other text", "pre_VCB-BACKUP_test", ""),
    ("a word starting with smvi", "smvideo-test", ""),
    ("SMVI, other casing", "SMVI_backup", ""),
    ("EvmSnapshot without a scan-job description", "EvmSnapshot", "taken by hand"),
    ("TrueNAS description on a person's name", "nightly", "2026-11-25 02:00:01 TrueNAS Created Snapshot"),
    ("a UUID name without TrueNAS' description", UUID, "before upgrade"),
    ("TSM-VM not at the start", "old TSM-VM", ""),
    ("a Veeam replica's restore point", "Restore Point 11/25/2026 2:00:12 AM", ""),
    ("vmrestore- with nothing after", "vmrestore-", ""),
]


@pytest.mark.parametrize(("tool", "name", "description"), POSITIVE)
def test_each_cited_tool_is_recognised_and_named_with_its_source(tool: str, name: str, description: str) -> None:
    reason = leftover_reason(snap(name, description))
    assert reason is not None, name
    rule = next(r for r in RULES if r.tool == tool and r.matches(snap(name, description)))
    assert tool in reason and f"(source: {rule.source})" in reason


@pytest.mark.parametrize(("why", "name", "description"), NEGATIVE)
def test_never_a_leftover(why: str, name: str, description: str) -> None:
    assert leftover_reason(snap(name, description)) is None, why


def test_every_rule_has_a_positive_case_and_a_source() -> None:
    covered = {tool for tool, _n, _d in POSITIVE}
    assert {r.tool for r in RULES} <= covered
    assert all(r.source for r in RULES)


def test_replica_restore_points_are_kept_by_design_even_against_a_settings_pattern() -> None:
    point = snap("Restore Point 11/25/2026 2:00:12 AM", "")
    assert kept_by_design(point) is not None
    assert leftover_reason(point, ["Restore Point*"]) is None
    vm = VmSnapshotState("vm-1", "web01_replica", "poweredOff", None, (), False, (point,))
    (s,) = build_report(ScanResult(NOW, (vm,), ()), Thresholds(), NOW).snapshots
    assert SnapshotClass.LEFTOVER not in s.classes and any("kept by design" in r for r in s.reasons)


def test_settings_patterns_are_case_sensitive_and_name_their_source() -> None:
    assert leftover_reason(snap("acme-temp-1"), ["acme-temp-*"]) == \
        "name matches the leftover pattern 'acme-temp-*' (source: your settings)"
    assert leftover_reason(snap("ACME-TEMP-1"), ["acme-temp-*"]) is None
    assert leftover_reason(snap("nightly", "line one\nacme-temp-2"), ["acme-temp-*"]) is not None


def test_the_cleanup_guard_is_a_setting_24_hours_by_default(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import json

    from vmrestore.app.settings import AppSettings, load_settings

    assert AppSettings().leftover_patterns == []  # the cited tools are built-in rules, not editable globs
    assert load_settings(tmp_path / "none.json").snapshot_cleanup_min_age_hours == 24.0
    (tmp_path / "settings.json").write_text(json.dumps({"snapshot_cleanup_min_age_hours": 6}))
    assert load_settings(tmp_path / "settings.json").snapshot_cleanup_min_age_hours == 6
