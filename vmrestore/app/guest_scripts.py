"""The programs vmrestore runs inside a guest, and how their results are read.

Every script here is a constant. Data (drive letter, SCSI target, paths, labels) reaches it only as
environment variables of the guest process (``VMR_*``), never spliced into its text or its command
line, so no label, path or letter can become a command. Windows scripts run as
``powershell.exe -EncodedCommand <base64 UTF-16LE of the constant>``; Linux scripts as ``/bin/sh -c
'<constant>'``. The guest password is in neither: it travels only in the guest-operations login.

Success is decided by the **exit code** (:data:`EXIT_MESSAGES`); the text a script writes to the
file named by ``VMR_OUT`` is fetched only for the report and may be unavailable.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from vmrestore.errors import InvalidInput, Refused, VmrestoreError

POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
SH = "/bin/sh"

# Documented exit codes of the mount/unmount/copy scripts (docs/guide-restore-into-vm.md).
EXIT_OK = 0
EXIT_LETTER_IN_USE = 10
EXIT_DISK_NOT_FOUND = 11
EXIT_ACCESS_DENIED = 12
EXIT_NO_VOLUME = 13
EXIT_MESSAGES = {
    EXIT_LETTER_IN_USE: "the drive letter is already in use in the guest; pick another with --letter",
    EXIT_DISK_NOT_FOUND: "the guest does not see the hot-added disk (SCSI target and size did not match any disk)",
    EXIT_ACCESS_DENIED: "the guest account is not an administrator (root) and may not bring disks online",
    EXIT_NO_VOLUME: "the disk came online but its volume could not be given a letter or mounted",
}

_LETTER = re.compile(r"^[D-Zd-z]$")

# --------------------------------------------------------------------------------------------- Windows

WINDOWS_MOUNT = r"""
$ErrorActionPreference = 'Stop'
$out = $env:VMR_OUT
function Report([string]$line) { if ($out) { Add-Content -LiteralPath $out -Value $line -Encoding UTF8 } }
try {
    $principal = New-Object Security.Principal.WindowsPrincipal([Security.Principal.WindowsIdentity]::GetCurrent())
    if (-not $principal.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
        Report 'access denied: the guest account is not an administrator'; exit 12
    }
    $target = [int]$env:VMR_SCSI_TARGET
    $size = [int64]$env:VMR_SIZE
    $offset = [int64]$env:VMR_VOLUME_OFFSET
    $letter = $env:VMR_LETTER
    Update-HostStorageCache
    $disk = Get-Disk | Where-Object { $_.Location -match ('Target ' + $target + ' : LUN 0') -and $_.Size -eq $size } |
        Select-Object -First 1
    if (-not $disk) { Report ('disk not found: SCSI target ' + $target + ', ' + $size + ' bytes'); exit 11 }
    if ($letter -and (Get-PSDrive -Name $letter -PSProvider FileSystem -ErrorAction SilentlyContinue)) {
        Report ('letter in use: ' + $letter); exit 10
    }
    # SAN policy leaves a hot-added disk offline and read-only; a copy of the guest's own disk carries the
    # same signature: clear read-only first, then online, and Windows gives it a new signature.
    if ($disk.IsReadOnly) { Set-Disk -Number $disk.Number -IsReadOnly $false }
    if ($disk.IsOffline) { Set-Disk -Number $disk.Number -IsOffline $false }
    $part = Get-Partition -DiskNumber $disk.Number | Where-Object { $_.Offset -eq $offset } | Select-Object -First 1
    if (-not $part) { Report ('no partition at offset ' + $offset); exit 13 }
    if (-not $letter) {
        $used = (Get-PSDrive -PSProvider FileSystem).Name
        $letter = [char[]](90..68) | ForEach-Object { [string]$_ } | Where-Object { $used -notcontains $_ } |
            Select-Object -First 1
        if (-not $letter) { Report 'no free drive letter'; exit 10 }
    }
    Get-Partition -DiskNumber $disk.Number | Where-Object { $_.DriveLetter } | ForEach-Object {
        Remove-PartitionAccessPath -DiskNumber $disk.Number -PartitionNumber $_.PartitionNumber `
            -AccessPath ($_.DriveLetter + ':\')
    }
    Set-Partition -DiskNumber $disk.Number -PartitionNumber $part.PartitionNumber -NewDriveLetter $letter
    if ($env:VMR_WRITABLE -ne '1') { Set-Disk -Number $disk.Number -IsReadOnly $true }
    Report ('LETTER=' + $letter)
    Report ('DISK=' + $disk.Number)
    exit 0
} catch [System.UnauthorizedAccessException] {
    Report ('access denied: ' + $_.Exception.Message); exit 12
} catch {
    Report ('failed: ' + $_.Exception.Message); exit 1
}
"""

WINDOWS_UNMOUNT = r"""
$ErrorActionPreference = 'Stop'
$out = $env:VMR_OUT
function Report([string]$line) { if ($out) { Add-Content -LiteralPath $out -Value $line -Encoding UTF8 } }
try {
    $target = [int]$env:VMR_SCSI_TARGET
    $size = [int64]$env:VMR_SIZE
    $disk = Get-Disk | Where-Object { $_.Location -match ('Target ' + $target + ' : LUN 0') -and $_.Size -eq $size } |
        Select-Object -First 1
    if (-not $disk) { Report 'disk not found'; exit 11 }
    Set-Disk -Number $disk.Number -IsOffline $true
    Report ('OFFLINE=' + $disk.Number)
    exit 0
} catch {
    Report ('failed: ' + $_.Exception.Message); exit 1
}
"""

# Sources come as VMR_SRC_0..VMR_SRC_<n-1> (paths relative to the mounted volume), the destination as
# VMR_DEST. Each source is one robocopy run: a folder with /E into DEST\<its name>, a file by name.
# /COPY:DAT keeps data, attributes and timestamps (/COPYALL /B adds ACLs, owner, auditing, with backup
# rights); /XJ never follows junctions (a copied profile is full of loops); /R:1 /W:1 is one retry;
# robocopy handles paths longer than 260 characters itself. The exit code is the OR of robocopy's codes.
WINDOWS_COPY = r"""
$ErrorActionPreference = 'Continue'
$out = $env:VMR_OUT
$letter = $env:VMR_LETTER
$dest = $env:VMR_DEST
$count = [int]$env:VMR_SRC_COUNT
$copyFlags = @('/COPY:DAT', '/DCOPY:T')
if ($env:VMR_COPYALL -eq '1') { $copyFlags = @('/COPYALL', '/B', '/DCOPY:T') }
$code = 0
for ($i = 0; $i -lt $count; $i++) {
    $rel = [Environment]::GetEnvironmentVariable('VMR_SRC_' + $i)
    $src = $letter + ':\' + $rel
    if (Test-Path -LiteralPath $src -PathType Container) {
        $name = Split-Path -Leaf $src
        $rcArgs = @($src, (Join-Path $dest $name), '/E') + $copyFlags + @('/XJ', '/R:1', '/W:1', '/NP', '/BYTES')
    } elseif (Test-Path -LiteralPath $src -PathType Leaf) {
        $rcArgs = @((Split-Path -Parent $src), $dest, (Split-Path -Leaf $src)) + $copyFlags +
            @('/XJ', '/R:1', '/W:1', '/NP', '/BYTES')
    } else {
        if ($out) { Add-Content -LiteralPath $out -Value ('not found: ' + $src) -Encoding UTF8 }
        $code = $code -bor 16
        continue
    }
    $text = & robocopy.exe @rcArgs
    $code = $code -bor $LASTEXITCODE
    if ($out) { $text | Out-File -LiteralPath $out -Append -Encoding UTF8 }
}
exit $code
"""

# --------------------------------------------------------------------------------------------- Linux

LINUX_MOUNT = r"""
out="${VMR_OUT:-/dev/null}"
[ "$(id -u)" = 0 ] || { echo "access denied: needs root" >>"$out"; exit 12; }
for scan in /sys/class/scsi_host/host*/scan; do echo "- - -" >"$scan" 2>/dev/null; done
sleep 1
disk=""
for dev in /sys/block/sd*; do
    [ -e "$dev/device/scsi_device" ] || continue
    addr=$(ls "$dev/device/scsi_device")
    tl=${addr#*:*:}
    [ "$tl" = "$VMR_SCSI_TARGET:0" ] || continue
    [ "$(( $(cat "$dev/size") * 512 ))" = "$VMR_SIZE" ] || continue
    disk=${dev##*/}
done
[ -n "$disk" ] || { echo "disk not found: SCSI target $VMR_SCSI_TARGET" >>"$out"; exit 11; }
part="/dev/$disk"
for p in /sys/block/"$disk"/"$disk"*; do
    [ -e "$p/start" ] || continue
    [ "$(( $(cat "$p/start") * 512 ))" = "$VMR_VOLUME_OFFSET" ] && part="/dev/${p##*/}"
done
dir="/mnt/vmrestore-$VMR_LETTER"
if mountpoint -q "$dir" 2>/dev/null; then echo "letter in use: $dir" >>"$out"; exit 10; fi
mkdir -p "$dir" || exit 12
mount -o ro "$part" "$dir" 2>>"$out" || mount -o ro,noload "$part" "$dir" 2>>"$out" || exit 13
echo "MOUNTED=$dir" >>"$out"
exit 0
"""

LINUX_UNMOUNT = r"""
out="${VMR_OUT:-/dev/null}"
dir="/mnt/vmrestore-$VMR_LETTER"
mountpoint -q "$dir" 2>/dev/null || exit 0
umount "$dir" 2>>"$out" || exit 1
rmdir "$dir" 2>/dev/null
exit 0
"""

LINUX_COPY = r"""
out="${VMR_OUT:-/dev/null}"
dir="/mnt/vmrestore-$VMR_LETTER"
code=0
i=0
mkdir -p "$VMR_DEST" || exit 16
while [ "$i" -lt "$VMR_SRC_COUNT" ]; do
    eval "rel=\${VMR_SRC_$i}"
    cp -R --preserve=timestamps -- "$dir/$rel" "$VMR_DEST/" 2>>"$out" || code=8
    i=$((i + 1))
done
exit $code
"""


@dataclass(frozen=True, slots=True)
class GuestCommand:
    """One guest program: what to start and the data it reads from its environment."""

    program: str
    arguments: str
    env: dict[str, str]


def encode_powershell(script: str) -> str:
    return base64.b64encode(script.encode("utf-16-le")).decode("ascii")


def command(script: str, windows: bool, env: dict[str, str]) -> GuestCommand:
    """A guest command for a constant ``script``; all variable data goes in ``env``."""
    for key, value in env.items():
        if not re.fullmatch(r"VMR_[A-Z0-9_]+", key) or "\0" in value or "\n" in value or "\r" in value:
            raise InvalidInput(f"A value for the guest contains a line break or NUL: {key}")
    if windows:
        args = f"-NoProfile -NonInteractive -ExecutionPolicy Bypass -EncodedCommand {encode_powershell(script)}"
        return GuestCommand(POWERSHELL, args, dict(env))
    assert "'" not in script, "Linux scripts are passed in single quotes"
    return GuestCommand(SH, f"-c '{script}'", dict(env))


def check_letter(letter: str | None) -> str | None:
    """``R`` / ``r`` / ``R:`` → ``R``; None stays None (the guest picks the next free one)."""
    if letter is None or letter == "":
        return None
    text = letter.rstrip(":")
    if not _LETTER.match(text):
        raise InvalidInput(f"A drive letter is one of D to Z, not {letter!r}")
    return text.upper()


def check_guest_dir(path: str) -> str:
    """A destination folder in the guest: absolute, no line breaks, no quotes (robocopy's parser)."""
    if not path or any(c in path for c in '\0\r\n"'):
        raise InvalidInput(f"Not a usable folder in the guest: {path!r}")
    if not (re.match(r"^[A-Za-z]:[\\/]", path) or path.startswith("\\\\") or path.startswith("/")):
        raise InvalidInput(f"Give an absolute folder in the guest, like C:\\Restore or /root/restore: {path!r}")
    return path


class GuestStepFailed(VmrestoreError):
    """A guest program ended with a non-zero exit code; the message says what the code means."""

    code = "guest_step_failed"

    def __init__(self, step: str, exit_code: int, report: str | None) -> None:
        self.step = step
        self.guest_exit_code = exit_code  # not ``exit_code``: that is the process exit status (1)
        self.report = report
        meaning = EXIT_MESSAGES.get(exit_code, f"it ended with exit code {exit_code}")
        super().__init__(f"{step} failed in the guest: {meaning}")

    def to_json(self) -> dict[str, object]:
        return {**super().to_json(), "guest_exit_code": self.guest_exit_code, "step": self.step,
                "code": {EXIT_LETTER_IN_USE: "letter_in_use", EXIT_DISK_NOT_FOUND: "disk_not_found",
                         EXIT_ACCESS_DENIED: "guest_access_denied"}.get(self.guest_exit_code, self.code)}


class GuestAccessDenied(Refused):
    code = "guest_access_denied"


def parse_letter(report: str | None) -> str | None:
    m = re.search(r"^LETTER=([A-Z])\s*$", report or "", re.M)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class RobocopySummary:
    copied: int
    skipped: int
    failed: int
    bytes: int


_FILES_LINE = re.compile(r"^\s*Files\s*:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)
_BYTES_LINE = re.compile(r"^\s*Bytes\s*:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", re.M)


def parse_robocopy(report: str | None) -> RobocopySummary | None:
    """Sum the "Files :" / "Bytes :" summary lines of every robocopy run (``/BYTES`` output).

    Columns: Total, Copied, Skipped, Mismatch, FAILED, Extras. ``None`` when no summary is present
    (the output could not be fetched): the exit code still decides success.
    """
    files = _FILES_LINE.findall(report or "")
    if not files:
        return None
    copied = sum(int(f[1]) for f in files)
    skipped = sum(int(f[2]) for f in files)
    failed = sum(int(f[4]) for f in files)
    copied_bytes = sum(int(b[1]) for b in _BYTES_LINE.findall(report or ""))
    return RobocopySummary(copied, skipped, failed, copied_bytes)


def robocopy_failed(exit_code: int) -> bool:
    """Robocopy's exit code is a bit set: 8 (some copies failed) and 16 (fatal) mean failure."""
    return exit_code >= 8


def decode_report(data: bytes | None) -> str | None:
    if data is None:
        return None
    if data.startswith(b"\xff\xfe") or data.startswith(b"\xfe\xff"):
        return data.decode("utf-16", "replace")
    return data.decode("utf-8-sig", "replace")
