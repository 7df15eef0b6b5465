"""Train once per architecture: the same network written another way gets the same key, the
same initial weights and, trained in a fresh process, the same weights bit for bit; the judge
hands new results back and reuses old ones; what cannot be canonicalised is trained, not
cached. Tiny networks and data only (seconds each)."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from resnet_kit.device import import_tensorflow  # noqa: E402

import_tensorflow()

import keras  # noqa: E402

from autograder.engine import judge, trainingcache  # noqa: E402

L = keras.layers
SEED = 1234
TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def residual_net(order="main_first", filters=4, stride=1, relu=True, training=None,
                 init_seed=0):
    """A small residual network; ``order`` "shortcut_first" builds the same graph the other
    way round: shortcut first, explicit names, the Add's inputs swapped, other seeds."""
    x = keras.Input((6, 6, 3))
    init = keras.initializers.GlorotUniform

    def main(t, tag):
        t = L.Conv2D(filters, 3, strides=stride, padding="same",
                     kernel_initializer=init(seed=init_seed), name=f"{tag}conv_a")(t)
        t = L.BatchNormalization(axis=3, name=f"{tag}bn_a")(t, training=training)
        if relu:
            t = L.Activation("relu", name=f"{tag}relu_a")(t)
        t = L.Conv2D(filters, 1, kernel_initializer=init(seed=init_seed + 1),
                     name=f"{tag}conv_b")(t)
        return L.BatchNormalization(axis=3, name=f"{tag}bn_b")(t, training=training)

    def shortcut(t, tag):
        t = L.Conv2D(filters, 1, strides=stride, kernel_initializer=init(seed=init_seed + 2),
                     name=f"{tag}conv_s")(t)
        return L.BatchNormalization(axis=3, name=f"{tag}bn_s")(t, training=training)

    if order == "main_first":
        y = main(x, "m_")
        s = shortcut(x, "m_")
        z = L.Add(name="m_add")([y, s])
    else:
        s = shortcut(x, "s_")
        y = main(x, "s_")
        z = L.Add(name="s_add")([s, y])
    z = L.Flatten()(L.ReLU()(z))
    return keras.Model(x, L.Dense(3, activation="softmax")(z))


def tiny_data():
    rng = np.random.default_rng(0)
    x = rng.random((24, 6, 6, 3), dtype=np.float32)
    y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=24)]
    return x, y


def train_tiny(model):
    x, y = tiny_data()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)


def evaluate_tiny(model):
    x, y = tiny_data()
    predicted = np.argmax(model.predict(x, verbose=0), axis=1)
    return float(np.mean(predicted == np.argmax(y, axis=1)))


KEY_PARTS = {"data": "tiny_data(0)", "epochs": 2, "batch_size": 8, "optimizer": "adam 1e-2"}

# Runs in a fresh interpreter: one training through the cache, as the judge would do it.
WORKER = f"""
import json, sys
sys.path.insert(0, {str(TESTS)!r})
import test_trainingcache as t
from autograder.engine import trainingcache
cache = trainingcache.TrainingCache({{}}, seed=t.SEED)
model = t.residual_net(sys.argv[1], init_seed=int(sys.argv[2]))
outcome = trainingcache.train_or_reuse(model, t.train_tiny,
                                       t.evaluate_tiny, t.KEY_PARTS, cache=cache)
print("RESULT " + json.dumps({{"key": outcome.key, "reused": outcome.reused,
                               "entry": outcome.entry}}))
"""


def weights_by_canonical_layer(model):
    return [[v.numpy() for v in layer.weights] for layer in trainingcache.canonical_layers(model)]


# --- the fingerprint --------------------------------------------------------------------------

def test_same_network_written_another_way_has_the_same_fingerprint():
    a = residual_net("main_first", init_seed=0)
    b = residual_net("shortcut_first", init_seed=7)
    assert [layer.name for layer in a.layers] != [layer.name for layer in b.layers]
    assert trainingcache.architecture_fingerprint(a) is not None
    assert trainingcache.architecture_fingerprint(a) == trainingcache.architecture_fingerprint(b)


def test_training_none_given_or_left_out_is_the_same_network():
    def net(**call):
        x = keras.Input((6, 6, 3))
        return keras.Model(x, L.BatchNormalization()(L.Conv2D(2, 1)(x), **call))

    assert trainingcache.architecture_fingerprint(net(training=None)) == \
        trainingcache.architecture_fingerprint(net())
    assert trainingcache.architecture_fingerprint(net(training=True)) != \
        trainingcache.architecture_fingerprint(net())


@pytest.mark.parametrize("change", [{"filters": 5}, {"stride": 2}, {"relu": False},
                                    {"training": True}])
def test_a_different_network_has_a_different_fingerprint(change):
    base = trainingcache.architecture_fingerprint(residual_net())
    changed = trainingcache.architecture_fingerprint(residual_net(**change))
    assert changed is not None and changed != base


def test_canonical_order_follows_the_graph_not_the_names():
    a, b = residual_net("main_first"), residual_net("shortcut_first")
    kinds_a = [type(layer).__name__ for layer in trainingcache.canonical_layers(a)]
    kinds_b = [type(layer).__name__ for layer in trainingcache.canonical_layers(b)]
    assert kinds_a == kinds_b and kinds_a[0] == "InputLayer" and kinds_a[-1] == "Dense"
    # the explicit names differ ("m_conv_a" / "s_conv_a") but sit at the same places
    names_a = [layer.name[2:] for layer in trainingcache.canonical_layers(a) if layer.name[1] == "_"]
    names_b = [layer.name[2:] for layer in trainingcache.canonical_layers(b) if layer.name[1] == "_"]
    assert names_a == names_b


# --- canonical initial weights ----------------------------------------------------------------

def test_canonical_initialisation_gives_the_same_weights_however_the_network_was_written():
    a = residual_net("main_first", init_seed=0)
    b = residual_net("shortcut_first", init_seed=7)
    assert trainingcache.canonical_initialize(a, SEED) and trainingcache.canonical_initialize(b, SEED)
    for weights_a, weights_b in zip(weights_by_canonical_layer(a), weights_by_canonical_layer(b)):
        assert len(weights_a) == len(weights_b)
        assert all(np.array_equal(wa, wb) for wa, wb in zip(weights_a, weights_b))
    assert trainingcache.weights_sha256(a) == trainingcache.weights_sha256(b)


def test_canonical_initialisation_depends_on_the_seed_and_keeps_the_initializers():
    a, b = residual_net(), residual_net()
    trainingcache.canonical_initialize(a, SEED)
    trainingcache.canonical_initialize(b, SEED + 1)
    assert trainingcache.weights_sha256(a) != trainingcache.weights_sha256(b)
    for layer in trainingcache.canonical_layers(a):
        if isinstance(layer, L.BatchNormalization):  # Ones / Zeros stay ones / zeros
            assert np.all(layer.gamma.numpy() == 1) and np.all(layer.beta.numpy() == 0)


# --- bit-for-bit in fresh processes, and what a hit reports -----------------------------------

def test_training_in_fresh_processes_is_bit_for_bit_and_a_hit_reports_the_same_result():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    workers = {order: subprocess.Popen([sys.executable, "-c", WORKER, order, str(init_seed)],
                                       cwd=REPO, env=env, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True)
               for order, init_seed in (("main_first", 0), ("shortcut_first", 7))}
    results = {}
    for order, worker in workers.items():
        out, err = worker.communicate(timeout=300)
        lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
        assert lines, f"worker {order} failed ({worker.returncode}): {err[-2000:]}"
        results[order] = json.loads(lines[-1][len("RESULT "):])
    first, second = results["main_first"], results["shortcut_first"]
    assert not first["reused"] and not second["reused"]
    assert first["key"] is not None and first["key"] == second["key"]
    assert first["entry"]["weights_sha256"] == second["entry"]["weights_sha256"]
    assert first["entry"]["accuracy"] == second["entry"]["accuracy"]

    # This process, given the first worker's entry, reuses it for the other way of writing it.
    cache = trainingcache.TrainingCache({first["key"]: first["entry"]}, seed=SEED)
    hit = trainingcache.train_or_reuse(residual_net("shortcut_first"), train_tiny, evaluate_tiny,
                                       KEY_PARTS, cache=cache)
    assert hit.reused and hit.key == second["key"]
    assert hit.accuracy == second["entry"]["accuracy"]
    assert hit.entry["weights_sha256"] == second["entry"]["weights_sha256"]
    assert cache.new_entries == {}


# --- what cannot be canonicalised -------------------------------------------------------------

def duplicate_branches():
    x = keras.Input((6, 6, 3))
    return keras.Model(x, L.Add()([L.Conv2D(2, 1)(x), L.Conv2D(2, 1)(x)]))


def three_readers():
    x = keras.Input((6, 6, 3))
    a, b, c = L.Conv2D(2, 1)(x), L.Conv2D(2, 3, padding="same")(x), L.Conv2D(2, 5, padding="same")(x)
    return keras.Model(x, L.Add()([L.Add()([a, b]), c]))


def unseeded_dropout():
    x = keras.Input((6, 6, 3))
    return keras.Model(x, L.Dropout(0.5)(L.Conv2D(2, 1)(x)))


def shared_layer():
    x = keras.Input((6, 6, 3))
    conv = L.Conv2D(3, 1)
    return keras.Model(x, conv(conv(x)))


@pytest.mark.parametrize("build", [duplicate_branches, three_readers, unseeded_dropout,
                                   shared_layer])
def test_a_model_that_cannot_be_canonicalised_has_no_fingerprint(build):
    model = build()
    assert trainingcache.canonical_layers(model) is None
    assert trainingcache.architecture_fingerprint(model) is None
    assert trainingcache.canonical_initialize(model, SEED) is False


def test_a_model_that_cannot_be_canonicalised_is_trained_not_cached():
    x = keras.Input((6, 6, 3))
    twins = L.Add()([L.Conv2D(3, 1)(x), L.Conv2D(3, 1)(x)])
    model = keras.Model(x, L.Dense(3, activation="softmax")(L.Flatten()(twins)))
    cache = trainingcache.TrainingCache({}, seed=SEED)
    trained = []
    outcome = trainingcache.train_or_reuse(model, lambda m: (train_tiny(m), trained.append(m)),
                                           evaluate_tiny, KEY_PARTS, cache=cache)
    assert len(trained) == 1 and not outcome.reused
    assert outcome.key is None and not outcome.canonical
    assert cache.new_entries == {}


def test_caching_off_or_without_a_seed_never_stores():
    assert not trainingcache.TrainingCache(None, seed=SEED).enabled
    off = trainingcache.TrainingCache(None, seed=SEED)
    off.put("0" * 64, {"accuracy": 1.0})
    assert off.get("0" * 64) is None and off.new_entries == {}
    assert trainingcache.current().seed is None  # nothing installed outside the judge


def test_malformed_cache_entries_are_ignored():
    cache = trainingcache.TrainingCache({"0" * 64: {"accuracy": "high"}, "not-a-key": {"accuracy": 1.0},
                                         "1" * 64: {"accuracy": 0.5}}, seed=SEED)
    assert cache.get("0" * 64) is None and cache.get("not-a-key") is None
    assert cache.get("1" * 64) == {"accuracy": 0.5}


# --- the judge --------------------------------------------------------------------------------

TRAINING_TEST = """\
import numpy as np
import keras
from autograder.engine import trainingcache
rng = np.random.default_rng(0)
x = rng.random((24, 6, 6, 3), dtype=np.float32)
y = np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=24)]
def train(m):
    m.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    m.fit(x, y, epochs=1, batch_size=8, verbose=0)
def evaluate(m):
    return float(np.mean(np.argmax(m.predict(x, verbose=0), axis=1) == np.argmax(y, axis=1)))
outcome = trainingcache.train_or_reuse(model, train, evaluate, {"data": "judge test"})
print(f"accuracy={outcome.accuracy!r} reused={outcome.reused}")
"""


def judge_spec(tmp_path, training_cache):
    import nbformat

    notebook = tmp_path / "toy_training.ipynb"
    cell = nbformat.v4.new_code_cell(TRAINING_TEST, metadata={"nbgrader": {
        "grade": True, "grade_id": "test_training", "points": 1, "locked": True,
        "solution": False, "schema_version": 3}})
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), notebook)
    captured = tmp_path / "captures" / notebook.stem
    captured.mkdir(parents=True, exist_ok=True)
    config = json.loads(json.dumps(keras.saving.serialize_keras_object(residual_net())))
    (captured / "test_training.json").write_text(
        json.dumps({"names": {"model": {"kind": "model", "config": config}}}))
    return {"assignment": "no_such_assignment", "notebooks": [str(notebook)],
            "captures": str(tmp_path / "captures"), "plan": {}, "settings": {"seed": SEED},
            "verdicts": str(tmp_path / "verdicts.json"), "training_cache": training_cache,
            "training_cache_out": str(tmp_path / "training_cache.json")}


def printed(verdicts):
    outputs = verdicts["toy_training"]["test_training"]["outputs"]
    assert [o["output_type"] for o in outputs] == ["stream"], outputs
    return outputs[0]["text"].strip()


def test_the_judge_writes_new_results_and_reuses_those_it_is_given(tmp_path):
    spec = judge_spec(tmp_path, training_cache={})
    trained = printed(judge.judge(spec))
    added = json.loads(Path(spec["training_cache_out"]).read_text())
    assert trained.endswith("reused=False") and len(added) == 1

    spec = judge_spec(tmp_path, training_cache=added)
    reused = printed(judge.judge(spec))
    assert reused == trained.replace("reused=False", "reused=True")
    assert json.loads(Path(spec["training_cache_out"]).read_text()) == {}
    assert trainingcache.current().seed is None  # the judge's cache is uninstalled after it


def test_the_judge_without_a_cache_writes_none(tmp_path):
    spec = judge_spec(tmp_path, training_cache=None)
    cache = judge.training_cache_for(spec)
    assert not cache.enabled and cache.seed == SEED
    judge.write_training_cache(spec, cache)
    assert not Path(spec["training_cache_out"]).exists()
