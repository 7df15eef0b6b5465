"""NumPy reference implementations of the residual blocks (instructor-only, for now).

This module is the single source of truth that the hidden tests (``autograder.resnets.checks``), the
unit tests and the literals in ``resnet_kit.selfcheck`` are computed from. It is written to be
read: every function does one thing, in float64, with plain NumPy, and follows exactly what
TensorFlow/Keras compute, so a student can later use it to see what their Keras code does.

Layout is NHWC everywhere (batch, height, width, channels), like Keras' default
``channels_last``. Kernels are ``(kh, kw, in_channels, out_channels)``, like ``Conv2D.kernel``.

The blocks:

* :func:`identity_block_ref` - ResNet-50 bottleneck block whose shortcut is the input itself.
* :func:`convolutional_block_ref` - bottleneck block with a projection shortcut (1x1 conv with
  stride ``s`` then BatchNorm); the stride sits on the FIRST 1x1 conv of the main path.
* :func:`basic_block_ref` - ResNet-18/34 block (two 3x3 convs), identity or projection shortcut.

Weights are passed as :class:`Conv` and :class:`BatchNorm` records (or dicts with the same
keys). ``training=True`` normalises with the batch's statistics, ``training=False`` with the
moving averages - the two modes of a Keras ``BatchNormalization`` layer.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = [
    "Conv",
    "BatchNorm",
    "as_conv",
    "as_batchnorm",
    "same_padding",
    "conv2d",
    "batchnorm",
    "relu",
    "rel_error",
    "identity_block_ref",
    "convolutional_block_ref",
    "basic_block_ref",
]


# --------------------------------------------------------------------------------------------
# Weight records
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Conv:
    """Weights of one ``Conv2D`` layer: ``kernel`` (kh, kw, in, out) and ``bias`` (out,)."""

    kernel: np.ndarray
    bias: np.ndarray | None = None


@dataclasses.dataclass
class BatchNorm:
    """Weights of one ``BatchNormalization`` layer over the channel axis."""

    gamma: np.ndarray
    beta: np.ndarray
    moving_mean: np.ndarray
    moving_variance: np.ndarray
    epsilon: float = 1e-3  # Keras' default

    @classmethod
    def fresh(cls, channels: int, epsilon: float = 1e-3) -> BatchNorm:
        """A just-built Keras BatchNormalization: gamma 1, beta 0, mean 0, variance 1."""
        return cls(
            gamma=np.ones(channels),
            beta=np.zeros(channels),
            moving_mean=np.zeros(channels),
            moving_variance=np.ones(channels),
            epsilon=epsilon,
        )


def _f64(a: Any) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def as_conv(w: Conv | Mapping[str, Any]) -> Conv:
    """Accept a :class:`Conv` or a dict with keys ``kernel`` and (optionally) ``bias``."""
    if isinstance(w, Mapping):
        w = Conv(kernel=w["kernel"], bias=w.get("bias"))
    return Conv(kernel=_f64(w.kernel), bias=None if w.bias is None else _f64(w.bias))


def as_batchnorm(w: BatchNorm | Mapping[str, Any]) -> BatchNorm:
    """Accept a :class:`BatchNorm` or a dict with its field names as keys."""
    if isinstance(w, Mapping):
        w = BatchNorm(**{f.name: w[f.name] for f in dataclasses.fields(BatchNorm) if f.name in w})
    return BatchNorm(
        gamma=_f64(w.gamma),
        beta=_f64(w.beta),
        moving_mean=_f64(w.moving_mean),
        moving_variance=_f64(w.moving_variance),
        epsilon=float(w.epsilon),
    )


# --------------------------------------------------------------------------------------------
# Layers
# --------------------------------------------------------------------------------------------


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Zeros TensorFlow adds before and after one spatial axis for ``padding='same'``.

    The output has ``ceil(size / stride)`` positions. The padding needed for that is split in
    two; when it is odd, the extra zero goes AFTER (bottom/right). With stride > 1 this is
    asymmetric, e.g. size 8, kernel 3, stride 2 pads 0 before and 1 after.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    before = total // 2
    return before, total - before


def conv2d(
    x: np.ndarray,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int = 1,
    padding: str = "valid",
) -> np.ndarray:
    """2-D convolution (cross-correlation, as in every deep-learning library), NHWC.

    ``padding='valid'`` uses only whole windows: out = floor((size - k) / stride) + 1.
    ``padding='same'`` zero-pads as :func:`same_padding` says: out = ceil(size / stride).
    """
    x = _f64(x)
    kernel = _f64(kernel)
    kh, kw, c_in, c_out = kernel.shape
    if x.shape[-1] != c_in:
        raise ValueError(f"input has {x.shape[-1]} channels, kernel expects {c_in}")
    padding = padding.lower()
    if padding == "same":
        top, bottom = same_padding(x.shape[1], kh, stride)
        left, right = same_padding(x.shape[2], kw, stride)
        x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    elif padding != "valid":
        raise ValueError(f"padding must be 'valid' or 'same', got {padding!r}")

    n, h, w, _ = x.shape
    out_h = (h - kh) // stride + 1
    out_w = (w - kw) // stride + 1
    out = np.zeros((n, out_h, out_w, c_out))
    # Sum over kernel positions: each (i, j) tap multiplies a strided slice of the input by
    # the (c_in, c_out) matrix kernel[i, j].
    for i in range(kh):
        for j in range(kw):
            window = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :]
            out += window @ kernel[i, j]
    if bias is not None:
        out += _f64(bias)
    return out


def batchnorm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    moving_mean: np.ndarray,
    moving_variance: np.ndarray,
    epsilon: float = 1e-3,
    training: bool = False,
) -> np.ndarray:
    """Batch normalisation over the last (channel) axis.

    training=True: each channel is normalised with the mean and the BIASED variance (divide by
    the count, not count - 1) of the batch over N, H and W - what Keras does in ``fit`` and in
    ``model(x, training=True)``. training=False: with the moving averages instead.
    """
    x = _f64(x)
    if training:
        axes = tuple(range(x.ndim - 1))
        mean = x.mean(axis=axes)
        variance = x.var(axis=axes)  # ddof=0: biased
    else:
        mean, variance = _f64(moving_mean), _f64(moving_variance)
    return _f64(gamma) * (x - mean) / np.sqrt(variance + epsilon) + _f64(beta)


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(_f64(x), 0.0)


def rel_error(x: Any, y: Any, floor: float = 1e-8) -> float:
    """CS231n's relative error: max over elements of |x - y| / max(floor, |x| + |y|).

    With the default floor this is the course's classic formula. Elements near zero make it
    harsh (float32 rounding on a value of 1e-7 is a large relative error), so the checks pass
    a floor proportional to the size of the output; see ``autograder.resnets.checks``.
    """
    x, y = _f64(x), _f64(y)
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(floor, np.abs(x) + np.abs(y))))


def _conv_bn(x, conv, bn, *, stride, padding, training):
    conv, bn = as_conv(conv), as_batchnorm(bn)
    y = conv2d(x, conv.kernel, conv.bias, stride=stride, padding=padding)
    return batchnorm(
        y,
        bn.gamma,
        bn.beta,
        bn.moving_mean,
        bn.moving_variance,
        epsilon=bn.epsilon,
        training=training,
    )


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


def identity_block_ref(x, conv1, bn1, conv2, bn2, conv3, bn3, *, training: bool) -> np.ndarray:
    """ResNet-50 identity block; the input must have as many channels as conv3 has filters.

    main = BN(conv1x1(x)) -> ReLU -> BN(conv fxf 'same'(.)) -> ReLU -> BN(conv1x1(.))
    out  = ReLU(main + x)
    """
    x = _f64(x)
    h = relu(_conv_bn(x, conv1, bn1, stride=1, padding="valid", training=training))
    h = relu(_conv_bn(h, conv2, bn2, stride=1, padding="same", training=training))
    h = _conv_bn(h, conv3, bn3, stride=1, padding="valid", training=training)
    return relu(h + x)


def convolutional_block_ref(
    x, conv1, bn1, conv2, bn2, conv3, bn3, shortcut_conv, shortcut_bn, *, s: int = 2,
    training: bool,
) -> np.ndarray:
    """ResNet-50 convolutional (projection) block.

    main     = BN(conv1x1 stride s 'valid'(x)) -> ReLU -> BN(conv fxf 'same'(.)) -> ReLU
               -> BN(conv1x1 'valid'(.))
    shortcut = BN(conv1x1 stride s 'valid'(x))
    out      = ReLU(main + shortcut)
    """
    x = _f64(x)
    h = relu(_conv_bn(x, conv1, bn1, stride=s, padding="valid", training=training))
    h = relu(_conv_bn(h, conv2, bn2, stride=1, padding="same", training=training))
    h = _conv_bn(h, conv3, bn3, stride=1, padding="valid", training=training)
    shortcut = _conv_bn(x, shortcut_conv, shortcut_bn, stride=s, padding="valid", training=training)
    return relu(h + shortcut)


def basic_block_ref(
    x, conv1, bn1, conv2, bn2, shortcut_conv=None, shortcut_bn=None, *, s: int = 1,
    training: bool,
) -> np.ndarray:
    """ResNet-18/34 basic block.

    main     = BN(conv3x3 stride s 'same'(x)) -> ReLU -> BN(conv3x3 'same'(.))
    shortcut = x when s == 1 and the channels match, else BN(conv1x1 stride s 'valid'(x))
    out      = ReLU(main + shortcut)

    Pass ``shortcut_conv``/``shortcut_bn`` exactly when a projection is needed.
    """
    x = _f64(x)
    h = relu(_conv_bn(x, conv1, bn1, stride=s, padding="same", training=training))
    h = _conv_bn(h, conv2, bn2, stride=1, padding="same", training=training)
    needs_projection = s != 1 or x.shape[-1] != h.shape[-1]
    if needs_projection != (shortcut_conv is not None):
        raise ValueError(
            "a projection shortcut is needed exactly when s != 1 or the channels change "
            f"(s={s}, {x.shape[-1]} -> {h.shape[-1]} channels)"
        )
    if shortcut_conv is None:
        shortcut = x
    else:
        shortcut = _conv_bn(
            x, shortcut_conv, shortcut_bn, stride=s, padding="valid", training=training
        )
    return relu(h + shortcut)
