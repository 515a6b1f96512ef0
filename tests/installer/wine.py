"""A Wine prefix and one virtual screen for running the real Inno Setup compiler, Setup and uninstaller.

Facts this follows (shared TESTING.md, "Windows installer on Linux"): a new prefix is initialised with
``wine64 cmd /c echo`` (plain ``wine`` can fail first with "could not load kernel32.dll"); Wine reports Windows 7
until ``winecfg -v win10`` (the script says MinVersion=10.0); Setup and the uninstaller need a display, and
install and uninstall must share one X server and one wineserver: ``wineserver -k`` before the first GUI program,
``wineserver -w`` after each. Here one ``Xvfb`` serves the whole round trip, as one ``xvfb-run`` session would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path, PureWindowsPath

from tests.bench.tools import missing, require_tool

REPO = Path(__file__).resolve().parents[2]
# scripts/setup-tests.sh installs the npm package "innosetup" (it ships ISCC.exe) here, inside the repository.
ISCC = REPO / ".cache" / "innosetup" / "node_modules" / "innosetup" / "bin" / "ISCC.exe"


def find_iscc() -> Path:
    if not ISCC.is_file():
        missing(f"{ISCC} not found: scripts/setup-tests.sh installs the npm package innosetup there")
    return ISCC


def start_xvfb() -> tuple[subprocess.Popen[bytes], str]:
    """A virtual screen on a free display number (Xvfb picks it and writes it to the pipe)."""
    xvfb = require_tool("Xvfb", "xvfb")
    read_fd, write_fd = os.pipe()
    process = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "1024x768x24"],
                               pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()
    if not number:
        process.kill()
        raise AssertionError("Xvfb did not report a display")
    return process, f":{number}"


@dataclass
class WinePrefix:
    root: Path
    display: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("WINE", "DISPLAY", "XAUTHORITY"))}
        # no Mono/Gecko download prompts: the installer needs neither
        env.update(WINEPREFIX=str(self.root), WINEDEBUG="-all", DISPLAY=self.display,
                   WINEDLLOVERRIDES="mscoree=d;mshtml=d")
        return env

    @property
    def drive_c(self) -> Path:
        return self.root / "drive_c"

    def unix_path(self, windows: str) -> Path:
        """C:\\Program Files\\x → <prefix>/drive_c/Program Files/x."""
        parts = PureWindowsPath(windows).parts
        assert parts[0].upper() == "C:\\", windows
        return self.drive_c.joinpath(*parts[1:])

    def run(self, *args: str, step: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        started = time.perf_counter()
        out = subprocess.run(["wine", *args], env=self.env, capture_output=True, text=True, timeout=timeout)
        if step:
            self.timings[step] = time.perf_counter() - started
        return out

    def wait(self) -> None:
        """Until every Wine process of this prefix ended (the uninstaller re-runs itself from a temp copy)."""
        subprocess.run(["wineserver", "-w"], env=self.env, timeout=300, check=True)

    def kill(self) -> None:
        subprocess.run(["wineserver", "-k"], env=self.env, timeout=60, check=False)

    def reg_query(self, key: str, value: str | None = None) -> str | None:
        """``reg query`` in the 64-bit view (where a 64-bit-mode Setup writes); None if the key/value is absent."""
        args = ["reg", "query", key, "/reg:64"] + (["/v", value] if value else [])
        out = self.run(*args)
        return out.stdout if out.returncode == 0 else None


def make_prefix(root: Path, display: str) -> WinePrefix:
    for tool, package in (("wine", "wine"), ("wineserver", "wine")):
        require_tool(tool, package)
    wine64 = shutil.which("wine64") or "/usr/lib/wine/wine64"
    if not Path(wine64).exists():
        missing("wine64 not found: install the Debian packages wine wine64 wine32 (scripts/install-system-deps.sh)")
    prefix = WinePrefix(root, display)
    prefix.kill()
    started = time.perf_counter()
    init = subprocess.run([wine64, "cmd", "/c", "echo", "ready"], env=prefix.env, capture_output=True, text=True,
                          timeout=600)
    assert "ready" in init.stdout, f"wine prefix did not initialise:\n{init.stdout}\n{init.stderr[-3000:]}"
    win10 = prefix.run("winecfg", "-v", "win10")
    assert win10.returncode == 0, win10.stderr
    prefix.wait()
    prefix.timings["prefix"] = time.perf_counter() - started
    version = prefix.run("cmd", "/c", "ver").stdout
    assert "10.0" in version, f"Wine does not report Windows 10: {version!r}"
    return prefix
