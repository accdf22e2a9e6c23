"""Model builders: the reference demo's mini-Xception and our edge VGG.

Both use only stock Keras layers, so a saved ``.keras`` file loads with
``safe_mode=True`` and converts to ONNX/TFLite without custom ops.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import layers, regularizers


def mini_xception(input_shape: tuple[int, int, int], num_classes: int, l2: float = 0.01) -> keras.Model:
    """The seed's mini-Xception (Arriaga et al. 2017): 4 depthwise-separable residual modules."""
    reg = regularizers.l2(l2)
    inp = keras.Input(input_shape, name="image")
    x = inp
    for _ in range(2):
        x = layers.Conv2D(8, 3, use_bias=False, kernel_regularizer=reg)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    for filters in (16, 32, 64, 128):
        residual = layers.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x)
        residual = layers.BatchNormalization()(residual)
        x = layers.SeparableConv2D(
            filters, 3, padding="same", use_bias=False, depthwise_regularizer=reg, pointwise_regularizer=reg
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.SeparableConv2D(
            filters, 3, padding="same", use_bias=False, depthwise_regularizer=reg, pointwise_regularizer=reg
        )(x)
        x = layers.BatchNormalization()(x)
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
        x = layers.Add()([x, residual])
    x = layers.Conv2D(num_classes, 3, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Softmax(name="probabilities")(x)
    return keras.Model(inp, out, name="mini_xception")


def edge_vgg(
    input_shape: tuple[int, int, int],
    num_classes: int,
    widths: tuple[int, ...] = (32, 64, 128, 256),
    head: int = 256,
    dropout: float = 0.5,
    stem_stride: int = 1,
) -> keras.Model:
    """Plain 3x3 conv stages (2 convs, BN, ReLU, max-pool each), a small dense head.

    Dense 3x3 convolutions are what every edge runtime (oneDNN, XNNPACK, ORT's
    MLAS) runs fastest and quantizes best; depthwise convs save multiply-adds
    but not time on a CPU. The flattened last map keeps where a feature is
    (mouth vs. eyes), which global pooling throws away. ``stem_stride=2`` makes the
    first convolution halve the image: the first stage then runs on a quarter of the
    positions, so the same multiply-adds buy wider layers there.
    """
    inp = keras.Input(input_shape, name="image")
    x = inp
    for i, w in enumerate(widths):
        for j in range(2):
            stride = stem_stride if i == j == 0 else 1
            x = layers.Conv2D(w, 3, strides=stride, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.MaxPooling2D()(x)
    x = layers.MaxPooling2D()(x) if x.shape[1] > 4 else x
    x = layers.Flatten()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(head, use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Dropout(dropout)(x)
    x = layers.Dense(num_classes)(x)
    out = layers.Softmax(name="probabilities")(x)
    return keras.Model(inp, out, name="edge_vgg")


def edge_vgg_slim(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """Three quarters of edge_vgg's width: the same cost at 64x64 as edge_vgg at 48x48."""
    return edge_vgg(input_shape, num_classes, widths=(24, 48, 96, 192), head=192)


def edge_vgg_nano(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The Pi tier for 48x48 gray: 7/16 of edge_vgg's width, about 23 M multiply-adds
    (a fifth of edge_vgg's 118 M), the same layer types, so it quantizes the same way."""
    return edge_vgg(input_shape, num_classes, widths=(14, 28, 56, 112), head=112, dropout=0.3)


def edge_vgg_nano_rgb(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """64x64 RGB at 10/24 of edge_vgg_slim's width, about 21 M multiply-adds against its
    120 M: the first Pi-tier gender model, replaced by edge_vgg_nano_rgb_s2 (as accurate,
    half the instructions on an AVX2-only CPU)."""
    return edge_vgg(input_shape, num_classes, widths=(10, 20, 40, 80), head=80, dropout=0.3)


def edge_vgg_nano_s2(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """48x48 gray with a stride-2 stem: three stages of 32-64-128 on 24x24, 12x12 and 6x6,
    about 22 M multiply-adds like edge_vgg_nano, in layers wide enough for int8 kernels to
    run well: half edge_vgg_nano's instructions per face on an AVX2-only CPU
    (``benchmarks.avx2_cost``). Tried, not shipped: it lost 3.5 points on real photos
    (docs/results.md, issue H), and a 5x5 stem lost 5.7; emotion needs its
    full-resolution layers."""
    return edge_vgg(input_shape, num_classes, widths=(32, 64, 128), head=128, dropout=0.3, stem_stride=2)


def edge_vgg_nano_rgb_s2(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """The Pi tier for 64x64 RGB (gender) with a stride-2 stem: 24-48-96 on 32x32, 16x16
    and 8x8, about 22 M multiply-adds like edge_vgg_nano_rgb, as accurate, and half its
    instructions per face on an AVX2-only CPU."""
    return edge_vgg(input_shape, num_classes, widths=(24, 48, 96), head=96, dropout=0.3, stem_stride=2)


def tiny_cnn(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """A few-thousand-weight net for tests: same layer types, seconds to train."""
    return edge_vgg(input_shape, num_classes, widths=(4, 8), head=8, dropout=0.1)


ARCHITECTURES: dict[str, Callable[..., keras.Model]] = {
    "mini_xception": mini_xception,
    "edge_vgg": edge_vgg,
    "edge_vgg_slim": edge_vgg_slim,
    "edge_vgg_nano": edge_vgg_nano,
    "edge_vgg_nano_rgb": edge_vgg_nano_rgb,
    "edge_vgg_nano_s2": edge_vgg_nano_s2,
    "edge_vgg_nano_rgb_s2": edge_vgg_nano_rgb_s2,
    "tiny": tiny_cnn,
}


def build(name: str, input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[name](input_shape, num_classes)


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of one forward pass (convolutions and dense layers; the rest is noise)."""
    macs = 0
    for layer in model.layers:
        if isinstance(layer, layers.SeparableConv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            macs += h * w * (kh * kw * cin * layer.depth_multiplier + cin * cout)
        elif isinstance(layer, layers.Conv2D):
            _, h, w, cout = layer.output.shape
            cin = layer.input.shape[-1]
            kh, kw = layer.kernel_size
            macs += h * w * kh * kw * cin * cout // layer.groups
        elif isinstance(layer, layers.Dense):
            macs += int(layer.input.shape[-1]) * layer.units
    return int(macs)


def describe(model: keras.Model, name: str) -> dict:
    """Architecture facts for the model card: what it costs on the edge."""
    params = int(model.count_params())
    return {"name": name, "params": params, "macs": count_macs(model), "int8_size_estimate_bytes": params}
