"""Quick checks you can run on your residual blocks while you write them.

Each ``check_*`` function takes your function, raises ``AssertionError`` whose message starts
with what is wrong when something is off, and prints a short summary when all is well::

    from resnet_kit import selfcheck
    selfcheck.check_identity_block(identity_block)          # shapes and values
    selfcheck.check_identity_block_shapes(identity_block)   # or one part at a time
    selfcheck.check_resnet50(ResNet50)                      # your ResNet50 function

What they look at:

* ``*_shapes``: the output shape for a few inputs, that the output is >= 0 (the block
  ends with a ReLU), the number of parameters, and the outputs with random weights against
  :mod:`resnet_kit.reference` computed from the same weights. A ``Conv2D`` with a k x k kernel, C input
  channels and F filters has ``k*k*C*F + F`` parameters (weights + one bias per filter; no
  bias with ``use_bias=False``, which is right too: the BatchNorm after it has a beta that
  does the same job); a ``BatchNormalization`` over F channels has ``4*F``: gamma and beta
  are trained, the moving mean and variance are not.
* ``check_resnet50(ResNet50)``: builds the network (a failure to build is named: the stage
  or the layer at fault), then input and output shapes, the layers and every block's output
  shape stage by stage, parameter counts and that the outputs are probabilities (softmax).
  Given a built model instead, it does not change the model's weights.
* ``*_values``: the block's output for a small fixed input (a ramp from -1 to 1) when every
  convolution kernel is the constant 0.5 (your ``initializer`` argument is replaced by one
  that does that; biases start at 0, BatchNorm at gamma=1, beta=0, mean 0, variance 1). The
  expected numbers come from :mod:`resnet_kit.reference`, an independent NumPy implementation
  (:func:`reference_output`); they are checked in inference mode (``training=False``) and in
  training mode (``training=True``).

When a check finds a difference it names the mistake ("the shortcut is not added", "ReLU
applied before the addition", ...) with :mod:`resnet_kit.diagnosis`, the same code the graded
tests use: it finds your layers in the graph and compares what they compute with
:mod:`resnet_kit.reference`. A check also prints a note when a BatchNormalization's momentum is
not the notebooks' ``BN_MOMENTUM`` (0.9): the graded block tests do not deduct for it (a block
computes the same outputs whatever its momentum), but training suffers (part 1, section 4).

These checks are a subset of what grading checks; passing them is a good sign, not a proof.
"""

from __future__ import annotations

import os

import numpy as np

from resnet_kit import architecture as arch
from resnet_kit import diagnosis
from resnet_kit import reference as ref
from resnet_kit.device import import_tensorflow
from resnet_kit.diagnosis import Case

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


# --- cases and expected values ------------------------------------------------------------

# The shape checks' cases (a batch of 2).
SHAPE_CASES = {
    "identity_block": [Case("identity_block", (2, 5, 5, 4), 3, [2, 3, 4]),
                       Case("identity_block", (2, 7, 7, 6), 2, [3, 2, 6])],
    "convolutional_block": [Case("convolutional_block", (2, 9, 9, 3), 3, [2, 3, 5], s=2),
                            Case("convolutional_block", (2, 6, 6, 4), 3, [3, 2, 4], s=1),
                            # f=2: a window hard-coded to 3x3 is right in the cases above
                            Case("convolutional_block", (2, 8, 8, 3), 2, [3, 2, 4], s=2)],
    "basic_block": [Case("basic_block", (2, 6, 6, 4), None, 4, s=1),
                    Case("basic_block", (2, 9, 9, 3), None, 5, s=2),
                    Case("basic_block", (2, 8, 8, 4), None, 4, s=2)],  # s=2 alone: projection
}

# Input shape (with batch) and keyword arguments for the value checks.
VALUE_CASES = {
    "identity_block": ((1, 4, 4, 2), {"f": 3, "filters": [2, 3, 2]}),
    "convolutional_block": ((1, 5, 5, 2), {"f": 3, "filters": [2, 3, 3], "s": 2}),
    "basic_block": ((1, 5, 5, 2), {"filters": 3, "s": 2}),
}

def _constant_conv(k, c_in, c_out):
    return ref.Conv(np.full((k, k, c_in, c_out), np.float32(KERNEL_VALUE)), np.zeros(c_out))


def reference_output(name: str, training: bool) -> np.ndarray:
    """What a correct block outputs on its value case (every kernel KERNEL_VALUE, fresh
    BatchNorm), by the NumPy reference: the numbers the values check expects."""
    shape, kw = VALUE_CASES[name]
    x = ramp(shape)
    c = shape[-1]
    if name == "basic_block":
        F, s = kw["filters"], kw["s"]
        args = [_constant_conv(3, c, F), ref.BatchNorm.fresh(F),
                _constant_conv(3, F, F), ref.BatchNorm.fresh(F)]
        if s != 1 or c != F:  # a projection shortcut
            args += [_constant_conv(1, c, F), ref.BatchNorm.fresh(F)]
        return ref.basic_block_ref(x, *args, s=s, training=training)
    f, (F1, F2, F3) = kw["f"], kw["filters"]
    args = [_constant_conv(1, c, F1), ref.BatchNorm.fresh(F1),
            _constant_conv(f, F1, F2), ref.BatchNorm.fresh(F2),
            _constant_conv(1, F2, F3), ref.BatchNorm.fresh(F3)]
    if name == "identity_block":
        return ref.identity_block_ref(x, *args, training=training)
    args += [_constant_conv(1, c, F3), ref.BatchNorm.fresh(F3)]
    return ref.convolutional_block_ref(x, *args, s=kw["s"], training=training)


# --- the checks -------------------------------------------------------------------------------

_HERE = (os.path.abspath(__file__),)


def _value_case(name) -> Case:
    shape, kwargs = VALUE_CASES[name]
    return Case(name, shape, kwargs.get("f"), kwargs["filters"], kwargs.get("s", 1))


def _explained(model, case: Case, seen: str) -> diagnosis.Mistake:
    """The diagnosis of a block whose numbers are off; what the check saw comes after."""
    mistake = diagnosis.explain_block(model, case)
    if mistake is None:
        return diagnosis.Mistake(seen, where=case.describe())
    return diagnosis.Mistake(mistake.reason, mistake.details + [seen], case.describe())


def _params(model):
    total = model.count_params()
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    return total, total - trainable


def _expected_params(model, case: Case):
    """(total, non-trainable): a bias in each conv, or none (use_bias=False): both are right."""
    keras = _keras()
    total, non_trainable = arch.block_params(case.spec, case.batch_shape[-1], bias=False)
    biases = sum(layer.filters for layer in model.layers
                 if isinstance(layer, keras.layers.Conv2D) and layer.use_bias)
    return total + biases, non_trainable


def _notes(model) -> list[str]:
    return [f"Note: {n}" for n in diagnosis.momentum_notes(model)]


def _check_shapes(fn, name) -> list[str]:
    rng = np.random.default_rng(0)
    notes = []
    for case in SHAPE_CASES[name]:
        model = diagnosis.build_block(fn, case, skip=_HERE)
        notes = notes or _notes(model)
        got, want = tuple(model.output.shape), diagnosis.expected_shape(case)
        if got != want:
            raise _explained(model, case, f"the output shape is {got}, expected {want}")
        x = rng.standard_normal(case.batch_shape).astype("float32")
        with diagnosis.quiet():
            for training in (False, True):
                out = np.asarray(model(x, training=training))
                if np.any(out < 0):
                    raise _explained(model, case, "the output has negative values "
                                     f"(training={training}); the block must end with a ReLU "
                                     "applied after adding the shortcut")
        (total, non_trainable), (want_total, want_nt) = _params(model), _expected_params(model, case)
        if (total, non_trainable) != (want_total, want_nt):
            raise _explained(model, case, (
                f"{total} parameters ({non_trainable} non-trainable), expected {want_total} "
                f"({want_nt} non-trainable): each Conv2D has k*k*C_in*F weights (+ F biases), "
                "each BatchNormalization 4*F (2*F non-trainable)"))
        # What the block computes, with random weights, against the reference.
        diagnosis.judge_block(model, case, rng)
    return [f"{name}: output shapes, ReLU at the end, parameter counts and outputs with random "
            "weights look right"] + notes


def _check_values(fn, name) -> list[str]:
    keras = _keras()
    case = _value_case(name)
    model = diagnosis.build_block(fn, case, skip=_HERE, initializer=ConstantInitializer())
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            if not np.all(np.asarray(layer.kernel) == np.float32(KERNEL_VALUE)):
                raise diagnosis.Mistake(
                    f"conv '{layer.name}' did not take its kernel from the `initializer` "
                    "argument; use kernel_initializer=initializer(seed=0) in every Conv2D",
                    where=case.describe())
    x = ramp(case.batch_shape)
    with diagnosis.quiet():
        outputs = {"inference": np.asarray(model(x, training=False)),
                   "training": np.asarray(model(x, training=True))}
    for mode, out in outputs.items():
        right = reference_output(name, training=mode == "training")
        want = {"channel0": np.round(right[0, :, :, 0], 6),
                "channel_sums": np.round(right.sum(axis=(0, 1, 2)), 6)}
        got = {"channel0": out[0, :, :, 0], "channel_sums": out.sum(axis=(0, 1, 2))}
        for key in ("channel0", "channel_sums"):
            expected = want[key]
            if not (got[key].shape == expected.shape
                    and np.allclose(got[key], expected, rtol=RTOL, atol=ATOL)):
                what = "output[0, :, :, 0]" if key == "channel0" else "the sum of each channel"
                raise _explained(model, case, (
                    f"on ramp{case.batch_shape} with every kernel = {KERNEL_VALUE}, in {mode} "
                    f"mode (training={mode == 'training'}), {what} is\n"
                    f"{np.round(got[key], 4)}\nexpected\n{expected}"))
    return [f"{name}: values match in inference and training mode"]


def _block_checks(name: str):
    """``check_<name>``, ``check_<name>_shapes`` and ``check_<name>_values`` of one block."""

    def both(fn) -> None:
        return diagnosis.verdict(lambda: _check_shapes(fn, name) + _check_values(fn, name))

    def shapes(fn) -> None:
        return diagnosis.verdict(lambda: _check_shapes(fn, name))

    def values(fn) -> None:
        return diagnosis.verdict(lambda: _check_values(fn, name))

    both.__doc__ = f"Shapes, final ReLU, parameter count and constant-weight values of {name}."
    shapes.__doc__ = f"Shapes, final ReLU, parameter count and random-weight outputs of {name}."
    values.__doc__ = f"Outputs of {name} with constant weights against precomputed numbers."
    for fn, suffix in ((both, ""), (shapes, "_shapes"), (values, "_values")):
        fn.__name__ = fn.__qualname__ = f"check_{name}{suffix}"
    return both, shapes, values


check_identity_block, check_identity_block_shapes, check_identity_block_values = \
    _block_checks("identity_block")
check_convolutional_block, check_convolutional_block_shapes, check_convolutional_block_values = \
    _block_checks("convolutional_block")
check_basic_block, check_basic_block_shapes, check_basic_block_values = \
    _block_checks("basic_block")


def _check_resnet50(model) -> list[str]:
    keras = _keras()
    if callable(model) and not isinstance(model, keras.Model):
        # The function: built here as the graded test builds it, so a network that fails to
        # build is named (the stage or layer at fault) rather than left to Keras' error.
        model = diagnosis.build_resnet50(model, skip=_HERE)
    if not isinstance(model, keras.Model):
        raise AssertionError(f"check_resnet50 takes your function ResNet50 (or a model it "
                             f"built), got {type(model).__name__}")
    in_shape, want_in = tuple(model.inputs[0].shape), (None, *arch.INPUT_SHAPE)
    if in_shape != want_in:
        raise AssertionError(f"the model's input shape is {in_shape}, expected {want_in}")
    mistake = diagnosis.resnet50_structure(model)
    if mistake is not None:
        raise mistake
    got, want = diagnosis.resnet50_param_counts(model)
    if got != want:
        raise AssertionError(diagnosis.params_message(got, want))
    hard_wired = diagnosis.hard_wired(diagnosis.Graph(model.outputs))
    if hard_wired:
        raise AssertionError(diagnosis.hard_wired_reason(hard_wired))
    x = np.random.default_rng(0).uniform(0, 1, (2, *arch.INPUT_SHAPE)).astype("float32")
    with diagnosis.quiet():
        probs = np.asarray(model(x, training=False))  # inference: the weights do not change
    sums = probs.sum(axis=1)
    if np.any(probs < 0) or not np.allclose(sums, 1.0, atol=1e-4):
        raise AssertionError("the outputs must be probabilities that sum to 1 (softmax on the "
                             f"last Dense layer); they sum to {sums}")
    # What every block computes, with random weights, against the NumPy reference: a mistake
    # inside one block is named with its stage. The student's weights are put back after.
    weights = model.get_weights()
    try:
        diagnosis.judge_resnet50(model, np.random.default_rng(0))
    finally:
        model.set_weights(weights)
    return [f"ResNet50: shapes {want_in} -> {tuple(model.output.shape)}, every stage's shapes, "
            f"{got[0]:,} parameters, softmax output; every block, the stem and the head compute "
            "what the reference computes"] + _notes(model)


def check_resnet50(model) -> None:
    """Check ``ResNet50`` (built here as ``ResNet50(input_shape=(64, 64, 3), classes=6)``),
    or a model it built."""
    return diagnosis.verdict(lambda: _check_resnet50(model))
