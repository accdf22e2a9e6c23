"""The runtime's own messages always reach the terminal; native libraries' noise never does."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from runtime_cli import run_runtime

from runtime import quiet

ROOT = Path(__file__).resolve().parents[2]
BANNER = b"W0000 00:00:1.0 1 inference_runner_litert.cc:1433] Input tensor memory is not aligned\n"
MEDIAPIPE_NOISE = ("Logging before InitGoogle", "Input tensor memory is not aligned")


PARALLEL_WARM_UP = """
import os, sys, threading, time
from runtime.quiet import native_banners_filtered
start = threading.Barrier(2)

def worker(tag):
    start.wait()
    for i in range(150):
        with native_banners_filtered():
            os.write(2, BANNER)
            time.sleep(0.0005)  # a native call takes time: let the threads overlap
            os.write(2, f"{tag} real line {i}\\n".encode())
            print(f"{tag} python line {i}", file=sys.stderr)

threads = [threading.Thread(target=worker, args=(t,)) for t in "ab"]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("summary after the warm-up", file=sys.stderr)
"""


def test_parallel_filters_leave_fd2_where_it_was_and_pass_real_lines():
    """Two engines warming up on two threads, in a process of its own (fd 2 a real pipe): the
    bug left fd 2 on a deleted temporary file and the summary vanished. Banners are dropped;
    every other native line and every Python line arrives."""
    code = f"BANNER = {BANNER!r}\n" + PARALLEL_WARM_UP
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert "summary after the warm-up" in lines
    assert not [line for line in lines if "not aligned" in line]
    for tag in "ab":
        assert sum(line.startswith(f"{tag} real line") for line in lines) == 150
        assert sum(line.startswith(f"{tag} python line") for line in lines) == 150


def test_a_reused_filter_catches_noise_on_any_call_and_empties_between_calls(capfd):
    noise = quiet.NativeNoiseFilter()
    try:
        for i in range(3):
            with noise.active():
                if i == 2:  # noise on a later call, as MediaPipe's alignment warning comes
                    os.write(2, BANNER + b"kept\n")
        err = capfd.readouterr().err
        assert "not aligned" not in err and err.count("kept") == 1
    finally:
        noise.close()


def _run_tflite_two_threads(_: int) -> subprocess.CompletedProcess:
    return run_runtime("--source", "demo", "--max-frames", "3", "--backend", "tflite", timeout=120)


@pytest.mark.parametrize("runs", [16])
@pytest.mark.slow
def test_the_two_thread_tflite_path_always_prints_its_summary_and_no_native_noise(runs):
    pytest.importorskip("mediapipe", reason="runs in the runtime environment")
    pytest.importorskip("ai_edge_litert", reason="runs in the runtime environment")
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(_run_tflite_two_threads, range(runs)))
    for r in results:
        assert r.returncode == 0, r.stderr
        lines = r.stderr.splitlines()
        assert any("frames" in line and "FPS" in line for line in lines), repr(r.stderr)
        assert not [line for line in lines if any(n in line for n in MEDIAPIPE_NOISE)]
