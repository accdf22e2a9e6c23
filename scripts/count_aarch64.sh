#!/usr/bin/env bash
# Count the aarch64 instructions of every stage and of the two calibration models under
# qemu-user, per Raspberry Pi core: -cpu cortex-a72 (Pi 4: NEON, no dot product) and
# -cpu cortex-a76 (Pi 5: with dot product), so each library takes the kernels it would take on
# that core. Writes benchmarks/results/pi_instructions.json, which benchmarks.pi_estimate
# turns into milliseconds with the calibration models' published Pi times (method
# "instructions").
#
# Debian's qemu-user is static and static qemu has no plugin interface, so this builds
# qemu-aarch64 with plugins from Debian's source of the same qemu (10.0.13, the one that runs
# onnxruntime 1.32; scripts/qemu_trixie.sh) and the marker plugin scripts/qemu_plugin/
# insn_markers.c, into .cache/qemu-plugins (first time: about 10 minutes on 2 cores). Runs in
# the arm64 root of `make emulate-aarch64` (scripts/arm64_root.sh; built here if missing).
# Needs root (chroot, apt, binfmt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=${ARM_ROOT:-.cache/arm64-root}
BUILD=.cache/qemu-plugins
QEMU_VERSION=10.0.13
OUT=${OUT:-benchmarks/results/pi_instructions.json}
ANCHORS=${EDGE_FACE_SHARED:-../shared}/anchors/opencv_zoo
CPUS=${CPUS:-cortex-a72 cortex-a76}

[ "$(id -u)" = 0 ] || { echo "error: counting needs root (chroot, apt, binfmt); run it as root" >&2; exit 2; }
[ -f "$ANCHORS/face_detection_yunet_2023mar.onnx" ] || { echo "error: no calibration models in $ANCHORS" >&2; exit 2; }

if [ ! -x "$BUILD/qemu-aarch64" ] || [ ! -f "$BUILD/libinsn_markers.so" ]; then
  source scripts/apt_mirror.sh
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q libglib2.0-dev flex bison ninja-build pkg-config >/dev/null
  mkdir -p "$BUILD" && src=$(mktemp -d)
  echo "building qemu-aarch64 $QEMU_VERSION with plugins in $BUILD (from Debian's source; about 10 minutes)"
  curl -fsS -o "$src/qemu.tar.xz" "$(debian_mirror)/pool/main/q/qemu/qemu_$QEMU_VERSION+ds.orig.tar.xz"
  tar -C "$src" -xf "$src/qemu.tar.xz"
  python3 -m venv "$src/py" && "$src/py/bin/pip" install -q meson==1.8.2 pycotap tomli
  mkdir "$src/build"
  (cd "$src/build" && "../qemu-$QEMU_VERSION/configure" --python="$src/py/bin/python" \
     --target-list=aarch64-linux-user --enable-plugins --disable-system --disable-tools \
     --disable-docs --disable-werror --disable-install-blobs >/dev/null && ninja qemu-aarch64 >/dev/null)
  cp "$src/build/qemu-aarch64" "$BUILD/"
  gcc -O2 -shared -fPIC -I "$src/qemu-$QEMU_VERSION/include/qemu" $(pkg-config --cflags glib-2.0) \
    scripts/qemu_plugin/insn_markers.c -o "$BUILD/libinsn_markers.so"
  rm -rf "$src"
fi

source scripts/arm64_root.sh  # the root, binfmt and mounts, undone on exit
arm64_root_enter "$ROOT_DIR"

# The dynamic qemu and its x86-64 libraries into the root, where the arm64 system has no
# x86-64 files to clash with, so it runs there natively and loads the plugin.
mkdir -p "$ROOT_DIR/qemu-plugins"
cp "$BUILD/qemu-aarch64" "$BUILD/libinsn_markers.so" "$ROOT_DIR/qemu-plugins/"
# libgcc_s is not linked but opened by glibc when a thread exits (pthread_exit's unwinder).
for lib in $(ldd "$BUILD/qemu-aarch64" | grep -o '/[^ ]*') /lib/x86_64-linux-gnu/libgcc_s.so.1; do
  cp --parents -L "$lib" "$ROOT_DIR/"
done

arm64_root_project "$ROOT_DIR"
mkdir -p "$ROOT_DIR/edge-face/anchors" && cp "$ANCHORS"/*.onnx "$ROOT_DIR/edge-face/anchors/"
arm64_root_venv "$ROOT_DIR"
chroot "$ROOT_DIR" /bin/bash -euo pipefail -c '
  export PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_DISABLE_PIP_VERSION_CHECK=1
  [ -x /venv-calib/bin/python ] || python3 -m venv /venv-calib
  /venv-calib/bin/pip install -q -r /edge-face/requirements/pi-calibration.txt
'

work=$(mktemp -d)
for cpu in $CPUS; do
  for what in ours anchors; do
    py=/venv/bin/python && args="ours" && [ $what = anchors ] && py=/venv-calib/bin/python && args="anchors /edge-face/anchors"
    echo "counting $what on -cpu $cpu"
    chroot "$ROOT_DIR" /bin/bash -c "cd /edge-face && /qemu-plugins/qemu-aarch64 -cpu $cpu \
      -plugin /qemu-plugins/libinsn_markers.so $py benchmarks/count_instructions.py $args /tmp/names.json" \
      2> "$work/$cpu-$what.err" >/dev/null || { tail -5 "$work/$cpu-$what.err" >&2; exit 1; }
    cp "$ROOT_DIR/tmp/names.json" "$work/$cpu-$what.json"
  done
done
.venv-runtime/bin/python - "$work" "$OUT" "$QEMU_VERSION" $CPUS <<'PY'
import json, re, sys
from pathlib import Path
work, out, version, cpus = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4:]
result = {"qemu": version, "method": "qemu-user TCG plugin (scripts/qemu_plugin/insn_markers.c), every thread", "cpus": {}}
if out.is_file():  # CPUS=... counts one core at a time: the other cores' counts are kept
    old = json.loads(out.read_text())
    if old.get("files") == json.loads((work / f"{cpus[0]}-ours.json").read_text()).get("files"):
        result["cpus"], result["detector_engine"] = old["cpus"], old.get("detector_engine", {})
for cpu in cpus:
    counts = {}
    for what in ("ours", "anchors"):
        names = json.loads((work / f"{cpu}-{what}.json").read_text())
        marks = {int(k): int(v) for k, v in re.findall(r"^marker (\d+) (\d+)$", (work / f"{cpu}-{what}.err").read_text(), re.M)}
        for i, name in enumerate(names["names"]):
            counts[name] = (marks[2 * i + 1] - marks[2 * i]) / names["calls"]
        if "detector_engine" in names:
            result.setdefault("detector_engine", {})[cpu] = names["detector_engine"]
            result["files"] = names["files"]  # the sha256 of every classifier file counted
    result["cpus"][cpu] = counts
tmp = out.with_suffix(".tmp")
tmp.write_text(json.dumps(result, indent=1) + "\n")
tmp.replace(out)
for cpu, c in result["cpus"].items():
    print(cpu, {k: f"{v / 1e6:.1f} M" for k, v in c.items() if "/onnx/int8" in k or "_" in k or k == "detect"})
PY
rm -rf "$work"
