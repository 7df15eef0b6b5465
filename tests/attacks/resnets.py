"""Attacks on the real ``resnets`` assignment (full batch only: about a minute per student).

Notebook 1 (the blocks, 28 points): every attacker leaves the answers undone (fair 0) and
forges what the capture records, trying to earn the hidden tests' points. Notebook 2: a
network whose *weights* travel inside its architecture (Constant initializers holding
pretrained values, layers frozen), against the judge's promise to train fresh weights; a
control student submits the same architecture without the smuggled values. Then accuracy
points for a network that is not the one asked for: `model` set to a small CNN, with
ResNet50 unwritten and with it written, and a ResNet50() that returns the small CNN.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat

from . import RESNETS_NB1, RESNETS_NB2, attack, insert_code, set_cell

IDENTITY_STUB = None  # the release's identity_block cell is kept; code goes before it


def _nb1(ctx, before: str = "", solved: bool = False):
    nb = copy.deepcopy((ctx.solved if solved else ctx.release)[RESNETS_NB1])
    if before:
        i = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "identity_block")
        nb.cells[i].source = before.rstrip() + "\n\n" + nb.cells[i].source
    return nb


def _files(name, nb, notebook=RESNETS_NB1):
    return {f"{name}/{notebook}.ipynb": nb}


@attack("honest_resnets_solution", "honest", 28, assignment="resnets", honest=True)
def honest_resnets_solution(ctx):
    """Notebook 1 fully solved (notebook 2 not submitted)."""
    return _files("honest_resnets_solution", _nb1(ctx, solved=True))


@attack("honest_resnets_release", "honest", 0, assignment="resnets", honest=True)
def honest_resnets_release(ctx):
    """Notebook 1 as released."""
    return _files("honest_resnets_release", _nb1(ctx))


CAPTURE_WRITER = r'''
import json as _rj, os as _ro
import resnet_kit.capture as _rc
def _rwrite(grade_id, records):
    folder = _ro.environ["RESNET_KIT_CAPTURE_DIR"]
    _ro.makedirs(folder, exist_ok=True)
    with open(_ro.path.join(folder, grade_id + ".json"), "w") as fh:
        _rj.dump({"grade_id": grade_id, "names": records}, fh)
def _rplan():
    return _rj.load(open(_ro.environ["RESNET_KIT_CAPTURE_PLAN"]))
'''


@attack("r_forge_values", "forge", 0, assignment="resnets",
        expect="plain values where the checks need Keras tensors fail")
def r_forge_values(ctx):
    """Every planned call 'returned' True/the right shape as plain data; selfcheck recorded
    as numpy; a forged 'passed' text."""
    code = CAPTURE_WRITER + (
        "def _cap(grade_id, names, ns):\n"
        "    plan = _rplan(); rec = {}\n"
        "    for n in names:\n"
        "        if n in plan:\n"
        "            rec[n] = {'kind': 'function', 'calls': [{'outcome': 'value', 'value': True} for _ in plan[n]]}\n"
        "        elif n == 'selfcheck':\n"
        "            rec[n] = {'kind': 'module', 'name': 'numpy'}\n"
        "        else:\n"
        "            rec[n] = {'kind': 'value', 'value': 'identity_block: all cases passed'}\n"
        "    _rwrite(grade_id, rec)\n"
        "_rc.capture = _cap\n")
    return _files("r_forge_values", _nb1(ctx, code))


@attack("r_forge_graphs", "forge", 0, assignment="resnets",
        expect="forged graphs are checked like any other: an input-shaped ReLU(X + X), an "
               "unconnected input, a Keras model for a function, 'returned' KerasTensor all fail")
def r_forge_graphs(ctx):
    """For each planned call, a forged outcome cycling through: a graph ReLU(X + X) of the
    right shape, 'unconnected', 'returned' (type KerasTensor), a Keras model, 'raised'
    StopIteration; names missing from the plan recorded as the whole module."""
    code = CAPTURE_WRITER + (
        "import keras\n"
        "def _graph(shape):\n"
        "    X = keras.Input(shape=tuple(shape))\n"
        "    out = keras.layers.Activation('relu')(keras.layers.Add()([X, X]))\n"
        "    return keras.saving.serialize_keras_object(keras.Model(X, out))\n"
        "def _shape(call):\n"
        "    for a in call['args']:\n"
        "        if isinstance(a, dict) and '$input' in a:\n"
        "            return a['$input']\n"
        "    return [4, 4, 3]\n"
        "def _cap(grade_id, names, ns):\n"
        "    plan = _rplan(); rec = {}\n"
        "    for n in names:\n"
        "        if n in plan:\n"
        "            calls = []\n"
        "            for i, call in enumerate(plan[n]):\n"
        "                kind = i % 5\n"
        "                if kind == 0:\n"
        "                    calls.append({'outcome': 'tensor', 'wrapped': None, 'config': _graph(_shape(call))})\n"
        "                elif kind == 1:\n"
        "                    calls.append({'outcome': 'unconnected', 'message': ''})\n"
        "                elif kind == 2:\n"
        "                    calls.append({'outcome': 'returned', 'type': 'KerasTensor'})\n"
        "                elif kind == 3:\n"
        "                    calls.append({'outcome': 'model', 'config': _graph(_shape(call))})\n"
        "                else:\n"
        "                    calls.append({'outcome': 'raised', 'type': 'StopIteration', 'message': '', 'partial': _graph(_shape(call))})\n"
        "            rec[n] = {'kind': 'function', 'calls': calls}\n"
        "        elif n == 'selfcheck':\n"
        "            rec[n] = {'kind': 'module', 'name': 'resnet_kit.selfcheck'}\n"
        "        else:\n"
        "            rec[n] = {'kind': 'missing'}\n"
        "    _rwrite(grade_id, rec)\n"
        "_rc.capture = _cap\n")
    return _files("r_forge_graphs", _nb1(ctx, code))


@attack("r_forge_namespace", "forge", 0, assignment="resnets",
        expect="names a test does not use (__builtins__, checks, AssertionError) must not "
               "change how it runs")
def r_forge_namespace(ctx):
    """The honest capture plus extra names: __builtins__ (an empty dict, so the hidden test's
    own import fails), checks (the student-facing selfcheck), AssertionError, a model-kind
    identity_block."""
    code = CAPTURE_WRITER + (
        "_real = _rc.capture\n"
        "def _cap(grade_id, names, ns):\n"
        "    _real(grade_id, names, ns)\n"
        "    path = _ro.path.join(_ro.environ['RESNET_KIT_CAPTURE_DIR'], grade_id + '.json')\n"
        "    data = _rj.load(open(path))\n"
        "    data['names'].update({'__builtins__': {'kind': 'value', 'value': {}},\n"
        "                          'checks': {'kind': 'module', 'name': 'resnet_kit.selfcheck'},\n"
        "                          'AssertionError': {'kind': 'value', 'value': None},\n"
        "                          '__name__': {'kind': 'value', 'value': '__main__'}})\n"
        "    _rj.dump(data, open(path, 'w'))\n"
        "_rc.capture = _cap\n")
    return _files("r_forge_namespace", _nb1(ctx, code))


@attack("r_fake_selfcheck", "forge", 0, assignment="resnets",
        expect="the judge imports its own modules: a fake selfcheck in the kernel changes nothing")
def r_fake_selfcheck(ctx):
    """A fake resnet_kit.selfcheck module (every check passes) in sys.modules and as the
    notebook's selfcheck; the blocks return their input."""
    code = (
        "import sys, types, resnet_kit\n"
        "_fake = types.ModuleType('resnet_kit.selfcheck')\n"
        "for _n in ('check_identity_block', 'check_convolutional_block', 'check_basic_block', 'check_resnet50'):\n"
        "    setattr(_fake, _n, lambda *a, **k: 'all visible tests passed')\n"
        "sys.modules['resnet_kit.selfcheck'] = _fake\n"
        "resnet_kit.selfcheck = _fake\n"
        "selfcheck = _fake\n")
    nb = _nb1(ctx, code)
    for gid in ("identity_block", "convolutional_block", "basic_block"):
        i = next(i for i, c in enumerate(nb.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == gid)
        src = nb.cells[i].source
        nb.cells[i].source = src.replace("raise NotImplementedError()", "pass")
    return _files("r_fake_selfcheck", nb)


# --- notebook 2: weights smuggled in the architecture --------------------------------------

PRETRAIN = r'''
import json, sys
import resnet_kit
from resnet_kit.device import import_tensorflow
import_tensorflow()
import keras
from resnet_kit import data
keras.utils.set_random_seed(0)
xtr, ytr, xte, yte, classes = data.load_signs()
xtr = xtr.astype("float32") / 255
L = keras.layers
inp = keras.Input((64, 64, 3))
x = L.AveragePooling2D(2, name="p0")(inp)
x = L.Conv2D(16, 3, activation="relu", name="c1")(x); x = L.MaxPooling2D(2, name="p1")(x)
x = L.Conv2D(32, 3, activation="relu", name="c2")(x); x = L.MaxPooling2D(2, name="p2")(x)
x = L.Conv2D(32, 3, activation="relu", name="c3")(x); x = L.MaxPooling2D(2, name="p3")(x)
x = L.Flatten(name="f")(x)
out = L.Dense(6, activation="softmax", name="d")(x)
m = keras.Model(inp, out)
m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"])
m.fit(xtr, data.one_hot(ytr, 6), epochs=25, batch_size=32, verbose=0)
acc = m.evaluate(xte.astype("float32") / 255, data.one_hot(yte, 6), verbose=0)[1]
weights = {l.name: [w.numpy().tolist() for w in l.weights] for l in m.layers if l.weights}
json.dump({"weights": weights, "test_accuracy": acc}, open(sys.argv[1], "w"))
'''


def pretrain_tiny(cache: Path) -> dict:
    """Train the smuggler's small CNN on the kit's training set (once; ~1 min)."""
    cache = Path(cache)
    if not cache.exists():
        subprocess.run([sys.executable, "-c", PRETRAIN, str(cache)], check=True,
                       capture_output=True, timeout=900)
    return json.loads(cache.read_text())


def _tiny_resnet50(weights: dict | None) -> str:
    """Source of a ResNet50() returning the frozen small CNN, with the weights inlined."""
    literal = json.dumps(weights) if weights is not None else "null"
    return textwrap.dedent(f'''
        import json as _sj
        _W = _sj.loads({literal!r})
        def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):
            L = keras.layers
            def init(name, i):
                if _W is None:
                    return "glorot_uniform" if i == 0 else "zeros"
                return keras.initializers.Constant(_W[name][i])
            def conv(x, name, filters):
                return L.Conv2D(filters, 3, activation="relu", name=name, trainable=False,
                                kernel_initializer=init(name, 0), bias_initializer=init(name, 1))(x)
            inp = keras.Input(tuple(input_shape))
            x = L.AveragePooling2D(2, name="p0")(inp)
            x = L.MaxPooling2D(2, name="p1")(conv(x, "c1", 16))
            x = L.MaxPooling2D(2, name="p2")(conv(x, "c2", 32))
            x = L.MaxPooling2D(2, name="p3")(conv(x, "c3", 32))
            x = L.Flatten(name="f")(x)
            out = L.Dense(classes, activation="softmax", name="d", trainable=False,
                          kernel_initializer=init("d", 0), bias_initializer=init("d", 1))(x)
            return keras.Model(inp, out, name="ResNet50")
        ''')


def _nb2(ctx, weights):
    nb = copy.deepcopy(ctx.release[RESNETS_NB2])
    set_cell(nb, "resnet50", _tiny_resnet50(weights))
    return nb


@attack("r_smuggle_weights", "forge", 0, assignment="resnets",
        expect="the judge 'trains fresh weights': a frozen network whose pretrained weights "
               "ride in Constant initializers must not pass the accuracy test")
def r_smuggle_weights(ctx):
    """Notebook 2: ResNet50() returns a small frozen CNN (trainable=False) whose kernels and
    biases are Constant initializers holding weights pretrained on the kit's training set."""
    weights = ctx.extra["tiny_weights"]["weights"]
    return _files("r_smuggle_weights", _nb2(ctx, weights), RESNETS_NB2)


@attack("r_smuggle_control", "forge", 0, assignment="resnets",
        expect="control: the same frozen architecture with default initializers fails")
def r_smuggle_control(ctx):
    """Notebook 2: the same frozen small CNN with ordinary initializers (what the
    architecture is worth with fresh weights)."""
    return _files("r_smuggle_control", _nb2(ctx, None), RESNETS_NB2)


# --- notebook 2: accuracy points for a network that is not the one asked for ----------------
# (issue 17, item 3) The accuracy test used to train the notebook's `model`, which any cell can
# set: with ResNet50 unwritten and `model` a small CNN it passed (0.973 against the then 3-epoch
# threshold 0.737). It now trains only what the student's ResNet50() builds, and only a
# ResNet-50 (autograder/resnets/accuracy.py). What each must score, cell by cell, is in
# harness.REQUIRED_CELLS.

SMALL_CNN = textwrap.dedent('''
    def _small_cnn(input_shape=(64, 64, 3), classes=6, training=None):
        """Four trainable layers: ~0.97 on the hidden split in 3 epochs, no residual block."""
        L = keras.layers
        inp = keras.Input(tuple(input_shape))
        x = L.MaxPooling2D(2)(L.Conv2D(16, 3, activation="relu")(inp))
        x = L.MaxPooling2D(2)(L.Conv2D(32, 3, activation="relu")(x))
        x = L.Dense(64, activation="relu")(L.Flatten()(x))
        return keras.Model(inp, L.Dense(classes, activation="softmax")(x))
    ''')


def _nb2_with_model_small_cnn(ctx, solved: bool):
    """Notebook 2 (released, or solved) with a cell after the locked build_model cell that
    sets `model` to the small CNN."""
    nb = copy.deepcopy((ctx.solved if solved else ctx.release)[RESNETS_NB2])
    insert_code(nb, "build_model", SMALL_CNN + "\nmodel = _small_cnn()\n", after=True)
    return nb


@attack("r_model_small_cnn", "forge", 0, assignment="resnets",
        expect="ResNet50 unwritten, `model` a small CNN: the accuracy test trains what "
               "ResNet50() builds (nothing), so 0, with a message saying why")
def r_model_small_cnn(ctx):
    """Notebook 2 as released (ResNet50 raises NotImplementedError), and `model` set to a
    4-layer CNN that would pass the accuracy threshold."""
    return _files("r_model_small_cnn", _nb2_with_model_small_cnn(ctx, solved=False), RESNETS_NB2)


@attack("r_model_small_cnn_resnet50_written", "forge", 20, assignment="resnets",
        expect="ResNet50 right, `model` a small CNN: the visible and hidden ResNet-50 tests "
               "(both judge what ResNet50() builds) pass, the accuracy test trains ResNet50()'s "
               "network and passes: exactly 3 + 7 + 10; `model` earns nothing")
def r_model_small_cnn_resnet50_written(ctx):
    """Notebook 2 solved (ResNet50 correct), and `model` then replaced by a 4-layer CNN."""
    return _files("r_model_small_cnn_resnet50_written",
                  _nb2_with_model_small_cnn(ctx, solved=True), RESNETS_NB2)


@attack("r_resnet50_small_cnn", "forge", 0, assignment="resnets",
        expect="a ResNet50() that returns a trainable small CNN is not a ResNet-50: no "
               "accuracy points (it would reach ~0.97)")
def r_resnet50_small_cnn(ctx):
    """Notebook 2: ResNet50() returns the trainable 4-layer CNN (so `model` is that CNN too)."""
    nb = copy.deepcopy(ctx.release[RESNETS_NB2])
    set_cell(nb, "resnet50", SMALL_CNN + "\n\nResNet50 = _small_cnn\n")
    return _files("r_resnet50_small_cnn", nb, RESNETS_NB2)


@attack("r_busy_neighbour", "harm", 0, assignment="resnets",
        expect="the honest student graded beside it keeps its grade: its TensorFlow set-up "
               "cell (3.6 s alone) once passed the 60 s cell timeout beside such a neighbour")
def r_busy_neighbour(ctx):
    """Notebook 1 as released, with a first cell that leaves 48 busy processes spinning for
    two minutes, while the job beside it starts (immune to the interrupt, each in a session of
    its own, which defeats the kernel's per-session autogroup scheduling)."""
    from .harm import busy_children

    nb = _nb1(ctx)
    nb.cells.insert(0, nbformat.v4.new_code_cell(busy_children(120)))
    return _files("r_busy_neighbour", nb)
