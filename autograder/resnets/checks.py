"""Hidden-test checks for the residual-network assignment (instructor-only).

Each public ``check_*`` function takes the student's function, raises ``AssertionError`` with
a message that says what to look at, and returns a one-line summary on success. They are
called from nbgrader test cells, so this module imports no test framework and writes nothing
to stderr.

How a block is judged - by computed truth, not by how the code looks:

1. The block is built on a small symbolic input and wrapped in a ``keras.Model``.
2. Its layers are FOUND by walking the functional graph back from the output (see
   :class:`Graph`): the main-path convolutions are the longest chain of convolutions, the
   BatchNormalization after each convolution is the one that reads its output, and any other
   convolution is the shortcut. Names, creation order and initializers play no part.
3. Kernel shapes are checked (they fix the number of filters and the window size).
4. Every convolution and BatchNormalization gets non-trivial weights and moving statistics
   (seeded NumPy), and the model's output is compared, for several shapes (odd sizes, stride
   2 and 3, batch > 1), with :mod:`autograder.resnets.reference` computed from those same weights -
   in inference mode (``training=False``), with no ``training`` argument (must be inference
   too) and in training mode (``training=True``, batch statistics).
5. When the numbers differ, "mutant references" - the reference with one classic mistake
   made on purpose, same weights - are computed; the one that matches names the mistake.

Tolerance: :data:`TOLERANCE` on :func:`rel_error` (CS231n's max elementwise relative error)
with a floor of :data:`FLOOR_SCALE` times the largest output magnitude in the denominator.
Keras computes in float32 (unit roundoff 6e-8) and the reference in float64; a block sums a
few hundred float32 products per output and divides by a batch standard deviation, which
gives errors of about 1e-6 of the output's scale. A mistake changes outputs by 10% or more.
The floor stops outputs that happen to be near zero (after the shortcut cancels the main
path) from turning float32 rounding into a large *relative* error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import resnet_kit  # noqa: F401  (sets TensorFlow's import-time environment first)
from autograder.resnets import reference as ref
from resnet_kit.device import import_tensorflow

import_tensorflow()  # quietly: its start-up lines would otherwise reach stderr

__all__ = [
    "TOLERANCE",
    "FLOOR_SCALE",
    "rel_error",
    "Graph",
    "check_identity_block",
    "check_convolutional_block",
    "check_basic_block",
    "check_resnet50",
    "RESNET50_PARAMS",
]

TOLERANCE = 1e-4
FLOOR_SCALE = 1e-3

# ResNet50(input_shape=(64, 64, 3), classes=6), counted with Keras 3.15.
RESNET50_PARAMS = {"total": 23_600_006, "trainable": 23_546_886, "non_trainable": 53_120}


def rel_error(actual, expected) -> float:
    """CS231n relative error with the checks' floor (see the module docstring)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return ref.rel_error(actual, expected, floor=max(FLOOR_SCALE * scale, 1e-8))


def _matches(actual, expected) -> bool:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return actual.shape == expected.shape and rel_error(actual, expected) < TOLERANCE


@contextlib.contextmanager
def _quiet():
    """No Python warnings from Keras/TensorFlow reach the notebook's stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _keras():
    import_tensorflow()
    import keras

    return keras


# ============================================================================================
# The functional graph, read back from the output
# ============================================================================================


@dataclasses.dataclass(eq=False)
class Node:
    """One operation of the student's graph, as the checks see it.

    kind: "input", "conv", "bn", "relu", "add" or "other". Operations that compute the
    identity (``Activation("linear")``, ``Identity``) are skipped. A ``Conv2D``
    with ``activation="relu"`` becomes a "conv" node followed by a "relu" node.
    """

    kind: str
    layer: Any
    inputs: list[Node]
    kwargs: dict
    label: str
    shape: tuple | None = None  # the output's shape, batch as None

    @property
    def training_arg(self):
        return self.kwargs.get("training", None)


def _is_relu_function(fn) -> bool:
    return getattr(fn, "__name__", None) == "relu"


def _classify(op) -> str:
    keras = _keras()
    L = keras.layers
    if isinstance(op, L.InputLayer):
        return "input"
    if isinstance(op, L.Conv2D):
        return "conv"
    if isinstance(op, L.BatchNormalization):
        return "bn"
    name = type(op).__name__
    if isinstance(op, L.ReLU) or (
        name == "ReLU" and type(op).__module__.startswith("keras.src.activations")
    ):
        plain = (
            getattr(op, "max_value", None) is None
            and not getattr(op, "negative_slope", 0)
            and not getattr(op, "threshold", 0)
        )
        return "relu" if plain else "other"
    if name == "Relu" and type(op).__module__.startswith("keras.src.ops"):
        return "relu"
    if isinstance(op, L.Activation):
        if _is_relu_function(op.activation):
            return "relu"
        if getattr(op.activation, "__name__", None) == "linear":
            return "identity"
        return "other"
    if isinstance(op, L.Add) or (name == "Add" and type(op).__module__.startswith("keras.src.ops")):
        return "add"
    if isinstance(op, L.Identity):
        return "identity"
    return "other"


def _label(op) -> str:
    return f"{type(op).__name__} '{getattr(op, 'name', '?')}'"


class Graph:
    """The operations between the input and the given output tensors, as :class:`Node` s.

    Keras 3 records, on every ``KerasTensor``, ``_keras_history = (operation, node_index,
    tensor_index)``; ``operation._inbound_nodes[node_index]`` is the call that made it, with
    its ``input_tensors`` and ``arguments.kwargs`` (``training=...`` lives there). Layers
    (``Add()``, ``ReLU()``) and ops-level operations (``x + y``, ``keras.ops.add``,
    ``keras.ops.relu``, ``keras.activations.relu`` on a tensor) are both recorded this way.
    """

    def __init__(self, outputs: Sequence[Any]):
        self._memo: dict[int, Node] = {}
        self.outputs = [self._visit(t) for t in outputs]
        self.nodes = self._topological(self.outputs)
        self.ancestors = {n: self._ancestors(n) for n in self.nodes}

    def _visit(self, tensor) -> Node:
        op, node_index, _ = tensor._keras_history
        key = id(op._inbound_nodes[node_index])
        if key in self._memo:
            return self._memo[key]
        keras_node = op._inbound_nodes[node_index]
        inputs = [self._visit(t) for t in keras_node.input_tensors]
        kwargs = dict(getattr(keras_node.arguments, "kwargs", {}) or {})
        kind = _classify(op)
        if kind == "add" and len(inputs) != 2:
            kind = "other"  # e.g. x + 1.0, or a three-way Add
        if kind == "identity" and len(inputs) == 1:
            node = inputs[0]
        else:
            node = Node(kind, op, inputs, kwargs, _label(op))
            if kind == "conv" and _is_relu_function(getattr(op, "activation", None)):
                node = Node("relu", None, [node], {}, f"activation='relu' of {node.label}")
            elif kind == "conv" and getattr(op.activation, "__name__", "linear") != "linear":
                node = Node("other", op, [node], {}, f"activation of {node.label}")
        if node.shape is None:
            node.shape = tuple(tensor.shape)
        self._memo[key] = node
        return node

    @staticmethod
    def _topological(outputs) -> list[Node]:
        order, seen = [], set()

        def visit(n):
            if n in seen:
                return
            seen.add(n)
            for p in n.inputs:
                visit(p)
            order.append(n)

        for o in outputs:
            visit(o)
        return order

    def _ancestors(self, node) -> set:
        result, stack = set(), list(node.inputs)
        while stack:
            n = stack.pop()
            if n not in result:
                result.add(n)
                stack.extend(n.inputs)
        return result

    def of_kind(self, kind) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def conv_chain(self) -> list[Node]:
        """The longest chain of convolutions (each an ancestor of the next): the main path."""
        convs = self.of_kind("conv")
        best, parent = {}, {}
        for c in convs:  # topological order
            preds = [p for p in convs if p in self.ancestors[c]]
            if preds:
                p = max(preds, key=lambda q: best[q])
                best[c], parent[c] = best[p] + 1, p
            else:
                best[c], parent[c] = 1, None
        if not convs:
            return []
        # Ties (two chains as long) go to the one ending later, nearer the output.
        end = max(convs, key=lambda c: (best[c], convs.index(c)))
        chain = [end]
        while parent[chain[-1]] is not None:
            chain.append(parent[chain[-1]])
        return chain[::-1]

    def bn_after(self, conv: Node) -> Node | None:
        """The BatchNormalization that reads this convolution's output (ReLUs skipped)."""
        for n in self.of_kind("bn"):
            src = n.inputs[0] if n.inputs else None
            while src is not None and src.kind == "relu":
                src = src.inputs[0]
            if src is conv:
                return n
        return None


def _graph_from_traceback(exc) -> Graph | None:
    """The part of the graph the student's code had built when it raised.

    The student's frames (not Keras' or TensorFlow's) still hold their tensors (X,
    X_shortcut, ...) in their locals; the graph is read back from those.
    """
    from resnet_kit.capture import student_tensors

    if getattr(exc, "partial_outputs", None):  # judged from a capture: recorded in the sandbox
        try:
            return Graph(exc.partial_outputs)
        except Exception:  # noqa: BLE001 - a diagnosis aid only
            return None
    tensors = student_tensors(exc, skip=(os.path.abspath(__file__),))
    if not tensors:
        return None
    try:
        return Graph(tensors)
    except Exception:  # noqa: BLE001 - a diagnosis aid only
        return None


# ============================================================================================
# What each block must look like, and the mistakes
# ============================================================================================


@dataclasses.dataclass
class ConvSpec:
    kernel: int
    filters: int
    stride: int
    padding: str | None  # required padding, or None where 'valid' and 'same' agree (1x1)


@dataclasses.dataclass
class BlockSpec:
    name: str  # e.g. "identity_block"
    main: list[ConvSpec]
    shortcut: ConvSpec | None
    s: int = 1


def _ordinal(i: int) -> str:
    return ["first", "second", "third", "fourth"][i] if i < 4 else f"#{i + 1}"


def _conv_description(spec: BlockSpec, i: int) -> str:
    k = spec.main[i].kernel
    size = "1x1" if k == 1 else f"fxf ({k}x{k})" if spec.name != "basic_block" else "3x3"
    return f"the {_ordinal(i)} conv of the main path ({size})"


def _structure_problems(graph: Graph, spec: BlockSpec) -> list[str]:
    """Differences between the student's convolutions and what the block needs."""
    problems = []
    chain = graph.conv_chain()
    for i, (node, want) in enumerate(zip(chain, spec.main)):
        layer = node.layer
        what = _conv_description(spec, i)
        ks = tuple(layer.kernel_size)
        if ks != (want.kernel, want.kernel):
            problems.append(f"{what} must have a {want.kernel}x{want.kernel} kernel, "
                            f"{layer.name} has {ks[0]}x{ks[1]}")
        if layer.filters != want.filters:
            problems.append(f"wrong number of filters in conv {i + 1} of the main path: "
                            f"expected {want.filters}, {layer.name} has {layer.filters}")
        if tuple(layer.strides) != (want.stride, want.stride):
            problems.append(f"{what} must have stride {want.stride}, {layer.name} has "
                            f"strides={tuple(layer.strides)}")
        if want.padding and want.kernel > 1 and layer.padding != want.padding:
            problems.append(f"padding of {what} must be '{want.padding}', {layer.name} has "
                            f"padding='{layer.padding}'")
        if tuple(getattr(layer, "dilation_rate", (1, 1))) != (1, 1):
            problems.append(f"{what} must not be dilated")
    others = [n for n in graph.of_kind("conv") if n not in chain]
    want = spec.shortcut
    if want is not None and not others and len(chain) == len(spec.main):
        problems.append(f"the shortcut needs a projection here: a 1x1 conv with {want.filters} "
                        f"filters and stride {want.stride}, then BatchNorm")
    if want is not None and len(others) == 1:
        layer = others[0].layer
        if tuple(layer.strides) != (want.stride, want.stride):
            problems.append(f"the shortcut conv must have stride {want.stride}, {layer.name} "
                            f"has strides={tuple(layer.strides)}")
        if layer.filters != want.filters:
            problems.append(f"the shortcut conv must have {want.filters} filters (F3), "
                            f"{layer.name} has {layer.filters}")
    return problems


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def _hints(problems: list[str]) -> str:
    return "".join(f"\n  - {p}" for p in problems)


# --- mutant references --------------------------------------------------------------------


@dataclasses.dataclass
class Weights:
    """Reference records of the student's layers, by role."""

    main_convs: list[ref.Conv]
    main_bns: list[ref.BatchNorm]
    shortcut_conv: ref.Conv | None = None
    shortcut_bn: ref.BatchNorm | None = None


def _variant(x, w: Weights, spec: BlockSpec, training, *, strides=None, relus=None,
             shortcut="default", final="after_add"):
    """The block with (at most) one change, computed from the same weights.

    strides: stride of each main conv; relus: ReLU after each main BN but the last;
    shortcut: "default", "none" (not added), "no_bn" (projection without BN);
    final: "after_add" (correct), "before_add" (ReLU on the main path, none after the
    addition), "both" (ReLU on the main path and after the addition), "none" (no ReLU at all).
    """
    n = len(spec.main)
    strides = strides or [c.stride for c in spec.main]
    relus = relus if relus is not None else [True] * (n - 1)
    h = np.asarray(x, dtype=np.float64)
    for i in range(n):
        pad = spec.main[i].padding or "valid"
        h = ref.conv2d(h, w.main_convs[i].kernel, w.main_convs[i].bias, stride=strides[i],
                       padding=pad)
        b = w.main_bns[i]
        h = ref.batchnorm(h, b.gamma, b.beta, b.moving_mean, b.moving_variance, b.epsilon,
                          training=training)
        if i < n - 1 and relus[i]:
            h = ref.relu(h)
    if shortcut == "none":
        sc = None
    elif w.shortcut_conv is None:
        sc = np.asarray(x, dtype=np.float64)
    else:
        c = w.shortcut_conv
        sc = ref.conv2d(x, c.kernel, c.bias, stride=spec.s, padding="valid")
        if shortcut != "no_bn":
            b = w.shortcut_bn
            sc = ref.batchnorm(sc, b.gamma, b.beta, b.moving_mean, b.moving_variance,
                               b.epsilon, training=training)
    if final in ("before_add", "both"):
        h = ref.relu(h)
    out = h if sc is None else h + sc
    return ref.relu(out) if final in ("after_add", "both") else out


def _mutants(spec: BlockSpec, w: Weights) -> list[tuple[str, dict]]:
    n = len(spec.main)
    found = []
    if spec.s != 1:
        for i in range(1, n):
            strides = [1] * n
            strides[i] = spec.s
            where = _conv_description(spec, i)
            right = _conv_description(spec, 0)
            found.append((f"the stride s={spec.s} is on {where}, it belongs on {right}",
                          {"strides": strides}))
    for i in range(n - 1):
        relus = [True] * (n - 1)
        relus[i] = False
        found.append((f"missing ReLU after the {_ordinal(i)} BatchNorm of the main path",
                      {"relus": relus}))
    found += [
        ("ReLU applied before the addition (the final ReLU must come after adding the "
         "shortcut, and only there)", {"final": "both"}),
        ("shortcut added after the final ReLU (add the shortcut first, then apply the ReLU)",
         {"final": "before_add"}),
        ("missing the final ReLU after adding the shortcut", {"final": "none"}),
        ("the shortcut is not added: the output must be ReLU(main path + shortcut)",
         {"shortcut": "none"}),
    ]
    if w.shortcut_conv is not None:
        found.append(("BatchNorm missing on the shortcut", {"shortcut": "no_bn"}))
    return found


# ============================================================================================
# Checking one block
# ============================================================================================


@dataclasses.dataclass
class Case:
    batch_shape: tuple[int, int, int, int]
    f: int | None
    filters: Any  # [F1, F2, F3] or an int for the basic block
    s: int = 1


def _expected_shape(spec: BlockSpec, batch_shape) -> tuple:
    _, h, w, _ = batch_shape
    f_out = spec.main[-1].filters
    return (None, math.ceil(h / spec.s), math.ceil(w / spec.s), f_out)


def _randomise(graph: Graph, rng) -> None:
    """Non-trivial weights for every conv and BatchNorm in the graph (He-scaled kernels)."""
    for node in graph.of_kind("conv"):
        layer = node.layer
        kh, kw, cin, cout = layer.kernel.shape
        values = [rng.standard_normal((kh, kw, cin, cout)) * np.sqrt(2.0 / (kh * kw * cin))]
        if layer.use_bias:
            values.append(rng.standard_normal(cout) * 0.1)
        layer.set_weights([v.astype("float32") for v in values])
    for node in graph.of_kind("bn"):
        layer = node.layer
        c = layer.moving_mean.shape[0]
        values = {
            "gamma": rng.uniform(0.5, 1.5, c),
            "beta": rng.standard_normal(c) * 0.3,
            "moving_mean": rng.standard_normal(c) * 0.3,
            "moving_variance": rng.uniform(0.5, 2.0, c),
        }
        for name, value in values.items():
            var = getattr(layer, name, None)
            if var is not None:  # center=False / scale=False leave gamma or beta out
                var.assign(value.astype("float32"))


def _conv_record(layer) -> ref.Conv:
    return ref.Conv(np.asarray(layer.kernel), np.asarray(layer.bias) if layer.use_bias else None)


def _bn_record(layer) -> ref.BatchNorm:
    c = layer.moving_mean.shape[0]
    gamma = np.asarray(layer.gamma) if layer.scale else np.ones(c)
    beta = np.asarray(layer.beta) if layer.center else np.zeros(c)
    return ref.BatchNorm(gamma, beta, np.asarray(layer.moving_mean),
                         np.asarray(layer.moving_variance), float(layer.epsilon))


def _call_student(fn, X, case: Case, name: str):
    if name == "basic_block":
        return fn(X, case.filters, s=case.s)
    if name == "identity_block":
        return fn(X, case.f, case.filters)
    return fn(X, case.f, case.filters, s=case.s)


def _describe_case(name: str, case: Case) -> str:
    args = f"f={case.f}, filters={case.filters}" if case.f else f"filters={case.filters}"
    if name != "identity_block":
        args += f", s={case.s}"
    return f"{name}(X, {args}) with X of shape {case.batch_shape}"


def _build(fn, name: str, spec: BlockSpec, case: Case):
    keras = _keras()
    where = _describe_case(name, case)
    X = keras.Input(shape=case.batch_shape[1:])
    try:
        out = _call_student(fn, X, case, name)
    except Exception as exc:  # noqa: BLE001 - any failure of student code is reported
        graph = _graph_from_traceback(exc)
        problems = _structure_problems(graph, spec) if graph is not None else []
        if not problems and "shape" in str(exc).lower():
            problems.append("the main path and the shortcut must have the same shape when "
                            "they are added: check kernel sizes, paddings, strides and the "
                            "number of filters of each conv")
        raise AssertionError(
            f"Building {where} failed with {_first_line(exc)}" + _hints(problems)
        ) from None
    if isinstance(out, (list, tuple)) and len(out) == 1:
        out = out[0]
    if not isinstance(out, keras.KerasTensor):
        raise AssertionError(f"{name} must return the output tensor of the block (a Keras "
                             f"tensor), it returned {type(out).__name__}")
    expected = _expected_shape(spec, case.batch_shape)
    if tuple(out.shape) != expected:
        graph = Graph([out])
        problems = _structure_problems(graph, spec)
        raise AssertionError(
            f"{where}: output shape is {tuple(out.shape)}, expected {expected}"
            + _hints(problems)
        )
    try:
        model = keras.Model(X, out)
    except Exception as exc:  # noqa: BLE001
        raise AssertionError(f"{where}: the output is not computed from the input X "
                             f"({_first_line(exc)})") from None
    return model, Graph(model.outputs)


def _roles(graph: Graph, spec: BlockSpec, where: str):
    """Find the main-path convs/BNs and the shortcut; assert the structure they need."""
    if not graph.of_kind("add"):
        raise AssertionError(f"{where}: the shortcut is not added - the block must end with "
                             "ReLU(main path + shortcut) (Add()([X, X_shortcut]) or X + "
                             "X_shortcut)")
    chain = graph.conv_chain()
    n = len(spec.main)
    if len(chain) != n:
        raise AssertionError(f"{where}: the main path must have {n} convolutions one after "
                             f"the other, found {len(chain)}")
    others = [c for c in graph.of_kind("conv") if c not in chain]
    if spec.shortcut is None and others:
        raise AssertionError(f"{where}: the shortcut must be X itself here (no convolution), "
                             f"found {', '.join(c.label for c in others)} outside the main "
                             "path")
    if spec.shortcut is not None and len(others) != 1:
        raise AssertionError(f"{where}: the shortcut must be one 1x1 conv with stride "
                             f"{spec.s} followed by BatchNorm; found {len(others)} convolutions "
                             "off the main path")
    problems = []
    bns = []
    for i, conv in enumerate(chain):
        bn = graph.bn_after(conv)
        if bn is None:
            problems.append(f"BatchNorm missing after {_conv_description(spec, i)}")
        bns.append(bn)
    shortcut_conv = shortcut_bn = None
    if spec.shortcut is not None:
        shortcut_conv = others[0]
        shortcut_bn = graph.bn_after(shortcut_conv)
        if shortcut_bn is None:
            problems.append("BatchNorm missing on the shortcut (after its 1x1 conv)")
    if problems:
        raise AssertionError(f"{where}:" + _hints(problems))

    # Kernel shapes: the window size and the number of filters are part of the block.
    shape_problems = []
    for i, (conv, want) in enumerate(zip(chain, spec.main)):
        kh, kw, _, cout = conv.layer.kernel.shape
        if cout != want.filters:
            shape_problems.append(f"wrong number of filters in conv {i + 1} of the main path: "
                                  f"expected {want.filters}, got {cout}")
        if (kh, kw) != (want.kernel, want.kernel):
            shape_problems.append(f"{_conv_description(spec, i)} must have a "
                                  f"{want.kernel}x{want.kernel} kernel, got {kh}x{kw}")
    if shortcut_conv is not None:
        kh, kw, _, cout = shortcut_conv.layer.kernel.shape
        if (kh, kw, cout) != (1, 1, spec.shortcut.filters):
            shape_problems.append(f"the shortcut conv must be 1x1 with {spec.shortcut.filters} "
                                  f"filters, got {kh}x{kw} with {cout}")
    for bn, conv in zip(bns + [shortcut_bn], chain + [shortcut_conv]):
        if bn is None or conv is None:
            continue
        axis = bn.layer.axis
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if axes not in ([3], [-1]):
            shape_problems.append(f"BatchNormalization {bn.layer.name} must normalise the "
                                  f"channels: use axis=3 (it has axis={axis})")
    if shape_problems:
        raise AssertionError(f"{where}:" + _hints(shape_problems))
    return chain, bns, shortcut_conv, shortcut_bn


def _weights(chain, bns, shortcut_conv, shortcut_bn) -> Weights:
    return Weights(
        main_convs=[_conv_record(c.layer) for c in chain],
        main_bns=[_bn_record(b.layer) for b in bns],
        shortcut_conv=_conv_record(shortcut_conv.layer) if shortcut_conv else None,
        shortcut_bn=_bn_record(shortcut_bn.layer) if shortcut_bn else None,
    )


def _reference(name, x, w: Weights, spec: BlockSpec, training: bool):
    convs, bns = w.main_convs, w.main_bns
    if name == "identity_block":
        return ref.identity_block_ref(x, convs[0], bns[0], convs[1], bns[1], convs[2], bns[2],
                                      training=training)
    if name == "convolutional_block":
        return ref.convolutional_block_ref(x, convs[0], bns[0], convs[1], bns[1], convs[2],
                                           bns[2], w.shortcut_conv, w.shortcut_bn, s=spec.s,
                                           training=training)
    return ref.basic_block_ref(x, convs[0], bns[0], convs[1], bns[1], w.shortcut_conv,
                               w.shortcut_bn, s=spec.s, training=training)


def _outputs(model, x):
    # Order matters: a training-mode call updates the BatchNorm moving averages.
    inference = np.asarray(model(x, training=False))
    default = np.asarray(model(x))
    training = np.asarray(model(x, training=True))
    return inference, default, training


def _compare(name, spec, case, model, graph, roles, rng):
    where = _describe_case(name, case)
    _randomise(graph, rng)
    w = _weights(*roles)
    x = rng.standard_normal(case.batch_shape).astype("float32")
    inference, default, training = _outputs(model, x)
    want_inf = _reference(name, x, w, spec, training=False)
    want_train = _reference(name, x, w, spec, training=True)
    ok_inf, ok_train = _matches(inference, want_inf), _matches(training, want_train)
    ok_default = _matches(default, want_inf)
    if ok_inf and ok_train and ok_default:
        return x, w
    hard_wired = [n.layer.name for n in graph.of_kind("bn") if n.training_arg is True]
    if ok_inf and ok_train:  # only the call without a training argument is off
        raise AssertionError(
            f"{where}: BatchNorm is hard-wired to training mode (pass training=training, or "
            "nothing): called without a training argument the block must use the moving "
            "averages (inference mode), but it normalises with batch statistics"
            + (f" (layers called with training=True: {', '.join(hard_wired)})"
               if hard_wired else "")
        )
    for message, changes in _mutants(spec, w):
        try:
            m_inf = _variant(x, w, spec, False, **changes)
            m_train = _variant(x, w, spec, True, **changes)
        except ValueError:  # shapes do not fit together for this mistake
            continue
        if _matches(m_inf, want_inf) and _matches(m_train, want_train):
            continue  # the mistake makes no difference in this case
        if _matches(inference, m_inf) and _matches(training, m_train):
            raise AssertionError(f"{where}: {message}")
    problems = _structure_problems(graph, spec)
    if hard_wired:
        problems.append("BatchNorm is hard-wired to training mode in "
                        f"{', '.join(hard_wired)} (pass training=training, or nothing)")
    for node in graph.of_kind("conv"):
        if _is_relu_function(getattr(node.layer, "activation", None)):
            problems.append(f"{node.label} has activation='relu': the ReLU must come after "
                            "the BatchNorm (conv -> BatchNorm -> ReLU), leave the Conv2D's "
                            "activation at None")
    others = [n.label for n in graph.nodes if n.kind == "other"]
    if others:
        problems.append(f"unexpected operations in the block: {', '.join(others)}")
    raise AssertionError(
        f"{where}: the output differs from the reference (rel_error: inference "
        f"{rel_error(inference, want_inf):.2g}, training {rel_error(training, want_train):.2g}; "
        f"tolerance {TOLERANCE:g}). Check the order conv -> BatchNorm -> ReLU, the strides, "
        "the paddings and where the shortcut is added." + _hints(problems)
    )


def _check_block(fn: Callable, name: str, cases: list[Case], spec_of, probe=False) -> str:
    if not callable(fn):
        raise AssertionError(f"{name} must be a function")
    rng = np.random.default_rng(2024)
    with _quiet():
        for case in cases:
            spec = spec_of(case)
            model, graph = _build(fn, name, spec, case)
            where = _describe_case(name, case)
            roles = _roles(graph, spec, where)
            _compare(name, spec, case, model, graph, roles, rng)
            if probe:
                _identity_probe(model, roles, case, where, rng)
    return f"{name}: all {len(cases)} cases match the reference in training and inference mode"


def _identity_probe(model, roles, case, where, rng):
    """With the last BN's gamma and beta at 0 the main path outputs 0: the block is ReLU(X),
    which is X itself for X >= 0. This is why deep residual nets can learn the identity."""
    last_bn = roles[1][-1].layer
    if not (last_bn.scale and last_bn.center):
        return  # no gamma or beta to switch the main path off with
    saved = [np.asarray(v) for v in (last_bn.gamma, last_bn.beta)]
    last_bn.gamma.assign(np.zeros_like(saved[0]))
    last_bn.beta.assign(np.zeros_like(saved[1]))
    try:
        x = np.abs(rng.standard_normal(case.batch_shape)).astype("float32")
        for training in (False, True):
            out = np.asarray(model(x, training=training))
            if not _matches(out, x):
                raise AssertionError(
                    f"{where}: with the last BatchNorm's gamma and beta set to 0 (main path "
                    f"switched off) the identity block must return its input unchanged for "
                    f"X >= 0 (training={training}), rel_error {rel_error(out, x):.2g}: check "
                    "that the shortcut X is added, unchanged, before the final ReLU"
                )
    finally:
        last_bn.gamma.assign(saved[0])
        last_bn.beta.assign(saved[1])


# --- public checks ----------------------------------------------------------------------------

IDENTITY_CASES = [
    Case((2, 5, 5, 4), 3, [2, 3, 4]),
    Case((3, 7, 7, 5), 3, [3, 2, 5]),
    Case((2, 6, 6, 3), 2, [4, 2, 3]),  # even f: TensorFlow pads 'same' asymmetrically
]
CONVOLUTIONAL_CASES = [
    Case((2, 9, 9, 3), 3, [2, 3, 5], s=2),
    Case((2, 7, 7, 4), 3, [3, 4, 6], s=2),
    Case((2, 6, 6, 3), 3, [4, 2, 5], s=1),
    Case((2, 8, 8, 2), 2, [3, 2, 4], s=3),
]
BASIC_CASES = [
    Case((2, 6, 6, 4), None, 4, s=1),  # identity shortcut
    Case((2, 9, 9, 3), None, 5, s=2),  # projection: stride
    Case((2, 7, 7, 3), None, 5, s=1),  # projection: channels change
    Case((2, 8, 8, 4), None, 4, s=2),  # projection: stride, same channels
]


def _identity_spec(case: Case) -> BlockSpec:
    F1, F2, F3 = case.filters
    return BlockSpec("identity_block",
                     [ConvSpec(1, F1, 1, None), ConvSpec(case.f, F2, 1, "same"),
                      ConvSpec(1, F3, 1, None)], None, 1)


def _convolutional_spec(case: Case) -> BlockSpec:
    F1, F2, F3 = case.filters
    return BlockSpec("convolutional_block",
                     [ConvSpec(1, F1, case.s, None), ConvSpec(case.f, F2, 1, "same"),
                      ConvSpec(1, F3, 1, None)], ConvSpec(1, F3, case.s, None), case.s)


def _basic_spec(case: Case) -> BlockSpec:
    F = case.filters
    projection = case.s != 1 or case.batch_shape[-1] != F
    return BlockSpec("basic_block", [ConvSpec(3, F, case.s, "same"), ConvSpec(3, F, 1, "same")],
                     ConvSpec(1, F, case.s, None) if projection else None, case.s)


def check_identity_block(fn: Callable) -> str:
    """Check ``identity_block(X, f, filters, training=None, initializer=...)``."""
    return _check_block(fn, "identity_block", IDENTITY_CASES, _identity_spec, probe=True)


def check_convolutional_block(fn: Callable) -> str:
    """Check ``convolutional_block(X, f, filters, s=2, training=None, initializer=...)``."""
    return _check_block(fn, "convolutional_block", CONVOLUTIONAL_CASES, _convolutional_spec)


def check_basic_block(fn: Callable) -> str:
    """Check ``basic_block(X, filters, s=1, training=None, initializer=...)``."""
    return _check_block(fn, "basic_block", BASIC_CASES, _basic_spec)


# ============================================================================================
# ResNet-50
# ============================================================================================

RESNET50_COUNTS = {
    # 1 stem conv + 16 blocks x 3 + 4 projection shortcuts
    "Conv2D": (53, "1 in the stem, 3 per block (16 blocks) and 1 on each of the 4 "
                   "convolutional blocks' shortcuts"),
    "BatchNormalization": (53, "one after every Conv2D"),
    "Add": (16, "one per block: stages of [3, 4, 6, 3] blocks"),
    "Dense": (1, "the softmax classifier"),
    "MaxPooling2D": (1, "the 3x3/2 max pooling after the stem"),
    "AveragePooling2D": (1, "the 2x2 average pooling before Flatten"),
}


def _operation_counts(model) -> dict[str, int]:
    keras = _keras()
    L = keras.layers
    kinds = {"Conv2D": L.Conv2D, "BatchNormalization": L.BatchNormalization, "Dense": L.Dense,
             "MaxPooling2D": L.MaxPooling2D, "AveragePooling2D": L.AveragePooling2D}
    counts = dict.fromkeys(RESNET50_COUNTS, 0)
    for op in model.operations:
        for kind, cls in kinds.items():
            if isinstance(op, cls):
                counts[kind] += 1
        if _classify(op) == "add":
            counts["Add"] += 1
    return counts


def check_resnet50(fn: Callable) -> str:
    """Check ``ResNet50(input_shape=(64, 64, 3), classes=6, training=None)``."""
    keras = _keras()
    with _quiet():
        try:
            model = fn(input_shape=(64, 64, 3), classes=6)
        except Exception as exc:  # noqa: BLE001
            raise AssertionError(f"Building ResNet50 failed with {_first_line(exc)}") from None
        if not isinstance(model, keras.Model):
            raise AssertionError(f"ResNet50 must return a keras.Model, got {type(model).__name__}")
        out_shape = tuple(model.output.shape)
        if out_shape != (None, 6):
            raise AssertionError(f"ResNet50's output shape is {out_shape}, expected (None, 6)")

        counts = _operation_counts(model)
        problems = [f"expected {n} {kind} ({why}), found {counts[kind]}"
                    for kind, (n, why) in RESNET50_COUNTS.items() if counts[kind] != n]
        if problems:
            raise AssertionError("ResNet50 has the wrong layers:" + _hints(problems))

        for op in model.operations:
            if isinstance(op, keras.layers.MaxPooling2D):
                shape = tuple(op.output.shape)
                if shape != (None, 15, 15, 64):
                    raise AssertionError(
                        f"ResNet50: the max pooling outputs {shape}, expected (None, 15, 15, "
                        "64): check ZeroPadding2D((3, 3)), the 7x7/2 conv and the 3x3/2 pooling"
                    )

        graph = Graph(model.outputs)
        stage_shapes = [(15, 15, 256)] * 3 + [(8, 8, 512)] * 4 + [(4, 4, 1024)] * 6 + [
            (2, 2, 2048)] * 3
        for i, (node, want) in enumerate(zip(graph.of_kind("add"), stage_shapes)):
            if node.shape[1:] != want:
                raise AssertionError(
                    f"ResNet50: block {i + 1} outputs {node.shape}, expected {(None, *want)}: "
                    "stages 1-4 use strides s=1, 2, 2, 2 in their first (convolutional) "
                    "block and filters [64, 64, 256], [128, 128, 512], [256, 256, 1024], "
                    "[512, 512, 2048]"
                )

        total = model.count_params()
        trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
        non_trainable = sum(int(np.prod(v.shape)) for v in model.non_trainable_weights)
        got = {"total": total, "trainable": trainable, "non_trainable": non_trainable}
        if got != RESNET50_PARAMS:
            raise AssertionError(
                f"ResNet50 has {total:,} parameters ({trainable:,} trainable, {non_trainable:,} "
                f"non-trainable), expected {RESNET50_PARAMS['total']:,} "
                f"({RESNET50_PARAMS['trainable']:,} trainable, "
                f"{RESNET50_PARAMS['non_trainable']:,} non-trainable): check the filters of "
                "each stage, f=3, use of bias in the convs, and the Dense layer"
            )

        hard_wired = [n.layer.name for n in graph.of_kind("bn") if n.training_arg is True]
        x = np.random.default_rng(7).uniform(0, 1, (2, 64, 64, 3)).astype("float32")
        inference = np.asarray(model(x, training=False))
        default = np.asarray(model(x))
        if hard_wired or not _matches(default, inference):
            raise AssertionError(
                "ResNet50: BatchNorm is hard-wired to training mode (pass training=training, "
                "or nothing): called without a training argument the model must use the "
                "moving averages"
                + (f" (layers called with training=True: {', '.join(hard_wired[:5])}"
                   f"{', ...' if len(hard_wired) > 5 else ''})" if hard_wired else "")
            )
        sums = inference.sum(axis=1)
        if np.any(inference < 0) or not np.allclose(sums, 1.0, atol=1e-4):
            raise AssertionError(f"ResNet50's outputs must be probabilities that sum to 1 "
                                 f"(softmax on the last Dense layer); the sums are {sums}")
    return (f"ResNet50: {total:,} parameters ({trainable:,} trainable, {non_trainable:,} "
            "non-trainable), 53 Conv2D, 53 BatchNormalization, 16 Add, output (None, 6)")

