"""Architectures: the reference's mini-Xception exactly, ours at its stated cost."""

from pathlib import Path

import numpy as np
import pytest

from train.models import build, count_macs, describe

ANCHOR = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "anchors"
    / "face_classification"
    / "trained_models"
    / "emotion_models"
    / "fer2013_mini_XCEPTION.102-0.66.hdf5"
)


def test_mini_xception_has_the_reference_weight_count():
    model = build("mini_xception", (64, 64, 1), 7)
    if not ANCHOR.exists():
        pytest.skip("reference weights not present (../shared/anchors)")
    import h5py

    sizes = []
    with h5py.File(ANCHOR, "r") as f:
        f["model_weights"].visititems(
            lambda _, o: sizes.append(o.size) if isinstance(o, h5py.Dataset) else None
        )
    assert model.count_params() == sum(sizes)


def test_mac_count_of_a_single_conv_is_exact():
    import keras

    inp = keras.Input((8, 8, 3))
    out = keras.layers.Conv2D(5, 3, padding="same")(inp)
    assert count_macs(keras.Model(inp, out)) == 8 * 8 * 3 * 3 * 3 * 5


@pytest.mark.parametrize(
    "arch, shape", [("edge_vgg", (48, 48, 1)), ("edge_vgg_slim", (64, 64, 3)), ("mini_xception", (48, 48, 1))]
)
def test_architectures_output_probabilities(arch, shape):
    model = build(arch, shape, 7)
    p = model.predict(np.zeros((2, *shape), np.float32), verbose=0)
    assert p.shape == (2, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    d = describe(model, arch)
    assert d["params"] == model.count_params() and d["macs"] > 0


def test_unknown_architecture_is_an_error():
    with pytest.raises(ValueError, match="unknown architecture"):
        build("resnet9000", (48, 48, 1), 7)


@pytest.mark.parametrize(
    "arch, shape, accurate",
    [
        ("edge_vgg_nano", (48, 48, 1), "edge_vgg"),
        ("edge_vgg_nano_rgb", (64, 64, 3), "edge_vgg_slim"),
        ("edge_vgg_nano_s2", (48, 48, 1), "edge_vgg"),
        ("edge_vgg_nano_rgb_s2", (64, 64, 3), "edge_vgg_slim"),
    ],
)
def test_nano_tier_costs_at_most_25m_multiply_adds_a_fifth_of_its_accurate_tier(arch, shape, accurate):
    nano = count_macs(build(arch, shape, 7))
    assert nano <= 25_000_000
    assert nano <= count_macs(build(accurate, shape, 7)) / 4.5


def test_a_stride_2_stem_halves_the_image_once_and_keeps_every_later_stage_stride_1():
    import keras

    model = build("edge_vgg_nano_s2", (48, 48, 1), 7)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.strides for c in convs] == [(2, 2)] + [(1, 1)] * (len(convs) - 1)
    assert convs[0].output.shape[1:3] == (24, 24)
    assert [c.filters for c in convs] == [32, 32, 64, 64, 128, 128]
