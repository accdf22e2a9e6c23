#!/usr/bin/env bash
# int8 vs float32 agreement on the CPU classes this machine is not: x86-64 with AVX2 and no
# AVX-512/VNNI (qemu-user's Haswell model) and 64-bit ARM (the arm64 root of
# scripts/emulate_aarch64.sh, as a Raspberry Pi 4's Cortex-A72 without dot product and as
# qemu's "max" CPU with dot product and i8mm).
#
#   bash scripts/int8_agreement_emulated.sh inputs            # native: prepare faces once
#   bash scripts/int8_agreement_emulated.sh haswell [LIMIT]   # x86-64 AVX2 only
#   bash scripts/int8_agreement_emulated.sh aarch64 [LIMIT]   # needs root and the arm64 root
#
# Emulated runs replay the faces prepared natively (benchmarks.int8_agreement --save-inputs,
# with the float32 probabilities) and run only the engines, LIMIT faces per split (300).
# Reports go to benchmarks/results/int8_agreement_<class>.{json,md}. Timing under emulation
# means nothing and is not taken.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME_PY=${RUNTIME_PY:-.venv-runtime/bin/python}
INPUTS=${INPUTS:-.cache/int8_inputs.npz}
ROOT_DIR=${ARM_ROOT:-.cache/arm64-root}
what=${1:?usage: $0 inputs|haswell|aarch64 [LIMIT]}
LIMIT=${2:-300}

source "$(dirname "$0")/qemu_trixie.sh"

case "$what" in
inputs)
  "$RUNTIME_PY" -m benchmarks.int8_agreement --save-inputs "$INPUTS"
  ;;
haswell)
  [ -f "$INPUTS" ] || { echo "error: $INPUTS missing; run '$0 inputs' first" >&2; exit 2; }
  QEMU=$(qemu_from_trixie qemu-x86_64)
  "$QEMU" -cpu Haswell "$RUNTIME_PY" -m benchmarks.int8_agreement --inputs "$INPUTS" \
    --limit "$LIMIT" --no-timing --emulation "qemu-x86_64 $("$QEMU" --version | head -1 | awk '{print $3}') -cpu Haswell" \
    2> >(grep -v "TCG doesn't support" >&2)
  ;;
aarch64)
  [ -f "$INPUTS" ] || { echo "error: $INPUTS missing; run '$0 inputs' first" >&2; exit 2; }
  [ "$(id -u)" = 0 ] || { echo "error: the arm64 root needs root (chroot)" >&2; exit 2; }
  [ -x "$ROOT_DIR/venv/bin/python" ] || { echo "error: no arm64 root with its venv in $ROOT_DIR; run 'make emulate-aarch64' first" >&2; exit 2; }
  QEMU=$(qemu_from_trixie qemu-aarch64)
  cp "$QEMU" "$ROOT_DIR/usr/local/bin/qemu-aarch64"  # static: runs inside the root, no binfmt
  # The project as it is here (tracked files and new ones not ignored), the faces, the venv.
  rm -rf "$ROOT_DIR/edge-face" && mkdir -p "$ROOT_DIR/edge-face/.cache"
  git ls-files -z --cached --others --exclude-standard | grep -zv '/report/' \
    | xargs -0 -I{} cp --parents -a {} "$ROOT_DIR/edge-face/" 2>/dev/null || true
  cp "$INPUTS" "$ROOT_DIR/edge-face/.cache/int8_inputs.npz"
  cp /etc/ssl/certs/ca-certificates.crt "$ROOT_DIR/etc/ssl/certs/ca-certificates.crt"
  # No binfmt needed: the static qemu runs the root's python itself, with the CPU chosen.
  run() { chroot "$ROOT_DIR" /usr/local/bin/qemu-aarch64 -cpu "$1" -E PYTHONPATH=/edge-face \
            /venv/bin/python "${@:2}"; }
  run max -c "import onnxruntime, ai_edge_litert" 2>/dev/null || {
    echo "error: no runtime venv in the arm64 root; run 'make emulate-aarch64' first" >&2; exit 2; }
  for cpu in cortex-a72 max; do
    run "$cpu" -m benchmarks.int8_agreement --inputs /edge-face/.cache/int8_inputs.npz \
      --limit "$LIMIT" --no-timing --emulation "qemu-aarch64 10 -cpu $cpu" \
      --out "/edge-face/benchmarks/results/int8_agreement_aarch64-$cpu.json"
    cp "$ROOT_DIR/edge-face/benchmarks/results/int8_agreement_aarch64-$cpu."{json,md} \
      benchmarks/results/
  done
  ;;
*) echo "usage: $0 inputs|haswell|aarch64 [LIMIT]" >&2; exit 2 ;;
esac
