"""The shared preprocessing path: geometry of crops, colour, normalisation, and robustness."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.preprocess import (
    Box,
    CropRule,
    InputSpec,
    Normalization,
    crop,
    expand_box,
    normalize,
    prepare_batch,
    prepare_crop,
    prepare_face,
    to_colour,
    to_uint8,
)

GRAY48 = InputSpec(48, 48, 1, "gray", Normalization.minus_one_to_one())
RGB64 = InputSpec(64, 64, 3, "rgb", Normalization(1 / 255, 0.0), CropRule(scale_x=1.5, scale_y=1.5))


def test_reference_normalisation_matches_x255_then_minus_half_times_two():
    x = np.arange(256, dtype=np.uint8)
    ref = (x.astype(np.float32) / 255.0 - 0.5) * 2.0
    np.testing.assert_allclose(normalize(x, Normalization.minus_one_to_one()), ref, atol=1e-6)


def test_expand_box_square_and_centred():
    b = expand_box(Box(100, 50, 40, 60), CropRule(scale_x=1.5, scale_y=1.5, square=True))
    assert b.w == b.h == 90
    assert abs((b.x + b.w / 2) - 120) <= 0.5 and abs((b.y + b.h / 2) - 80) <= 0.5


def test_expand_box_shift_moves_centre_down():
    b = expand_box(Box(0, 0, 100, 100), CropRule(shift_y=0.1, square=False))
    assert b.y == 10 and b.h == 100


def test_crop_inside_is_exact_slice():
    img = np.arange(100 * 80, dtype=np.uint16).reshape(100, 80)
    np.testing.assert_array_equal(crop(img, Box(10, 20, 30, 40)), img[20:60, 10:40])


def test_crop_outside_frame_replicates_border_and_keeps_size():
    img = np.zeros((50, 50, 3), np.uint8)
    img[:, 0] = 200  # left column
    out = crop(img, Box(-10, 5, 20, 20))
    assert out.shape == (20, 20, 3)
    assert (out[:, :10] == 200).all()  # replicated left border fills the outside part


def test_colour_conversions_respect_channel_order():
    red_bgr = np.zeros((4, 4, 3), np.uint8)
    red_bgr[..., 2] = 255
    rgb = to_colour(red_bgr, "rgb", "bgr")
    assert (rgb[..., 0] == 255).all() and (rgb[..., 2] == 0).all()
    gray = to_colour(red_bgr, "gray", "bgr")
    assert gray.shape == (4, 4, 1) and 70 < gray[0, 0, 0] < 80  # 0.299 * 255
    rgba = np.dstack([red_bgr[..., ::-1], np.full((4, 4), 255, np.uint8)])
    assert (to_colour(rgba, "rgb", "rgba") == rgb).all()


def test_channel_order_mismatch_is_an_error():
    with pytest.raises(ValueError, match="channel"):
        to_colour(np.zeros((4, 4, 3), np.uint8), "gray", "bgra")


def test_to_uint8_handles_16_bit_and_float():
    assert to_uint8(np.array([65535, 256], np.uint16)).tolist() == [255, 1]
    assert to_uint8(np.array([0.0, 1.0], np.float32)).tolist() == [0, 255]


def test_prepare_crop_shape_range_and_identity_for_native_size():
    face = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    x = prepare_crop(face, GRAY48, "gray")
    assert x.shape == (48, 48, 1) and x.dtype == np.float32
    np.testing.assert_allclose(x[..., 0], face / 127.5 - 1.0, atol=1e-6)


def test_prepare_batch_equals_prepare_crop_per_image():
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (3, 96, 96, 3), dtype=np.uint8)
    batch = prepare_batch(faces, RGB64, "rgb")
    for i in range(3):
        np.testing.assert_array_equal(batch[i], prepare_crop(faces[i], RGB64, "rgb"))


def test_prepare_face_uses_the_cards_crop_rule():
    frame = np.zeros((200, 200, 3), np.uint8)
    frame[80:120, 80:120] = 255  # white "face" 40 px
    x = prepare_face(frame, Box(80, 80, 40, 40), RGB64, "bgr")
    # scale 1.5: the 40 px face fills the central two thirds of the 64 px crop
    assert x[32, 32].min() == pytest.approx(1.0) and x[2, 2].max() == pytest.approx(0.0)


def test_input_spec_roundtrip_and_validation():
    assert InputSpec.from_dict(RGB64.to_dict()) == RGB64
    with pytest.raises(ValueError):
        InputSpec(48, 48, 3, "gray", Normalization(1, 0))


@settings(max_examples=150, deadline=None)
@given(
    h=st.integers(1, 64),
    w=st.integers(1, 64),
    channels=st.sampled_from([0, 1, 3, 4]),
    dtype=st.sampled_from([np.uint8, np.uint16, np.float32]),
    bx=st.integers(-200, 200),
    by=st.integers(-200, 200),
    bw=st.integers(0, 300),
    bh=st.integers(0, 300),
    scale=st.floats(0.1, 4.0),
    shift=st.floats(-1.0, 1.0),
    colour=st.sampled_from(["gray", "rgb"]),
)
def test_prepare_face_never_crashes_and_never_leaves_bounds(
    h, w, channels, dtype, bx, by, bw, bh, scale, shift, colour
):
    shape = (h, w) if channels == 0 else (h, w, channels)
    frame = (np.random.default_rng(0).random(shape) * 255).astype(dtype)
    order = {0: "gray", 1: "gray", 3: "bgr", 4: "bgra"}[channels]
    spec = InputSpec(
        16,
        16,
        1 if colour == "gray" else 3,
        colour,
        Normalization(1 / 255, 0),
        CropRule(scale_x=scale, scale_y=scale, shift_y=shift),
    )
    x = prepare_face(frame, Box(bx, by, bw, bh), spec, order)
    assert x.shape == spec.shape and x.dtype == np.float32
    assert np.isfinite(x).all() and x.min() >= 0.0 and x.max() <= 1.0
