"""Benchmark: ``vmrestore snapshots scan --json`` against naive and plain pyVmomi reads, 10,000 VMs.

Starts the bench simulator with 2 clusters x 5,000 VMs, gives 500 of them a snapshot (every 20th VM;
every 5th of those a second, nested one), then times, in one run:

1. the whole ``vmrestore snapshots scan --json`` process: interpreter start-up, imports, login, the
   streamed VM passes, datastores, hosts and the orphan search (run alongside the VM passes), JSON
   out; ``--cli-runs`` times (the machine is shared: min and median are printed);
2. the naive pyVmomi loop: for each VM read ``name``, ``runtime.powerState``, ``layoutEx`` and
   ``config.hardware.device`` as attributes (one round trip each; all four are set on every VM, so the
   simulator's crash on unset attributes is not hit);
3. a plain pyVmomi ``RetrievePropertiesEx`` over a ContainerView for ``name, snapshot, layoutEx,
   runtime.powerState, datastore`` (pyVmomi deserialises the reply);
4. in-process, the adapter's streamed VM pass 1 alone (four small properties of every VM).

Usage: ``.venv/bin/python benchmarks/snapshot_scan.py [--vms-per-cluster 5000] [--naive-sample N]``.
``--naive-sample`` times the naive loop on N VMs and extrapolates to all (marked as such).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim, vmodl  # noqa: E402

import tests.bench.vcsim_fixtures as vcsim_fixtures  # noqa: E402
from tests.bench.vcsim.build import vcsim_binary  # noqa: E402
from tests.bench.vcsim_fixtures import Vcsim, _options_to_args  # noqa: E402
from vmrestore.vsphere import certs  # noqa: E402
from vmrestore.vsphere.session import ConnectSpec, VsphereSession  # noqa: E402
from vmrestore.vsphere.snapshots.fastretrieve import retrieve_vms  # noqa: E402
from vmrestore.vsphere.snapshots.scan import VM_PATHS  # noqa: E402
from vmrestore.vsphere.trust import KnownHosts  # noqa: E402

PC = vmodl.query.PropertyCollector
VMRESTORE = Path(sys.executable).with_name("vmrestore")  # the installed entry point, as a user runs it


def connect(sim: Vcsim):  # type: ignore[no-untyped-def]
    si = SmartConnect(host=sim.host, port=sim.port, user=sim.username, pwd=sim.password,
                      sslContext=certs.pinned_context(sim.thumbprint))
    return si, si.RetrieveContent()


def all_vms(content) -> list:  # type: ignore[no-untyped-def,type-arg]
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name="v", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=["name"])])
        return [o.obj for o in content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions()).objects]
    finally:
        view.DestroyView()


def add_snapshots(content, vms: list, every: int = 20) -> int:  # type: ignore[no-untyped-def,type-arg]
    made = 0
    for i, vm in enumerate(vms):
        if i % every:
            continue
        vm.CreateSnapshot_Task("ghettoVCB-snapshot-2026-01-31" if i % 40 == 0 else "nightly", "", False, False)
        made += 1
        if (i // every) % 5 == 0:
            vm.CreateSnapshot_Task("child", "", False, False)  # nested
    return made


def time_cli(sim: Vcsim, home: str) -> tuple[float, dict]:  # type: ignore[type-arg]
    env = {**os.environ, "VMRESTORE_HOME": home, "VMRESTORE_URL": sim.url, "VMRESTORE_USERNAME": sim.username,
           "VMRESTORE_PASSWORD": sim.password, "VMRESTORE_THUMBPRINT": sim.thumbprint, "PYTHONPATH": str(ROOT)}
    start = time.perf_counter()
    proc = subprocess.run([str(VMRESTORE), "snapshots", "scan", "--json"], env=env,
                          capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return elapsed, json.loads(proc.stdout)


def time_naive(vms: list) -> float:  # type: ignore[type-arg]
    start = time.perf_counter()
    for vm in vms:
        _ = (vm.name, vm.runtime.powerState, vm.layoutEx, vm.config.hardware.device)
    return time.perf_counter() - start


def time_plain(content) -> tuple[float, int]:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name="v", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine,
                                     pathSet=["name", "snapshot", "layoutEx", "runtime.powerState", "datastore"])])
        result = content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        count = len(result.objects)
    finally:
        view.DestroyView()
    return time.perf_counter() - start, count


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vms-per-cluster", type=int, default=5000)
    ap.add_argument("--naive-sample", type=int, default=0, help="time the naive loop on N VMs and extrapolate")
    ap.add_argument("--cli-runs", type=int, default=5, help="time the CLI process this many times")
    args = ap.parse_args()
    vcsim_fixtures.START_TIMEOUT = 600  # building 10,000 VMs takes 11-60 s on a busy 2-core machine
    work = tempfile.mkdtemp(prefix="snapbench-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work,
                args=_options_to_args(cluster=2, host=1, vm=args.vms_per_cluster, ds=1))
    t0 = time.perf_counter()
    sim.start()
    print(f"simulator with {2 * args.vms_per_cluster} VMs up in {time.perf_counter() - t0:.1f} s", flush=True)
    try:
        si, content = connect(sim)
        vms = all_vms(content)
        t0 = time.perf_counter()
        made = add_snapshots(content, vms)
        print(f"{len(vms)} VMs, {made} with snapshots (made in {time.perf_counter() - t0:.1f} s)", flush=True)

        runs = [time_cli(sim, os.path.join(work, "home")) for _ in range(max(1, args.cli_runs))]
        times = sorted(t for t, _ in runs)
        doc = runs[0][1]
        cli_s = statistics.median(times)
        snaps = sum(len(v["snapshots"]) for v in doc["vms"])
        print(f"vmrestore snapshots scan --json (whole process), {len(times)} runs: median {cli_s:.2f} s, "
              f"min {times[0]:.2f} s, max {times[-1]:.2f} s ({len(doc['vms'])} VMs with snapshots, {snaps} "
              f"snapshots, {len(doc['orphan_files'])} orphans)", flush=True)

        session = VsphereSession.open(ConnectSpec(url=sim.url, username=sim.username, password=sim.password,
                                                  thumbprint=sim.thumbprint), KnownHosts(os.path.join(work, "kh")))
        t0 = time.perf_counter()
        raw = retrieve_vms(session, VM_PATHS)
        fast_s = time.perf_counter() - t0
        session.close()
        print(f"adapter streamed VM pass alone (in process): {fast_s:.2f} s for {len(raw)} VMs", flush=True)

        plain_s, count = time_plain(content)
        print(f"plain pyVmomi RetrievePropertiesEx (5 paths, pyVmomi deserialises): {plain_s:.2f} s "
              f"for {count} VMs", flush=True)

        sample = vms[: args.naive_sample] if args.naive_sample else vms
        naive_s = time_naive(sample)
        naive_all = naive_s * len(vms) / len(sample)
        label = f"extrapolated from {len(sample)}" if len(sample) < len(vms) else "measured"
        print(f"naive per-VM attribute loop (4 reads per VM): {naive_all:.1f} s ({label}; "
              f"{naive_s:.2f} s for {len(sample)} VMs)", flush=True)
        print(f"speed-up of the whole CLI process (median) over the naive loop: {naive_all / cli_s:.1f}x "
              f"(best run {naive_all / times[0]:.1f}x); "
              f"over plain pyVmomi retrieve: {plain_s / cli_s:.2f}x", flush=True)
        Disconnect(si)
    finally:
        sim.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
