# Sourced by the emulation scripts: qemu-user 10 (static) from Debian Trixie. Bookworm's qemu 7.2
# crashes loading onnxruntime 1.32's aarch64 build; qemu 10 runs it. Only the two binaries are
# taken from the Trixie archive (pinned low, removed again), into .cache/qemu/. The mirror is the
# one this machine's apt uses (scripts/apt_mirror.sh; DEBIAN_MIRROR overrides), suite trixie.
source "$(dirname "${BASH_SOURCE[0]}")/apt_mirror.sh"
qemu_from_trixie() {
  local bin=.cache/qemu/$1
  if [ ! -x "$bin" ]; then
    if [ "$(id -u)" != 0 ]; then
      command -v "$1" >/dev/null && { command -v "$1"; return; }
      echo "error: $1 not found; run as root once (it is taken from Debian Trixie) or install qemu-user" >&2
      exit 2
    fi
    local mirror && mirror=$(debian_mirror) || exit 2
    mkdir -p .cache/qemu && local tmp && tmp=$(mktemp -d)
    echo "deb $mirror trixie main" > /etc/apt/sources.list.d/edge-face-trixie.list
    printf 'Package: *\nPin: release n=trixie\nPin-Priority: 100\n' > /etc/apt/preferences.d/edge-face-trixie
    apt-get update -q >/dev/null
    (cd "$tmp" && apt-get download -q qemu-user/trixie >/dev/null 2>&1)
    rm -f /etc/apt/sources.list.d/edge-face-trixie.list /etc/apt/preferences.d/edge-face-trixie
    apt-get update -q >/dev/null
    dpkg-deb -x "$tmp"/qemu-user_*.deb "$tmp/x"
    cp "$tmp/x/usr/bin/qemu-aarch64" "$tmp/x/usr/bin/qemu-x86_64" .cache/qemu/
    rm -rf "$tmp"
  fi
  echo "$bin"
}

