"""The AVX2-only instruction count rests on one premise: the program valgrind runs is told
its CPU has AVX2 but neither AVX-512 nor VNNI, so onnxruntime takes the AVX2-only kernels."""

from __future__ import annotations

import shutil

import pytest

from benchmarks.avx2_cost import Count, instructions, markdown
from runtime.model_folder import export_path, shipped_models


@pytest.mark.skipif(shutil.which("valgrind") is None, reason="valgrind not installed")
@pytest.mark.slow
def test_valgrind_shows_onnxruntime_an_avx2_only_cpu_and_counts_its_work():
    model = export_path(shipped_models("nano")["emotion"], "onnx", "int8")
    total, cpu = instructions(model, 2)
    assert cpu == {"AVX2": True, "AVX512F": False, "AVX512VNNI": False, "AVXVNNI": False}
    assert total > 1_000_000  # Python, onnxruntime and two classified faces


def test_each_tier_is_estimated_from_the_accurate_tiers_measured_time_by_its_instructions():
    cpu = {"AVX2": True, "AVX512F": False}
    counts = [
        Count("accurate", "emotion", "a", 118.0, 30.0, cpu),
        Count("accurate", "gender", "b", 120.0, 34.0, cpu),
        Count("nano", "emotion", "c", 22.8, 6.0, cpu),
        Count("nano", "gender", "d", 21.5, 10.0, cpu),
    ]
    text = markdown(counts, accurate_ms=4.0)
    assert "accurate: 64.00 M instructions for both classifiers; estimated 4.00 ms" in text
    assert "nano: 16.00 M instructions for both classifiers; estimated 1.00 ms" in text
    assert "| nano | emotion | c | 22.8 | 6.00 | 0.263 |" in text
