"""packaging/vmrestore.iss, compiled by the real Inno Setup compiler and installed, upgraded and uninstalled by
the real Setup under Wine, as an admin would on a Windows workstation.

The payload is a small stand-in folder with the bundle's layout (vmrestore.exe, vmrestore-gui.exe, _internal/
with the real resources): PyInstaller cannot cross-build the Windows bundle on Linux, and test_bundle.py proves
the bundle itself. The .iss is the real one, parameterised only by the source folder (/DBundleDir) and the version
(/DAppVersion, as packaging/build-windows.ps1 passes them). The second build has a higher version and a different
_internal/ to prove the upgrade replaces the libraries in place. User data (settings, catalog, audit log) is made
by the real app in the Wine user's %LOCALAPPDATA%\\vmrestore and compared byte for byte after upgrade and uninstall.

What Wine cannot show: the ACL on %PROGRAMDATA%\\vmrestore (Setup's permission helper fails under Wine, logged
as "Failed to set permissions", the folder is still made), and the scheduled task's triggers and command (Wine's
Task Scheduler stores a task it was given but drops its triggers, principal and command when it writes it back);
test_sweep_task_definition checks that definition instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.installer.wine import REPO, WinePrefix, find_iscc, make_prefix, start_xvfb

pytestmark = pytest.mark.slow

APP = r"C:\Program Files\vmrestore"
SHORTCUT = r"C:\ProgramData\Microsoft\Windows\Start Menu\Programs\vmrestore.lnk"
UNINSTALL_KEY = r"HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall\{6E0B7C43-2D6A-4C8E-9B5B-7A1B0D9C2F11}_is1"
ENV_KEY = r"HKLM\SYSTEM\CurrentControlSet\Control\Session Manager\Environment"
TASK_FILE = r"C:\windows\system32\tasks\vmrestore\Sweep expired mounts"


@pytest.fixture(scope="module")
def prefix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WinePrefix]:
    xvfb, display = start_xvfb()
    wine = None
    try:
        wine = make_prefix(tmp_path_factory.mktemp("wine") / "prefix", display)
        yield wine
    finally:
        if wine is not None:
            wine.kill()
            shutil.rmtree(wine.root, ignore_errors=True)  # ~1.3 GB of Windows DLL copies
        xvfb.terminate()
        xvfb.wait(timeout=30)


def stand_in_bundle(folder: Path, version: str, only_in_this_version: str) -> Path:
    """The bundle's layout with marker files in place of the Windows executables (see the module docstring)."""
    internal = folder / "_internal"
    shutil.copytree(REPO / "resources", internal / "resources")
    for exe in ("vmrestore.exe", "vmrestore-gui.exe"):
        (folder / exe).write_bytes(f"stand-in for {exe} {version}\n".encode())
    (internal / "VERSION").write_text(version)
    (internal / only_in_this_version).write_text(version)
    return folder


def compile_setup(prefix: WinePrefix, bundle: Path, version: str, out: Path) -> Path:
    iscc = find_iscc()
    result = prefix.run(str(iscc), "/Q", f"/DAppVersion={version}", f"/DBundleDir=Z:{bundle}", f"/OZ:{out}",
                        f"Z:{REPO / 'packaging' / 'vmrestore.iss'}", step=f"iscc {version}")
    assert result.returncode == 0, f"ISCC failed:\n{result.stdout}\n{result.stderr[-3000:]}"
    setup = out / f"vmrestore-setup-{version}.exe"
    assert setup.is_file() and setup.read_bytes()[:2] == b"MZ"
    return setup


def run_setup(prefix: WinePrefix, exe: Path | str, log: Path, *args: str, step: str) -> str:
    program = f"Z:{exe}" if isinstance(exe, Path) else exe
    result = prefix.run(program, "/VERYSILENT", "/SUPPRESSMSGBOXES", "/NORESTART", f"/LOG=Z:{log}", *args, step=step)
    prefix.wait()
    text = log.read_text(encoding="utf-8-sig", errors="replace") if log.exists() else "(no log)"
    assert result.returncode == 0, f"{step} failed (exit {result.returncode}):\n{text[-4000:]}"
    return text


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def machine_path(prefix: WinePrefix) -> list[str]:
    out = prefix.reg_query(ENV_KEY, "Path")
    assert out is not None
    return out.strip().splitlines()[-1].split("REG_EXPAND_SZ", 1)[1].strip().split(";")


def make_user_data(prefix: WinePrefix, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """Settings, catalog, state and audit log written by the real app into the Wine user's data folder."""
    user = os.environ.get("USER") or "root"
    users = prefix.drive_c / "users"
    home_dirs = [d for d in users.iterdir() if d.name != "Public"]
    assert home_dirs, f"no Wine user folder in {users}"
    data = (users / user if (users / user).is_dir() else home_dirs[0]) / "AppData" / "Local" / "vmrestore"
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {**os.environ, "VMRESTORE_HOME": str(data), "PYTHONPATH": str(REPO),
           "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    env.pop("VMRESTORE_CATALOG", None)
    for command in (["repo", "add", "main", str(backups)], ["settings", "set", "snapshot_watch_minutes", "30"]):
        done = subprocess.run([sys.executable, "-m", "vmrestore", *command, "--json"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    files = tree(data)
    assert {"catalog.sqlite", "audit.log", "state.sqlite", "settings.json"} <= set(files), sorted(files)
    assert json.loads(files["settings.json"])["snapshot_watch_minutes"] == 30
    return data, files


def test_install_upgrade_uninstall_round_trip(prefix: WinePrefix, tmp_path: Path) -> None:
    v1 = stand_in_bundle(tmp_path / "v1", "0.1.0", "only-in-0.1.0.txt")
    v2 = stand_in_bundle(tmp_path / "v2", "0.2.0", "only-in-0.2.0.txt")
    out = tmp_path / "out"
    setup1 = compile_setup(prefix, v1, "0.1.0", out)
    setup2 = compile_setup(prefix, v2, "0.2.0", out)
    app = prefix.unix_path(APP)

    # -- install 0.1.0, with the scheduled sweep ticked -----------------------------------------------------
    log = run_setup(prefix, setup1, tmp_path / "install.log", "/TASKS=sweeptask", step="install")
    installed = tree(app)
    assert {k: v for k, v in installed.items() if not k.startswith("unins")} == tree(v1)
    assert {"unins000.exe", "unins000.dat"} <= set(installed)
    shortcut = prefix.unix_path(SHORTCUT).read_bytes()
    assert shortcut[:4] == b"L\x00\x00\x00"  # a shell link, pointing at the GUI exe
    assert b"vmrestore-gui.exe" in shortcut or "vmrestore-gui.exe".encode("utf-16-le") in shortcut
    uninstall = prefix.reg_query(UNINSTALL_KEY)
    assert uninstall is not None and "0.1.0" in uninstall and "vmrestore-gui.exe" in uninstall
    assert machine_path(prefix).count(APP) == 1
    assert "schtasks /Create" in log and '"vmrestore\\Sweep expired mounts"' in log and "exit 0" in log
    task = prefix.unix_path(TASK_FILE).read_text(encoding="utf-8-sig")
    assert "vmrestore sweep --expired" in task
    policy_dir = prefix.unix_path(r"C:\ProgramData\vmrestore")
    assert policy_dir.is_dir()
    (policy_dir / "policy.json").write_text('{"role": "helpdesk"}')  # as an administrator would

    data, before = make_user_data(prefix, tmp_path)

    # -- upgrade in place to 0.2.0 (silent, no task option: the earlier choice is kept) --------------------------
    log = run_setup(prefix, setup2, tmp_path / "upgrade.log", step="upgrade")
    upgraded = tree(app)
    assert {k: v for k, v in upgraded.items() if not k.startswith("unins")} == tree(v2)  # old-only file gone
    assert sorted(k for k in upgraded if k.startswith("unins")) == ["unins000.dat", "unins000.exe"]
    uninstall = prefix.reg_query(UNINSTALL_KEY)
    assert uninstall is not None and "0.2.0" in uninstall and "0.1.0" not in uninstall
    assert machine_path(prefix).count(APP) == 1
    assert prefix.unix_path(TASK_FILE).is_file() and "schtasks /Create" in log
    assert prefix.unix_path(SHORTCUT).is_file()
    assert tree(data) == before, "the upgrade changed user data"

    # -- uninstall -----------------------------------------------------------------------------------------------
    run_setup(prefix, f"{APP}\\unins000.exe", tmp_path / "uninstall.log", step="uninstall")
    assert not app.exists(), sorted(tree(app)) if app.exists() else None
    assert not prefix.unix_path(SHORTCUT).exists()
    assert prefix.reg_query(UNINSTALL_KEY) is None
    assert APP not in machine_path(prefix)
    assert not prefix.unix_path(TASK_FILE).exists()
    assert tree(data) == before, "the uninstaller touched user data"
    assert (policy_dir / "policy.json").read_text() == '{"role": "helpdesk"}'

    print("\nwine timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in prefix.timings.items()))


def test_iscc_needs_a_version(prefix: WinePrefix, tmp_path: Path) -> None:
    started = time.perf_counter()
    result = prefix.run(str(find_iscc()), "/Q", f"/OZ:{tmp_path}", f"Z:{REPO / 'packaging' / 'vmrestore.iss'}")
    assert result.returncode != 0
    assert "Pass the version" in result.stdout + result.stderr, result.stdout + result.stderr
    assert time.perf_counter() - started < 60


def test_sweep_task_definition() -> None:
    """The Task Scheduler XML the installer registers (Wine stores it lossily; Windows reads all of it)."""
    text = (REPO / "packaging" / "sweep-task.xml").read_text(encoding="utf-8").replace("@APP@", APP)
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    root = ET.fromstring(text.split("?>", 1)[1])
    exe = root.find("t:Actions/t:Exec", ns)
    assert exe is not None
    assert exe.findtext("t:Command", namespaces=ns) == f'"{APP}\\vmrestore-gui.exe"'
    assert exe.findtext("t:Arguments", namespaces=ns) == "sweep --expired"
    assert root.findtext("t:Triggers/t:TimeTrigger/t:Repetition/t:Interval", namespaces=ns) == "PT1H"
    assert root.find("t:Triggers/t:LogonTrigger", ns) is not None
    # every signed-in user, in their own session with their own data folder, never elevated
    assert root.findtext("t:Principals/t:Principal/t:GroupId", namespaces=ns) == "S-1-5-32-545"
    assert root.findtext("t:Principals/t:Principal/t:RunLevel", namespaces=ns) == "LeastPrivilege"
    assert root.findtext("t:Settings/t:MultipleInstancesPolicy", namespaces=ns) == "IgnoreNew"
