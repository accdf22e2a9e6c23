"""Instructions per face on the code path of an AVX2-only x86-64 CPU, counted under valgrind.

int8 speed depends on the CPU class: onnxruntime multiplies uint8 x int8 with one VNNI
instruction (``vpdpbusd``) where the CPU has it, and with AVX2's ``vpmaddubsw`` +
``vpmaddwd`` + ``vpaddd`` where it has not. No AVX2-only CPU is at hand here, and qemu can
emulate one but not time it. valgrind can count what one runs: its virtual CPU reports AVX2
without AVX-512 or VNNI (the child prints what numpy reads from ``cpuid``, as evidence), so
onnxruntime dispatches to exactly the kernels such a CPU runs, and callgrind counts every
instruction they execute: the same count on any host, however busy it is.

Per face = (instructions of N2 calls - instructions of N1 calls) / (N2 - N1), each call
``runtime.backends.single_face_ms``'s call (one face, one thread), so start-up cancels.
Only the calling thread is counted (``--separate-threads``): onnxruntime and OpenBLAS keep
helper threads whose waiting loops run as long as the host's scheduling lets them, which
made whole-process counts differ by millions between identical runs when another program
ran beside them; the calling thread's count repeats to within a few thousand.

Instructions are not milliseconds. The time is inferred from one measured point, the
accurate tier's int8 time on an AVX2-only CPU (``--accurate-ms``; default: issue H's
measurement, 4.4 ms for both classifiers, one face, one thread, made before this count on
that machine type), scaled by each tier's share of the instructions. That assumes equal
instructions per cycle for both tiers, which spend their time in the same int8 convolution
kernels; it is an estimate, and the output says so.

    python -m benchmarks.avx2_cost                 # both tiers, shipped int8 ONNX files
    python -m benchmarks.avx2_cost --json .cache/avx2_cost.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from runtime.card import CardError, read_card
from runtime.cli import OneLineParser, one_line_errors
from runtime.model_folder import TIERS, card_path, export_path, shipped_models

CHILD = """
import json, sys
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__ as cpu
from runtime.backends import open_classifier
clf = open_classifier(sys.argv[1], threads=1)
x = np.zeros((1, *clf.input_shape), np.float32)
for _ in range(int(sys.argv[2])):
    clf.predict(x)
print(json.dumps({k: bool(cpu.get(k)) for k in ("AVX2", "AVX512F", "AVX512VNNI", "AVXVNNI")}))
"""
QUIET_HELPERS = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
ACCURATE_AVX2_MS = 4.4  # issue H: both accurate int8 classifiers, one face, one thread


class CountError(RuntimeError):
    pass


@dataclass
class Count:
    tier: str
    task: str
    model: str
    macs_m: float
    instructions_m: float  # per face, on the AVX2-only path
    cpu_seen: dict  # what the program under valgrind was told the CPU has

    @property
    def per_mac(self) -> float:
        return self.instructions_m / self.macs_m


def instructions(model: Path, calls: int) -> tuple[int, dict]:
    """Instructions callgrind counts for a child that opens ``model`` and classifies one
    face ``calls`` times, and the CPU features the child saw."""
    with tempfile.TemporaryDirectory(prefix="callgrind-") as tmp:
        proc = subprocess.run(
            [
                "valgrind",
                "--tool=callgrind",
                "--separate-threads=yes",
                f"--callgrind-out-file={tmp}/out",
                sys.executable,
                "-c",
                CHILD,
                str(model),
                str(calls),
            ],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[1],
            env={**os.environ, **QUIET_HELPERS},
        )
        main_thread = Path(tmp, "out-01")  # callgrind numbers threads from 1, the caller first
        total = _totals(main_thread) if main_thread.is_file() else None
    if proc.returncode != 0 or total is None:
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        raise CountError(f"valgrind could not run {model.name}: {tail[0]}")
    return total, json.loads(proc.stdout.strip().splitlines()[-1])


def _totals(profile: Path) -> int | None:
    """The instruction total callgrind writes at the end of a profile file."""
    for line in profile.read_text(errors="replace").splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    return None


def count(tier: str, task: str, folder: Path, calls: tuple[int, int]) -> Count:
    model = export_path(folder, "onnx", "int8")
    if not model.is_file():
        raise FileNotFoundError(f"{model} not found; run 'make export' first")
    n1, n2 = calls
    low, cpu = instructions(model, n1)
    high, _ = instructions(model, n2)
    card = read_card(card_path(folder))
    return Count(
        tier, task, folder.name, card.architecture["macs"] / 1e6, (high - low) / (n2 - n1) / 1e6, cpu
    )


def markdown(counts: list[Count], accurate_ms: float) -> str:
    per_tier = {t: sum(c.instructions_m for c in counts if c.tier == t) for t in TIERS}
    lines = [
        "| tier | task | model | M MACs | M instructions per face (AVX2 path) | per MAC |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| {c.tier} | {c.task} | {c.model} | {c.macs_m:.1f} | {c.instructions_m:.2f} | {c.per_mac:.3f} |"
        for c in counts
    ]
    lines.append("")
    seen = counts[0].cpu_seen if counts else {}
    lines.append(
        "CPU features the counted program saw (numpy's cpuid): "
        + ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in seen.items())
    )
    if per_tier.get("accurate"):
        lines.append("")
        for t in TIERS:
            if per_tier.get(t):
                est = accurate_ms * per_tier[t] / per_tier["accurate"]
                lines.append(
                    f"- {t}: {per_tier[t]:.2f} M instructions for both classifiers; "
                    f"estimated {est:.2f} ms on an AVX2-only CPU "
                    f"(accurate tier = {accurate_ms} ms measured there, scaled by instructions)"
                )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = OneLineParser(
        prog="python -m benchmarks.avx2_cost",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tier", nargs="+", choices=TIERS, default=list(TIERS), help="shipped tiers to count")
    p.add_argument(
        "--model", nargs="+", type=Path, default=[], help="also count these model folders (shown as 'tried')"
    )
    p.add_argument(
        "--calls", nargs=2, type=int, default=(5, 45), metavar=("N1", "N2"), help="calls of the two runs"
    )
    p.add_argument(
        "--accurate-ms",
        type=float,
        default=ACCURATE_AVX2_MS,
        help="the accurate tier's measured time on an AVX2-only CPU, both classifiers (ms)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write the counts as JSON")
    a = p.parse_args(argv)
    if a.calls[1] <= a.calls[0]:
        p.error("--calls N1 N2 needs N2 > N1")
    if shutil.which("valgrind") is None:
        p.error("valgrind not found; install it (Debian: apt-get install valgrind)")
    with one_line_errors((CountError, CardError, FileNotFoundError, ValueError), "interrupted"):
        counts = [
            count(tier, task, folder, tuple(a.calls))
            for tier in a.tier
            for task, folder in shipped_models(tier).items()
        ]
        counts += [count("tried", read_card(card_path(f)).task, f, tuple(a.calls)) for f in a.model]
    if any(c.cpu_seen.get("AVX512F") or c.cpu_seen.get("AVX512VNNI") for c in counts):
        print("error: the program under valgrind saw AVX-512: not AVX2-only counts", file=sys.stderr)
        return 1
    if a.json:
        a.json.write_text(json.dumps([asdict(c) for c in counts], indent=1) + "\n")
    print(markdown(counts, a.accurate_ms))
    return 0


if __name__ == "__main__":
    sys.exit(main())
