"""The Raspberry Pi estimate's arithmetic, on made-up times: ranges that hold their order,
more faces cost more, each precision scaled by its own calibration, nothing called measured."""

from __future__ import annotations

import pytest

from benchmarks import pi_estimate as pe


def here(ms: float = 1.0) -> dict:
    classifiers = {}
    for tier in ("accurate", "nano"):
        for task in ("emotion", "gender", "age"):
            for backend in ("onnx", "tflite"):
                for precision, k in (("int8", 0.5), ("fp32", 1.0)):
                    for threads, t in ((1, 1.0), (2, 0.6)):
                        scale = 1.0 if tier == "accurate" else 0.25
                        classifiers[f"{tier}/{task}/{backend}/{precision}/{threads}"] = ms * k * t * scale
    return {
        "detect_ms": 5.0,
        "classifiers": classifiers,
        "overhead": {"preprocess_per_face": 0.2, "per_frame": 0.5},
    }


ANCHORS = {"yunet_fp32": 0.5, "fer_int8": 2.0}


def test_each_precision_is_scaled_by_its_own_calibration_and_ranges_are_ordered():
    r = pe.ratios(ANCHORS)
    assert r["pi4"]["fp32"][0] == pytest.approx(min(6.23 / 0.5, 27.81 / 1.79 * (0.69 / 0.5)))
    assert r["pi4"]["int8"][0] <= r["pi4"]["int8"][1] and r["a76"]["fp32"][1] < r["pi4"]["fp32"][0]
    rows = pe.estimate(here(), ANCHORS)
    assert len(rows) == 2 * 2 * 2 * 2 * 2 * 2 and all(x["method"] == "ratio" for x in rows)
    for x in rows:
        for key in ("detect_ms", "classify_ms_per_face", "fps"):
            assert x[key][0] <= x[key][1], (key, x)


def test_more_faces_and_a_bigger_tier_cost_frames_and_threads_never_slow_it():
    rows = {
        (x["device"], x["tier"], x["backend"], x["precision"], x["threads"], x["faces"]): x
        for x in pe.estimate(here(), ANCHORS)
    }
    for (device, tier, backend, precision, threads, faces), x in rows.items():
        if faces == 1:
            assert rows[(device, tier, backend, precision, threads, 4)]["fps"][1] < x["fps"][1]
        if tier == "nano":
            assert x["fps"][0] > rows[(device, "accurate", backend, precision, threads, faces)]["fps"][0]
        if threads == 4:
            assert x["fps"][1] >= rows[(device, tier, backend, precision, 1, faces)]["fps"][1]
    pi4 = next(d for d in pe.DEVICES if "Pi 4" in d)
    pi5 = next(d for d in pe.DEVICES if "Pi 5" in d)
    key = ("nano", "tflite", "int8", 1, 1)
    assert rows[(pi5, *key)]["fps"][0] > rows[(pi4, *key)]["fps"][1]  # the A76 is the faster core


def test_the_table_says_estimate_and_a_measured_run_says_measured():
    est = {
        "command": "c",
        "when": "d",
        "cpu": "x",
        "machine": "x86_64",
        "opencv": "5",
        "measured": False,
        "anchors_here_ms": ANCHORS,
        "rows": pe.estimate(here(), ANCHORS),
    }
    assert "ESTIMATES, not measured on a Pi" in pe.markdown(est)
    measured = {**est, "measured": True, "rows": pe.measured_rows(here(), "Raspberry Pi 5 Model B Rev 1.0")}
    text = pe.markdown(measured)
    assert "ESTIMATE" not in text and "| measured |" in text
