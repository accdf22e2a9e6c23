"""One rule carves the validation split; every consumer rebuilds it and checks its fingerprint."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from export.calibration import calibration_set
from runtime.card import EMOTION_LABELS, ModelCard
from runtime.preprocess import InputSpec, Normalization
from train.config import TrainConfig
from train.data import (
    SPLIT_FINGERPRINT,
    card_split,
    carve_split,
    select_labels,
    split_fingerprint,
    stratified_split,
    training_set,
    validation_rule,
)
from train.datasets.base import FaceDataset
from train.recipes import get_recipe
from train.run_folder import RunState
from train.sources import split_problem


def write_fer_npz(path: Path, labels: np.ndarray, votes: np.ndarray | None = None) -> Path:
    """A FER-like training file (noise faces; FER+ votes when given)."""
    x = np.random.default_rng(len(labels)).integers(0, 256, (len(labels), 48, 48), dtype=np.uint8)
    extra = {} if votes is None else {"ferplus_train": votes}
    names = np.array(EMOTION_LABELS)
    np.savez_compressed(path, x_train=x, y_train=labels.astype(np.uint8), class_names=names, **extra)
    return path


def card_for(data: list[str], labels: str = "fer", seed: int = 1, val_fraction: float = 0.25, **split):
    """A training card as ``train.loop.finalize`` writes it (only what the split needs)."""
    spec = InputSpec(48, 48, 1, "gray", Normalization.minus_one_to_one())
    training = {
        "data": data,
        "labels": labels,
        "seed": seed,
        "recipe": {"val_fraction": val_fraction},
        "split": {"validation_rule": validation_rule(val_fraction, seed), **split},
    }
    return ModelCard(name="m", task="emotion", labels=list(EMOTION_LABELS), input=spec, training=training)


def test_the_split_is_the_one_training_always_carved(emotion_npz):
    """Pinned figures of the generated 1400-face set, computed by the rule before it moved."""
    ds = training_set([str(emotion_npz["train"])], "emotion", "fer")
    s = carve_split(ds, 0.25, 1)  # the smoke recipe's fraction, seed 1
    assert (len(s.train), len(s.val)) == (1050, 350)
    assert s.val[:8].tolist() == [10, 17, 18, 19, 21, 23, 29, 33]
    assert s.fingerprint == "8fd849415b68e80e"
    tr, va = stratified_split(ds.labels, 0.25, 1)
    assert np.array_equal(s.train, tr) and np.array_equal(s.val, va)
    assert carve_split(ds, 0.1, 7).fingerprint == "0524ad90e814d414"
    assert split_fingerprint(s.train[::-1]) == s.fingerprint  # of the sorted positions


def test_a_card_is_rebuilt_to_its_split_and_old_cards_without_a_fingerprint_still_pass(emotion_npz):
    data = [str(emotion_npz["train"])]
    ds, s = card_split(card_for(data, **{SPLIT_FINGERPRINT: "8fd849415b68e80e"}))
    assert len(ds) == 1400 and s.fingerprint == "8fd849415b68e80e"
    _, old = card_split(card_for(data))  # committed cards predate the fingerprint
    assert np.array_equal(old.train, s.train)
    calib = calibration_set(card_for(data, **{SPLIT_FINGERPRINT: s.fingerprint}), size=35)
    assert len(calib.x) == 35


def test_extra_calibration_sources_share_the_draw_and_evaluation_splits_are_refused(emotion_npz, tmp_path):
    data = [str(emotion_npz["train"])]
    card = card_for(data)
    own = calibration_set(card, size=64)
    other = write_fer_npz(tmp_path / "wild_train.npz", np.arange(700) % 7)
    mixed = calibration_set(card, size=64, extra=(str(other),))
    assert len(mixed.x) == 64 and mixed.source["own_size"] == 32
    assert mixed.source["extra"] == [{"data": str(other), "size": 32}]
    assert len(own.x) == 64 and "extra" not in own.source

    def drawn_from(faces: np.ndarray, path: Path) -> bool:
        pixels = np.load(path)["x_train"]
        norm = card.input.normalization
        as_pixels = np.rint((faces[..., 0] - norm.offset) / norm.scale).astype(np.uint8)
        return all((pixels == face).all(axis=(1, 2)).any() for face in as_pixels)

    # the first half is the model's own training faces, the second the other source's
    assert drawn_from(mixed.x[:32], emotion_npz["train"]) and drawn_from(mixed.x[32:], other)
    assert not drawn_from(mixed.x[32:33], emotion_npz["train"])
    card.metrics["emo_test"] = {"accuracy": 0.5}
    with pytest.raises(ValueError, match="evaluation split") as e:
        calibration_set(card, size=64, extra=(str(emotion_npz["test"]),))
    assert len(str(e.value).splitlines()) == 1


def test_a_card_whose_data_do_not_match_its_fingerprint_is_refused(emotion_npz, tmp_path):
    other = write_fer_npz(tmp_path / "other_train.npz", np.arange(1300) % 7)
    card = card_for([str(other)], **{SPLIT_FINGERPRINT: "8fd849415b68e80e"})  # trained on emotion_npz
    with pytest.raises(ValueError, match="does not match its card") as e:
        calibration_set(card, size=32)
    assert len(str(e.value).splitlines()) == 1 and SPLIT_FINGERPRINT in str(e.value)


@pytest.mark.parametrize(
    "drop, named",
    [
        (("recipe",), "training.recipe.val_fraction"),
        (("seed", "labels"), "training.labels, training.seed"),
        (("split",), "training.split"),
        (("data",), "training.data"),
    ],
)
def test_a_card_without_its_split_recipe_is_refused_in_one_line(emotion_npz, drop, named):
    card = card_for([str(emotion_npz["train"])])
    for key in drop:
        del card.training[key]
    with pytest.raises(ValueError, match="cannot rebuild its training split") as e:
        calibration_set(card, size=32)
    assert named in str(e.value) and len(str(e.value).splitlines()) == 1


def ferplus_votes(labels: np.ndarray, seed: int = 0) -> np.ndarray:
    """FER+ votes: a fifth of the rows have no usable vote, the rest a majority that often
    differs from the FER2013 label."""
    rng = np.random.default_rng(seed)
    votes = np.zeros((len(labels), 10), np.uint8)
    fer_to_col = {0: 4, 1: 5, 2: 6, 3: 1, 4: 3, 5: 2, 6: 0}  # FER2013 id -> FER+ column
    for i, c in enumerate(labels):
        if rng.random() < 0.2:
            votes[i, 8] = 10  # "unknown" only: no usable vote
        else:
            votes[i, fer_to_col[int(c) if rng.random() < 0.6 else int(rng.integers(7))]] = 6
            votes[i, fer_to_col[int(rng.integers(7))]] += 4
    return votes


def test_the_split_is_carved_from_the_label_selected_rows(tmp_path):
    labels = np.random.default_rng(0).permutation(np.arange(700) % 7)
    data = [str(write_fer_npz(tmp_path / "ferplus_train.npz", labels, ferplus_votes(labels)))]
    raw = training_set(data, "emotion", "fer")
    chosen = training_set(data, "emotion", "ferplus_majority")
    assert len(chosen) < len(raw)  # rows without a usable vote are gone before the split
    expected = carve_split(select_labels(raw, "ferplus_majority"), 0.25, 1)
    for source in ("ferplus_majority", "ferplus_soft"):
        _, s = card_split(card_for(data, labels=source))
        assert np.array_equal(s.train, expected.train) and np.array_equal(s.val, expected.val)
        assert s.fingerprint == expected.fingerprint
    _, mix = card_split(card_for(data, labels="fer_ferplus_mix"))  # every row, FER2013 labels
    assert mix.fingerprint == carve_split(raw, 0.25, 1).fingerprint != expected.fingerprint
    # A card recording the label-selected split is refused if read as another label source.
    card = card_for(data, labels="fer", **{SPLIT_FINGERPRINT: expected.fingerprint})
    with pytest.raises(ValueError, match="does not match its card"):
        card_split(card)


def test_a_source_model_on_other_rows_of_the_same_data_is_refused():
    """--init-from / --teacher: same data and rule, but its fingerprint is another split's."""
    cfg = TrainConfig(task="emotion", data=["d.npz"], output="o", recipe=get_recipe("smoke"), limit=700)
    rows = FaceDataset("d", np.zeros((700, 4, 4), np.uint8), np.arange(700) % 7, list(EMOTION_LABELS), "gray")
    mine = carve_split(rows, cfg.recipe.val_fraction, cfg.seed)
    card = card_for(["d.npz"], val_fraction=cfg.recipe.val_fraction, **{SPLIT_FINGERPRINT: "0" * 16})
    problem = split_problem(card, cfg, mine, "hint")
    assert problem and "validation split" in problem and SPLIT_FINGERPRINT in problem
    card.training["split"][SPLIT_FINGERPRINT] = mine.fingerprint
    assert split_problem(card, cfg, mine, "hint") is None
    del card.training["split"][SPLIT_FINGERPRINT]  # an old card: rule and data decide
    assert split_problem(card, cfg, mine, "hint") is None
    cfg.seed = 7
    assert split_problem(card, cfg, mine, "hint") == "training data or validation split (hint)"


def _no_constants(name: str):
    raise ValueError(f"non-standard JSON constant {name}")


def test_run_state_is_standard_json_and_old_files_with_infinity_still_load(tmp_path):
    path = tmp_path / "state.json"
    fresh = RunState(lr=1e-3)
    assert fresh.plateau_best_loss == math.inf
    fresh.save(path)
    d = json.loads(path.read_text(), parse_constant=_no_constants)
    assert d["plateau_best_loss"] is None
    assert RunState.load(path) == fresh

    row = {"epoch": 1, "loss": 1.5, "accuracy": 0.4, "val_loss": 1.6, "val_accuracy": 0.3, "lr": 1e-3}
    done = RunState(epochs_done=1, best_val_accuracy=0.3, best_epoch=1, lr=1e-4, plateau_best_loss=1.6)
    done.history.append({**row, "seconds": 2.0})
    done.save(path)
    json.loads(path.read_text(), parse_constant=_no_constants)
    assert RunState.load(path) == done

    old = json.dumps(RunState(lr=1e-3).__dict__)  # how state.json was written before
    assert "Infinity" in old
    path.write_text(old)
    assert RunState.load(path) == fresh


def test_each_source_is_carved_on_its_own_so_an_added_source_keeps_the_first_ones_split(tmp_path):
    """A run on FER+ and ExpW: FER+'s rows split exactly as a FER+-only run split them, and a
    model selected on that run may seed or teach the wider one; any other order is refused."""
    labels = np.random.default_rng(0).permutation(np.arange(700) % 7)
    fer = str(write_fer_npz(tmp_path / "fer_train.npz", labels, ferplus_votes(labels)))
    wild = str(write_fer_npz(tmp_path / "wild_train.npz", np.arange(350) % 7))  # no votes
    alone_ds = training_set([fer], "emotion", "ferplus_soft")
    alone = carve_split(alone_ds, 0.25, 1)
    both_ds = training_set([fer, wild], "emotion", "ferplus_soft")
    both = carve_split(both_ds, 0.25, 1)
    n = len(alone_ds)
    assert len(both_ds) == n + 350  # every ExpW-like row kept, its target its one label
    assert np.array_equal(both_ds.soft[n:], np.eye(7, dtype=np.float32)[both_ds.labels[n:]])
    assert np.array_equal(both.train[both.train < n], alone.train)
    assert both.prefix_fingerprints == (alone.fingerprint, both.fingerprint)
    assert 80 <= (both.val >= n).sum() <= 95  # a quarter of the added source, by class

    cfg = TrainConfig(
        task="emotion", data=[fer, wild], output="o", recipe=get_recipe("smoke"), labels="ferplus_soft"
    )
    card = card_for([fer], labels="ferplus_soft", **{SPLIT_FINGERPRINT: alone.fingerprint})
    assert split_problem(card, cfg, both, "hint") is None
    card.training["split"][SPLIT_FINGERPRINT] = both.fingerprint  # not the first source's split
    assert "validation split" in split_problem(card, cfg, both, "hint")
    card.training["split"][SPLIT_FINGERPRINT] = alone.fingerprint
    cfg.data = [wild, fer]  # the model's data is not this run's first source
    assert split_problem(card, cfg, both, "hint") == "training data or validation split (hint)"
    assert validation_rule(0.25, 1, 2) == "stratified 25% of each of the 2 training sources, seed 1"


def test_a_source_that_names_its_people_is_carved_by_person_and_the_others_as_before(tmp_path):
    """CK+48 holds several frames of each person's sequences: carved by class, frames of one
    sequence would sit on both sides of the line that selects the model."""
    labels = np.random.default_rng(0).permutation(np.arange(700) % 7)
    fer = str(write_fer_npz(tmp_path / "fer_train.npz", labels, ferplus_votes(labels)))
    n_ck = 240
    people = np.array([f"S{i // 12:03d}" for i in range(n_ck)])  # 20 people, 12 frames each
    names = np.array([*EMOTION_LABELS, "contempt"])
    ck_labels = np.array([0, 1, 2, 3, 5, 7] * 40, np.uint8)
    x = np.random.default_rng(1).integers(0, 256, (n_ck, 48, 48), dtype=np.uint8)
    ck = tmp_path / "ckplus48.npz"
    np.savez_compressed(ck, x=x, y=ck_labels, subject=people, class_names=names)
    alone = carve_split(training_set([fer], "emotion", "ferplus_soft"), 0.25, 1)
    ds = training_set([fer, str(ck)], "emotion", "ferplus_soft")
    both = carve_split(ds, 0.25, 1)
    n = len(ds) - 200  # the 40 contempt faces are not an emotion the task has
    assert np.array_equal(both.train[both.train < n], alone.train)  # FER+ carved as before
    assert both.prefix_fingerprints[0] == alone.fingerprint and both.by_person == (1,)
    val_people = set(ds.meta["subject"][both.val[both.val >= n]])
    train_people = set(ds.meta["subject"][both.train[both.train >= n]])
    assert val_people and not val_people & train_people  # nobody on both sides
    assert 45 <= (both.val >= n).sum() <= 60  # a quarter of the faces, whole people at a time
    tr, va = carve_split(ds, 0.25, 1).train, carve_split(ds, 0.25, 1).val
    assert np.array_equal(tr, both.train) and np.array_equal(va, both.val)  # reproducible

    # train evaluate --carved: a run's CK+ figure on the people it held out, and only them
    from train.datasets.base import DatasetError
    from train.evaluate import carved_part

    card = card_for([fer, str(ck)], labels="ferplus_soft")
    held = carved_part(card, str(ck))
    rows = both.val[both.val >= n]
    assert len(held) == len(rows) and np.array_equal(held.labels, ds.labels[rows])
    assert np.array_equal(np.asarray(held.images), np.asarray(ds.images)[rows])
    assert set(held.meta["subject"]) == val_people
    fer_held = carved_part(card, fer)
    assert len(fer_held) == (both.val < n).sum()
    with pytest.raises(DatasetError, match="not one of m's training sources"):
        carved_part(card, str(tmp_path / "other.npz"))
    from dataclasses import replace

    from train.evaluate import score

    gender = replace(card, name="g", task="gender", labels=["woman", "man"])
    with pytest.raises(DatasetError, match="a run of the same task"):  # before any face is read
        score(lambda x: x, gender, str(ck), carved_by=card)


def test_source_weights_weigh_each_source_and_must_name_every_one(tmp_path):
    from train.inputs import source_weights

    fer = str(write_fer_npz(tmp_path / "a_train.npz", np.arange(70) % 7))
    wild = str(write_fer_npz(tmp_path / "b_train.npz", np.arange(35) % 7))
    ds = training_set([fer, wild], "emotion", "fer")
    cfg = TrainConfig(task="emotion", data=[fer, wild], output="o", source_weights=[1.0, 4.0])
    w = source_weights(cfg, ds)
    assert w[:70].tolist() == [1.0] * 70 and w[70:].tolist() == [4.0] * 35
    cfg.source_weights = [1.0]
    with pytest.raises(ValueError, match="gives 1 weight"):
        source_weights(cfg, ds)
    with pytest.raises(ValueError, match="must be positive"):
        TrainConfig(task="emotion", data=[fer], output="o", source_weights=[0.0])
