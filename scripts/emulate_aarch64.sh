#!/usr/bin/env bash
# Run the lean runtime on 64-bit ARM under emulation and compare its output with this machine's.
#
# A Debian Bookworm arm64 root (debootstrap; Raspberry Pi OS 12 is Bookworm) is run through
# qemu-user-static; inside it the aarch64 runtime set is installed from the package registry
# and the runtime processes a short clip of the demo face; the JSON lines must match the
# x86-64 run's: same faces, boxes within a few pixels, same top classes. Then `make bench-pi`
# runs there as a Pi user runs it (short: few calls per engine) and its JSON and Markdown are
# checked: every row measured, every figure positive. Timing under emulation means nothing
# and is not reported. Needs root (debootstrap, chroot, binfmt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=${ARM_ROOT:-.cache/arm64-root}
RUNTIME_PY=${RUNTIME_PY:-.venv-runtime/bin/python}
OUT=${OUT:-.cache/aarch64-run}
mkdir -p "$OUT" .cache

if [ "$(id -u)" != 0 ]; then
  echo "error: the emulated run needs root (debootstrap, chroot); run it as root or in CI" >&2
  exit 2
fi
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
source scripts/apt_mirror.sh  # debian_mirror: the Debian mirror this machine's apt uses
# qemu 10 from Debian Trixie (scripts/qemu_trixie.sh), registered with binfmt_misc (flag F:
# opened now, so it also works inside the chroot) and restored on exit.
source scripts/qemu_trixie.sh
QEMU=$(pwd)/$(qemu_from_trixie qemu-aarch64)
BINFMT=/proc/sys/fs/binfmt_misc
[ -e $BINFMT/register ] || mount binfmt_misc -t binfmt_misc $BINFMT
for other in qemu-aarch64; do [ -e $BINFMT/$other ] && echo 0 > $BINFMT/$other; done
[ -e $BINFMT/edge-face-aarch64 ] && echo -1 > $BINFMT/edge-face-aarch64
printf '%s' ':edge-face-aarch64:M::\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$QEMU"':FPC' > $BINFMT/register
cleanup() {
  umount "$ROOT_DIR/proc" "$ROOT_DIR/sys" "$ROOT_DIR/dev" 2>/dev/null || true
  [ -e $BINFMT/edge-face-aarch64 ] && echo -1 > $BINFMT/edge-face-aarch64
  [ -e $BINFMT/qemu-aarch64 ] && echo 1 > $BINFMT/qemu-aarch64 || true
}
trap cleanup EXIT

if [ ! -x "$ROOT_DIR/usr/bin/python3" ]; then
  # From the Debian mirror this machine's apt uses (scripts/apt_mirror.sh; DEBIAN_MIRROR overrides).
  MIRROR_URL=$(debian_mirror)
  echo "building the arm64 root in $ROOT_DIR (debootstrap, a few minutes)"
  debootstrap --arch=arm64 --variant=minbase \
    --include=python3,python3-venv,python3-pip,make,libegl1,libgles2,libgl1,libglib2.0-0,ca-certificates \
    bookworm "$ROOT_DIR" "$MIRROR_URL"
fi

# The clip: 30 frames of the demo face, written once here and read on both sides.
"$RUNTIME_PY" - "$OUT/clip.mp4" <<'PY'
import sys, cv2
from runtime.sources import DemoSource
src = DemoSource(frames=30)
w = cv2.VideoWriter(sys.argv[1], cv2.VideoWriter_fourcc(*"mp4v"), 30, (640, 480))
for f in src.frames():
    w.write(f.image)
w.release()
PY

# The project, as committed plus the runtime assets and shipped exports, into the arm64 root.
rm -rf "$ROOT_DIR/edge-face" && mkdir -p "$ROOT_DIR/edge-face"
git ls-files -z | xargs -0 -I{} cp --parents -a {} "$ROOT_DIR/edge-face/" 2>/dev/null || true
cp -a runtime/assets/. "$ROOT_DIR/edge-face/runtime/assets/"
cp "$OUT/clip.mp4" "$ROOT_DIR/edge-face/clip.mp4"
cp /etc/ssl/certs/ca-certificates.crt "$ROOT_DIR/etc/ssl/certs/ca-certificates.crt"
for fs in proc sys dev; do mount --bind /$fs "$ROOT_DIR/$fs" 2>/dev/null || true; done

chroot "$ROOT_DIR" /bin/bash -euo pipefail -c '
  cd /edge-face
  echo "arm64 root: $(uname -m), $(python3 --version)"
  [ -x /venv/bin/python ] || python3 -m venv /venv
  export PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
  /venv/bin/pip install -q -r requirements/runtime-aarch64.txt
  /venv/bin/pip install -q --no-deps -e .
  /venv/bin/python -c "import platform, mediapipe, onnxruntime; print(\"installed on\", platform.machine(), \"mediapipe\", mediapipe.__version__, \"onnxruntime\", onnxruntime.__version__)"
  /venv/bin/python -m runtime --source clip.mp4 --no-show --json /edge-face/arm64.jsonl \
    2> >(grep -v "cpuinfo\|Location" >&2)
  command -v make >/dev/null || { apt-get update -qq && apt-get install -y -qq make >/dev/null; }
  make bench-pi RUNTIME_VENV=/venv PIP_FLAGS="-q --disable-pip-version-check" \
    ARGS="--frames 10 --rounds 1 --repeats 3 --output /edge-face/pi_measured_emulated" \
    2> >(grep -v "cpuinfo\|Location" >&2) | tail -n 3
'
cp "$ROOT_DIR/edge-face/pi_measured_emulated."{json,md} "$OUT/"
"$RUNTIME_PY" - "$OUT/pi_measured_emulated.json" "$OUT/pi_measured_emulated.md" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
rows, text = r["rows"], open(sys.argv[2]).read()
assert r["machine"] == "aarch64" and r["measured"], (r["machine"], r["measured"])
assert len(rows) == 2 * 2 * 2 * 2 * 2 * 1 and {x["method"] for x in rows} == {"measured"}, len(rows)
assert {x["threads"] for x in rows} == {1, 4} and {x["faces"] for x in rows} == {1, 4}
assert all(v > 0 for x in rows for k in ("detect_ms", "classify_ms_per_face", "fps") for v in x[k])
assert "ESTIMATE" not in text and text.count("| measured |") == len(rows)
print(f"make bench-pi under aarch64 emulation: {len(rows)} measured rows, JSON and Markdown agree")
PY
cp "$ROOT_DIR/edge-face/arm64.jsonl" "$OUT/arm64.jsonl"
"$RUNTIME_PY" -m runtime --source "$OUT/clip.mp4" --no-show --json "$OUT/x86_64.jsonl"
"$RUNTIME_PY" scripts/compare_runs.py "$OUT/x86_64.jsonl" "$OUT/arm64.jsonl"
