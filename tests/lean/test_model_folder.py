"""runtime.model_folder: the one owner of a model folder's file names, the precision names,
the models folder and its shipped index, and the tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from runtime import model_folder as mf
from runtime.card import card_path_for, read_card, verify_file

ROOT = Path(__file__).resolve().parents[2]


def test_every_artefact_of_the_shipped_folders_resolves():
    folders = mf.shipped_folders()
    assert len(folders) == len({f for tier in mf.shipped_index().values() for f in tier.values()})
    for folder in folders:
        files = mf.artefacts(folder)
        assert set(files) >= {"model.keras", "model.card.json", "model.int8.onnx", "model.fp16.tflite"}
        for name, path in files.items():
            assert path.is_file(), path
            if not name.endswith(".card.json"):
                assert mf.card_path(path) == card_path_for(path)  # the card module's rule too
                assert files[mf.card_name(name)] == mf.card_path(path)
        assert mf.keras_path(folder) == folder / "model.keras" and mf.card_path(folder) == folder / mf.CARD
        assert mf.exports(folder) == [folder / n for n in mf.EXPORT_NAMES]
        for backend, precision in mf.EXPORTS:
            path = mf.export_path(folder, backend, precision)
            assert path.name == f"model.{precision}.{backend}"
            card = read_card(mf.card_path(path))
            verify_file(card, path)  # the file is the one its card records
            # committed cards spell fp32 "float32": read back, it is the file name's precision
            assert mf.normalize_precision(card.files[path.name].precision) == precision
            assert card.files[path.name].precision == mf.card_precision(precision)
        assert mf.export_path(folder / "model.int8.onnx", "tflite", "fp32") == folder / "model.int8.onnx"


def test_one_precision_vocabulary_reads_the_old_spelling():
    assert mf.PRECISIONS == ("fp32", "fp16", "int8")
    assert [mf.normalize_precision(p) for p in ("float32", "fp32", "float16", "fp16", "int8")] == [
        "fp32",
        "fp32",
        "fp16",
        "fp16",
        "int8",
    ]
    assert [mf.card_precision(p) for p in mf.PRECISIONS] == ["float32", "float16", "int8"]
    assert mf.export_name("tflite", "float16") == "model.fp16.tflite"
    with pytest.raises(ValueError, match="unknown precision 'int4'; choose fp32, fp16 or int8"):
        mf.normalize_precision("int4")
    with pytest.raises(ValueError, match="unknown backend 'tensorrt'; choose onnx or tflite"):
        mf.export_name("tensorrt", "fp32")
    with pytest.raises(
        ValueError, match="no fp16 ONNX export; use --precision fp32 or int8, or --backend tflite"
    ):
        mf.export_name("onnx", "fp16")
    assert {b for b, _ in mf.EXPORTS} == set(mf.BACKENDS)


def test_the_shipped_index_lists_both_tiers_with_the_same_tasks():
    index = mf.shipped_index()
    assert tuple(index) == mf.TIERS
    assert all(tuple(tasks) == mf.tasks() for tasks in index.values())
    assert mf.tasks() == ("emotion", "gender", "age")
    for tier in mf.TIERS:
        for task, folder in mf.shipped_models(tier).items():
            assert read_card(mf.card_path(folder)).task == task
    with pytest.raises(ValueError, match="no huge tier is shipped"):
        mf.shipped_models("huge")


def test_the_makefile_lists_the_shipped_folders_with_the_standard_library_alone():
    code = (
        "import sys, runtime.model_folder as m; "
        "assert not {'numpy', 'cv2'} & set(sys.modules), 'not standard library only'; "
        "sys.exit(m.main(['shipped']))"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = [f"trained_models/{n}" for t in mf.shipped_index().values() for n in t.values()]
    assert r.stdout.split() == list(dict.fromkeys(expected))


def _fake_models(root: Path, tasks: dict[str, str]) -> None:
    for task, name in tasks.items():
        (root / name).mkdir(parents=True)
        (root / name / mf.CARD).write_text(json.dumps({"name": name, "task": task}))


def test_a_new_task_is_a_new_entry_in_the_shipped_index(tmp_path, monkeypatch):
    from runtime.__main__ import config_from_args, parse_args
    from runtime.options import RuntimeConfig
    from runtime.pipeline import Pipeline

    index = {
        "accurate": {"emotion": "e", "gender": "g", "age": "age_big"},
        "nano": {"emotion": "e_nano", "gender": "g_nano", "age": "age_nano"},
    }
    (tmp_path / "shipped.json").write_text(json.dumps(index))
    monkeypatch.setenv(mf.MODELS_ENV, str(tmp_path))
    assert mf.models_dir() == tmp_path
    assert mf.tasks() == ("emotion", "gender", "age")
    assert mf.shipped_models("nano")["age"] == tmp_path / "age_nano"
    assert mf.shipped_folders()[2] == tmp_path / "age_big" and len(mf.shipped_folders()) == 6
    assert RuntimeConfig().tasks == ("emotion", "gender", "age")
    assert config_from_args(parse_args([]), show=False).tasks == ("emotion", "gender", "age")
    with pytest.raises(ValueError, match="choose from emotion, gender, age"):
        Pipeline(RuntimeConfig(tasks=("height",)))

    (tmp_path / "shipped.json").unlink()  # no index: the cards in the folder name the tasks
    _fake_models(tmp_path, {"gender": "g1", "age": "a1", "emotion": "e1"})
    assert set(mf.tasks()) == {"emotion", "gender", "age"}
    with pytest.raises(FileNotFoundError, match="shipped.json not found"):
        mf.shipped_models()
