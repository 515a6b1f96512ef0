"""Benchmark: ``vmrestore snapshots scan --json`` against plain and naive pyVmomi reads, at vCenter's maximum.

Starts the bench simulator with ``--clusters`` (8) x ``--vms-per-cluster`` (5,000) = 40,000 VMs, gives
every ``--snapshot-every`` (10th) VM a snapshot (4,000; every 5th of those a second, nested one), then
times, in one run:

1. the whole ``vmrestore snapshots scan --json`` process: interpreter start-up, imports, login, the
   streamed VM passes, datastores, hosts and the orphan search (run alongside the VM passes), JSON
   out; ``--cli-runs`` times (the machine is shared: min and median are printed);
   and its peak memory (max RSS, from ``/usr/bin/time``);
2. the fair peer: one plain pyVmomi ``RetrievePropertiesEx`` (continuation followed) over a ContainerView
   for exactly the VM properties the scan reads (its pass 1 and pass 2 paths, for every VM), pyVmomi
   deserialising the reply; the floor for the scan is fetching and parsing these replies;
3. the naive pyVmomi loop over the same properties, read as attributes (one round trip each; on
   ``--naive-sample`` VMs, extrapolated); only VMs where every path is set, so the simulator's crash
   on unset attributes is not hit;
4. in-process, the adapter's streamed VM pass 1 alone.

The CLI's result is compared with the plain retrieval, VM by VM: the number of snapshots in the tree and
the delta bytes (files of delta disk units, named as deltas, plus each snapshot's .vmsn/.vmem), both
computed here from pyVmomi's objects without the adapter's code.

Usage: ``.venv/bin/python benchmarks/snapshot_scan.py [--clusters 8] [--vms-per-cluster 5000] [--naive-sample N]``.
The simulator needs about a minute and 1.3 GB to build 40,000 VMs.
``--naive-sample`` times the naive loop on N VMs and extrapolates to all (marked as such).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
from vmrestore.vsphere.snapshots.layout import is_delta_name  # noqa: E402
from vmrestore.vsphere.snapshots.scan import DETAIL_PATHS, VM_PATHS  # noqa: E402
from vmrestore.vsphere.trust import KnownHosts  # noqa: E402

PC = vmodl.query.PropertyCollector
# Every VM property the scan reads, in either of its passes: what the fair peer retrieves for every VM.
SCAN_PATHS = sorted(set(VM_PATHS) | set(DETAIL_PATHS))
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


def add_snapshots(content, vms: list, every: int = 10) -> int:  # type: ignore[no-untyped-def,type-arg]
    made = 0
    for i, vm in enumerate(vms):
        if i % every:
            continue
        vm.CreateSnapshot_Task("ghettoVCB-snapshot-2026-01-31" if i % (2 * every) == 0 else "nightly", "",
                               False, False)
        made += 1
        if (i // every) % 5 == 0:
            vm.CreateSnapshot_Task("child", "", False, False)  # nested
    return made


def time_cli(sim: Vcsim, home: str) -> tuple[float, dict, int]:  # type: ignore[type-arg]
    """(seconds, the JSON document, peak RSS in bytes) of one whole ``snapshots scan --json`` process."""
    env = {**os.environ, "VMRESTORE_HOME": home, "VMRESTORE_URL": sim.url, "VMRESTORE_USERNAME": sim.username,
           "VMRESTORE_PASSWORD": sim.password, "VMRESTORE_THUMBPRINT": sim.thumbprint, "PYTHONPATH": str(ROOT)}
    rss_file = os.path.join(home + "-rss")
    start = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-o", rss_file, "-f", "%M", str(VMRESTORE), "snapshots", "scan",
                           "--json"], env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    with open(rss_file) as fh:
        peak = int(fh.read().split()[-1]) * 1024
    return elapsed, json.loads(proc.stdout), peak


def time_naive(vms: list) -> float:  # type: ignore[type-arg]
    """Every scan path read as an attribute, one round trip each (``config.files.vmPathName`` is one)."""
    start = time.perf_counter()
    for vm in vms:
        for path in SCAN_PATHS:
            obj = vm
            for part in path.split("."):
                obj = getattr(obj, part)
    return time.perf_counter() - start


def plain_retrieve(content) -> list:  # type: ignore[no-untyped-def,type-arg]
    """One RetrievePropertiesEx (continuation followed) of every scan path for every VM."""
    view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
    try:
        spec = PC.FilterSpec(
            objectSet=[PC.ObjectSpec(obj=view, skip=True, selectSet=[
                PC.TraversalSpec(name="v", type=vim.view.ContainerView, path="view", skip=False)])],
            propSet=[PC.PropertySpec(type=vim.VirtualMachine, pathSet=SCAN_PATHS)])
        collector = content.propertyCollector
        result = collector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
        objects = list(result.objects) if result else []
        while result is not None and result.token:
            result = collector.ContinueRetrievePropertiesEx(result.token)
            objects.extend(result.objects)
        return objects
    finally:
        view.DestroyView()


def _tree(nodes) -> int:  # type: ignore[no-untyped-def]
    return sum(1 + _tree(n.childSnapshotList) for n in nodes or ())


def plain_truth(objects: list) -> dict[str, tuple[int, int]]:  # type: ignore[type-arg]
    """moref -> (snapshots, delta bytes) from pyVmomi's objects, for VMs with a snapshot or a delta."""
    out: dict[str, tuple[int, int]] = {}
    for obj in objects:
        props = {p.name: p.val for p in obj.propSet}
        snap = props.get("snapshot")
        count = _tree(snap.rootSnapshotList) if snap is not None else 0
        layout = props.get("layoutEx")
        files = {f.key: f for f in (layout.file if layout is not None else ())}
        keys: set[int] = set()
        disk_layouts = list(layout.disk) if layout is not None else []
        snapshots = list(layout.snapshot) if layout is not None else []
        for disk in disk_layouts + [d for s in snapshots for d in s.disk]:
            for unit in disk.chain or ():
                names = [files[k].name for k in unit.fileKey if k in files]
                if any(is_delta_name(n) for n in names):
                    keys.update(k for k in unit.fileKey
                                if k in files and files[k].type in ("diskDescriptor", "diskExtent"))
        for s in snapshots:
            if s.dataKey >= 0 and s.dataKey in files and files[s.dataKey].type == "snapshotData":
                keys.add(s.dataKey)
            if s.memoryKey >= 0 and s.memoryKey in files and files[s.memoryKey].type == "snapshotMemory":
                keys.add(s.memoryKey)
        delta = sum(files[k].size for k in keys)
        if count or delta:
            out[obj.obj._moId] = (count, delta)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--vms-per-cluster", type=int, default=5000)
    ap.add_argument("--snapshot-every", type=int, default=10)
    ap.add_argument("--naive-sample", type=int, default=0, help="time the naive loop on N VMs and extrapolate")
    ap.add_argument("--cli-runs", type=int, default=3, help="time the CLI process this many times")
    args = ap.parse_args()
    print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
    vcsim_fixtures.START_TIMEOUT = 600  # building 10,000 VMs takes 11-60 s on a busy 2-core machine
    work = tempfile.mkdtemp(prefix="snapbench-")
    sim = Vcsim(binary=vcsim_binary(), workdir=work,
                args=_options_to_args(cluster=args.clusters, host=1, vm=args.vms_per_cluster, ds=1))
    t0 = time.perf_counter()
    sim.start()
    print(f"simulator with {args.clusters * args.vms_per_cluster} VMs up in {time.perf_counter() - t0:.1f} s",
          flush=True)
    try:
        si, content = connect(sim)
        vms = all_vms(content)
        t0 = time.perf_counter()
        made = add_snapshots(content, vms, args.snapshot_every)
        print(f"{len(vms)} VMs, {made} with snapshots (made in {time.perf_counter() - t0:.1f} s)", flush=True)

        runs = [time_cli(sim, os.path.join(work, "home")) for _ in range(max(1, args.cli_runs))]
        times = sorted(t for t, _, _ in runs)
        doc = runs[0][1]
        peak = max(p for _, _, p in runs)
        cli_s = statistics.median(times)
        snaps = sum(len(v["snapshots"]) for v in doc["vms"])
        print(f"vmrestore snapshots scan --json (whole process), {len(times)} runs: median {cli_s:.2f} s, "
              f"min {times[0]:.2f} s, max {times[-1]:.2f} s, peak memory {peak / 2**20:.0f} MB "
              f"({len(doc['vms'])} VMs with snapshots, {snaps} snapshots, {len(doc['orphan_files'])} orphans)",
              flush=True)

        session = VsphereSession.open(ConnectSpec(url=sim.url, username=sim.username, password=sim.password,
                                                  thumbprint=sim.thumbprint), KnownHosts(os.path.join(work, "kh")))
        t0 = time.perf_counter()
        raw = retrieve_vms(session, VM_PATHS)
        fast_s = time.perf_counter() - t0
        session.close()
        print(f"adapter streamed VM pass alone (in process): {fast_s:.2f} s for {len(raw)} VMs", flush=True)

        t0 = time.perf_counter()
        objects = plain_retrieve(content)
        plain_s = time.perf_counter() - t0
        print(f"plain pyVmomi RetrievePropertiesEx ({len(SCAN_PATHS)} paths: {', '.join(SCAN_PATHS)}; pyVmomi "
              f"deserialises): {plain_s:.2f} s for {len(objects)} VMs", flush=True)
        truth = plain_truth(objects)
        got = {v["moref"]: (len(v["snapshots"]), v["delta_bytes"]) for v in doc["vms"]}
        got = {k: v for k, v in got.items() if v != (0, 0)}
        differ = sorted(k for k in set(truth) | set(got) if truth.get(k) != got.get(k))
        examples = [(k, truth.get(k), got.get(k)) for k in differ[:3]]
        verdict = "identical" if not differ else f"{len(differ)} differ, e.g. {examples}"
        print(f"CLI result vs plain retrieval (snapshots and delta bytes per VM): {len(truth)} VMs, {verdict}",
              flush=True)
        del objects

        # Only VMs with a snapshot: on the others ``snapshot`` is unset, which drops the simulator's connection.
        sample = [vm for i, vm in enumerate(vms) if i % args.snapshot_every == 0]
        sample = sample[: args.naive_sample] if args.naive_sample else sample
        naive_s = time_naive(sample)
        naive_all = naive_s * len(vms) / len(sample)
        label = f"extrapolated from {len(sample)}" if len(sample) < len(vms) else "measured"
        print(f"naive per-VM attribute loop ({len(SCAN_PATHS)} reads per VM): {naive_all:.1f} s ({label}; "
              f"{naive_s:.2f} s for {len(sample)} VMs)", flush=True)
        print(f"speed-up of the whole CLI process (median) over the plain retrieval: {plain_s / cli_s:.2f}x "
              f"(best run {plain_s / times[0]:.2f}x; goal >= 8x); over the naive loop: {naive_all / cli_s:.1f}x",
              flush=True)
        print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()), flush=True)
        Disconnect(si)
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
