"""How long does the Qt event loop stall while a 10,000-VM inventory fetch runs in the background?

Starts the bench's simulator with 2 clusters x 5,000 VMs, logs in over pinned TLS, then runs
``inventory.list_vms`` (one PropertyCollector call) the way the app does: in an executor thread under a
qasync loop. A 5 ms QTimer records the gaps between its ticks; the excess over 5 ms is the stall a user
feels. Prints worst, p99, p50 of the gaps during the fetch, and the fetch time. Goal: p99 < 50 ms.

Run: .venv/bin/python -m benchmarks.ui_lag [--vms-per-cluster 5000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from qasync import QEventLoop

from tests.bench.vcsim.build import vcsim_binary
from tests.bench.vcsim_fixtures import Vcsim, _options_to_args
from vmrestore.vsphere import inventory
from vmrestore.vsphere.session import ConnectSpec, VsphereSession
from vmrestore.vsphere.trust import KnownHosts

TICK_MS = 5


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms-per-cluster", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    work = tempfile.mkdtemp(prefix="ui-lag-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work,
                args=_options_to_args(cluster=2, host=1, vm=args.vms_per_cluster, ds=2))
    t0 = time.perf_counter()
    sim.start()
    print(f"simulator with 2 x {args.vms_per_cluster} VMs started in {time.perf_counter() - t0:.1f} s")
    try:
        session = VsphereSession.open(ConnectSpec(sim.url, sim.username, sim.password, thumbprint=sim.thumbprint),
                                      KnownHosts(os.path.join(work, "kh.json")))
        app = QApplication(sys.argv)
        loop = QEventLoop(app)
        asyncio.set_event_loop(loop)
        gaps: list[float] = []
        last = [time.perf_counter()]
        recording = [False]

        def tick() -> None:
            now = time.perf_counter()
            if recording[0]:
                gaps.append((now - last[0]) * 1000)
            last[0] = now

        timer = QTimer()
        timer.setInterval(TICK_MS)
        timer.timeout.connect(tick)
        timer.start()

        async def measure() -> None:
            for round_no in range(1, args.rounds + 1):
                gaps.clear()
                await asyncio.sleep(0.2)
                last[0] = time.perf_counter()
                recording[0] = True
                start = time.perf_counter()
                vms = await asyncio.get_running_loop().run_in_executor(None, inventory.list_vms, session)
                took = time.perf_counter() - start
                recording[0] = False
                stalls = sorted(gaps)
                p99 = stalls[int(len(stalls) * 0.99) - 1] if stalls else 0.0
                print(f"round {round_no}: {len(vms)} VMs in {took:.2f} s; loop ticks {len(stalls)}; "
                      f"gap worst {stalls[-1]:.1f} ms, p99 {p99:.1f} ms, p50 {statistics.median(stalls):.1f} ms "
                      f"(timer interval {TICK_MS} ms)")

        with loop:
            loop.run_until_complete(measure())
        session.close()
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
