"""Train once per architecture: a cache of training results the judge shares between students.

Many students submit the same network, built in another layer-creation order, with other
auto-generated layer names and other initializer seeds. Training it is what grading costs, and
its result depends only on

* the architecture (the layer graph: classes, settings, connections),
* the initial weights,
* the data, the budget (epochs, batch size, optimizer, loss) and the seed,
* the numerics: TensorFlow / Keras / NumPy versions, the device, thread counts, oneDNN, op
  determinism.

This module makes each of those a part of one key, so every student with the same key gets the
same trained result, and trains only on a miss:

* :func:`canonical_layers` orders the layers by the graph alone (Merkle labels, see there), and
  :func:`architecture_fingerprint` hashes that description. Layer names, creation order, the
  order of the two inputs of a commutative merge (``Add``, ``Multiply``, ``Average``, ``+``,
  ``*``) and initializer seeds do not count; everything else in a layer's config does.
* :func:`canonical_initialize` re-initialises every weight, layer by layer in canonical order,
  with the layer's own initializer seeded from (grader seed, canonical index, variable name).
  The same architecture therefore starts from the same weights however the student wrote it
  (fairer too: no student gains or loses by a lucky seed).
* :func:`enable_determinism` turns on TensorFlow op determinism, and :func:`train_or_reuse`
  re-seeds Keras right before training, so the shuffle order depends only on the seed.
* :func:`numerics_fingerprint` describes what decides bit-for-bit equality of the arithmetic.

Where bit-for-bit equality holds, and where the key keeps results apart:

* Same machine type, same software, same thread counts, op determinism on: a fresh process
  reproduces the weights bit for bit (``tests/test_trainingcache.py`` checks it on CPU, and
  ``benchmarks/training_cache_proof.py`` on ResNet-50).
* GPUs are non-deterministic without op determinism (atomics in cuDNN / reductions); it is
  always on here, and the GPU's name, compute capability and the CUDA / cuDNN build are in the
  key. Different GPU models are different keys.
* Thread counts change how reductions are split (Eigen, oneDNN): intra-/inter-op settings and
  the number of CPUs the process may use are in the key.
* oneDNN on or off and the CPU's instruction sets (AVX-512, AVX512-BF16, AMX) change which
  kernels run and their rounding: ``TF_ENABLE_ONEDNN_OPTS`` (with the CPU vendor and model,
  which decide its default) and the relevant CPU flags are in the key.
* A tensor read by more than two layers gets its gradients summed in an order that follows
  the graph's traversal, which a reordered commutative merge can change; floating-point sums
  of three or more terms are order-dependent, so such a model is not canonicalised (no cache).
  Sums of two are exact under swapping, which covers ResNet shortcuts.
* Layers that draw random numbers while training (``Dropout`` without a seed) take their seed
  from the global generator in creation order: not canonicalised.

A model that cannot be canonicalised (shared layers, nested models, Sequential configs, exact
duplicate layers whose order could matter, the cases above, a weight without a known
initializer) is trained as before and never cached: a miss costs time, a wrong hit would cost
a grade.

The judge installs the cache for a student (:func:`install`), the assignment's code reads it
with :func:`current`; nothing installed means caching is off. Entries are small JSON dicts; the
judge hands back only the ones it added (:attr:`TrainingCache.new_entries`), and the
coordinator, the only writer of the shared file, merges them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import re
import time
from typing import Callable

# Bump when what a key promises changes (the canonical form, how weights are initialised).
CANONICAL_FORM_VERSION = 1

# Merges whose two inputs can be swapped without changing a bit: a + b == b + a and a * b ==
# b * a in IEEE arithmetic, and their gradients are the same expressions. (Maximum/Minimum are
# not: on ties the gradient goes to the first input.)
COMMUTATIVE = {
    ("keras.layers", "Add"), ("keras.layers", "Multiply"), ("keras.layers", "Average"),
    ("keras.src.ops.numpy", "Add"), ("keras.src.ops.numpy", "Multiply"),
}
# A tensor's gradient is the sum over its readers; more than two terms make the sum's order
# (the graph traversal's) matter.
MAX_READERS = 2

# CPU features that change which kernels oneDNN/Eigen run, hence the rounding.
CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw",
             "avx512dq", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile",
             "amx_bf16", "amx_int8")
# Environment variables TensorFlow / oneDNN read that change the arithmetic.
NUMERICS_ENVIRONMENT = ("TF_ENABLE_ONEDNN_OPTS", "TF_DETERMINISTIC_OPS", "TF_CUDNN_DETERMINISTIC",
                        "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                        "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "ONEDNN_DEFAULT_FPMATH_MODE",
                        "TF_XLA_FLAGS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")
KEY_PATTERN = re.compile(r"^[0-9a-f]{64}$")


def sha256_json(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, separators=(",", ":"))
                          .encode()).hexdigest()


# --- canonical order of a model's layers ------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class CanonicalLayer:
    """One layer in canonical order: its index there, graph depth and structural label."""

    index: int
    depth: int
    label: str
    name: str  # the layer's name in this model (differs between students; not in the label)


def _without_seeds(config: dict) -> dict:
    """A layer config without its name and its initializers' seeds (canonical init sets
    those)."""
    out = {}
    for key, value in config.items():
        if key == "name":
            continue
        if (key.endswith("_initializer") and isinstance(value, dict)
                and isinstance(value.get("config"), dict)):
            value = dict(value, config={k: v for k, v in value["config"].items() if k != "seed"})
        out[key] = value
    return out


def _tensor_refs(value, found: list) -> None:
    """Every keras_history [layer, node, tensor] a node's arguments reference, in order."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            history = value.get("config", {}).get("keras_history")
            found.append(history)
            return
        for item in value.values():
            _tensor_refs(item, found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _tensor_refs(item, found)


def _described(value, labels: dict):
    """Arguments with every tensor replaced by (its producer's label, which output)."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            layer, node, tensor = value["config"]["keras_history"]
            return {"$tensor": labels[layer], "node": node, "output": tensor}
        return {key: _described(item, labels) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_described(item, labels) for item in value]
    return value


# Call arguments whose None means "not given": Keras records ``training=None`` when passed
# and ``mask=None`` when it was not; both leave the layer to its default.
DEFAULT_WHEN_NONE = ("training", "mask")


def _explicit(kwargs) -> dict:
    """A call's keyword arguments without those that say "the default"."""
    if not isinstance(kwargs, dict):
        return kwargs
    return {k: v for k, v in kwargs.items() if not (k in DEFAULT_WHEN_NONE and v is None)}


def _sorted_pair(items: list) -> list:
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def _commuted(args: list) -> list:
    """A commutative merge's arguments with its two inputs in a fixed order: ``Add()([a, b])``
    passes one list, ``a + b`` two positional tensors."""
    if len(args) == 1 and isinstance(args[0], list) and len(args[0]) == 2:
        return [_sorted_pair(args[0])]
    if len(args) == 2:
        return _sorted_pair(args)
    return args


def _refs(value) -> list | None:
    """A model's input_layers / output_layers as a list of [layer, node, tensor] (a single
    one comes unnested)."""
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        value = [value]
    if not isinstance(value, list) or not all(
            isinstance(ref, list) and len(ref) == 3 and isinstance(ref[0], str) for ref in value):
        return None
    return value


def canonical_description(model) -> tuple[list[CanonicalLayer], dict] | None:
    """The layers of a Functional ``model`` in canonical order, and a description of the whole
    graph; None when the model cannot be canonicalised (see the module docstring).

    Each layer gets a Merkle-style label: the hash of its class, its config without name and
    initializer seeds, and the labels of its inputs in argument order (sorted for a
    commutative merge of two), with call arguments such as ``training``. Labels are computed
    in topological order and the layers sorted by (depth, label). Two layers with the same
    label compute the same thing from the same inputs; which of them gets which initial
    weights would then be arbitrary, so such a model is refused.
    """
    config = model.get_config()
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list) or not layers:
        return None
    by_name: dict[str, dict] = {}
    for layer in layers:
        if not isinstance(layer, dict) or "inbound_nodes" not in layer:
            return None  # a Sequential config: no graph to read
        if "layers" in (layer.get("config") or {}):
            return None  # a nested model: its layers are not in this graph
        if len(layer["inbound_nodes"]) > 1:
            return None  # a shared layer: one set of weights on several paths
        if (layer.get("config") or {}).get("seed", 0) is None:
            return None  # draws random numbers in training from a creation-order seed
        by_name[layer["name"]] = layer
    if len(by_name) != len(layers):
        return None

    input_refs, outputs = _refs(config.get("input_layers")), _refs(config.get("output_layers"))
    if input_refs is None or outputs is None:
        return None
    inputs = [ref[0] for ref in input_refs]
    if not set(inputs) <= set(by_name):
        return None
    dependencies: dict[str, list] = {}
    readers: dict[tuple, int] = {}
    for name, layer in by_name.items():
        refs: list = []
        _tensor_refs(layer["inbound_nodes"], refs)
        for ref in refs:
            if not (isinstance(ref, list) and len(ref) == 3 and ref[0] in by_name):
                return None
            readers[(ref[0], ref[2])] = readers.get((ref[0], ref[2]), 0) + 1
        dependencies[name] = [ref[0] for ref in refs]
    for ref in outputs:
        if not (isinstance(ref, list) and len(ref) == 3 and ref[0] in by_name):
            return None
        readers[(ref[0], ref[2])] = readers.get((ref[0], ref[2]), 0) + 1
    if any(count > MAX_READERS for count in readers.values()):
        return None

    # Kahn's algorithm: labels need their inputs' labels first.
    waiting = {name: len(set(deps)) for name, deps in dependencies.items()}
    consumers: dict[str, list] = {name: [] for name in by_name}
    for name, deps in dependencies.items():
        for dep in set(deps):
            consumers[dep].append(name)
    ready = [name for name, count in waiting.items() if count == 0]
    labels: dict[str, str] = {}
    depths: dict[str, int] = {}
    while ready:
        name = ready.pop()
        layer = by_name[name]
        nodes = layer["inbound_nodes"]
        node = nodes[0] if nodes else {"args": [], "kwargs": {}}
        args = _described(node.get("args", []), labels)
        if (layer.get("module"), layer.get("class_name")) in COMMUTATIVE:
            args = _commuted(args)
        description = {
            "module": layer.get("module"), "class_name": layer.get("class_name"),
            "registered_name": layer.get("registered_name"),
            "config": _without_seeds(layer.get("config") or {}),
            "args": args, "kwargs": _described(_explicit(node.get("kwargs", {})), labels),
        }
        if not nodes:  # a model input: told apart from others by its position
            description["input_position"] = inputs.index(name) if name in inputs else None
        labels[name] = sha256_json(description)
        depths[name] = 1 + max((depths[dep] for dep in dependencies[name]), default=-1)
        for consumer in consumers[name]:
            waiting[consumer] -= 1
            if waiting[consumer] == 0:
                ready.append(consumer)
    if len(labels) != len(by_name):
        return None  # a cycle or a dangling reference
    if len(set(labels.values())) != len(labels):
        return None  # duplicate layers: their order would be arbitrary

    ordered = sorted(by_name, key=lambda name: (depths[name], labels[name]))
    canonical = [CanonicalLayer(index, depths[name], labels[name], name)
                 for index, name in enumerate(ordered)]
    graph = {
        "form": CANONICAL_FORM_VERSION,
        "layers": [layer.label for layer in canonical],
        "inputs": [labels[name] for name in inputs],
        "outputs": [[labels[ref[0]], ref[2]] for ref in outputs],
        "model": {k: v for k, v in config.items()
                  if k not in ("name", "layers", "input_layers", "output_layers")},
    }
    return canonical, graph


def canonical_layers(model) -> list | None:
    """``model``'s layer objects in canonical order (None: cannot be canonicalised)."""
    found = canonical_description(model)
    if found is None:
        return None
    return [model.get_layer(layer.name) for layer in found[0]]


def architecture_fingerprint(model) -> str | None:
    """sha256 of the canonical description: equal for the same network however it was
    written (None: cannot be canonicalised)."""
    found = canonical_description(model)
    return None if found is None else sha256_json(found[1])


# --- canonical initial weights ----------------------------------------------------------------

def derived_seed(seed: int, index: int, variable: str) -> int:
    """The initializer seed of one variable: a function of the grader seed and its place in
    canonical order only."""
    digest = hashlib.sha256(f"{int(seed)}/{index}/{variable}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _initializer_plan(model, seed: int) -> list | None:
    """(variable, seeded initializer) for every weight, in canonical order; None when a weight
    has no initializer this module knows of."""
    import keras

    layers = canonical_layers(model)
    if layers is None:
        return None
    plan = []
    covered = set()
    for index, layer in enumerate(layers):
        names = [variable.name for variable in layer.weights]
        if len(set(names)) != len(names):
            return None
        for variable in layer.weights:
            # Keras names a weight's initializer after it (kernel -> kernel_initializer).
            initializer = getattr(layer, f"{variable.name}_initializer", None)
            if not isinstance(initializer, keras.initializers.Initializer):
                return None
            config = keras.initializers.serialize(initializer)
            if isinstance(config, dict) and isinstance(config.get("config"), dict) \
                    and "seed" in config["config"]:
                config = dict(config, config=dict(config["config"],
                                                  seed=derived_seed(seed, index, variable.name)))
            plan.append((variable, keras.initializers.deserialize(config)))
            covered.add(id(variable))
    if any(id(variable) not in covered for variable in model.weights):
        return None  # a weight outside the canonical layers
    return plan


def canonical_initialize(model, seed: int) -> bool:
    """Re-initialise every weight of ``model`` from ``seed`` in canonical order. False (and
    nothing changed) when the model cannot be canonicalised or a weight has no known
    initializer."""
    plan = _initializer_plan(model, seed)
    if plan is None:
        return False
    for variable, initializer in plan:
        variable.assign(initializer(shape=tuple(variable.shape), dtype=variable.dtype))
    return True


def weights_sha256(model) -> str | None:
    """sha256 of all weights in canonical order (None: cannot be canonicalised)."""
    import numpy as np

    layers = canonical_layers(model)
    if layers is None:
        return None
    digest = hashlib.sha256()
    for index, layer in enumerate(layers):
        for variable in layer.weights:
            value = np.ascontiguousarray(variable.numpy())
            digest.update(f"{index}/{variable.name}/{value.shape}/{value.dtype};".encode())
            digest.update(value.tobytes())
    return digest.hexdigest()


# --- numerics ---------------------------------------------------------------------------------

_determinism_enabled = False


def enable_determinism() -> bool:
    """Turn on TensorFlow op determinism for this process (it stays on). Returns whether it
    is on."""
    global _determinism_enabled
    from resnet_kit.device import import_tensorflow

    tf = import_tensorflow()
    try:
        tf.config.experimental.enable_op_determinism()
        _determinism_enabled = True
    except (AttributeError, RuntimeError):
        _determinism_enabled = False
    return _determinism_enabled


def cpu_description() -> dict:
    fields: dict = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("vendor_id", "cpu family", "model", "model name", "flags") \
                        and key not in fields:
                    fields[key] = value.strip()
                if not line.strip() and fields:
                    break  # the first processor describes them all
    except OSError:
        pass
    flags = set(fields.pop("flags", "").split())
    fields["flags"] = [flag for flag in CPU_FLAGS if flag in flags]
    fields["machine"] = platform.machine()
    return fields


def numerics_fingerprint() -> dict:
    """What decides bit-for-bit equality of training here: versions, device, threads,
    oneDNN, op determinism (see the module docstring)."""
    from resnet_kit.device import import_tensorflow

    tf = import_tensorflow()
    import keras
    import numpy as np

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        gpus.append({"name": details.get("device_name"),
                     "compute_capability": list(details.get("compute_capability") or [])})
    build = dict(tf.sysconfig.get_build_info())
    try:
        cpus_usable = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus_usable = os.cpu_count()
    return {
        "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
        "backend": keras.config.backend(), "floatx": keras.config.floatx(),
        "dtype_policy": keras.config.dtype_policy().name,
        "gpus": gpus,
        "cuda": [build.get("cuda_version"), build.get("cudnn_version")] if gpus else None,
        "cpu": cpu_description(),
        "cpus_usable": cpus_usable,
        "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "inter_op_threads": tf.config.threading.get_inter_op_parallelism_threads(),
        "op_determinism": _determinism_enabled,
        "environment": {name: os.environ.get(name) for name in NUMERICS_ENVIRONMENT
                        if os.environ.get(name) is not None},
    }


def training_key(**parts) -> str:
    """The cache key: sha256 over every part (architecture, data, budget, seed, numerics)."""
    return sha256_json(parts)


# --- the cache --------------------------------------------------------------------------------

class PlanningStop(Exception):
    """Raised instead of training while the grader plans its captures (a cache installed with
    ``planning=True``, see :mod:`autograder.engine.plan`): planning runs the tests on the
    solution only to learn which calls they make of the student's functions, and a test that
    trains has made them all by the time it would train."""


class TrainingCache:
    """Training results by key. ``entries`` None: caching off (``--no-cache``). ``seed``: the
    grader's seed, which canonical initialisation and training use (None: unknown, train as
    the model comes and cache nothing). ``planning``: never train, raise
    :class:`PlanningStop` instead."""

    def __init__(self, entries: dict | None = None, seed: int | None = None,
                 planning: bool = False):
        self.planning = bool(planning)
        self.enabled = entries is not None
        self.seed = None if seed is None else int(seed)
        self._entries: dict[str, dict] = {}
        for key, entry in (entries or {}).items():
            if self._valid(key, entry):
                self._entries[key] = dict(entry)
        self.new_entries: dict[str, dict] = {}
        # The keys looked up or stored since the judge last cleared it: a verdict that used a
        # trained result names it, and is reused only while that result is in the cache.
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return self.enabled and key in self._entries

    @staticmethod
    def _valid(key, entry) -> bool:
        return (isinstance(key, str) and bool(KEY_PATTERN.match(key)) and isinstance(entry, dict)
                and isinstance(entry.get("accuracy"), (int, float))
                and not isinstance(entry.get("accuracy"), bool))

    def get(self, key: str) -> dict | None:
        if not self.enabled:
            return None
        self.used.add(key)
        entry = self._entries.get(key)
        return dict(entry) if entry is not None else None

    def put(self, key: str, entry: dict) -> None:
        if not self.enabled or not self._valid(key, entry):
            return
        self.used.add(key)
        self._entries[key] = dict(entry)
        self.new_entries[key] = dict(entry)


_current = TrainingCache(None, seed=None)


def install(cache: TrainingCache | None) -> TrainingCache:
    """Make ``cache`` the one assignment code uses (None: caching off); returns the previous."""
    global _current
    previous = _current
    _current = cache if cache is not None else TrainingCache(None, seed=None)
    return previous


def current() -> TrainingCache:
    return _current


# --- training through the cache ---------------------------------------------------------------

@dataclasses.dataclass
class Outcome:
    """What :func:`train_or_reuse` found or did."""

    accuracy: float
    reused: bool  # taken from the cache, not trained here
    key: str | None  # None: not cacheable (caching off, no seed, not canonical)
    entry: dict | None  # the cache entry (hit, or the one just added)
    canonical: bool  # the weights were initialised canonically


def prepared_copy(model, seed: int | None):
    """A copy of ``model``'s architecture ready to train: canonical initial weights from
    ``seed``, op determinism on, Keras re-seeded last, so the shuffle order depends on the seed
    alone. Returns (copy, whether its weights are canonical). With ``seed`` None: a plain clone
    (fresh weights from the global generators), as before this module."""
    import keras

    fresh = keras.models.clone_model(model)
    if seed is None:
        return fresh, False
    enable_determinism()
    canonical = canonical_initialize(fresh, seed)
    keras.utils.set_random_seed(seed)
    return fresh, canonical


def train_or_reuse(model, train: Callable, evaluate: Callable[..., float], key_parts: dict,
                   cache: TrainingCache | None = None) -> Outcome:
    """Train a fresh copy of ``model``'s architecture and ``evaluate`` it, or reuse the result
    of an earlier identical training.

    ``train(fresh)`` compiles and fits; ``evaluate(fresh)`` returns an accuracy.
    ``key_parts`` must name everything else the result depends on (data, epochs, batch size,
    optimizer, loss, how the accuracy is measured); the architecture, seed and numerics are
    added here.
    """
    cache = current() if cache is None else cache
    if cache.planning:
        raise PlanningStop("training is not part of planning the captures")
    seed = cache.seed
    key = None
    if seed is not None:
        enable_determinism()  # before the numerics are read: they record it
        architecture = architecture_fingerprint(model) if cache.enabled else None
        if architecture is not None:
            key = training_key(architecture=architecture, seed=seed,
                               numerics=numerics_fingerprint(), **key_parts)
            hit = cache.get(key)
            if hit is not None:
                return Outcome(float(hit["accuracy"]), True, key, hit, True)
    fresh, canonical = prepared_copy(model, seed)
    started = time.monotonic()
    train(fresh)
    weights = weights_sha256(fresh) if canonical else None  # as trained, before evaluation
    accuracy = float(evaluate(fresh))
    entry = None
    if key is not None and canonical:
        entry = {"accuracy": accuracy, "weights_sha256": weights, "seed": seed,
                 "seconds": round(time.monotonic() - started, 2),
                 "architecture": architecture, "numerics": numerics_fingerprint(),
                 **{k: v for k, v in key_parts.items() if isinstance(v, (int, float, str))}}
        cache.put(key, entry)
    else:
        key = None
    return Outcome(accuracy, False, key, entry, canonical)
