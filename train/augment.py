"""Batch augmentation in TensorFlow with stateless randomness.

Every random draw is a function of (seed, epoch, batch index), so a run resumed
from a checkpoint sees exactly the batches an uninterrupted run would have seen.
Geometry is one affine warp per image (rotation, zoom, shift, flip together),
which costs one resampling instead of four.
"""

from __future__ import annotations

import math

import tensorflow as tf

from train.recipes import Augment


def _uniform(seed: tf.Tensor, n: tf.Tensor, lo: float, hi: float, salt: int) -> tf.Tensor:
    return tf.random.stateless_uniform(
        [n], seed=seed + tf.constant([0, salt * 7919], tf.int64), minval=lo, maxval=hi
    )


def augment_batch(images: tf.Tensor, seed: tf.Tensor, cfg: Augment) -> tf.Tensor:
    """images: (B, H, W, C) float32 already normalised; seed: int64 (2,)."""
    b = tf.shape(images)[0]
    h = tf.cast(tf.shape(images)[1], tf.float32)
    w = tf.cast(tf.shape(images)[2], tf.float32)
    theta = _uniform(seed, b, -cfg.rotation_deg, cfg.rotation_deg, 1) * (math.pi / 180.0)
    scale = _uniform(seed, b, 1.0 - cfg.zoom, 1.0 + cfg.zoom, 2)
    tx = _uniform(seed, b, -cfg.shift, cfg.shift, 3) * w
    ty = _uniform(seed, b, -cfg.shift, cfg.shift, 4) * h
    flip = tf.where(_uniform(seed, b, 0.0, 1.0, 5) < (0.5 if cfg.flip else 0.0), -1.0, 1.0)
    # Output pixel p maps to input F R(-theta) (p - c - t) / s + c.
    cos, sin = tf.cos(theta) / scale, tf.sin(theta) / scale
    a0, a1 = flip * cos, flip * sin
    b0, b1 = -sin, cos
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    px, py = cx + tx, cy + ty
    a2 = cx - (a0 * px + a1 * py)
    b2 = cy - (b0 * px + b1 * py)
    zeros = tf.zeros_like(a0)
    transforms = tf.stack([a0, a1, a2, b0, b1, b2, zeros, zeros], axis=1)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transforms,
        output_shape=tf.shape(images)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )
    if cfg.contrast or cfg.brightness:
        c = _uniform(seed, b, 1.0 - cfg.contrast, 1.0 + cfg.contrast, 6)[:, None, None, None]
        br = _uniform(seed, b, -cfg.brightness, cfg.brightness, 7)[:, None, None, None]
        mean = tf.reduce_mean(out, axis=[1, 2, 3], keepdims=True)
        out = (out - mean) * c + mean + br
    if cfg.erase:
        out = _random_erase(out, seed, cfg.erase, h, w)
    return out


def _random_erase(images: tf.Tensor, seed: tf.Tensor, p: float, h: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
    """Blank one rectangle (2-20 % of the area, aspect 0.3-3.3) with probability p."""
    b = tf.shape(images)[0]
    area = _uniform(seed, b, 0.02, 0.2, 8) * h * w
    aspect = tf.exp(_uniform(seed, b, math.log(0.3), math.log(3.3), 9))
    eh = tf.minimum(tf.sqrt(area * aspect), h)
    ew = tf.minimum(tf.sqrt(area / aspect), w)
    y0 = _uniform(seed, b, 0.0, 1.0, 10) * (h - eh)
    x0 = _uniform(seed, b, 0.0, 1.0, 11) * (w - ew)
    on = tf.cast(_uniform(seed, b, 0.0, 1.0, 12) < p, tf.float32)
    ys = tf.range(h)[None, :, None]
    xs = tf.range(w)[None, None, :]
    inside = (
        (ys >= y0[:, None, None])
        & (ys < (y0 + eh)[:, None, None])
        & (xs >= x0[:, None, None])
        & (xs < (x0 + ew)[:, None, None])
    )
    mask = 1.0 - tf.cast(inside, tf.float32) * on[:, None, None]
    return images * mask[..., None]
