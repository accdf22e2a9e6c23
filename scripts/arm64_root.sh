# Sourced by the aarch64 emulation scripts (emulate_aarch64.sh, count_aarch64.sh): the Debian
# Bookworm arm64 root (debootstrap; Raspberry Pi OS 12 is Bookworm) that they run in, with the
# static qemu 10 from Debian Trixie (scripts/qemu_trixie.sh) registered with binfmt_misc so
# that the root's programs run here. Needs root (debootstrap, chroot, binfmt, mount).
#
#   arm64_root_enter DIR   binfmt registered, the root built if missing, /proc /sys /dev bound;
#                          all undone on exit (an EXIT trap)
#   arm64_root_project DIR the project as committed, the runtime assets and the CA bundle, into
#                          DIR/edge-face
#   arm64_root_venv DIR    /venv in the root: the aarch64 runtime set (requirements/runtime-aarch64.txt)
source "$(dirname "${BASH_SOURCE[0]}")/qemu_trixie.sh"

ARM64_BINFMT=/proc/sys/fs/binfmt_misc

_arm64_root_leave() {
  local dir=$1
  umount "$dir/proc" "$dir/sys" "$dir/dev" 2>/dev/null || true
  [ -e $ARM64_BINFMT/edge-face-aarch64 ] && echo -1 > $ARM64_BINFMT/edge-face-aarch64
  [ -e $ARM64_BINFMT/qemu-aarch64 ] && echo 1 > $ARM64_BINFMT/qemu-aarch64 || true
}

arm64_root_enter() {
  local dir=$1 qemu
  if [ "$(id -u)" != 0 ]; then
    echo "error: the arm64 root needs root (debootstrap, chroot, binfmt); run it as root or in CI" >&2
    exit 2
  fi
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
  qemu=$(pwd)/$(qemu_from_trixie qemu-aarch64)
  # Flag F: the interpreter is opened now, so it also works inside the chroot.
  [ -e $ARM64_BINFMT/register ] || mount binfmt_misc -t binfmt_misc $ARM64_BINFMT
  [ -e $ARM64_BINFMT/qemu-aarch64 ] && echo 0 > $ARM64_BINFMT/qemu-aarch64
  [ -e $ARM64_BINFMT/edge-face-aarch64 ] && echo -1 > $ARM64_BINFMT/edge-face-aarch64
  printf '%s' ':edge-face-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$qemu"':FPC' > $ARM64_BINFMT/register
  # shellcheck disable=SC2064  # the folder is fixed now
  trap "_arm64_root_leave '$dir'" EXIT
  if [ ! -x "$dir/usr/bin/python3" ]; then
    echo "building the arm64 root in $dir (debootstrap, a few minutes)"
    debootstrap --arch=arm64 --variant=minbase \
      --include=python3,python3-venv,python3-pip,make,libegl1,libgles2,libgl1,libglib2.0-0,ca-certificates \
      bookworm "$dir" "$(debian_mirror)"
  fi
  local fs
  for fs in proc sys dev; do mount --bind /$fs "$dir/$fs" 2>/dev/null || true; done
}

arm64_root_project() {
  local dir=$1
  rm -rf "$dir/edge-face" && mkdir -p "$dir/edge-face"
  git ls-files -z | xargs -0 -I{} cp --parents -a {} "$dir/edge-face/" 2>/dev/null || true
  cp -a runtime/assets/. "$dir/edge-face/runtime/assets/"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
}

arm64_root_venv() {
  chroot "$1" /bin/bash -euo pipefail -c '
    cd /edge-face
    [ -x /venv/bin/python ] || python3 -m venv /venv
    export PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
    /venv/bin/pip install -q -r requirements/runtime-aarch64.txt
    /venv/bin/pip install -q --no-deps -e .
  '
}
