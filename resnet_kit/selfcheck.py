"""Quick checks you can run on your residual blocks while you write them.

Each ``check_*`` function takes your function, raises ``AssertionError`` with a hint when
something is off, and returns a short summary when all is well::

    from resnet_kit import selfcheck
    selfcheck.check_identity_block(identity_block)          # shapes and values
    selfcheck.check_identity_block_shapes(identity_block)   # or one part at a time
    selfcheck.check_resnet50(model)                         # a built ResNet50 model

What they look at:

* ``*_shapes``: the output shape for a couple of inputs, that the output is >= 0 (the block
  ends with a ReLU), and the number of parameters. A ``Conv2D`` with a k x k kernel, C input
  channels and F filters has ``k*k*C*F + F`` parameters (weights + one bias per filter); a
  ``BatchNormalization`` over F channels has ``4*F``: gamma and beta are trained, the moving
  mean and variance are not.
* ``check_resnet50(model)``: input and output shapes, parameter counts and that the
  outputs are probabilities (softmax).
* ``*_values``: the block's output for a small fixed input (a ramp from -1 to 1) when every
  convolution kernel is the constant 0.5 (your ``initializer`` argument is replaced by one
  that does that; biases start at 0, BatchNorm at gamma=1, beta=0, mean 0, variance 1). The
  expected numbers were computed once with an independent NumPy implementation; they are
  checked in inference mode (``training=False``) and in training mode (``training=True``).

These checks are a subset of what grading checks; passing them is a good sign, not a proof.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from resnet_kit.device import import_tensorflow

__all__ = [
    "check_identity_block",
    "check_convolutional_block",
    "check_basic_block",
    "check_resnet50",
    "ConstantInitializer",
    "ramp",
    "check_identity_block_shapes",
    "check_identity_block_values",
    "check_convolutional_block_shapes",
    "check_convolutional_block_values",
    "check_basic_block_shapes",
    "check_basic_block_values",
]

KERNEL_VALUE = 0.5
# Relative tolerance for the value checks. float32 rounding is ~1e-6; this also leaves room
# for a BatchNormalization epsilon other than Keras' default 1e-3. Mistakes change the
# numbers by 10% or more.
RTOL = 5e-3
ATOL = 1e-4


def _keras():
    import_tensorflow()
    import keras

    return keras


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def ramp(shape) -> np.ndarray:
    """Evenly spaced values from -1 to 1 filling ``shape`` (row-major), as float32."""
    n = int(np.prod(shape))
    return np.linspace(-1.0, 1.0, n).reshape(shape).astype("float32")


_CONSTANT_CLASS = None


def _constant_class():
    """The initializer class, defined once and registered with Keras under a fixed name, so a
    model built with it can be saved as a config and rebuilt by the grader (safe mode)."""
    global _CONSTANT_CLASS
    if _CONSTANT_CLASS is None:
        keras = _keras()

        @keras.saving.register_keras_serializable(package="resnet_kit", name="Constant")
        class Constant(keras.initializers.Initializer):
            def __init__(self, value=KERNEL_VALUE):
                self.value = float(value)

            def __call__(self, shape=None, dtype=None, **kwargs):
                if shape is None:  # called like a class: initializer(seed=0)
                    return self
                return keras.ops.full(shape, self.value, dtype=dtype or "float32")

            def get_config(self):
                return {"value": self.value}

        _CONSTANT_CLASS = Constant
    return _CONSTANT_CLASS


def ConstantInitializer(value: float = KERNEL_VALUE):  # noqa: N802 - used like a class
    """An initializer that fills kernels with ``value``.

    It works both ways a notebook may use the ``initializer`` argument:
    ``kernel_initializer=initializer(seed=0)`` and ``kernel_initializer=initializer``.
    """
    initializer = _constant_class()(value)
    # How the grader's capture plan names this argument (see resnet_kit.capture).
    initializer._capture_spec = {"$object": "resnet_kit.selfcheck:ConstantInitializer",
                                 "args": [float(value)]}
    return initializer


# --- parameter counts ---------------------------------------------------------------------


def _conv_params(k, c_in, f):
    return k * k * c_in * f + f


def _bn_params(f):
    return 4 * f  # gamma, beta (trainable) + moving mean, moving variance (not trainable)


def identity_block_params(c, f, filters):
    """(total, non-trainable) parameters of identity_block on an input with c channels."""
    F1, F2, F3 = filters
    total = (_conv_params(1, c, F1) + _conv_params(f, F1, F2) + _conv_params(1, F2, F3)
             + _bn_params(F1) + _bn_params(F2) + _bn_params(F3))
    return total, 2 * (F1 + F2 + F3)


def convolutional_block_params(c, f, filters):
    F1, F2, F3 = filters
    total, non_trainable = identity_block_params(c, f, filters)
    return total + _conv_params(1, c, F3) + _bn_params(F3), non_trainable + 2 * F3


def basic_block_params(c, filters, projection):
    F = filters
    total = _conv_params(3, c, F) + _conv_params(3, F, F) + 2 * _bn_params(F)
    non_trainable = 4 * F
    if projection:
        total += _conv_params(1, c, F) + _bn_params(F)
        non_trainable += 2 * F
    return total, non_trainable


# --- cases and expected values ------------------------------------------------------------

# (input shape without batch, keyword arguments) for the shape checks.
SHAPE_CASES = {
    "identity_block": [((5, 5, 4), {"f": 3, "filters": [2, 3, 4]}),
                       ((7, 7, 6), {"f": 2, "filters": [3, 2, 6]})],
    "convolutional_block": [((9, 9, 3), {"f": 3, "filters": [2, 3, 5], "s": 2}),
                            ((6, 6, 4), {"f": 3, "filters": [3, 2, 4], "s": 1})],
    "basic_block": [((6, 6, 4), {"filters": 4, "s": 1}),
                    ((9, 9, 3), {"filters": 5, "s": 2})],
}

# Input shape (with batch) and keyword arguments for the value checks.
VALUE_CASES = {
    "identity_block": ((1, 4, 4, 2), {"f": 3, "filters": [2, 3, 2]}),
    "convolutional_block": ((1, 5, 5, 2), {"f": 3, "filters": [2, 3, 3], "s": 2}),
    "basic_block": ((1, 5, 5, 2), {"filters": 3, "s": 2}),
}

# Generated by autograder/resnets/reference.py (see tests/test_selfcheck.py, which recomputes them).
# EXPECTED[block][mode][0, :, :, 0] and EXPECTED[block][mode] channel sums.
# BEGIN GENERATED
EXPECTED = {'identity_block': {'inference': {'channel0': [[0.0, 0.0, 0.0, 0.0],
                                               [0.0, 0.514824, 1.223632, 1.062776],
                                               [2.351359, 4.219717, 5.5083, 4.284523],
                                               [2.867488, 4.735846, 6.024429, 4.800652]],
                                  'channel_sums': [37.593548, 38.303226]},
                    'training': {'channel0': [[0.0, 0.0, 0.0, 0.0],
                                              [0.0, 0.0, 0.0, 0.0],
                                              [0.0, 1.090881, 2.257596, 1.175998],
                                              [0.0, 1.60701, 2.773725, 1.692128]],
                                 'channel_sums': [10.597339, 10.984435]}},
 'convolutional_block': {'inference': {'channel0': [[0.0, 0.0, 0.0],
                                                    [2.037596, 3.912497, 3.097557],
                                                    [2.853515, 4.728416, 3.913475]],
                                       'channel_sums': [20.543055, 20.543055, 20.543055]},
                         'training': {'channel0': [[0.0, 0.0, 0.0],
                                                   [0.0, 1.667512, 0.56348],
                                                   [0.275304, 2.867176, 1.763144]],
                                      'channel_sums': [7.136616, 7.136616, 7.136616]}},
 'basic_block': {'inference': {'channel0': [[0.0, 0.285021, 0.448205],
                                            [8.277355, 13.945238, 11.172583],
                                            [9.093274, 14.761157, 11.988501]],
                               'channel_sums': [69.971335, 69.971335, 69.971335]},
                 'training': {'channel0': [[0.0, 0.0, 0.0],
                                           [0.0, 1.197599, 0.877616],
                                           [1.107487, 2.397263, 2.077279]],
                              'channel_sums': [7.657244, 7.657244, 7.657244]}}}
# END GENERATED


# --- the checks -------------------------------------------------------------------------------


def _build(fn, name, input_shape, kwargs):
    keras = _keras()
    X = keras.Input(shape=input_shape)
    try:
        with _quiet():
            out = fn(X, **kwargs)
    except NotImplementedError:
        raise NotImplementedError(
            f"{name} is not written yet: replace `raise NotImplementedError()` with your code"
        ) from None
    except Exception as exc:  # noqa: BLE001 - reported with a hint
        hint = (
            ". If the shapes do not fit where the shortcut is added, check the padding of each "
            "conv (the fxf/3x3 convs need 'same'), the strides and the number of filters of "
            "each conv" if "shape" in str(exc).lower() else ""
        )
        raise AssertionError(
            f"{name}(X, {_args(kwargs)}) with X of shape {(None, *input_shape)} raised "
            f"{type(exc).__name__}: {exc}{hint}"
        ) from None
    if not isinstance(out, keras.KerasTensor):
        raise AssertionError(f"{name} must return the block's output tensor, it returned "
                             f"{type(out).__name__}")
    with _quiet():
        return keras.Model(X, out)


def _args(kwargs):
    return ", ".join(f"{k}={v}" for k, v in kwargs.items())


def _expected_shape(name, input_shape, kwargs):
    h, w, c = input_shape
    s = kwargs.get("s", 1)
    filters = kwargs["filters"]
    out_c = filters[-1] if isinstance(filters, (list, tuple)) else filters
    return (None, math.ceil(h / s), math.ceil(w / s), out_c)


def _expected_params(name, input_shape, kwargs):
    c = input_shape[-1]
    if name == "identity_block":
        return identity_block_params(c, kwargs["f"], kwargs["filters"])
    if name == "convolutional_block":
        return convolutional_block_params(c, kwargs["f"], kwargs["filters"])
    projection = kwargs.get("s", 1) != 1 or c != kwargs["filters"]
    return basic_block_params(c, kwargs["filters"], projection)


def _check_shapes(fn, name) -> str:
    rng = np.random.default_rng(0)
    for input_shape, kwargs in SHAPE_CASES[name]:
        call = f"{name}(X, {_args(kwargs)}) with X of shape {(None, *input_shape)}"
        model = _build(fn, name, input_shape, kwargs)
        got, want = tuple(model.output.shape), _expected_shape(name, input_shape, kwargs)
        assert got == want, (
            f"{call}: output shape {got}, expected {want}. Check the strides (s on the first "
            "conv of the main path and on the shortcut), the paddings and the filters")
        x = rng.standard_normal((2, *input_shape)).astype("float32")
        with _quiet():
            for training in (False, True):
                out = np.asarray(model(x, training=training))
                assert np.all(out >= 0), (
                    f"{call}: the output has negative values (training={training}); the block "
                    "must end with a ReLU applied after adding the shortcut")
        total, non_trainable = _expected_params(name, input_shape, kwargs)
        got_total = model.count_params()
        got_non_trainable = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
        assert (got_total, got_non_trainable) == (total, non_trainable), (
            f"{call}: {got_total} parameters ({got_non_trainable} non-trainable), expected "
            f"{total} ({non_trainable} non-trainable). Each Conv2D (with bias) has "
            "k*k*C_in*F + F, each BatchNormalization 4*F (2*F non-trainable); check the "
            "number of filters and kernel size of each conv, a BatchNorm after each conv, "
            "and the shortcut")
    return f"{name}: output shapes, ReLU at the end and parameter counts look right"


def _check_values(fn, name) -> str:
    keras = _keras()
    shape, kwargs = VALUE_CASES[name]
    call = f"{name}(ramp{shape}, {_args(kwargs)}) with every kernel = {KERNEL_VALUE}"
    model = _build(fn, name, shape[1:], {**kwargs, "initializer": ConstantInitializer()})
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel = np.asarray(layer.kernel)
            assert np.all(kernel == np.float32(KERNEL_VALUE)), (
                f"{name}: conv '{layer.name}' did not take its kernel from the `initializer` "
                "argument; use kernel_initializer=initializer(seed=0) in every Conv2D")
    x = ramp(shape)
    with _quiet():
        outputs = {"inference": np.asarray(model(x, training=False)),
                   "training": np.asarray(model(x, training=True))}
    for mode, out in outputs.items():
        want = EXPECTED[name][mode]
        got = {"channel0": out[0, :, :, 0], "channel_sums": out.sum(axis=(0, 1, 2))}
        for key in ("channel0", "channel_sums"):
            expected = np.asarray(want[key])
            ok = got[key].shape == expected.shape and np.allclose(
                got[key], expected, rtol=RTOL, atol=ATOL)
            assert ok, (
                f"{call} in {mode} mode (training={mode == 'training'}): "
                f"{'output[0, :, :, 0]' if key == 'channel0' else 'sum of each channel'} is\n"
                f"{np.round(got[key], 4)}\nexpected\n{np.asarray(expected)}\n"
                "Check the order conv -> BatchNorm -> ReLU on the main path, where the "
                "stride goes, the paddings, and that the final ReLU comes after adding the "
                "shortcut")
    return f"{name}: values match in inference and training mode"


def check_identity_block_shapes(identity_block) -> str:
    return _check_shapes(identity_block, "identity_block")


def check_identity_block_values(identity_block) -> str:
    return _check_values(identity_block, "identity_block")


def check_convolutional_block_shapes(convolutional_block) -> str:
    return _check_shapes(convolutional_block, "convolutional_block")


def check_convolutional_block_values(convolutional_block) -> str:
    return _check_values(convolutional_block, "convolutional_block")


def check_basic_block_shapes(basic_block) -> str:
    return _check_shapes(basic_block, "basic_block")


def check_basic_block_values(basic_block) -> str:
    return _check_values(basic_block, "basic_block")


def check_identity_block(identity_block) -> str:
    """Shapes, final ReLU, parameter count and constant-weight values of identity_block."""
    return "; ".join([check_identity_block_shapes(identity_block),
                      check_identity_block_values(identity_block)])


def check_convolutional_block(convolutional_block) -> str:
    """Shapes, final ReLU, parameter count and constant-weight values of convolutional_block."""
    return "; ".join([check_convolutional_block_shapes(convolutional_block),
                      check_convolutional_block_values(convolutional_block)])


def check_basic_block(basic_block) -> str:
    """Shapes, final ReLU, parameter count and constant-weight values of basic_block."""
    return "; ".join([check_basic_block_shapes(basic_block),
                      check_basic_block_values(basic_block)])


# ResNet50(input_shape=(64, 64, 3), classes=6): 53 convs with bias, 53 BatchNorms, Dense(6).
RESNET50_PARAMS = (23_600_006, 53_120)  # (total, non-trainable: moving mean and variance)


def check_resnet50(model) -> str:
    """Check a built ``ResNet50(input_shape=(64, 64, 3), classes=6)`` model."""
    keras = _keras()
    assert isinstance(model, keras.Model), (
        f"check_resnet50 takes the built model (model = ResNet50(...)), got "
        f"{type(model).__name__}")
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.output.shape)
    assert in_shape == (None, 64, 64, 3), (
        f"the model's input shape is {in_shape}, expected (None, 64, 64, 3)")
    assert out_shape == (None, 6), (
        f"the model's output shape is {out_shape}, expected (None, 6): one probability per "
        "class, from Dense(classes) after Flatten")
    total = model.count_params()
    non_trainable = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
    assert (total, non_trainable) == RESNET50_PARAMS, (
        f"the model has {total:,} parameters ({non_trainable:,} non-trainable), expected "
        f"{RESNET50_PARAMS[0]:,} ({RESNET50_PARAMS[1]:,} non-trainable): check the number of "
        "blocks per stage [3, 4, 6, 3], the filters of each stage and f=3")
    x = np.random.default_rng(0).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
    with _quiet():
        probs = np.asarray(model(x, training=False))
    sums = probs.sum(axis=1)
    assert np.all(probs >= 0) and np.allclose(sums, 1.0, atol=1e-4), (
        f"the outputs must be probabilities that sum to 1 (softmax on the last Dense layer); "
        f"they sum to {sums}")
    return (f"ResNet50: shapes (None, 64, 64, 3) -> (None, 6), {total:,} parameters, softmax "
            "output")
