"""Turn what a notebook defines into plain data for a grader that never runs student code.

While a submission is graded, each graded cell of the notebook is replaced by one call::

    capture.capture("test_identity_block_hidden", ["selfcheck", "identity_block"], globals())

which writes ``<capture dir>/<grade id>.json`` and prints nothing. For every name the cell's
test code uses it records, as JSON:

* a module: its name (the grader imports its own copy);
* a number, string or bool (or a small list/dict of them): the value;
* a ``keras.Model``: its architecture (Keras' own config format, no weights, no pickle);
* a function: the result of each call in the grader's *plan* for that name (the calls its
  checks make, e.g. ``identity_block(X, 3, [2, 3, 4])`` on a symbolic ``X`` of a given shape):
  the architecture from ``X`` to what the call returned (or the returned value, when it is
  plain data), or the exception it raised (with the
  part of the graph the function had built, which the checks read to name the mistake);
* anything else: its type, marked unsupported.

The grader rebuilds the architectures with Keras' safe mode and runs the real checks on them
in a separate process (see ``autograder.engine.judge``). Nothing recorded here is trusted: a
forged architecture is checked like any other network, and calls whose answers are plain data
(a number, a list) are not made here at all: the grader makes them in a fresh process that
runs only the notebook's definitions (``autograder.engine.pristine``). A plain variable
recorded here is a claim, which a test should compare with what the grader recomputes.

Calls in a plan use JSON with two markers: ``{"$input": [5, 5, 4]}`` is a fresh
``keras.Input`` of that shape and ``{"$object": "resnet_kit.selfcheck:ConstantInitializer",
"args": []}`` is the result of calling a kit function.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import types
from pathlib import Path
from typing import Any

CAPTURE_DIR_ENV = "RESNET_KIT_CAPTURE_DIR"
PLAN_ENV = "RESNET_KIT_CAPTURE_PLAN"

# A record larger than this is refused (a ResNet-50 architecture is about 0.2 MB).
MAX_CONFIG_BYTES = 8 * 2**20
MAX_TEXT = 2000
# Kit objects a plan may name: only from the student-facing package.
OBJECT_PACKAGES = ("resnet_kit.",)


def _keras():
    from resnet_kit.device import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def _text(value: Any, limit: int = MAX_TEXT) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve_object(spec: dict):
    """``{"$object": "pkg.module:function", "args": [...]}`` -> ``function(*args)``."""
    target = str(spec["$object"])
    module_name, _, attr = target.partition(":")
    if not module_name.startswith(OBJECT_PACKAGES):
        raise ValueError(f"plan names {target}, which is not a resnet_kit object")
    return getattr(importlib.import_module(module_name), attr)(*spec.get("args", []))


def materialise(value, inputs: list):
    """Replace the plan's markers by real objects; symbolic inputs are appended to ``inputs``."""
    if isinstance(value, dict) and "$input" in value:
        tensor = _keras().Input(shape=tuple(value["$input"]))
        inputs.append(tensor)
        return tensor
    if isinstance(value, dict) and "$object" in value:
        return resolve_object(value)
    if isinstance(value, list):
        return [materialise(v, inputs) for v in value]
    if isinstance(value, dict):
        return {k: materialise(v, inputs) for k, v in value.items()}
    return value


def architecture(model) -> dict:
    """The model's Keras config (architecture only), size-checked."""
    keras = _keras()
    config = keras.saving.serialize_keras_object(model)
    size = len(json.dumps(config))
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"the architecture is {size / 2**20:.1f} MB of config, over the "
                         f"grader's {MAX_CONFIG_BYTES / 2**20:.0f} MB limit")
    return config


def student_tensors(exc, skip: tuple[str, ...] = ()) -> list:
    """Keras tensors held by the frames of the code that raised: the student's frames, not
    Keras', TensorFlow's or NumPy's (nor the files in ``skip``). The checks read the graph
    built so far from them to name a mistake."""
    import numpy

    keras = _keras()
    library_dirs = tuple(
        os.path.dirname(os.path.abspath(m.__file__)) + os.sep
        for m in (keras, sys.modules.get("tensorflow") or keras, numpy)
    ) + (os.path.abspath(__file__),) + tuple(skip)
    tensors, tb = [], exc.__traceback__
    while tb is not None:
        filename = os.path.abspath(tb.tb_frame.f_code.co_filename)
        if not filename.startswith(library_dirs) and "/site-packages/" not in filename:
            for value in list(tb.tb_frame.f_locals.values()):
                items = value if isinstance(value, (list, tuple)) else [value]
                tensors += [v for v in items if isinstance(v, keras.KerasTensor)]
        tb = tb.tb_next
    return [t for t in tensors if getattr(t, "_keras_history", None) is not None]


def _partial_graph(inputs: list, exc) -> dict | None:
    """The part of the graph built before ``exc``, from the call's inputs, as a config."""
    keras = _keras()
    tensors = student_tensors(exc)
    if not inputs:  # a function that makes its own keras.Input (ResNet50): start from that
        inputs = list({id(t): t for t in tensors
                       if isinstance(t._keras_history.operation, keras.layers.InputLayer)}
                      .values())
    if not inputs:  # no symbolic input: nothing Keras-built to describe
        return None
    seen, outputs = set(), []
    for tensor in tensors:
        if id(tensor) not in seen and all(tensor is not x for x in inputs):
            seen.add(id(tensor))
            outputs.append(tensor)
    if not outputs or not inputs:
        return None
    reachable = []
    for tensor in outputs:
        try:
            keras.Model(inputs, tensor)
        except Exception:  # noqa: BLE001 - not computed from the inputs: not part of it
            continue
        reachable.append(tensor)
    if not reachable:
        return None
    try:
        return architecture(keras.Model(inputs, reachable))
    except Exception:  # noqa: BLE001 - a diagnosis aid only
        return None


def record_call(fn, call: dict) -> dict:
    """Call ``fn`` as the plan says and describe what happened."""
    inputs: list = []
    try:
        args = materialise(call.get("args", []), inputs)
        kwargs = materialise(call.get("kwargs", {}), inputs)
    except Exception as exc:  # noqa: BLE001 - a broken plan is the grader's problem
        return {"outcome": "plan error", "message": _text(exc)}
    try:
        out = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - any failure of student code is recorded
        return {"outcome": "raised", "type": type(exc).__name__[:80], "message": _text(exc),
                "partial": _partial_graph(inputs, exc)}
    keras = sys.modules.get("keras")  # a function that built Keras tensors has imported it
    if keras is None:
        if is_plain(out):
            return {"outcome": "value", "value": out}
        return {"outcome": "returned", "type": type(out).__name__[:80]}
    wrapped = None
    if isinstance(out, (list, tuple)) and len(out) == 1:
        wrapped, out = type(out).__name__, out[0]
    if isinstance(out, keras.Model):
        try:
            return {"outcome": "model", "config": architecture(out)}
        except Exception as exc:  # noqa: BLE001
            return {"outcome": "unsupported", "message": _text(exc)}
    if not isinstance(out, keras.KerasTensor):
        if is_plain(out):
            return {"outcome": "value", "value": out}
        return {"outcome": "returned", "type": type(out).__name__[:80]}
    try:
        model = keras.Model(inputs, out)
    except Exception as exc:  # noqa: BLE001
        return {"outcome": "unconnected", "message": _text(exc)}
    try:
        return {"outcome": "tensor", "wrapped": wrapped, "config": architecture(model)}
    except Exception as exc:  # noqa: BLE001
        return {"outcome": "unsupported", "message": _text(exc)}


def is_plain(value, budget: list | None = None) -> bool:
    """JSON data of modest size: numbers, short strings, and lists/dicts of them."""
    budget = [10_000] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        return len(value) <= MAX_TEXT
    if isinstance(value, (list, tuple)):
        return all(is_plain(v, budget) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_plain(v, budget) for k, v in value.items())
    return False


def record_value(value, calls: list[dict]) -> dict:
    """Describe one name of the notebook's namespace (see the module docstring)."""
    if isinstance(value, types.ModuleType):
        return {"kind": "module", "name": value.__name__}
    if is_plain(value):
        return {"kind": "value", "value": value}
    keras = _keras() if "keras" in sys.modules else None
    if keras is not None and isinstance(value, keras.Model):
        try:
            return {"kind": "model", "config": architecture(value)}
        except Exception as exc:  # noqa: BLE001
            return {"kind": "unsupported", "type": type(value).__name__, "message": _text(exc)}
    if callable(value):
        return {"kind": "function", "calls": [record_call(value, c) for c in calls]}
    return {"kind": "unsupported", "type": type(value).__name__[:80]}


def _json_safe(text: str) -> str:
    return text.encode("utf-8", "replace").decode("utf-8")


def capture(grade_id: str, names: list[str], namespace: dict) -> None:
    """Record ``names`` from ``namespace`` for the graded cell ``grade_id`` (silently)."""
    folder = Path(os.environ[CAPTURE_DIR_ENV])
    plan_path = os.environ.get(PLAN_ENV)
    plan = json.loads(Path(plan_path).read_text()) if plan_path else {}
    records = {}
    for name in names:
        if name not in namespace:
            records[name] = {"kind": "missing"}
            continue
        try:
            records[name] = record_value(namespace[name], plan.get(name, []))
        except Exception as exc:  # noqa: BLE001
            records[name] = {"kind": "unsupported", "type": "error", "message": _text(exc)}
    folder.mkdir(parents=True, exist_ok=True)
    text = _json_safe(json.dumps({"grade_id": grade_id, "names": records}, default=str))
    tmp = folder / f".{grade_id}.json.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(folder / f"{grade_id}.json")
