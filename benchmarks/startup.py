"""Start-up as a user meets it: whole processes, beside ``python -c pass`` as the floor.

- ``vmrestore --version`` and ``vmrestore points list --json`` (a catalog with a few restore points), each a
  new process of the installed entry point, timed from spawn to exit;
- the desktop app's time to its first painted main window: a new process runs the real ``gui_main`` path
  (``run_gui`` with the real services) under ``QT_QPA_PLATFORM=offscreen``; the window's first
  ``paintEvent`` prints the time since the parent spawned it and the process's CPU time, then exits.

Each figure is the median of ``--repeat`` runs, with the CPU time (user + sys of the child) beside it: on
a shared machine the wall time measures the neighbours too, the CPU time much less. The load average is
printed with the results. Goals (issue 13): the CLI under 0.2 s, the window under 1.5 s.

Processes run with byte-code caching on (``PYTHONDONTWRITEBYTECODE`` unset, caches under a private
``PYTHONPYCACHEPREFIX``, one warm-up run first), as an installed copy runs; compiling the sources on
every start would measure the compiler. ``--instructions`` also counts each CLI process's instructions
under valgrind (callgrind): a figure the neighbours on a shared machine cannot blur (slow: minutes).

Run: .venv/bin/python -m benchmarks.startup [--repeat 7] [--instructions]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Runs in the child: the real GUI entry point, with the main window's first paint reported.
_GUI_CHILD = r"""
import os, sys, time
import vmrestore.ui.application as application
Base = application.MainWindow

class Timed(Base):
    _reported = False

    def paintEvent(self, event):
        super().paintEvent(event)
        if not Timed._reported:
            Timed._reported = True
            cpu = time.process_time()
            print(f"{time.time() - float(os.environ['BENCH_SPAWNED']):.4f} {cpu:.4f}", flush=True)
            os._exit(0)

application.MainWindow = Timed
from vmrestore.__main__ import gui_main
sys.exit(gui_main())
"""


def _venv_bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, child CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def instructions(argv: list[str], env: dict[str, str]) -> int:
    """Instructions one whole process executes (valgrind callgrind's total), children not followed."""
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    match = re.search(rb"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or match is None:
        raise SystemExit(f"callgrind of {argv} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return int(match.group(1))


def run_gui_once(env: dict[str, str]) -> tuple[float, float]:
    """(seconds from spawn to the first paint of the main window, CPU seconds of the child until then)."""
    env = dict(env, BENCH_SPAWNED=repr(time.time()), QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", _GUI_CHILD], env=env, capture_output=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise SystemExit(f"GUI child failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    wall, cpu = proc.stdout.split()[-2:]
    return float(wall), float(cpu)


def seed_catalog(env: dict[str, str], home: Path) -> int:
    """A catalog with a few restore points (the disk bench's repository), so ``points list`` lists something."""
    from datetime import datetime

    from tests.bench.diskfactory import DiskFactory, DiskSpec, PartitionSpec, PointSpec, make_repository

    repo = home / "repo"
    spec = DiskSpec("gpt", [PartitionSpec("ext4", 8, "data", {"a.txt": "x"})])
    make_repository(DiskFactory(), repo, {"vm-a": [PointSpec(datetime(2024, m, 1, 10), [spec]) for m in (1, 2, 3)]})
    vmrestore = _venv_bin("vmrestore")
    subprocess.run([vmrestore, "repo", "add", "bench", str(repo), "--json"], env=env, capture_output=True,
                   check=True)
    subprocess.run([vmrestore, "catalog", "index", "--json"], env=env, capture_output=True, check=True)
    out = subprocess.run([vmrestore, "points", "list", "--json"], env=env, capture_output=True, check=True)
    return out.stdout.count(b'"vm"')


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--no-gui", action="store_true")
    parser.add_argument("--instructions", action="store_true", help="count instructions under callgrind too")
    parser.add_argument("--compare", metavar="TREE",
                        help="also time the processes with this source tree first on PYTHONPATH (e.g. the "
                             "previous commit's worktree), side by side")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[attr-defined]
    home = Path(tempfile.mkdtemp(prefix="startup-bench-"))
    env = dict(os.environ, VMRESTORE_HOME=str(home / "home"), PYTHONPYCACHEPREFIX=str(home / "pyc"))
    env.pop("VMRESTORE_CATALOG", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    try:
        try:
            points = seed_catalog(env, home)
        except Exception as exc:  # the figures still mean something on an empty catalog: say which
            print(f"(catalog not seeded: {exc}; points list runs on an empty catalog)")
            points = 0
        vmrestore = _venv_bin("vmrestore")
        cases: list[tuple[str, list[str] | None]] = [
            ("python -c pass (floor)", [sys.executable, "-c", "pass"]),
            ("vmrestore --version", [vmrestore, "--version"]),
            (f"vmrestore points list --json ({points} points)", [vmrestore, "points", "list", "--json"]),
        ]
        if not args.no_gui:
            cases.append(("GUI: spawn to first painted window", None))
        trees = [("", env)]
        if args.compare:
            other = dict(env, PYTHONPATH=args.compare, PYTHONPYCACHEPREFIX=str(home / "pyc-compare"))
            trees.append((f" [{args.compare}]", other))
        cases_env = [(label + tag, argv, tree_env) for tag, tree_env in trees for label, argv in cases
                     if not (tag and label.startswith("python"))]
        print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores")
        print(f"{'process':60s} {'wall median':>12s} {'wall min':>9s} {'CPU median':>11s}"
              + ("  instructions" if args.instructions else ""))
        for label, argv, tree_env in sorted(cases_env, key=lambda c: cases.index(
                next(x for x in cases if c[0].startswith(x[0])))):
            run_once(argv, tree_env) if argv else run_gui_once(tree_env)  # warm-up: writes the byte-code caches
            runs = [run_once(argv, tree_env) if argv else run_gui_once(tree_env) for _ in range(args.repeat)]
            walls, cpus = [w for w, _ in runs], [c for _, c in runs]
            count = f"  {instructions(argv, tree_env) / 1e6:9.0f} M" if args.instructions and argv else ""
            print(f"{label:60s} {statistics.median(walls):10.3f} s {min(walls):7.3f} s "
                  f"{statistics.median(cpus):9.3f} s{count}")
        print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
