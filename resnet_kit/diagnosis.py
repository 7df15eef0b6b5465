"""Naming the mistake: read a Keras graph back and compare what it computes with the reference.

The visible checks (:mod:`resnet_kit.selfcheck`) and the graded tests use this same code, so a
mistake has the same name before and after you submit. How a block is judged - by computed
truth, not by how the code looks:

1. The block's layers are FOUND by walking the functional graph back from the output (see
   :class:`Graph`): the main-path convolutions are the longest chain of convolutions, the
   BatchNormalization after each convolution is the one that reads its output, and any other
   convolution is the shortcut. Names, creation order and initializers play no part.
2. The structure is checked where it decides the answer on its own: the shortcut is added,
   to something other than itself; conv -> BatchNorm -> ReLU in that order; kernel shapes
   (filters, window size); BatchNorm over the channels and not hard-wired to training mode.
3. Every convolution and BatchNormalization gets non-trivial weights and moving statistics
   (seeded NumPy), and the output is compared with :mod:`resnet_kit.reference` computed
   from those same weights, in inference mode (``training=False``), with no ``training``
   argument (must be inference too) and in training mode (``training=True``).
4. When the numbers differ, the reference with one classic mistake made on purpose (same
   weights) is computed for each mistake; the one that matches names the mistake.

ResNet-50 is judged the same way, block by block: each block's output is compared with the
reference block applied to that block's own input (both read from the model), then the stem
and the head (any head that averages each channel over the final map is right).

Tolerance: :data:`TOLERANCE` on :func:`rel_error` (CS231n's max elementwise relative error)
with a floor of :data:`FLOOR_SCALE` times the largest output magnitude in the denominator.
Keras computes in float32 (unit roundoff 6e-8) and the reference in float64: errors of about
1e-6 of the output's scale. A mistake changes outputs by 10% or more. The floor stops outputs
near zero from turning float32 rounding into a large *relative* error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import warnings
from typing import Any

import numpy as np

from resnet_kit import architecture as arch
from resnet_kit import reference as ref
from resnet_kit.device import import_tensorflow

__all__ = [
    "TOLERANCE",
    "FLOOR_SCALE",
    "BN_MOMENTUM",
    "rel_error",
    "matches",
    "Mistake",
    "MistakeKind",
    "MISTAKE_KINDS",
    "kind_of",
    "Node",
    "Graph",
    "Case",
    "build_block",
    "find_roles",
    "judge_block",
    "explain_block",
    "momentum_notes",
    "build_resnet50",
    "resnet50_structure",
    "judge_resnet50",
    "verdict",
]

TOLERANCE = 1e-4
FLOOR_SCALE = 1e-3
# ResNet-50's layers sum up to 4,608 float32 products per output (the 7x7 stem: 147 on inputs
# in [0, 1], which all add up): float32 rounding reaches ~1e-4 on the floor there. Mistakes
# still change outputs by 10% or more.
RESNET50_TOLERANCE = 1e-3
# The notebooks' BN_MOMENTUM, in Keras' convention: moving = momentum * moving + (1 - momentum)
# * batch. PyTorch's momentum is the weight of the *new* batch, so its 0.1 is Keras' 0.9.
BN_MOMENTUM = 0.9


def rel_error(actual, expected) -> float:
    """CS231n relative error with the checks' floor (see the module docstring)."""
    expected = np.asarray(expected, dtype=np.float64)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    return ref.rel_error(actual, expected, floor=max(FLOOR_SCALE * scale, 1e-8))


def matches(actual, expected, tolerance: float = TOLERANCE) -> bool:
    actual, expected = np.asarray(actual), np.asarray(expected)
    return actual.shape == expected.shape and rel_error(actual, expected) < tolerance


@contextlib.contextmanager
def quiet():
    """No Python warnings from Keras/TensorFlow reach the notebook's stderr."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _keras():
    import_tensorflow()
    import keras

    return keras


class Mistake(AssertionError):
    """A check's verdict: the reason first, then details, then the case it was found in."""

    def __init__(self, reason: str, details=(), where: str | None = None):
        self.reason, self.details, self.where = reason, list(details), where
        super().__init__(self._text())

    def _text(self) -> str:
        text = self.reason + "".join(f"\n  - {d}" for d in self.details)
        return text + (f"\n(found with {self.where})" if self.where else "")

    def at(self, where: str) -> Mistake:
        """The same verdict, saying where it was found (if it does not say so yet)."""
        return self if self.where else Mistake(self.reason, self.details, where)

    @property
    def kind(self) -> MistakeKind | None:
        return kind_of(self.reason)


@dataclasses.dataclass(frozen=True)
class MistakeKind:
    """What a mistake is, whatever layer names and shapes its message holds: a stable
    identifier (reports group a class's failures by it), a short name for people, and the
    words every message of that kind says (a regular expression, searched in the message).

    The words are the message's own: this table is where a message is recognised, so a
    reworded message is a test failure (tests/corpus/index.py gives each mutant's kind), not a
    silently ungrouped mistake."""

    id: str
    name: str
    says: str


# Most specific first: :func:`kind_of` takes the first kind whose words the message says
# (a ResNet-50 message names the block, then the block's own mistake; a build failure quotes
# the error, which comes last). Messages of the engine's own (a timeout, an unfinished
# exercise) are not the diagnosis' and are not here.
MISTAKE_KINDS: tuple[MistakeKind, ...] = (
    # The block's structure, read from its graph.
    MistakeKind("shortcut-not-added", "the shortcut is not added", r"the shortcut is not added"),
    MistakeKind("adds-itself", "a tensor added to itself", r"adds a tensor to itself"),
    MistakeKind("bn-training-mode", "BatchNorm hard-wired to training mode",
                r"BatchNorm is hard-wired to training mode"),
    MistakeKind("main-path-length", "wrong number of convolutions on the main path",
                r"the main path must have \d+ convolutions"),
    MistakeKind("shortcut-should-be-identity", "a convolution on an identity shortcut",
                r"the shortcut must be X itself here"),
    MistakeKind("projection-missing", "no projection on the shortcut",
                r"the shortcut needs a projection"),
    MistakeKind("shortcut-conv-count", "more than one convolution on the shortcut",
                r"the shortcut must be one 1x1 conv"),
    MistakeKind("shortcut-reads-wrong", "the shortcut conv does not read the block's input",
                r"the shortcut conv must read the block's input X"),
    MistakeKind("shortcut-kernel", "the shortcut conv is not 1x1",
                r"the shortcut conv must have a \d+x\d+ kernel"),
    MistakeKind("shortcut-stride", "wrong stride on the shortcut conv",
                r"the shortcut conv must have stride"),
    MistakeKind("shortcut-filters", "wrong number of filters on the shortcut conv",
                r"the shortcut conv must have \d+ filters"),
    MistakeKind("conv-activation-relu", "ReLU inside the Conv2D (activation='relu')",
                r"has activation='relu': the ReLU must come after the BatchNorm"),
    MistakeKind("relu-before-bn", "ReLU before BatchNorm", r"the ReLU comes before the BatchNorm"),
    MistakeKind("add-before-last-bn", "shortcut added before the last BatchNorm",
                r"the shortcut is added before the last BatchNorm"),
    MistakeKind("shortcut-bn-missing", "BatchNorm missing on the shortcut",
                r"BatchNorm missing on the shortcut"),
    MistakeKind("bn-missing", "BatchNorm missing on the main path", r"BatchNorm missing after"),
    MistakeKind("filters-swapped", "filters F1 and F2 swapped",
                r"the filters F1 and F2 are swapped"),
    MistakeKind("kernel-size", "wrong kernel size on the main path",
                r"must have a \d+x\d+ kernel"),
    MistakeKind("filters", "wrong number of filters on the main path",
                r"wrong number of filters in conv"),
    MistakeKind("stride-misplaced", "the stride on the wrong convolution",
                r"the stride s=\d+ is on"),
    MistakeKind("stride", "wrong stride on the main path", r"of the main path \([^)]*\) must have stride"),
    MistakeKind("padding", "wrong padding", r"padding of the \w+ conv of the main path"),
    MistakeKind("dilated", "a dilated convolution", r"must not be dilated"),
    MistakeKind("bn-axis", "BatchNorm over the wrong axis", r"must normalise the channels"),
    # What the block computes, named by the reference with one mistake made on purpose.
    MistakeKind("relu-missing", "a ReLU missing on the main path", r"missing ReLU after the"),
    MistakeKind("relu-before-add", "ReLU applied before the addition",
                r"ReLU applied before the addition"),
    MistakeKind("add-after-relu", "shortcut added after the final ReLU",
                r"shortcut added after the final ReLU"),
    MistakeKind("final-relu-missing", "the final ReLU missing", r"missing the final ReLU"),
    MistakeKind("identity-probe", "the identity block does not pass its input through",
                r"the identity block must return its input unchanged"),
    MistakeKind("initializer-ignored", "the `initializer` argument not used",
                r"did not take its kernel from the `initializer`"),
    # ResNet-50.
    MistakeKind("flatten-missing", "Flatten missing before Dense", r"Flatten\(\) missing before"),
    MistakeKind("head-pool-too-large", "the head's pool window larger than the final map",
                r"cannot read the final map"),
    MistakeKind("resnet-output-shape", "ResNet-50's output shape",
                r"ResNet50's output shape is"),
    MistakeKind("stage-blocks", "wrong number of blocks in a stage",
                r"stage \d \(filters \[[\d, ]+\]\) has \d+ blocks"),
    MistakeKind("resnet-layers", "wrong layers in ResNet-50", r"expected \d+ (Conv2D|Batch|Add|Dense|Max)"),
    MistakeKind("stem", "the stem (padding, 7x7/2 conv, 3x3/2 max pool)",
                r"the stem (outputs|differs)|no ZeroPadding2D"),
    MistakeKind("stage-stride", "a stage's stride (a block's output shape)",
                r"stage \d, block \d+ outputs"),
    MistakeKind("dense-features", "Dense reads the wrong number of features",
                r"the Dense layer reads"),
    MistakeKind("resnet-params", "wrong number of parameters in ResNet-50",
                r"ResNet50 has [\d,]+ parameters"),
    MistakeKind("softmax", "outputs are not probabilities (softmax)",
                r"must be probabilities that sum to 1"),
    MistakeKind("head", "the head does not average each channel",
                r"the head must average each channel"),
    MistakeKind("shapes-differ-at-add", "main path and shortcut shapes differ at the addition",
                r"the main path and the shortcut (have different shapes|must have the same shape)"),
    MistakeKind("negative-size", "an output size would be negative (strides or pools)",
                r"output size would be negative"),
    MistakeKind("not-a-model", "ResNet50 does not return a keras.Model",
                r"ResNet50 must return a keras.Model"),
    MistakeKind("not-a-resnet50", "ResNet50() builds another network (no accuracy points)",
                r"does not build a ResNet-50"),
    MistakeKind("accuracy", "the trained network's accuracy below the threshold",
                r"classifies [\d.]+% of the hidden hand signs"),
    # What is left when no mistake made on purpose matches.
    MistakeKind("output-differs", "outputs differ from the reference (not named)",
                r"the output differs from the reference"),
    MistakeKind("block-output-shape", "the block's output shape", r"the output shape is"),
    MistakeKind("returns-wrong", "the block does not return its output tensor",
                r"must return the output tensor|the output is not computed from the input X"),
    MistakeKind("build-failed", "building failed with an error",
                r"building (the block )?failed with"),
    MistakeKind("check-crashed", "the check could not finish (the checking code failed)",
                r"the check could not finish"),
)


def kind_of(message: str) -> MistakeKind | None:
    """The kind of mistake ``message`` names (a check's message, whatever its context), or
    None where it is none of :data:`MISTAKE_KINDS`."""
    import re

    for kind in MISTAKE_KINDS:
        if re.search(kind.says, message):
            return kind
    return None


# What a student sees when the checking code itself fails: never its exception.
CHECK_CRASHED = ("the check could not finish on this code: the checking code failed, which "
                 "is not your mistake to debug. Compare your layers' kernel sizes, strides, "
                 "paddings and filters with the exercise's description; if they are right, "
                 "tell your instructor")


def verdict(run, crashed=None) -> None:
    """Run a check: print its summary (a line or a list of lines), or raise its message from
    here, so the traceback shows the reason and not the checking code's frames. An unwritten
    exercise stays a NotImplementedError (the grader calls that "unfinished", not a crash).

    Student code's exceptions are caught where it runs (building a block or ResNet-50) and
    named; any other exception is the checking code's own failure, which no student must see:
    it becomes ``crashed(exc)`` (the hidden checks: the grader's error) or an AssertionError
    saying the check could not finish."""
    __tracebackhide__ = True  # noqa: F841 - IPython hides this frame
    try:
        summary = run()
    except AssertionError as exc:
        error = AssertionError(str(exc))
    except NotImplementedError as exc:
        error = NotImplementedError(str(exc))
    except Exception as exc:  # noqa: BLE001 - the checking code's own failure
        error = crashed(exc) if crashed is not None else AssertionError(CHECK_CRASHED)
    else:
        print(summary if isinstance(summary, str) else "\n".join(summary))
        return None
    raise error


def _from_problems(problems: list[str], where=None) -> Mistake:
    return Mistake(problems[0], problems[1:], where)


# ============================================================================================
# The functional graph, read back from the output
# ============================================================================================


@dataclasses.dataclass(eq=False)
class Node:
    """One operation of the graph, as the checks see it.

    kind: "input", "conv", "bn", "relu", "add" or "other". Operations that compute the
    identity (``Activation("linear")``, ``Identity``) are skipped. A ``Conv2D`` with
    ``activation="relu"`` becomes a "conv" node followed by a "relu" node (with no layer).
    """

    kind: str
    layer: Any
    inputs: list[Node]
    kwargs: dict
    label: str
    shape: tuple | None = None  # the output's shape, batch as None
    tensor: Any = None  # the KerasTensor it outputs

    @property
    def training_arg(self):
        return self.kwargs.get("training", None)


def _is_relu_function(fn) -> bool:
    return getattr(fn, "__name__", None) == "relu"


def classify(op) -> str:
    """The kind of a Keras operation (layer or ops-level), see :class:`Node`."""
    keras = _keras()
    L = keras.layers
    if isinstance(op, L.InputLayer):
        return "input"
    if isinstance(op, L.Conv2D):
        return "conv"
    if isinstance(op, L.BatchNormalization):
        return "bn"
    name, module = type(op).__name__, type(op).__module__
    if isinstance(op, L.ReLU) or (name == "ReLU" and module.startswith("keras.src.activations")):
        plain = (getattr(op, "max_value", None) is None and not getattr(op, "negative_slope", 0)
                 and not getattr(op, "threshold", 0))
        return "relu" if plain else "other"
    if name == "Relu" and module.startswith("keras.src.ops"):
        return "relu"
    if isinstance(op, L.Activation):
        if _is_relu_function(op.activation):
            return "relu"
        return "identity" if getattr(op.activation, "__name__", None) == "linear" else "other"
    if isinstance(op, L.Add) or (name == "Add" and module.startswith("keras.src.ops")):
        return "add"
    if isinstance(op, L.Identity):
        return "identity"
    return "other"


class Graph:
    """The operations between the inputs and the given output tensors, as :class:`Node` s.

    Keras 3 records, on every ``KerasTensor``, ``_keras_history = (operation, node_index,
    tensor_index)``; ``operation._inbound_nodes[node_index]`` is the call that made it, with
    its ``input_tensors`` and ``arguments.kwargs`` (``training=...`` lives there). Layers
    (``Add()``, ``ReLU()``) and ops-level operations (``x + y``, ``keras.ops.relu``) are both
    recorded this way.
    """

    def __init__(self, outputs):
        self._memo: dict[int, Node] = {}
        self.outputs = [self._visit(t) for t in outputs]
        self._index(self._topological(self.outputs))
        self.inputs = [n for n in self.nodes if n.kind == "input"]

    def _index(self, nodes):
        self.nodes = nodes
        members = set(nodes)
        self.ancestors = {}
        for n in nodes:  # topological order: a node's inputs come first
            found = set()
            for p in n.inputs:
                if p in members:
                    found |= {p} | self.ancestors[p]
            self.ancestors[n] = found

    def _visit(self, tensor) -> Node:
        op, node_index, _ = tensor._keras_history
        keras_node = op._inbound_nodes[node_index]
        key = id(keras_node)
        if key in self._memo:
            return self._memo[key]
        inputs = [self._visit(t) for t in keras_node.input_tensors]
        kwargs = dict(getattr(keras_node.arguments, "kwargs", {}) or {})
        kind = classify(op)
        if kind == "add" and len(inputs) != 2:
            kind = "other"  # e.g. x + 1.0, or a three-way Add
        label = f"{type(op).__name__} '{getattr(op, 'name', '?')}'"
        if kind == "identity" and len(inputs) == 1:
            node = inputs[0]
        else:
            node = Node(kind, op, inputs, kwargs, label)
            activation = getattr(op.activation, "__name__", "linear") if kind == "conv" else None
            if activation == "relu":
                node = Node("relu", None, [node], {}, f"activation='relu' of {label}")
            elif activation not in (None, "linear"):
                node = Node("other", op, [node], {}, f"activation of {label}")
        if node.tensor is None:
            node.shape, node.tensor = tuple(tensor.shape), tensor
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

    def between(self, start: Node, end: Node) -> Graph:
        """The part of this graph that computes ``end`` from ``start`` (then its input)."""
        part = object.__new__(Graph)
        before = self.ancestors[start] | {start}
        part.outputs, part.inputs = [end], [start]
        part._index([start] + [n for n in self.nodes
                               if n not in before and (n is end or n in self.ancestors[end])])
        return part

    def of_kind(self, kind) -> list[Node]:
        return [n for n in self.nodes if n.kind == kind]

    def consumers(self, node: Node) -> list[Node]:
        return [n for n in self.nodes if node in n.inputs]

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


def graph_from_traceback(exc, skip=()) -> Graph | None:
    """The part of the graph the student's code had built when it raised.

    The student's frames (not Keras', TensorFlow's or the checks') still hold their tensors
    (X, X_shortcut, ...) in their locals; the graph is read back from those. When judged from
    a capture, the sandbox recorded them as ``exc.partial_outputs``.
    """
    from resnet_kit.capture import student_tensors

    tensors = getattr(exc, "partial_outputs", None) or student_tensors(
        exc, skip=(os.path.abspath(__file__), *skip))
    if not tensors:
        return None
    try:
        return Graph(tensors)
    except Exception:  # noqa: BLE001 - a diagnosis aid only
        return None


def _first_line(exc) -> str:
    """``Name: the first line that says something`` (Keras' "Exception encountered when
    calling X.call()." says only where; its reason is on a later line), without terminal
    colour codes."""
    import re

    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(exc).splitlines()]
    lines = [line for line in lines if line]
    said = next((line for line in lines if not line.startswith("Exception encountered when")),
                lines[0] if lines else "")
    return f"{type(exc).__name__}: {said}"


# ============================================================================================
# One block: its case, its structure, its roles
# ============================================================================================


@dataclasses.dataclass
class Case:
    """One way of calling a block: ``name(X, f=f, filters=filters, s=s)`` on X of batch_shape."""

    name: str
    batch_shape: tuple[int, int, int, int]
    f: int | None
    filters: Any  # [F1, F2, F3], or an int for the basic block
    s: int = 1

    @property
    def spec(self) -> ref.BlockSpec:
        if self.name == "identity_block":
            return ref.identity_spec(self.f, self.filters)
        if self.name == "convolutional_block":
            return ref.convolutional_spec(self.f, self.filters, self.s)
        return ref.basic_spec(self.batch_shape[-1], self.filters, self.s)

    def kwargs(self) -> dict:
        kw = {"f": self.f} if self.f is not None else {}
        kw["filters"] = self.filters
        if self.name != "identity_block":
            kw["s"] = self.s
        return kw

    def describe(self) -> str:
        args = ", ".join(f"{k}={v}" for k, v in self.kwargs().items())
        return f"{self.name}(X, {args}) on X of shape {self.batch_shape}"


def _ordinal(i: int) -> str:
    return ["first", "second", "third", "fourth"][i] if i < 4 else f"#{i + 1}"


def _conv_description(spec: ref.BlockSpec, i: int) -> str:
    k = spec.main[i].kernel
    size = "1x1" if k == 1 else "3x3" if spec.name == "basic_block" else f"fxf ({k}x{k})"
    return f"the {_ordinal(i)} conv of the main path ({size})"


def structure_problems(graph: Graph, spec: ref.BlockSpec) -> list[str]:
    """Differences between the graph's convolutions and what the block needs."""
    problems = []
    chain = graph.conv_chain()
    filters = [n.layer.filters for n in chain]
    wanted = [c.filters for c in spec.main]
    if (len(chain) == len(spec.main) >= 3 and wanted[0] != wanted[1]
            and filters[:2] == wanted[1::-1]):
        problems.append(f"the filters F1 and F2 are swapped: the first conv of the main path "
                        f"needs F1={wanted[0]} filters and the second F2={wanted[1]}, yours "
                        f"have {filters[0]} and {filters[1]}")
    for i, (node, want) in enumerate(zip(chain, spec.main)):
        layer, what = node.layer, _conv_description(spec, i)
        ks = tuple(layer.kernel_size)
        if ks != (want.kernel, want.kernel):
            problems.append(f"{what} must have a {want.kernel}x{want.kernel} kernel, "
                            f"{layer.name} has {ks[0]}x{ks[1]}")
        if layer.filters != want.filters and not (problems and "swapped" in problems[0]):
            problems.append(f"wrong number of filters in conv {i + 1} of the main path: "
                            f"expected {want.filters}, {layer.name} has {layer.filters}")
        if tuple(layer.strides) != (want.stride, want.stride):
            problems.append(f"{what} must have stride {want.stride}, {layer.name} has "
                            f"strides={tuple(layer.strides)}")
        if want.kernel > 1 and layer.padding != want.padding:
            problems.append(f"padding of {what} must be '{want.padding}', {layer.name} has "
                            f"padding='{layer.padding}'")
        if tuple(getattr(layer, "dilation_rate", (1, 1))) != (1, 1):
            problems.append(f"{what} must not be dilated")
    others = [n for n in graph.of_kind("conv") if n not in chain]
    want = spec.shortcut
    if want is not None and not others and len(chain) == len(spec.main):
        problems.append(f"the shortcut needs a projection here: a 1x1 conv with {want.filters} "
                        f"filters and stride {want.stride}, then BatchNorm (the shape changes"
                        + (": s != 1" if spec.s != 1 else ": the channels change") + ")")
    if want is not None and len(others) == 1:
        node = others[0]
        if not any(p in graph.inputs for p in node.inputs):
            problems.append(_shortcut_reads_wrong(node))
        ks = tuple(node.layer.kernel_size)
        if ks != (want.kernel, want.kernel):
            problems.append(f"the shortcut conv must have a {want.kernel}x{want.kernel} kernel "
                            f"(a projection: it only changes the channels and, with its "
                            f"stride, the size), {node.layer.name} has {ks[0]}x{ks[1]}")
        if tuple(node.layer.strides) != (want.stride, want.stride):
            problems.append(f"the shortcut conv must have stride {want.stride}, "
                            f"{node.layer.name} has strides={tuple(node.layer.strides)}")
        if node.layer.filters != want.filters:
            problems.append(f"the shortcut conv must have {want.filters} filters (F3), "
                            f"{node.layer.name} has {node.layer.filters}")
    return problems


def _shortcut_reads_wrong(node: Node) -> str:
    src = node.inputs[0].label if node.inputs else "nothing"
    return (f"the shortcut conv must read the block's input X: {node.label} reads the output "
            f"of {src}. Save X_shortcut = X before the main path changes X, and apply the "
            "shortcut conv to X_shortcut")


@dataclasses.dataclass
class Roles:
    chain: list[Node]
    bns: list[Node]
    shortcut_conv: Node | None
    shortcut_bn: Node | None

    def weights(self) -> ref.BlockWeights:
        return ref.BlockWeights(
            main_convs=[_conv_record(c.layer) for c in self.chain],
            main_bns=[_bn_record(b.layer) for b in self.bns],
            shortcut_conv=_conv_record(self.shortcut_conv.layer) if self.shortcut_conv else None,
            shortcut_bn=_bn_record(self.shortcut_bn.layer) if self.shortcut_bn else None,
        )


def hard_wired(graph: Graph) -> list[str]:
    return [n.layer.name for n in graph.of_kind("bn") if n.training_arg is True]


def hard_wired_reason(names: list[str]) -> str:
    listed = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
    return ("BatchNorm is hard-wired to training mode (pass training=training, or nothing): "
            "called without a training argument the network must use the moving averages "
            f"(inference mode), but {listed} were called with training=True")


def find_roles(graph: Graph, spec: ref.BlockSpec) -> Roles:
    """Find the main-path convs/BNs and the shortcut; raise :class:`Mistake` where the
    structure alone shows what is wrong."""
    adds = graph.of_kind("add")
    if not adds:
        raise Mistake("the shortcut is not added: the block must end with ReLU(main path + "
                      "shortcut), e.g. Add()([X, X_shortcut]) or X + X_shortcut")
    for add in adds:
        if add.inputs[0] is add.inputs[1]:
            raise Mistake(f"{add.label} adds a tensor to itself (like Add()([X, X])): add the "
                          "main path and the shortcut, Add()([X, X_shortcut])")
    wired = hard_wired(graph)
    if wired:
        raise Mistake(hard_wired_reason(wired))
    chain = graph.conv_chain()
    n = len(spec.main)
    others = [c for c in graph.of_kind("conv") if c not in chain]
    if len(chain) != n:
        raise Mistake(f"the main path must have {n} convolutions one after the other, found "
                      f"{len(chain)}" + (": the shortcut conv must read X, not the main "
                                         "path" if spec.shortcut and len(chain) > n else ""))
    if spec.shortcut is None and others:
        raise Mistake(f"the shortcut must be X itself here (no convolution), found "
                      f"{', '.join(c.label for c in others)} outside the main path")
    if spec.shortcut is not None and len(others) != 1:
        if not others:
            raise _from_problems(structure_problems(graph, spec))
        raise Mistake(f"the shortcut must be one 1x1 conv with stride {spec.s} followed by "
                      f"BatchNorm; found {len(others)} convolutions off the main path")
    if spec.shortcut is not None and not any(p in graph.inputs for p in others[0].inputs):
        raise Mistake(_shortcut_reads_wrong(others[0]))
    for node in graph.of_kind("bn"):
        src = node.inputs[0]
        if src.kind == "relu" and src.layer is None:
            conv = src.inputs[0].layer
            raise Mistake(f"{src.inputs[0].label} has activation='relu': the ReLU must come "
                          "after the BatchNorm (conv -> BatchNorm -> ReLU), leave the Conv2D's "
                          f"activation at None ({conv.name})")
        if src.kind == "relu" and src.inputs[0].kind == "conv":
            raise Mistake(f"the ReLU comes before the BatchNorm ({src.label} between "
                          f"{src.inputs[0].label} and {node.label}): the order is conv -> "
                          "BatchNorm -> ReLU")
        if src.kind == "add":
            raise Mistake(f"the shortcut is added before the last BatchNorm ({node.label} "
                          "reads the sum): add the shortcut to BN(last conv), then apply ReLU")
    problems, bns = [], []
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
        raise _from_problems(problems)

    # Kernel shapes: the window size and the number of filters are part of the block.
    shape_problems = [p for p in structure_problems(graph, spec)
                      if "kernel" in p or "filters" in p]
    for bn in bns + [shortcut_bn]:
        if bn is None:
            continue
        axis = bn.layer.axis
        axes = list(axis) if isinstance(axis, (list, tuple)) else [axis]
        if axes not in ([3], [-1]):
            shape_problems.append(f"BatchNormalization {bn.layer.name} must normalise the "
                                  f"channels: use axis=3 (it has axis={axis})")
    if shape_problems:
        raise _from_problems(shape_problems)
    return Roles(chain, bns, shortcut_conv, shortcut_bn)


# --- weights ----------------------------------------------------------------------------------


def randomise(graph: Graph, rng) -> None:
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
        values = {"gamma": rng.uniform(0.5, 1.5, c), "beta": rng.standard_normal(c) * 0.3,
                  "moving_mean": rng.standard_normal(c) * 0.3,
                  "moving_variance": rng.uniform(0.5, 2.0, c)}
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


# --- mistakes made on purpose -----------------------------------------------------------------


def mistakes(spec: ref.BlockSpec, w: ref.BlockWeights) -> list[tuple[str, dict]]:
    """(name of the mistake, keywords of :func:`resnet_kit.reference.block_forward`)."""
    n = len(spec.main)
    found = []
    if spec.s != 1:
        for i in range(1, n):
            strides = [1] * n
            strides[i] = spec.s
            found.append((f"the stride s={spec.s} is on {_conv_description(spec, i)}, it "
                          f"belongs on {_conv_description(spec, 0)}", {"strides": strides}))
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


def _outputs(model, x):
    # Order matters: a training-mode call updates the BatchNorm moving averages.
    inference = np.asarray(model(x, training=False))
    default = np.asarray(model(x))
    training = np.asarray(model(x, training=True))
    return inference, default, training


def _reference(graph: Graph, x, w: ref.BlockWeights, spec: ref.BlockSpec, *, training: bool):
    """The reference block on the student's weights. The reference applies each of them as the
    block needs (a 1x1 shortcut: 'valid'); where their shapes do not fit together so, a layer
    has the wrong shape: that is the student's mistake, named from the graph."""
    try:
        return ref.block_forward(x, w, spec, training=training)
    except ValueError:
        problems = structure_problems(graph, spec) or [
            "the layers' kernels do not fit together as the block's: check each conv's kernel "
            "size, filters and stride against the block's description"]
        raise _from_problems(problems) from None


def compare_block(model, graph: Graph, spec: ref.BlockSpec, roles: Roles, x) -> None:
    """Raise :class:`Mistake` unless the model computes the block with its current weights."""
    w = roles.weights()
    inference, default, training = _outputs(model, x)
    want_inf = _reference(graph, x, w, spec, training=False)
    want_train = _reference(graph, x, w, spec, training=True)
    ok_inf, ok_train = matches(inference, want_inf), matches(training, want_train)
    if ok_inf and ok_train and matches(default, want_inf):
        return
    if ok_inf and ok_train:  # only the call without a training argument is off
        raise Mistake("BatchNorm is hard-wired to training mode (pass training=training, or "
                      "nothing): called without a training argument the block must use the "
                      "moving averages (inference mode), but it normalises with batch "
                      "statistics")
    for message, changes in mistakes(spec, w):
        try:
            m_inf = ref.block_forward(x, w, spec, training=False, **changes)
            m_train = ref.block_forward(x, w, spec, training=True, **changes)
        except ValueError:  # shapes do not fit together for this mistake
            continue
        if matches(m_inf, want_inf) and matches(m_train, want_train):
            continue  # the mistake makes no difference in this case
        if matches(inference, m_inf) and matches(training, m_train):
            raise Mistake(message)
    problems = structure_problems(graph, spec)
    others = [n.label for n in graph.nodes if n.kind == "other"]
    if others:
        problems.append(f"unexpected operations in the block: {', '.join(others)}")
    raise Mistake(
        "the output differs from the reference: check the order conv -> BatchNorm -> ReLU, "
        "the strides, the paddings and where the shortcut is added (rel_error: inference "
        f"{rel_error(inference, want_inf):.2g}, training {rel_error(training, want_train):.2g}; "
        f"tolerance {TOLERANCE:g})", problems)


# --- building and judging a block -------------------------------------------------------------


def build_block(fn, case: Case, skip=(), **extra):
    """``keras.Model`` of ``fn`` on the case's symbolic input; :class:`Mistake` if it fails."""
    keras = _keras()
    where = case.describe()
    X = keras.Input(shape=case.batch_shape[1:])
    try:
        with quiet():
            out = fn(X, **case.kwargs(), **extra)
    except NotImplementedError:
        raise NotImplementedError(f"{case.name} is not written yet: replace `raise "
                                  "NotImplementedError()` with your code") from None
    except Exception as exc:  # noqa: BLE001 - any failure of student code is reported
        graph = graph_from_traceback(exc, skip)
        problems = structure_problems(graph, case.spec) if graph is not None else []
        if not problems and "shape" in str(exc).lower():
            problems.append("the main path and the shortcut must have the same shape when "
                            "they are added: check kernel sizes, paddings, strides and the "
                            "number of filters of each conv")
        reason = f"building the block failed with {_first_line(exc)}"
        raise (Mistake(problems[0], problems[1:] + [reason], where) if problems
               else Mistake(reason, where=where)) from None
    if isinstance(out, (list, tuple)) and len(out) == 1:
        out = out[0]
    if not isinstance(out, keras.KerasTensor):
        raise Mistake(f"{case.name} must return the output tensor of the block (a Keras "
                      f"tensor), it returned {type(out).__name__}", where=where)
    try:
        with quiet():
            model = keras.Model(X, out)
    except Exception as exc:  # noqa: BLE001
        raise Mistake(f"the output is not computed from the input X ({_first_line(exc)})",
                      where=where) from None
    return model


def expected_shape(case: Case) -> tuple:
    _, h, w, _ = case.batch_shape
    s = case.spec.s
    return (None, -(-h // s), -(-w // s), case.spec.main[-1].filters)


def judge_block(model, case: Case, rng) -> Roles:
    """Shape, structure and values of one built block; raise :class:`Mistake` if wrong."""
    where = case.describe()
    graph = Graph(model.outputs)
    got, want = tuple(model.output.shape), expected_shape(case)
    try:
        if got != want:
            problems = structure_problems(graph, case.spec)
            detail = f"the output shape is {got}, expected {want}"
            if problems:
                raise Mistake(problems[0], problems[1:] + [detail])
            raise Mistake(detail + ": check the strides (s on the first conv of the main path "
                          "and on the shortcut), the paddings and the filters")
        roles = find_roles(graph, case.spec)
        randomise(graph, rng)
        x = rng.standard_normal(case.batch_shape).astype("float32")
        with quiet():
            compare_block(model, graph, case.spec, roles, x)
    except Mistake as m:
        raise m.at(where) from None
    return roles


def explain_block(model, case: Case) -> Mistake | None:
    """What :func:`judge_block` says about a built block (its weights are changed), or None."""
    try:
        judge_block(model, case, np.random.default_rng(0))
    except Mistake as m:
        return m
    return None


def momentum_notes(model, expected: float = BN_MOMENTUM) -> list[str]:
    """A line for each BatchNormalization momentum other than the notebooks' BN_MOMENTUM, with
    the layers that use it (one line, not 53, for a ResNet-50 built with Keras' default)."""
    keras = _keras()
    by_momentum: dict[float, list[str]] = {}
    for layer in _layers(model):
        if isinstance(layer, keras.layers.BatchNormalization) and not np.isclose(
                layer.momentum, expected):
            by_momentum.setdefault(float(layer.momentum), []).append(f"'{layer.name}'")
    notes = []
    for momentum, names in by_momentum.items():
        hint = (" (0.1 is PyTorch's convention, where momentum weighs the new batch; in "
                "Keras it weighs the old average, so PyTorch's 0.1 is Keras' 0.9)"
                if np.isclose(momentum, 0.1) else "")
        which = (f"BatchNormalization {names[0]} has" if len(names) == 1 else
                 f"{len(names)} BatchNormalization layers ({', '.join(names[:3])}"
                 f"{', ...' if len(names) > 3 else ''}) have")
        notes.append(f"{which} momentum={momentum:g}, the notebook uses "
                     f"momentum=BN_MOMENTUM ({expected:g}){hint}")
    return notes


def _layers(model) -> list:
    """Every layer of a functional model, nested models included (public API only)."""
    keras = _keras()
    found = []
    for layer in model.layers:
        found += _layers(layer) if isinstance(layer, keras.Model) else [layer]
    return found


# ============================================================================================
# ResNet-50
# ============================================================================================


def _operation_counts(model) -> dict[str, int]:
    keras = _keras()
    L = keras.layers
    kinds = {"Conv2D": L.Conv2D, "BatchNormalization": L.BatchNormalization, "Dense": L.Dense,
             "MaxPooling2D": L.MaxPooling2D}
    counts = dict.fromkeys(arch.resnet50_layer_counts(), 0)
    for op in model.operations:
        for kind, cls in kinds.items():
            if isinstance(op, cls):
                counts[kind] += 1
        if classify(op) == "add":
            counts["Add"] += 1
    return counts


def _stage_of(channels: int):
    return next((s for s in arch.STAGES if s.filters[-1] == channels), None)


def _stage_counts(graph: Graph) -> list[str]:
    """'stage 4 has 5 blocks, expected 6', from the channels each block outputs."""
    found = {}
    for add in graph.of_kind("add"):
        stage = _stage_of(add.shape[-1])
        if stage is not None:
            found[stage.number] = found.get(stage.number, 0) + 1
    return [f"stage {s.number} (filters {list(s.filters)}) has {found.get(s.number, 0)} "
            f"blocks, expected {s.blocks}" for s in arch.STAGES
            if found.get(s.number, 0) != s.blocks]


def build_resnet50(fn, skip=()):
    """``fn(input_shape=..., classes=...)``; :class:`Mistake` saying which stage failed."""
    keras = _keras()
    try:
        with quiet():
            model = fn(input_shape=arch.INPUT_SHAPE, classes=arch.CLASSES)
    except NotImplementedError:
        raise NotImplementedError("ResNet50 is not written yet: replace `raise "
                                  "NotImplementedError()` with your code") from None
    except Exception as exc:  # noqa: BLE001
        raise _build_failure(exc, skip) from None
    if not isinstance(model, keras.Model):
        raise Mistake(f"ResNet50 must return a keras.Model, got {type(model).__name__}")
    return model


def _build_failure(exc, skip) -> Mistake:
    graph = graph_from_traceback(exc, skip)
    error = _first_line(exc)
    reason = ("output size would be negative" if "negative" in str(exc).lower()
              else f"building failed with {error}")
    blocks = arch.resnet50_blocks()
    done = len(graph.of_kind("add")) if graph is not None else None
    if done is not None and done >= len(blocks):
        # Every block was built: a block with the wrong output shape, else the head's layer.
        mistake = _block_shapes_mistake(graph) or _head_failure(exc, graph)
        if mistake is not None:
            return Mistake(mistake.reason, mistake.details + [error])
    if done is None or done >= len(blocks):
        return Mistake(f"ResNet50: {reason}", [error] if reason != f"building failed with {error}"
                       else [])
    block = blocks[done]
    last = graph.of_kind("add")[-1].shape if done else None
    expected_in = (None, *block.in_shape)
    if last is None or tuple(last) == expected_in:
        # The block got the right input and failed inside: the block's own code is at fault.
        if "incompatible shapes" in str(exc):
            reason = "the main path and the shortcut have different shapes at the addition"
        return Mistake(f"{block.where}: {reason}", [
            error, f"the block reads {expected_in}, as it should: check its strides, filters "
            "and the shortcut (the block's own check in notebook 1 names the mistake)"])
    details = [f"{block.where} reads {last}, expected {expected_in}",
               error, "check the strides of each stage: " + arch.stage_summary()]
    return Mistake(f"stage {block.stage.number}: {reason}", details)


def resnet50_structure(model) -> Mistake | None:
    """Output shape, layer counts, stem and every block's output shape, stage by stage."""
    keras = _keras()
    reason = output_shape_problem(model)
    if reason is not None:
        return Mistake(reason)
    graph = Graph(model.outputs)
    counts = _operation_counts(model)
    problems = [f"expected {n} {kind} ({why}), found {counts[kind]}"
                for kind, (n, why) in arch.resnet50_layer_counts().items() if counts[kind] != n]
    if problems:
        reasons = _stage_counts(graph) + [f"wrong layers: {p}" for p in problems]
        return _from_problems(reasons)
    stem_shape = (None, *arch.stem_output_shape())
    for op in model.operations:
        if isinstance(op, keras.layers.MaxPooling2D) and tuple(op.output.shape) != stem_shape:
            return Mistake(f"the stem outputs {tuple(op.output.shape)}, expected {stem_shape}: "
                           + "; ".join(_stem_problems(model) or [
                               "check ZeroPadding2D((3, 3)), the 7x7/2 conv and the 3x3/2 "
                               "pooling"]))
    mistake = _block_shapes_mistake(graph)
    if mistake is not None:
        return mistake
    dense = [op for op in model.operations if isinstance(op, keras.layers.Dense)][0]
    channels = arch.STAGES[-1].filters[-1]
    if dense.kernel.shape[0] != channels:
        return Mistake(f"the Dense layer reads {dense.kernel.shape[0]} features, expected "
                       f"{channels}: average each channel over the final "
                       f"{arch.resnet50_blocks()[-1].out_shape[:2]} map (GlobalAveragePooling2D(), "
                       "or AveragePooling2D((2, 2)) then Flatten()) before Dense")
    return None


def output_shape_problem(model) -> str | None:
    """Why ResNet-50's output is not one probability per class, naming the layer at fault
    (None when its shape is right)."""
    keras = _keras()
    out_shape = tuple(model.output.shape) if len(model.outputs) == 1 else None
    if out_shape == (None, arch.CLASSES):
        return None
    dense = [op for op in model.operations if isinstance(op, keras.layers.Dense)]
    if out_shape is not None and dense and len(dense[-1].input.shape) > 2:
        layer = dense[-1]
        return (f"Flatten() missing before Dense '{layer.name}': it reads "
                f"{tuple(layer.input.shape)}, a map, so it classifies each position on its own "
                f"and ResNet50's output shape is {out_shape}, expected {(None, arch.CLASSES)}. "
                "Average each channel over the final map, then Flatten() (or "
                "GlobalAveragePooling2D(), which does both) before Dense(classes)")
    return (f"ResNet50's output shape is {out_shape}, expected {(None, arch.CLASSES)}: one "
            "probability per class, from Dense(classes) after the pooling")


def _stem_problems(model) -> list[str]:
    """Each stem layer (ZeroPadding2D, the 7x7 conv, the max pool) that differs from the
    stem's, by name."""
    keras = _keras()
    L, stem = keras.layers, arch.STEM
    ops = model.operations
    pads = [op for op in ops if isinstance(op, L.ZeroPadding2D)]
    conv = next((op for op in ops if isinstance(op, L.Conv2D)), None)
    pool = next((op for op in ops if isinstance(op, L.MaxPooling2D)), None)
    problems = []
    want_pad = ((stem.pad, stem.pad), (stem.pad, stem.pad))
    if not pads:
        problems.append(f"no ZeroPadding2D(({stem.pad}, {stem.pad})) before the stem's "
                        f"{stem.kernel}x{stem.kernel} conv")
    elif tuple(map(tuple, pads[0].padding)) != want_pad:
        problems.append(f"ZeroPadding2D '{pads[0].name}' pads {pads[0].padding}, expected "
                        f"({stem.pad}, {stem.pad})")
    wanted = []  # (layer, how the message names it, attribute, expected value)
    if conv is not None:
        named = f"the stem's conv '{conv.name}'"
        wanted += [(conv, named, "kernel_size", (stem.kernel,) * 2),
                   (conv, named, "strides", (stem.stride,) * 2), (conv, named, "padding", "valid")]
    if pool is not None:
        named = f"MaxPooling2D '{pool.name}'"
        wanted += [(pool, named, "pool_size", (stem.pool,) * 2),
                   (pool, named, "strides", (stem.pool_stride,) * 2),
                   (pool, named, "padding", "valid")]
    for layer, named, attribute, want in wanted:
        got = getattr(layer, attribute)
        got = tuple(got) if isinstance(got, (list, tuple)) else got
        if got != want:
            problems.append(f"{named} has {attribute}={got!r}, expected {want!r}")
    return problems


def _block_shapes_mistake(graph: Graph) -> Mistake | None:
    """The first block whose output shape is wrong, with the convolutions whose strides
    differ from the block's (by name); None when every block built has its shape."""
    keras = _keras()
    adds = graph.of_kind("add")
    pools = [n for n in graph.nodes if isinstance(n.layer, keras.layers.MaxPooling2D)]
    before = pools[0] if pools else None
    for node, block in zip(adds, arch.resnet50_blocks()):
        want = (None, *block.out_shape)
        if node.shape != want:
            inside = [n for n in graph.ancestors[node] if n.kind == "conv" and (
                before is None or (n is not before and n not in graph.ancestors[before]))]
            wrong = sorted(f"'{n.layer.name}' has strides={tuple(n.layer.strides)}"
                           for n in inside if max(n.layer.strides) > 1
                           and tuple(n.layer.strides) != (block.spec.s, block.spec.s))
            strided = (f"in this block, {', '.join(wrong)}, but the block's stride is "
                       f"s={block.spec.s}" + (" (the stem's max pool has already halved the "
                                              "map)" if block.stage.number == 2 else "") + "; "
                       if wrong else "")
            return Mistake(f"{block.where.split(' (')[0]} outputs {node.shape}, expected {want}: "
                           f"{strided}the first block of each stage is a convolutional block "
                           "with its stride; " + arch.stage_summary())
        before = node
    return None


def _head_failure(exc, graph: Graph) -> Mistake | None:
    """A pooling layer after the last block that cannot read the final map: its call, its
    window and the map it was given. Read from Keras' message (``Exception encountered when
    calling AveragePooling2D.call() ... pool_size=[7 7] ... padding=valid``), which is all a
    capture keeps of the exception."""
    import re

    text = str(exc)
    called = re.search(r"when calling (\w*Pooling2D)\.call\(\)", text)
    size = re.search(r"pool_size=\[(\d+) (\d+)\]", text)
    if not (called and size and "negative" in text):
        return None
    padding = re.search(r"padding=(\w+)", text)
    final = arch.resnet50_blocks()[-1].out_shape
    got = graph.of_kind("add")[-1].shape
    return Mistake(f"{called.group(1)}(({size.group(1)}, {size.group(2)})"
                   + (f", padding='{padding.group(1)}'" if padding else "") + ") after the last "
                   f"block cannot read the final map {got}: its window is larger than the map. A "
                   "7x7 pool is ResNet-50's on 224x224 images; here the final map is "
                   f"{final[0]}x{final[1]}: average each channel over it with "
                   f"AveragePooling2D(({final[0]}, {final[1]})) then Flatten(), or "
                   "GlobalAveragePooling2D()")


def resnet50_param_counts(model) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """((total, trainable, non-trainable) found, the same expected): a bias in each conv or
    none (use_bias=False) are both right."""
    keras = _keras()
    total = model.count_params()
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    got = (total, trainable, total - trainable)
    no_bias, non_trainable = arch.resnet50_params(bias=False)
    biases = sum(op.filters for op in model.operations
                 if isinstance(op, keras.layers.Conv2D) and op.use_bias)
    want_total = no_bias + biases
    return got, (want_total, want_total - non_trainable, non_trainable)


def params_message(got, want) -> str:
    with_bias, _ = arch.resnet50_params()
    no_bias, _ = arch.resnet50_params(bias=False)
    return (f"ResNet50 has {got[0]:,} parameters ({got[1]:,} trainable, {got[2]:,} "
            f"non-trainable), expected {want[0]:,} ({want[1]:,} trainable, {want[2]:,} "
            f"non-trainable; {with_bias:,} in all with a bias in every conv, {no_bias:,} with "
            "use_bias=False): check the filters of each stage, f=3 and the Dense layer")


def judge_resnet50(model, rng) -> None:
    """ResNet-50's structure, then what it computes, block by block (weights are changed)."""
    mistake = resnet50_structure(model)
    if mistake is not None:
        raise mistake
    got, want = resnet50_param_counts(model)
    if got != want:
        raise Mistake(params_message(got, want))
    graph = Graph(model.outputs)
    wired = hard_wired(graph)
    if wired:
        raise Mistake(hard_wired_reason(wired))
    randomise(graph, rng)
    x = rng.uniform(0, 1, (2, *arch.INPUT_SHAPE)).astype("float32")
    with quiet():
        inference, default = np.asarray(model(x, training=False)), np.asarray(model(x))
        if not matches(default, inference):
            raise Mistake("BatchNorm is hard-wired to training mode (pass training=training, or "
                          "nothing): called without a training argument the model must use "
                          "the moving averages")
        sums = inference.sum(axis=1)
        if np.any(inference < 0) or not np.allclose(sums, 1.0, atol=1e-4):
            raise Mistake("ResNet50's outputs must be probabilities that sum to 1 (softmax on "
                          f"the last Dense layer); the sums are {sums}")
        _compare_resnet50(model, graph, x)


def _compare_resnet50(model, graph: Graph, x) -> None:
    keras = _keras()
    adds = graph.of_kind("add")
    pool = next(n for n in graph.nodes
                if isinstance(n.layer, keras.layers.MaxPooling2D))
    outs = []
    for add in adds:
        after = graph.consumers(add)
        outs.append(after[0] if len(after) == 1 and after[0].kind == "relu" else add)
    ins = [pool] + outs[:-1]
    probe = keras.Model(model.inputs, [pool.tensor] + [o.tensor for o in outs] + model.outputs)
    bns = [n.layer for n in graph.of_kind("bn")]
    saved = [(np.asarray(b.moving_mean), np.asarray(b.moving_variance)) for b in bns]
    values = {mode: [np.asarray(v) for v in probe(x, training=mode == "training")]
              for mode in ("inference", "training")}
    for b, (mean, variance) in zip(bns, saved):  # undo the training call's update
        b.moving_mean.assign(mean)
        b.moving_variance.assign(variance)

    stem_conv = graph.of_kind("conv")[0]
    stem_bn = graph.bn_after(stem_conv)
    for mode, vals in values.items():
        training = mode == "training"
        h = ref.zero_pad(x, arch.STEM.pad)
        c = _conv_record(stem_conv.layer)
        h = ref.conv2d(h, c.kernel, c.bias, stride=arch.STEM.stride)
        if stem_bn is not None:
            b = _bn_record(stem_bn.layer)
            h = ref.batchnorm(h, b.gamma, b.beta, b.moving_mean, b.moving_variance, b.epsilon,
                              training=training)
        h = ref.max_pool2d(ref.relu(h), arch.STEM.pool, arch.STEM.pool_stride)
        if stem_bn is None or not matches(vals[0], h, RESNET50_TOLERANCE):
            raise Mistake(f"the stem differs from ZeroPadding2D(({arch.STEM.pad}, "
                          f"{arch.STEM.pad})) -> Conv2D({arch.STEM.filters}, 7x7, stride 2) -> "
                          "BatchNorm -> ReLU -> MaxPooling2D((3, 3), strides=(2, 2)) "
                          f"(training={training})")

    for k, (block, start, end) in enumerate(zip(arch.resnet50_blocks(), ins, outs)):
        part = graph.between(start, end)
        try:
            roles = find_roles(part, block.spec)
            w = roles.weights()
            for mode, vals in values.items():
                training = mode == "training"
                got, block_in = vals[k + 1], vals[k]
                want = _reference(part, block_in, w, block.spec, training=training)
                if not matches(got, want, RESNET50_TOLERANCE):
                    _name_block_mistake(part, block.spec, w, block_in, got, training)
        except Mistake as m:
            raise Mistake(f"{block.where}: {m.reason}", m.details) from None

    dense = next(op for op in model.operations if isinstance(op, keras.layers.Dense))
    for mode, vals in values.items():
        pooled = ref.global_average_pool(vals[-2])
        logits = ref.dense(pooled, np.asarray(dense.kernel),
                           np.asarray(dense.bias) if dense.use_bias else None)
        if not matches(vals[-1], ref.softmax(logits), RESNET50_TOLERANCE):
            raise Mistake("the head must average each channel over the final map (global "
                          "average pooling: GlobalAveragePooling2D(), or AveragePooling2D((2, "
                          "2)) then Flatten()), then apply Dense(classes, activation='softmax')")


def _name_block_mistake(graph, spec, w, x, got, training) -> None:
    for message, changes in mistakes(spec, w):
        try:
            mutant = ref.block_forward(x, w, spec, training=training, **changes)
        except ValueError:
            continue
        if matches(got, mutant, RESNET50_TOLERANCE):
            raise Mistake(message)
    raise Mistake(f"the output differs from the reference block (training={training}, "
                  f"rel_error {rel_error(got, ref.block_forward(x, w, spec, training=training)):.2g})",
                  structure_problems(graph, spec))
