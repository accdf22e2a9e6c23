"""Model cards: round trip, validation, checksums, atomic writes."""

import json
from pathlib import Path

import pytest

from runtime.card import (
    CardError,
    ModelCard,
    card_path_for,
    file_entry,
    read_card,
    verify_file,
    write_card,
)
from runtime.preprocess import CropRule, InputSpec, Normalization


def make_card() -> ModelCard:
    spec = InputSpec(
        48,
        48,
        1,
        "gray",
        Normalization.minus_one_to_one(),
        CropRule(scale_x=1.1, scale_y=1.2, framing="test"),
    )
    return ModelCard(
        name="m",
        task="emotion",
        labels=["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"],
        input=spec,
        metrics={"val": {"accuracy": 0.5}},
    )


def test_roundtrip(tmp_path):
    card = make_card()
    model = tmp_path / "m.onnx"
    model.write_bytes(b"weights")
    card.files[model.name] = file_entry(model, "onnx", "float32")
    path = card_path_for(model)
    assert path.name == "m.onnx.card.json"  # exports keep their name: formats share a folder
    assert card_path_for(tmp_path / "m.keras").name == "m.card.json"
    assert card_path_for(tmp_path / "m.int8.tflite").name == "m.int8.tflite.card.json"
    write_card(card, path)
    back = read_card(path)
    assert back == card
    verify_file(back, model)


def test_checksum_mismatch_is_refused(tmp_path):
    card = make_card()
    model = tmp_path / "m.onnx"
    model.write_bytes(b"weights")
    card.files[model.name] = file_entry(model, "onnx", "float32")
    model.write_bytes(b"weightz")
    with pytest.raises(CardError, match="does not match its card"):
        verify_file(card, model)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.update(colour_space="x"), "unknown card key"),
        (lambda d: d.pop("labels"), "lacks required key"),
        (lambda d: d.update(task="two words"), "must be a name"),
        (lambda d: d["input"].pop("height"), "malformed"),
        (lambda d: d.update(card_version=99), "newer"),
    ],
)
def test_bad_cards_are_refused_with_a_message(tmp_path, mutate, message):
    d = make_card().to_dict()
    mutate(d)
    path = tmp_path / "bad.card.json"
    path.write_text(json.dumps(d))
    with pytest.raises(CardError, match=message):
        read_card(path)


def test_not_json_and_missing(tmp_path):
    path = tmp_path / "x.card.json"
    path.write_text("{not json")
    with pytest.raises(CardError, match="not valid JSON"):
        read_card(path)
    with pytest.raises(CardError, match="not found"):
        read_card(tmp_path / "none.card.json")


def test_write_leaves_no_temporary_files(tmp_path):
    write_card(make_card(), tmp_path / "a.card.json")
    assert [p.name for p in tmp_path.iterdir()] == ["a.card.json"]


def test_the_repository_carries_only_finished_models():
    """Every committed model folder is a finished model with its card; no checkpoint or
    half-trained weights ride along in a clone."""
    import shutil
    import subprocess

    root = Path(__file__).resolve().parents[2]
    if shutil.which("git") is None or not (root / ".git").exists():
        pytest.skip("needs the git checkout")
    files = subprocess.run(
        ["git", "ls-files", "trained_models"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.split()
    folders = {Path(f).parts[1] for f in files if len(Path(f).parts) > 2}
    assert folders, "no model is committed"
    from runtime.model_folder import CARD

    for folder in folders:
        assert f"trained_models/{folder}/{CARD}" in files, f"{folder}: no card"
    leftovers = [f for f in files if "/checkpoints/" in f or f.endswith("best.weights.h5")]
    assert not leftovers, leftovers


def test_a_card_of_a_new_task_needs_no_code_change(tmp_path):
    """A third task (age) is a card and a shipped.json entry: the card layer takes any task name."""
    from dataclasses import replace

    card = replace(make_card(), task="age", labels=["child", "teen", "adult"])
    write_card(card, tmp_path / "m.card.json")
    back = read_card(tmp_path / "m.card.json")
    assert back.task == "age" and back.labels == ["child", "teen", "adult"]
