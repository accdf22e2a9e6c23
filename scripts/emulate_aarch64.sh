#!/usr/bin/env bash
# Run the lean runtime on 64-bit ARM under emulation and compare its output with this machine's.
#
# A Debian Bookworm arm64 root (debootstrap; Raspberry Pi OS 12 is Bookworm) is run through
# qemu-user-static; inside it the aarch64 runtime set is installed from the package registry
# and the runtime processes a short clip of the demo face; the JSON lines must match the
# x86-64 run's: same faces, boxes within a few pixels, same top classes; again as a Cortex-A72
# (QEMU_CPU: a Raspberry Pi 4's core, where the detector runs on LiteRT). Then `make bench-pi`
# runs there as a Pi user runs it (short: few calls per engine) and its JSON and Markdown are
# checked: every row measured, every figure positive. Timing under emulation means nothing
# and is not reported. Needs root (debootstrap, chroot, binfmt).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR=${ARM_ROOT:-.cache/arm64-root}
RUNTIME_PY=${RUNTIME_PY:-.venv-runtime/bin/python}
OUT=${OUT:-.cache/aarch64-run}
mkdir -p "$OUT" .cache

source scripts/arm64_root.sh  # arm64_root_enter / _project / _venv: the root, binfmt, undone on exit
arm64_root_enter "$ROOT_DIR"

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
arm64_root_project "$ROOT_DIR"
cp "$OUT/clip.mp4" "$ROOT_DIR/edge-face/clip.mp4"
arm64_root_venv "$ROOT_DIR"

chroot "$ROOT_DIR" /bin/bash -euo pipefail -c '
  cd /edge-face
  echo "arm64 root: $(uname -m), $(python3 --version)"
  /venv/bin/python -c "import platform, mediapipe, onnxruntime; print(\"installed on\", platform.machine(), \"mediapipe\", mediapipe.__version__, \"onnxruntime\", onnxruntime.__version__)"
  /venv/bin/python -m runtime --source clip.mp4 --no-show --json /edge-face/arm64.jsonl \
    2> >(grep -v "cpuinfo\|Location" >&2)
  # As a Raspberry Pi 4: qemu as a Cortex-A72 (ARMv8.0: no LSE atomics, no dot product), where
  # MediaPipe cannot start and BlazeFace runs on LiteRT (runtime/blazeface_litert.py).
  QEMU_CPU=cortex-a72 /venv/bin/python -c "from runtime.blazeface import BlazeFace; d = BlazeFace(); print(\"as a Cortex-A72: BlazeFace on\", d.engine); d.close()"
  QEMU_CPU=cortex-a72 /venv/bin/python -m runtime --source clip.mp4 --no-show --json /edge-face/arm64-a72.jsonl \
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
cp "$ROOT_DIR/edge-face/arm64.jsonl" "$ROOT_DIR/edge-face/arm64-a72.jsonl" "$OUT/"
"$RUNTIME_PY" -m runtime --source "$OUT/clip.mp4" --no-show --json "$OUT/x86_64.jsonl"
"$RUNTIME_PY" scripts/compare_runs.py "$OUT/x86_64.jsonl" "$OUT/arm64.jsonl"
"$RUNTIME_PY" scripts/compare_runs.py "$OUT/x86_64.jsonl" "$OUT/arm64-a72.jsonl"
