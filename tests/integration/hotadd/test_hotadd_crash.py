"""Kill ``vmrestore mount start`` / ``mount stop`` at every journaled step; ``sweep`` restores the simulator.

Each case SIGKILLs the CLI process while it waits inside one step: the simulator holds the call
(bench ``-delay``) or the scripted guest's program keeps "running" (a rule with ``seconds``). A new
``vmrestore sweep`` must then leave every VM's disks and the datastores exactly as before the mount,
close the lease of an interrupted stop, and never touch the backup files.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.bench.diskfactory import DiskFactory
from tests.bench.vcsim_fixtures import VcsimFactory
from tests.integration.hotadd.hotadd_helpers import (
    EXPORT,
    GUEST_PASSWORD,
    TARGET,
    Cli,
    build_repo,
    digest,
    probe,
    setup_catalog,
    starts,
    world,
)

pytestmark = [pytest.mark.vcsim, pytest.mark.disktools, pytest.mark.slow]

DELAY_MS = 1500
SIZE = str(14 << 20)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_repo(DiskFactory(), tmp_path_factory.mktemp("backups") / "repo")


def _wait_for(predicate: object, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.parametrize(("verb", "step"), [
    ("start", "CreateNasDatastore"),
    ("start", "ReconfigVM_Task"),
    ("start", "guest"),
    ("stop", "guest"),
    ("stop", "ReconfigVM_Task"),
    ("stop", "Destroy_Task"),
])
def test_kill_at_each_step_then_sweep_restores_the_simulator(
    verb: str, step: str, repo: Path, vcsim_factory: VcsimFactory, tmp_path: Path
) -> None:
    before = digest(repo)
    delay = {step: DELAY_MS} if step != "guest" else {}
    sim = vcsim_factory(standalone_host=1, tools_running=True, nas={EXPORT: str(repo)}, delay=delay)
    slow_guest = {"VMR_WRITABLE": "0"} if verb == "start" else {"VMR_SIZE": SIZE}
    rules = [{"when": slow_guest, "seconds": 60}] if step == "guest" else []
    if verb == "stop":
        rules.insert(0, {"when": {"VMR_WRITABLE": "0"}, "exit": 0})  # the mount itself runs at once
    sim.guest_script(rules, password=GUEST_PASSWORD)
    cli = Cli(tmp_path / "home", sim)
    points = setup_catalog(cli, repo)
    with probe(sim, tmp_path) as session:
        empty = world(session)

    if verb == "stop":
        session_id = cli.run("mount", "start", points["FS01"], "--vm", TARGET)["session"]
        child = cli.popen("mount", "stop", session_id, "--yes")
    else:
        child = cli.popen("mount", "start", points["FS01"], "--vm", TARGET, "--letter", "R")
    baseline = 0 if verb == "start" else sim.methods().count(step)
    guest_baseline = len(starts(sim))
    try:
        if step == "guest":
            _wait_for(lambda: len(starts(sim)) > guest_baseline, "the guest program to start")
        else:
            _wait_for(lambda: sim.methods().count(step) > baseline, step)
        assert child.poll() is None, child.communicate()
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=30)
    time.sleep(DELAY_MS / 1000 + 0.5)  # the simulator finishes the call it was holding

    report = cli.run("sweep")
    assert report["found"], "the killed process must have left journal entries"
    assert report["failed"] == []
    with probe(sim, tmp_path) as session:
        assert world(session) == empty
    assert cli.run("mount", "list") == []
    assert cli.run("sweep")["found"] == []
    assert digest(repo) == before
