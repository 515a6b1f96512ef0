"""Run one of vmrestore's guest scripts and decide by its exit code (blocking; call from a job thread).

The script's report goes to a temporary file in the guest (``VMR_OUT``); it is fetched afterwards
for the job log only. A failed fetch (the workstation often cannot reach ESXi's port 443) is logged
and does not change the outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from vmrestore.app.guest_scripts import GuestCommand, command, decode_report
from vmrestore.model import GuestCredentials
from vmrestore.vsphere import guestops
from vmrestore.vsphere.session import VsphereSession

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class GuestRun:
    exit_code: int
    report: str | None  # None: the output could not be fetched


def run_script(
    session: VsphereSession,
    vm: str,
    creds: GuestCredentials,
    script: str,
    windows: bool,
    env: dict[str, str],
    *,
    timeout: float = 900.0,
    check_cancelled: Callable[[], None] | None = None,
) -> GuestRun:
    """Start the constant ``script`` with ``env`` as its data, wait for its exit code, fetch its report."""
    out = guestops.create_temp_file(session, vm, creds, "vmrestore-", ".log")
    cmd: GuestCommand = command(script, windows, {**env, "VMR_OUT": out})
    try:
        pid = guestops.start_program(session, vm, creds, cmd.program, cmd.arguments, cmd.env)
        code = guestops.wait_for_exit(session, vm, creds, pid, timeout=timeout, check_cancelled=check_cancelled)
        report = decode_report(guestops.download(session, vm, creds, out))
    finally:
        try:
            guestops.delete_file(session, vm, creds, out)
        except Exception as exc:  # cleanup of a temp file must not hide the real outcome
            log.warning("could not delete the guest temp file %s: %s", out, type(exc).__name__)
    log.info("guest script in %s ended with exit code %s", vm, code)
    return GuestRun(code, report)
