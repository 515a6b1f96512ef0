"""Build the bench's simulator binary once per version of its Go sources.

The package is every ``*.go`` file in this folder (``main.go`` plus one file per topic, e.g. the
visibility rules in ``visibility.go``). The binary is cached under ``CACHE_DIR`` keyed on the SHA-256 of
all of them (names and contents), so a test run only pays the ~15 s Go build when the wrapper changed.
Go and govmomi's source come from Debian packages and are built in GOPATH mode: the build must never
reach a module proxy (CI may be offline).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile

from tests.bench.tools import CACHE_DIR, missing, require_tool

HERE = os.path.dirname(os.path.abspath(__file__))
MAIN_GO = os.path.join(HERE, "main.go")
GOPATH = "/usr/share/gocode"
GOVMOMI_SIMULATOR = os.path.join(GOPATH, "src", "github.com", "vmware", "govmomi", "simulator")
PACKAGES = ("golang-go", "golang-github-vmware-govmomi-dev")


def _install_packages_if_root() -> None:
    """On a root CI box with apt, install the two Debian packages rather than failing."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(
        ["apt-get", "install", "-y", "--no-install-recommends", *PACKAGES],
        env=env,
        check=False,
        capture_output=True,
        timeout=600,
    )


def _require_sources() -> str:
    """Return the ``go`` path, or skip (locally) / fail (CI) naming the missing package."""
    if not shutil.which("go") or not os.path.isdir(GOVMOMI_SIMULATOR):
        _install_packages_if_root()
    go = require_tool("go", "golang-go")
    if not os.path.isdir(GOVMOMI_SIMULATOR):
        message = f"govmomi source not found in {GOPATH}: install golang-github-vmware-govmomi-dev"
        missing(message)
    return go


def go_sources() -> list[str]:
    """Every ``*.go`` file of the bench's main package (tests excluded), sorted."""
    return sorted(
        os.path.join(HERE, name) for name in os.listdir(HERE) if name.endswith(".go") and not name.endswith("_test.go")
    )


def sources_digest() -> str:
    """SHA-256 over every source file's name and bytes: any edit, new or removed file rebuilds."""
    h = hashlib.sha256()
    for path in go_sources():
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            h.update(f.read())
        h.update(b"\0")
    return h.hexdigest()[:16]


def vcsim_binary() -> str:
    """Return the path of the simulator binary, building it if these Go sources were never built."""
    digest = sources_digest()
    target_dir = os.path.join(CACHE_DIR, f"vcsim-{digest}")
    binary = os.path.join(target_dir, "vcsim")
    if os.path.exists(binary):
        return binary
    go = _require_sources()
    os.makedirs(target_dir, exist_ok=True)
    # Several pytest processes may start at once: one builds, the others wait on the lock.
    with open(os.path.join(CACHE_DIR, "vcsim.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(binary):
            return binary
        with tempfile.TemporaryDirectory(prefix="vcsim-build-") as work:
            # Build a copy outside the repository and GOPATH so GOPATH mode sees a plain main package.
            sources = go_sources()
            for path in sources:
                shutil.copy(path, os.path.join(work, os.path.basename(path)))
            env = {
                **os.environ,
                "GO111MODULE": "off",
                "GOPATH": GOPATH,
                "GOCACHE": os.path.join(CACHE_DIR, "gocache"),
                "GOFLAGS": "",
            }
            out = os.path.join(work, "vcsim")
            proc = subprocess.run(
                [go, "build", "-o", out, *(os.path.basename(p) for p in sources)],
                cwd=work,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            if proc.returncode != 0:
                raise RuntimeError(f"building the simulator failed:\n{proc.stderr}")
            # Move then rename: the cache may sit on another file system, and readers must never
            # see a half-copied binary.
            shutil.move(out, binary + ".tmp")
            os.replace(binary + ".tmp", binary)
    return binary
