#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages the test bench needs: the Go toolchain and govmomi
# source (the vSphere simulator is built from them), the real disk tools that make test
# images, and the X/xcb libraries Qt needs for a real window under Xvfb.
# Idempotent: packages already present are skipped by apt.
# Usage: install-system-deps.sh [--runtime]   (--runtime: only what the app itself needs)
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-system-deps: need root or sudo to install packages" >&2; exit 1; fi
fi

RUNTIME=(
  # Qt's xcb platform plugin (TESTING.md lists what the xcb plugin loads)
  libegl1 libgl1 libglib2.0-0 libfontconfig1 libfreetype6 libdbus-1-3 libxkbcommon0
  libxkbcommon-x11-0 libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1
  libxcb-image0 libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xkb1 libxcb-xfixes0
  libxcb-sync1 libxcb-shm0 libxcb-glx0 libwayland-client0 fonts-dejavu-core fontconfig
)
TEST=(
  # vSphere simulator (built by tests/bench/vcsim)
  golang-go golang-github-vmware-govmomi-dev
  # real disk tools for the disk bench
  ntfs-3g e2fsprogs dosfstools mtools fdisk qemu-utils xfsprogs
  exfatprogs exfat-fuse lvm2 cryptsetup-bin   # exFAT (FUSE), LVM2 (no device-mapper needed), LUKS
  # a virtual screen for screenshots
  xvfb xauth
  # the Windows installer round trip (tests/installer): Wine runs the real Inno Setup compiler and Setup,
  # both 32-bit programs (i386 is added as a foreign architecture below)
  wine "wine32:i386" "wine64:$(dpkg --print-architecture)"
  # PostgreSQL server for the shared-catalog tests (the bench runs a throwaway cluster per session)
  postgresql
)
PKGS=("${RUNTIME[@]}")
if [ "${1:-}" != "--runtime" ]; then
  PKGS+=("${TEST[@]}")
  # npm installs the innosetup package (it ships ISCC.exe); a machine with its own Node keeps it
  command -v npm >/dev/null 2>&1 || PKGS+=(npm)
  if ! dpkg --print-foreign-architectures | grep -qx i386; then
    echo "install-system-deps: adding the i386 architecture (for wine32)"
    $SUDO dpkg --add-architecture i386
  fi
fi
# Debian's own python3 needs python3-venv for "python3 -m venv"; a python built elsewhere has it.
python3 -c "import ensurepip" 2>/dev/null || PKGS+=(python3-venv python3-pip)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-system-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
echo "install-system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-system-deps: done"
