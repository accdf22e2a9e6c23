"""Schedule, augmentation and data split: the pieces a resumed run must reproduce exactly."""

from itertools import pairwise

import numpy as np
import pytest

from train.config import TrainConfig
from train.data import class_weights, stratified_split
from train.recipes import Augment, get_recipe
from train.run_folder import RunState
from train.schedule import end_of_epoch, learning_rate


def cfg(recipe: str, **kw) -> TrainConfig:
    return TrainConfig(task="emotion", data=["x.npz"], output="o", recipe=get_recipe(recipe, **kw))


def test_cosine_schedule_warms_up_peaks_and_decays_to_zero():
    c = cfg("edge", epochs=10, warmup_epochs=2)
    steps = 100
    lrs = [learning_rate(c, s, steps, RunState()) for s in range(10 * steps)]
    peak = c.recipe.learning_rate
    assert lrs[0] == pytest.approx(peak / 200)
    assert max(lrs) == pytest.approx(peak) and np.argmax(lrs) in (199, 200)
    assert lrs[-1] < peak * 1e-3
    assert all(a >= b for a, b in pairwise(lrs[200:]))


def test_plateau_schedule_follows_saved_state():
    c = cfg("seed")
    assert learning_rate(c, 5, 10, RunState(lr=1e-4)) == 1e-4
    assert learning_rate(c, 5, 10, RunState(lr=0.0)) == c.recipe.learning_rate


def test_plateau_divides_the_rate_by_ten_after_a_quarter_of_the_patience_without_progress():
    c = cfg("seed", patience=8)  # two flat epochs
    state = RunState(lr=1e-3)
    lrs = []
    for val_loss in (1.0, 0.9, 0.89995, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85):
        end_of_epoch(c, state, val_loss)
        lrs.append(state.lr)
    assert lrs == pytest.approx([1e-3, 1e-3, 1e-3, 1e-4, 1e-4, 1e-4, 1e-5, 1e-5, 1e-6])
    assert state.plateau_best_loss == 0.8 and state.plateau_wait == 0
    floor = RunState(lr=1e-6)
    for _ in range(4):
        end_of_epoch(c, floor, 1.0)
    assert floor.lr == 1e-6  # never below
    cosine = RunState(lr=1e-3)
    end_of_epoch(cfg("edge"), cosine, 1.0)
    assert cosine == RunState(lr=1e-3)  # the cosine schedule keeps no state


def test_stratified_split_is_reproducible_and_keeps_proportions():
    labels = np.repeat(np.arange(3), [100, 10, 50])
    tr, va = stratified_split(labels, 0.2, seed=3)
    tr2, va2 = stratified_split(labels, 0.2, seed=3)
    assert np.array_equal(va, va2) and np.array_equal(tr, tr2)
    assert not set(tr) & set(va) and len(tr) + len(va) == 160
    assert np.bincount(labels[va]).tolist() == [20, 2, 10]


def test_class_weights_power_zero_is_flat_and_rare_classes_weigh_more():
    labels = np.repeat([0, 1], [900, 100])
    assert np.allclose(class_weights(labels, 2, 0.0), 1.0)
    w = class_weights(labels, 2, 0.5)
    assert w[1] / w[0] == pytest.approx(3.0)
    assert np.average(w[labels]) == pytest.approx(1.0)  # the mean loss scale is unchanged


def test_augmentation_is_a_pure_function_of_the_seed():
    import tensorflow as tf

    from train.augment import augment_batch

    x = tf.constant(np.random.default_rng(0).random((4, 48, 48, 1), np.float32))
    aug = Augment(rotation_deg=10, zoom=0.1, shift=0.1, flip=True, brightness=0.1, contrast=0.2, erase=0.5)
    a = augment_batch(x, tf.constant([1, 2], tf.int64), aug).numpy()
    b = augment_batch(x, tf.constant([1, 2], tf.int64), aug).numpy()
    c = augment_batch(x, tf.constant([1, 3], tf.int64), aug).numpy()
    assert np.array_equal(a, b) and not np.allclose(a, c)
    ident = augment_batch(x, tf.constant([1, 2], tf.int64), Augment()).numpy()
    np.testing.assert_allclose(ident, x.numpy(), atol=1e-5)


def test_flip_only_augmentation_mirrors_or_keeps_each_image():
    import tensorflow as tf

    from train.augment import augment_batch

    x = np.random.default_rng(1).random((16, 8, 8, 1), np.float32)
    out = augment_batch(tf.constant(x), tf.constant([5, 5], tf.int64), Augment(flip=True)).numpy()
    flipped = [np.allclose(o, xi[:, ::-1], atol=1e-5) for o, xi in zip(out, x)]
    kept = [np.allclose(o, xi, atol=1e-5) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)
