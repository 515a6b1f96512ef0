"""Benchmark: ``vmrestore snapshots scan --json`` against plain and naive pyVmomi reads, at vCenter's maximum.

Starts the bench simulator with ``--clusters`` (8) x ``--vms-per-cluster`` (5,000) = 40,000 VMs, gives
every ``--snapshot-every`` (10th) VM a snapshot (4,000; every 5th of those a second, nested one), then
prints, from one run:

1. the whole ``vmrestore snapshots scan --json`` process (interpreter start-up, imports, login, the
   streamed VM passes, datastores, hosts and the orphan search run alongside the VM passes, JSON out),
   after one warm-up run (bytecode cached, as an installed copy has it), ``--cli-runs`` times: wall
   (min and median: the machine is shared), the client's CPU (user + system of that process, from
   ``wait4``), the simulator's CPU during it (``/proc/<pid>/stat``: the server runs on the same cores
   here, a real vCenter does not) and the peak memory (max RSS, from ``/usr/bin/time``);
2. the fair peer, interleaved with those runs: one plain pyVmomi ``RetrievePropertiesEx``
   (continuation followed) over a ContainerView for exactly the VM properties the scan reads (its
   pass 1 and pass 2 paths, for every VM), pyVmomi deserialising the reply: wall, client CPU and the
   simulator's CPU;
3. the naive pyVmomi loop over the same properties, read as attributes (one round trip each; on
   ``--naive-sample`` VMs, extrapolated); only VMs where every path is set, so the simulator's crash
   on unset attributes is not hit;
4. the floor: the scan's two VM passes fetched as raw bytes (what the server and the wire cost: no
   client can go below it) and fetched while expat walks them with no handler (stream-parsed, no
   objects); the same raw fetch for the peer's request;
5. the speed-up over the peer (wall and client CPU), the goal, and the load average before and after.

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
import pyexpat
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pyVim.connect import Disconnect, SmartConnect  # noqa: E402
from pyVmomi import vim, vmodl  # noqa: E402

import tests.bench.vcsim_fixtures as vcsim_fixtures  # noqa: E402
from tests.bench.vcsim.build import vcsim_binary  # noqa: E402
from tests.bench.vcsim_fixtures import Vcsim, _options_to_args  # noqa: E402
from vmrestore.vsphere import certs  # noqa: E402
from vmrestore.vsphere.properties import container_view  # noqa: E402
from vmrestore.vsphere.session import ConnectSpec, VsphereSession  # noqa: E402
from vmrestore.vsphere.snapshots.fastretrieve import (  # noqa: E402
    objects_body,
    post_parsed,
    retrieve_body,
    retrieve_vms,
    stub_of,
)
from vmrestore.vsphere.snapshots.layout import is_delta_name  # noqa: E402
from vmrestore.vsphere.snapshots.scan import DETAIL_PATHS, VM_PATHS  # noqa: E402
from vmrestore.vsphere.trust import KnownHosts  # noqa: E402

PC = vmodl.query.PropertyCollector
# Every VM property the scan reads, in either of its passes: what the fair peer retrieves for every VM.
SCAN_PATHS = sorted(set(VM_PATHS) | set(DETAIL_PATHS))
VMRESTORE = Path(sys.executable).with_name("vmrestore")  # the installed entry point, as a user runs it
T = TypeVar("T")


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


@dataclass(frozen=True)
class Timed:
    wall: float  # seconds
    cpu: float  # the client's CPU seconds (user + system)
    server: float  # the simulator's CPU seconds meanwhile


def server_cpu(sim: Vcsim) -> float:
    """CPU seconds (user + system) the simulator process has used so far."""
    assert sim.process is not None
    fields = Path(f"/proc/{sim.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_process(sim: Vcsim, fn: Callable[[], T]) -> tuple[Timed, T]:
    """Run ``fn`` here: wall, this process's CPU and the simulator's CPU."""
    s0, c0, w0 = server_cpu(sim), time.process_time(), time.perf_counter()
    out = fn()
    return Timed(time.perf_counter() - w0, time.process_time() - c0, server_cpu(sim) - s0), out


def time_cli(sim: Vcsim, home: str) -> tuple[Timed, dict, int]:  # type: ignore[type-arg]
    """One whole ``snapshots scan --json`` process: its times, its JSON document, its peak RSS in bytes."""
    env = {**os.environ, "VMRESTORE_HOME": home, "VMRESTORE_URL": sim.url, "VMRESTORE_USERNAME": sim.username,
           "VMRESTORE_PASSWORD": sim.password, "VMRESTORE_THUMBPRINT": sim.thumbprint, "PYTHONPATH": str(ROOT),
           # As installed: bytecode compiled once and kept (a dev shell's PYTHONDONTWRITEBYTECODE=1 would make
           # every run compile ~90 modules, ~0.3 s of CPU that no installed copy pays).
           "PYTHONPYCACHEPREFIX": home + "-pycache"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    rss_file = home + "-rss"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        s0, w0 = server_cpu(sim), time.perf_counter()
        # The peak RSS comes from /usr/bin/time: a child forked from this (by then large) process would
        # report this process's size as its own ru_maxrss. wait4 gives the CPU of time and the CLI.
        proc = subprocess.Popen(["/usr/bin/time", "-o", rss_file, "-f", "%M", str(VMRESTORE), "snapshots", "scan",
                                 "--json"], env=env, stdout=out, stderr=err, cwd=ROOT)
        _pid, status, usage = os.wait4(proc.pid, 0)
        timed = Timed(time.perf_counter() - w0, usage.ru_utime + usage.ru_stime, server_cpu(sim) - s0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(err.read()[-2000:].decode(errors="replace"))
        peak = int(Path(rss_file).read_text().split()[-1]) * 1024
        return timed, json.loads(out.read()), peak


def raw_bytes(stream: IO[bytes]) -> int:
    """Receive a reply and do nothing with it: what the server and the wire cost."""
    n = 0
    while data := stream.read(1 << 18):
        n += len(data)
    return n


def expat_walk(stream: IO[bytes]) -> int:
    """Receive a reply while expat walks it (namespaces resolved, no handler): stream-parsed, no objects."""
    parser = pyexpat.ParserCreate(namespace_separator="}")
    n = 0
    while data := stream.read(1 << 18):
        parser.Parse(data, False)
        n += len(data)
    parser.Parse(b"", True)
    return n


def fetch_scan_passes(session: VsphereSession, detail: list[str], parse: Callable[[IO[bytes]], int]) -> int:
    """The scan's two VM requests (pass 1 over every VM, pass 2 over ``detail``), read by ``parse``."""
    stub = stub_of(session)
    collector = session.content.propertyCollector._moId
    with container_view(session, [vim.VirtualMachine]) as view:
        n = post_parsed(stub, retrieve_body(collector, view._moId, "VirtualMachine", VM_PATHS), parse)
    return n + post_parsed(stub, objects_body(collector, "VirtualMachine", detail, DETAIL_PATHS), parse)


def fetch_peer_raw(session: VsphereSession) -> int:
    """The peer's request (every scan path of every VM), received raw."""
    stub = stub_of(session)
    collector = session.content.propertyCollector._moId
    with container_view(session, [vim.VirtualMachine]) as view:
        return post_parsed(stub, retrieve_body(collector, view._moId, "VirtualMachine", SCAN_PATHS), raw_bytes)


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


def _s(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, min {min(values):.2f} s"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clusters", type=int, default=8)
    ap.add_argument("--vms-per-cluster", type=int, default=5000)
    ap.add_argument("--snapshot-every", type=int, default=10)
    ap.add_argument("--naive-sample", type=int, default=0, help="time the naive loop on N VMs and extrapolate")
    ap.add_argument("--cli-runs", type=int, default=3, help="time the CLI process this many times")
    ap.add_argument("--peer-runs", type=int, default=1, help="time the plain retrieval this many times")
    args = ap.parse_args()
    load_before = os.getloadavg()
    print("load average " + " ".join(f"{x:.1f}" for x in load_before) + f" on {os.cpu_count()} cores", flush=True)
    vcsim_fixtures.START_TIMEOUT = 600  # building 40,000 VMs takes 60 s to minutes on a busy 2-core machine
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
        session = VsphereSession.open(ConnectSpec(url=sim.url, username=sim.username, password=sim.password,
                                                  thumbprint=sim.thumbprint), KnownHosts(os.path.join(work, "kh")))

        # The CLI and the peer interleaved (the machine is shared: load changes over minutes).
        cli: list[tuple[Timed, dict, int]] = []  # type: ignore[type-arg]
        peer: list[Timed] = []
        objects: list = []  # type: ignore[type-arg]
        time_cli(sim, os.path.join(work, "home"))  # warm-up, not counted: compiles and caches the bytecode
        for i in range(max(args.cli_runs, args.peer_runs)):
            if i < args.cli_runs:
                cli.append(time_cli(sim, os.path.join(work, "home")))
            if i < args.peer_runs:
                del objects[:]
                timed, objects = in_process(sim, lambda: plain_retrieve(content))
                peer.append(timed)
        doc = cli[0][1]
        peak = max(p for _, _, p in cli)
        walls, cpus = [t.wall for t, _, _ in cli], [t.cpu for t, _, _ in cli]
        servers = [t.server for t, _, _ in cli]
        snaps = sum(len(v["snapshots"]) for v in doc["vms"])
        print(f"vmrestore snapshots scan --json (whole process), {len(cli)} runs: wall {_s(walls)}; client CPU "
              f"{_s(cpus)}; simulator CPU meanwhile median {statistics.median(servers):.2f} s; peak memory "
              f"{peak / 2**20:.0f} MB ({len(doc['vms'])} VMs with snapshots, {snaps} snapshots, "
              f"{len(doc['orphan_files'])} orphans)", flush=True)
        peer_wall, peer_cpu = statistics.median(t.wall for t in peer), statistics.median(t.cpu for t in peer)
        print(f"plain pyVmomi RetrievePropertiesEx ({len(SCAN_PATHS)} paths: {', '.join(SCAN_PATHS)}; pyVmomi "
              f"deserialises), {len(peer)} run(s): wall {peer_wall:.2f} s, client CPU {peer_cpu:.2f} s, simulator "
              f"CPU {statistics.median(t.server for t in peer):.2f} s, {len(objects)} VMs", flush=True)
        truth = plain_truth(objects)
        got = {v["moref"]: (len(v["snapshots"]), v["delta_bytes"]) for v in doc["vms"]}
        got = {k: v for k, v in got.items() if v != (0, 0)}
        differ = sorted(k for k in set(truth) | set(got) if truth.get(k) != got.get(k))
        examples = [(k, truth.get(k), got.get(k)) for k in differ[:3]]
        verdict = "identical" if not differ else f"{len(differ)} differ, e.g. {examples}"
        print(f"CLI result vs plain retrieval (snapshots and delta bytes per VM): {len(truth)} VMs, {verdict}",
              flush=True)
        del objects

        timed, raw = in_process(sim, lambda: retrieve_vms(session, VM_PATHS))
        print(f"adapter's streamed VM pass 1 alone (in process): wall {timed.wall:.2f} s, client CPU "
              f"{timed.cpu:.2f} s for {len(raw)} VMs", flush=True)
        detail = [vm.moref for vm in raw if vm.needs_layout_ex()]
        del raw
        fetched, size = in_process(sim, lambda: fetch_scan_passes(session, detail, raw_bytes))
        walked, _ = in_process(sim, lambda: fetch_scan_passes(session, detail, expat_walk))
        peer_raw, peer_size = in_process(sim, lambda: fetch_peer_raw(session))
        print(f"floor, the scan's two VM passes ({size / 1e6:.1f} MB of XML): received raw wall {fetched.wall:.2f} s "
              f"(simulator CPU {fetched.server:.2f} s, client CPU {fetched.cpu:.2f} s: what no client can go "
              f"below); received and stream-parsed by expat, no objects: wall {walked.wall:.2f} s, client CPU "
              f"{walked.cpu:.2f} s", flush=True)
        print(f"the peer's request received raw ({peer_size / 1e6:.1f} MB): wall {peer_raw.wall:.2f} s, simulator "
              f"CPU {peer_raw.server:.2f} s", flush=True)

        # Only VMs with a snapshot: on the others ``snapshot`` is unset, which drops the simulator's connection.
        sample = [vm for i, vm in enumerate(vms) if i % args.snapshot_every == 0]
        sample = sample[: args.naive_sample] if args.naive_sample else sample
        naive_s = time_naive(sample)
        naive_all = naive_s * len(vms) / len(sample)
        label = f"extrapolated from {len(sample)}" if len(sample) < len(vms) else "measured"
        print(f"naive per-VM attribute loop ({len(SCAN_PATHS)} reads per VM): {naive_all:.1f} s ({label}; "
              f"{naive_s:.2f} s for {len(sample)} VMs)", flush=True)
        cli_s = statistics.median(walls)
        print(f"speed-up of the whole CLI process over the plain retrieval: wall {peer_wall / cli_s:.2f}x (median; "
              f"best run {peer_wall / min(walls):.2f}x), client CPU {peer_cpu / statistics.median(cpus):.2f}x; goal "
              f">= 8x on wall; over the naive loop {naive_all / cli_s:.1f}x", flush=True)
        print(f"peak memory {peak / 2**20:.0f} MB (goal < 400 MB); the simulator shares these cores: during a CLI "
              f"run it used {statistics.median(servers):.2f} s of CPU that a real vCenter spends on its own",
              flush=True)
        print("load average " + " ".join(f"{x:.1f}" for x in os.getloadavg()) + " (before: "
              + " ".join(f"{x:.1f}" for x in load_before) + ")", flush=True)
        session.close()
        Disconnect(si)
    finally:
        sim.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
