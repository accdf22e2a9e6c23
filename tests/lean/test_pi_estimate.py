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


ANCHORS = {"1": {"yunet_fp32": 0.5, "fer_int8": 2.0}, "2": {"yunet_fp32": 0.4, "fer_int8": 1.0}}


def test_amdahl_bounds_the_published_all_core_times_brought_to_one_thread():
    assert pe.amdahl(1.0, 4) == pytest.approx(1.0) and pe.amdahl(2.0, 4) == pytest.approx(4.0)
    assert pe.amdahl(1.25, 4) == pytest.approx(1 / (0.6 + 0.4 / 4))  # p = 2 (1 - 1/1.25) = 0.4
    assert pe.single_thread_ms(10.0, 1.25, 4) == pytest.approx((12.5, 10 / (0.6 + 0.1)))


def test_each_precision_is_scaled_by_its_own_calibration_and_ranges_are_ordered():
    r = pe.ratios(ANCHORS)
    direct = [6.23 * 1.25 / 0.5, 6.23 * pe.amdahl(1.25, 4) / 0.5]  # YuNet: 2-thread gain 1.25
    via_i7 = pe.cross_check(ANCHORS)["pi4"]["fp32"]
    assert r["pi4"]["fp32"] == pytest.approx((min(*direct, *via_i7), max(*direct, *via_i7)))
    # through the i7 with no scaling past two threads: Pi 4 over i7 for FER, times i7 over here for YuNet
    assert 27.81 / 1.79 * 0.69 * 1.25 / 0.5 in [pytest.approx(x) for x in via_i7]
    assert r["pi4"]["int8"][1] >= 35.71 * 4 / 2.0  # FER int8 here scales perfectly: Amdahl gives 4x
    assert r["pi4"]["int8"][0] <= r["pi4"]["fp32"][0] and r["pi4"]["int8"][1] >= r["pi4"]["fp32"][1]
    for precision in ("fp32", "int8"):
        assert r["pi4"][precision][0] <= r["pi4"][precision][1]
        assert all(a < b for a, b in zip(r["a76"][precision], r["pi4"][precision], strict=True))
    rows = pe.estimate(here(), ANCHORS)
    assert len(rows) == 2 * 2 * 2 * 2 * 2 * 2
    assert {x["method"] for x in rows} == {"ratio (YuNet fp32)", "ratio (FER int8 + YuNet fp32)"}
    assert all(x["method"] == f"ratio ({pe.CALIBRATION[x['precision']]})" for x in rows)
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
    for end in (0, 1):  # the A76 is the faster core, at either end of the range
        assert rows[(pi5, *key)]["fps"][end] > rows[(pi4, *key)]["fps"][end]


def test_the_table_says_estimate_and_a_measured_run_says_measured():
    est = {
        "command": "c",
        "when": "d",
        "cpu": "x",
        "machine": "x86_64",
        "opencv": "5",
        "measured": False,
        "anchors_here_ms": ANCHORS,
        "ratios": pe.ratios(ANCHORS),
        "cross_check": pe.cross_check(ANCHORS),
        "rows": pe.estimate(here(), ANCHORS),
    }
    assert "ESTIMATES, not measured on a Pi" in pe.markdown(est)
    measured = {**est, "measured": True, "rows": pe.measured_rows(here(), "Raspberry Pi 5 Model B Rev 1.0")}
    text = pe.markdown(measured)
    assert "ESTIMATE" not in text and "| measured |" in text


def test_a_pi_is_named_by_its_device_tree_as_its_cpuinfo_names_no_model(tmp_path):
    from benchmarks.frontier import cpu_name

    cpuinfo, board = tmp_path / "cpuinfo", tmp_path / "model"
    cpuinfo.write_text("processor\t: 0\nBogoMIPS\t: 108.00\nCPU part\t: 0xd0b\n")
    board.write_bytes(b"Raspberry Pi 5 Model B Rev 1.0\x00")
    assert cpu_name(cpuinfo, board) == "Raspberry Pi 5 Model B Rev 1.0"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: AMD EPYC 9B14\n")  # no device tree: a PC
    assert cpu_name(cpuinfo, tmp_path / "absent") == "AMD EPYC 9B14"
    assert pe._slug("Raspberry Pi 5 Model B Rev 1.0") == "raspberry-pi-5-model-b-rev-1-0"


def test_bench_pi_measures_every_row_here_and_writes_the_json_and_markdown(tmp_path, capsys):
    import json

    short = ["--measured", "--frames", "5", "--rounds", "1", "--repeats", "2", "--output"]
    assert pe.main([*short, str(tmp_path / "m")]) == 0
    r = json.loads((tmp_path / "m.json").read_text())
    text = (tmp_path / "m.md").read_text()
    assert r["measured"] and len(r["rows"]) == 32 and {x["method"] for x in r["rows"]} == {"measured"}
    assert all(v > 0 for x in r["rows"] for k in ("detect_ms", "classify_ms_per_face", "fps") for v in x[k])
    assert text.count("| measured |") == 32 and "ESTIMATE" not in text and text in capsys.readouterr().out
    with pytest.raises(SystemExit) as bad:
        pe.main(["--measured", "--repeats", "0"])
    assert bad.value.code == 2 and "--repeats must be at least 1" in capsys.readouterr().err


def counts(a72: float = 1.0, a76: float = 0.8) -> dict:
    """Made-up instruction counts: the A76 path (dot product) runs fewer."""
    cpus = {}
    for cpu, k in (("cortex-a72", a72), ("cortex-a76", a76)):
        c = {"detect": 40e6 * k, "yunet_fp32": 20e6 * k, "fer_int8": 100e6 * k}
        for name, ms in here(10e6 * k)["classifiers"].items():
            if name.endswith("/1"):
                c[name[:-2]] = ms
        cpus[cpu] = c
    return {"qemu": "10.0.13", "cpus": cpus}


def test_instruction_counts_become_ms_by_each_boards_ns_per_instruction_and_keep_the_ratio_beside():
    ns = pe.ns_per_instruction(counts(), ANCHORS, "pi4")
    yunet = [t * 1e6 / 20e6 for t in pe.single_thread_ms(6.23, 1.25, 4)]
    fer = [t * 1e6 / 100e6 for t in pe.single_thread_ms(35.71, 2.0, 4)]
    assert ns == pytest.approx((min(*yunet, *fer), max(*yunet, *fer)))
    by_ratio = {
        (x["device"], x["tier"], x["backend"], x["precision"], x["threads"], x["faces"]): x
        for x in pe.estimate(here(), ANCHORS)
    }
    rows = pe.estimate(here(), ANCHORS, counts())
    assert {x["method"] for x in rows} == {"instructions (cortex-a72)", "instructions (cortex-a76)"}
    for x in rows:
        key = (x["device"], x["tier"], x["backend"], x["precision"], x["threads"], x["faces"])
        assert x["fps_by_ratio"] == by_ratio[key]["fps"] and x["fps"][0] <= x["fps"][1]
        if x["threads"] == 1 and "Pi 4" in x["device"]:  # detect: 40 M instructions at the board's ns
            assert x["detect_ms"] == pytest.approx(
                [40e6 * ns[0] * 1.5 / 1.8 / 1e6, 40e6 * ns[1] / 1e6], abs=0.06
            )
    heavier = counts()  # our classifiers twice the instructions on the A72, the calibration as it was
    heavier["cpus"]["cortex-a72"] = {
        k: v * (2 if "/" in k else 1) for k, v in heavier["cpus"]["cortex-a72"].items()
    }
    for x, y in zip(rows, pe.estimate(here(), ANCHORS, heavier), strict=True):
        pi4 = "Pi 4" in x["device"]
        assert y["classify_ms_per_face"][1] == pytest.approx(
            (2 if pi4 else 1) * x["classify_ms_per_face"][1], rel=0.02
        )
    assert (
        pe.estimate(here(), ANCHORS, counts(0.5, 0.4)) == rows
    )  # only instructions relative to the calibration count (the decode-width floor aside)
    text = pe.markdown(
        {
            "command": "c",
            "when": "d",
            "cpu": "x",
            "machine": "x86_64",
            "opencv": "4.10",
            "measured": False,
            "anchors_here_ms": ANCHORS,
            "ratios": pe.ratios(ANCHORS),
            "cross_check": pe.cross_check(ANCHORS),
            "instructions": counts(),
            "ns_per_instruction": {b: pe.ns_per_instruction(counts(), ANCHORS, b) for b in pe.CPU_OF},
            "rows": rows,
        }
    )
    assert "| FPS by ratio |" in text and "-cpu cortex-a76" in text and "ESTIMATES, not measured" in text


def test_each_board_scales_the_detector_engine_that_runs_there():
    """The Pi 4 runs BlazeFace on LiteRT (MediaPipe's build needs ARMv8.1 atomics), the Pi 5 on
    MediaPipe: the ratio route scales each one's own time here."""
    plain = pe.estimate(here(), ANCHORS)
    both = pe.estimate({**here(), "detect_ms_by_engine": {"mediapipe": 5.0, "litert": 10.0}}, ANCHORS)
    for x, y in zip(plain, both, strict=True):
        k = 2.0 if pe.DEVICES[x["device"]]["detector"] == "litert" else 1.0
        assert y["detect_ms"] == pytest.approx([k * v for v in x["detect_ms"]], abs=0.06)
    assert {d["detector"] for d in pe.DEVICES.values()} == {"litert", "mediapipe"}


def test_ns_per_instruction_never_implies_more_instructions_a_cycle_than_the_core_decodes():
    few = counts()
    few["cpus"]["cortex-a76"]["fer_int8"] = 1e9  # as if the expression model ran at ~10 a cycle
    lo, hi = pe.ns_per_instruction(few, ANCHORS, "a76")
    assert lo == pytest.approx(1 / (4 * 2.25)) and hi > lo
    assert pe.ns_per_instruction(counts(), ANCHORS, "a76")[0] > 1 / (4 * 2.25)


def test_counts_of_other_model_files_are_refused_and_the_ratio_route_used(tmp_path, capsys):
    import json

    from runtime.card import sha256_of
    from runtime.model_folder import shipped_exports

    files = {key: sha256_of(path) for key, path in shipped_exports().items()}
    path = tmp_path / "pi_instructions.json"
    path.write_text(json.dumps({**counts(), "files": files}))
    assert pe.current_counts(path)["cpus"] == counts()["cpus"]
    retrained = {**files, "nano/emotion/tflite/int8": "0" * 64}
    path.write_text(json.dumps({**counts(), "files": retrained}))
    assert pe.current_counts(path) is None
    err = capsys.readouterr().err
    assert "nano/emotion/tflite/int8" in err and "make pi-count" in err
    assert pe.current_counts(tmp_path / "absent.json") is None
