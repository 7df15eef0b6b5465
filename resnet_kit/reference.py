"""NumPy reference implementations of the residual blocks and of ResNet-50's other layers.

This module is the single source of truth that the checks (``resnet_kit.selfcheck`` and
``resnet_kit.diagnosis``, which the graded tests use too), the unit tests and the literals in
``resnet_kit.selfcheck`` are computed from. It is written to be read: every function does one
thing, in float64, with plain NumPy, and follows exactly what TensorFlow/Keras compute, so you
can use it to see what your Keras code does.

Layout is NHWC everywhere (batch, height, width, channels), like Keras' default
``channels_last``. Kernels are ``(kh, kw, in_channels, out_channels)``, like ``Conv2D.kernel``.

The blocks:

* :func:`identity_block_ref` - ResNet-50 bottleneck block whose shortcut is the input itself.
* :func:`convolutional_block_ref` - bottleneck block with a projection shortcut (1x1 conv with
  stride ``s`` then BatchNorm); the stride sits on the FIRST 1x1 conv of the main path.
* :func:`basic_block_ref` - ResNet-18/34 block (two 3x3 convs), identity or projection shortcut.

All three are :func:`block_forward` on a :class:`BlockSpec` (the block's convolutions: kernel,
filters, stride, padding); :func:`block_forward` can also make one classic mistake on purpose,
which is how the checks name a mistake (see ``resnet_kit.diagnosis``).

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
    "zero_pad",
    "max_pool2d",
    "global_average_pool",
    "dense",
    "softmax",
    "ConvSpec",
    "BlockSpec",
    "identity_spec",
    "convolutional_spec",
    "basic_spec",
    "BlockWeights",
    "block_forward",
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
    a floor proportional to the size of the output; see ``resnet_kit.diagnosis``.
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


def zero_pad(x: np.ndarray, pad: int) -> np.ndarray:
    """``ZeroPadding2D((pad, pad))``: ``pad`` zeros on every side of the two spatial axes."""
    return np.pad(_f64(x), ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def max_pool2d(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    """``MaxPooling2D((size, size), strides=(stride, stride))`` with padding 'valid'."""
    x = _f64(x)
    out_h = (x.shape[1] - size) // stride + 1
    out_w = (x.shape[2] - size) // stride + 1
    out = np.full((x.shape[0], out_h, out_w, x.shape[3]), -np.inf)
    for i in range(size):
        for j in range(size):
            window = x[:, i : i + stride * out_h : stride, j : j + stride * out_w : stride, :]
            out = np.maximum(out, window)
    return out


def global_average_pool(x: np.ndarray) -> np.ndarray:
    """The mean of each channel over height and width: (N, H, W, C) -> (N, C)."""
    return _f64(x).mean(axis=(1, 2))


def dense(x: np.ndarray, kernel: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    out = _f64(x) @ _f64(kernel)
    return out if bias is None else out + _f64(bias)


def softmax(z: np.ndarray) -> np.ndarray:
    z = _f64(z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# Blocks
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class ConvSpec:
    """One convolution of a block: window size, number of filters, stride and padding."""

    kernel: int
    filters: int
    stride: int
    padding: str  # 'valid' or 'same' (for a 1x1 kernel both give the same output)


@dataclasses.dataclass
class BlockSpec:
    """A residual block: the convolutions of its main path and of its shortcut (None: X)."""

    name: str  # "identity_block", "convolutional_block" or "basic_block"
    main: list[ConvSpec]
    shortcut: ConvSpec | None
    s: int = 1


def identity_spec(f: int, filters) -> BlockSpec:
    F1, F2, F3 = filters
    return BlockSpec("identity_block",
                     [ConvSpec(1, F1, 1, "valid"), ConvSpec(f, F2, 1, "same"),
                      ConvSpec(1, F3, 1, "valid")], None, 1)


def convolutional_spec(f: int, filters, s: int) -> BlockSpec:
    F1, F2, F3 = filters
    return BlockSpec("convolutional_block",
                     [ConvSpec(1, F1, s, "valid"), ConvSpec(f, F2, 1, "same"),
                      ConvSpec(1, F3, 1, "valid")], ConvSpec(1, F3, s, "valid"), s)


def basic_spec(in_channels: int, filters: int, s: int) -> BlockSpec:
    """The projection shortcut is needed exactly when the shape changes."""
    projection = s != 1 or in_channels != filters
    return BlockSpec("basic_block", [ConvSpec(3, filters, s, "same"), ConvSpec(3, filters, 1, "same")],
                     ConvSpec(1, filters, s, "valid") if projection else None, s)


@dataclasses.dataclass
class BlockWeights:
    """A block's weights by role: main-path convs and BatchNorms, then the shortcut's."""

    main_convs: list
    main_bns: list
    shortcut_conv: Any = None
    shortcut_bn: Any = None


def block_forward(x, w: BlockWeights, spec: BlockSpec, *, training: bool, strides=None,
                  relus=None, shortcut: str = "default", final: str = "after_add") -> np.ndarray:
    """The block's output; with the default keywords, the correct block.

    main     = conv -> BN -> ReLU -> ... -> conv -> BN   (no ReLU after the last BN)
    shortcut = x, or BN(conv1x1 stride s 'valid'(x)) when ``spec.shortcut`` is a projection
    out      = ReLU(main + shortcut)

    The keywords make one classic mistake on purpose, with the same weights:
    ``strides`` (stride of each main conv), ``relus`` (False: no ReLU after that main BN),
    ``shortcut``: "none" (not added) or "no_bn" (projection without its BatchNorm);
    ``final``: "before_add" (ReLU on the main path, none after the addition), "both" (ReLU
    before and after the addition) or "none" (no final ReLU).
    """
    x = _f64(x)
    n = len(spec.main)
    strides = strides or [c.stride for c in spec.main]
    relus = relus if relus is not None else [True] * (n - 1)
    if (spec.shortcut is None) != (w.shortcut_conv is None):
        raise ValueError(f"{spec.name}: a projection shortcut is needed exactly when the shape "
                         "changes")
    h = x
    for i, (conv, bn) in enumerate(zip(w.main_convs, w.main_bns)):
        h = _conv_bn(h, conv, bn, stride=strides[i], padding=spec.main[i].padding,
                     training=training)
        if i < n - 1 and relus[i]:
            h = relu(h)
    if shortcut == "none":
        sc = None
    elif w.shortcut_conv is None:
        sc = x
    elif shortcut == "no_bn":
        c = as_conv(w.shortcut_conv)
        sc = conv2d(x, c.kernel, c.bias, stride=spec.s, padding="valid")
    else:
        sc = _conv_bn(x, w.shortcut_conv, w.shortcut_bn, stride=spec.s, padding="valid",
                      training=training)
    if final in ("before_add", "both"):
        h = relu(h)
    out = h if sc is None else h + sc
    return relu(out) if final in ("after_add", "both") else out


def identity_block_ref(x, conv1, bn1, conv2, bn2, conv3, bn3, *, training: bool) -> np.ndarray:
    """ResNet-50 identity block; the input must have as many channels as conv3 has filters.

    main = BN(conv1x1(x)) -> ReLU -> BN(conv fxf 'same'(.)) -> ReLU -> BN(conv1x1(.))
    out  = ReLU(main + x)
    """
    convs = [as_conv(c) for c in (conv1, conv2, conv3)]
    spec = identity_spec(convs[1].kernel.shape[0], [c.kernel.shape[-1] for c in convs])
    return block_forward(x, BlockWeights(convs, [bn1, bn2, bn3]), spec, training=training)


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
    convs = [as_conv(c) for c in (conv1, conv2, conv3)]
    spec = convolutional_spec(convs[1].kernel.shape[0], [c.kernel.shape[-1] for c in convs], s)
    w = BlockWeights(convs, [bn1, bn2, bn3], shortcut_conv, shortcut_bn)
    return block_forward(x, w, spec, training=training)


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
    conv1 = as_conv(conv1)
    spec = basic_spec(np.shape(x)[-1], conv1.kernel.shape[-1], s)
    w = BlockWeights([conv1, conv2], [bn1, bn2], shortcut_conv, shortcut_bn)
    return block_forward(x, w, spec, training=training)
