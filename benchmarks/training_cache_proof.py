"""Proof that the training cache is honest on the real ResNet-50: same key, same bits.

    .venv/bin/python benchmarks/training_cache_proof.py [--epochs 1] [--seed 1234]

Three fresh Python processes, one after another, each doing what the judge's hidden training
test does (``accuracy.trained_accuracy``: canonical initial weights, op determinism, Adam,
batch 32, the kit's training set, BatchNorm recalibration, hidden-split accuracy):

1. the correct solution (``tests/corpus/correct_layers_add.py``), empty cache: trains;
2. the same network built another way (``variant_resnet50`` below: shortcut branches built
   first, the Add inputs swapped, every layer named, other initializer seeds), empty cache:
   trains again, so its weights can be compared with run 1's bit for bit;
3. the variant again, given run 1's cache entry: reuses it (nothing trained).

It prints each run's cache key, accuracy, hash of the trained weights and seconds, and whether
keys and hashes agree. Timings are printed, never asserted (the machine is shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CORRECT = REPO / "tests" / "corpus" / "correct_layers_add.py"
GRADER_SEED = 1234  # autograder.engine.judge.GRADER_SEED (not imported: keeps start-up light)


def variant_resnet50(input_shape=(64, 64, 3), classes=6):
    """The corpus solution's network, written another way: same graph, other names/seeds."""
    import keras
    from keras import layers
    from keras.initializers import glorot_uniform, random_uniform

    counter = iter(range(10_000))

    def name(kind):
        return f"v{next(counter):03d}_{kind}"

    def conv(filters, kernel, strides, padding, initializer, x):
        return layers.Conv2D(filters, kernel, strides=strides, padding=padding, name=name("conv"),
                             kernel_initializer=initializer(seed=next(counter)))(x)

    def bn(x, momentum=0.9):
        return layers.BatchNormalization(axis=3, momentum=momentum, name=name("bn"))(x)

    def relu(x):
        return layers.Activation("relu", name=name("relu"))(x)

    def identity_block(x, f, filters):
        f1, f2, f3 = filters
        y = relu(bn(conv(f1, (1, 1), (1, 1), "valid", random_uniform, x)))
        y = relu(bn(conv(f2, (f, f), (1, 1), "same", random_uniform, y)))
        y = bn(conv(f3, (1, 1), (1, 1), "valid", random_uniform, y))
        return relu(layers.Add(name=name("add"))([x, y]))  # shortcut first

    def convolutional_block(x, f, filters, s):
        f1, f2, f3 = filters
        shortcut = bn(conv(f3, (1, 1), (s, s), "valid", glorot_uniform, x))  # built first
        y = relu(bn(conv(f1, (1, 1), (s, s), "valid", glorot_uniform, x)))
        y = relu(bn(conv(f2, (f, f), (1, 1), "same", glorot_uniform, y)))
        y = bn(conv(f3, (1, 1), (1, 1), "valid", glorot_uniform, y))
        return relu(layers.Add(name=name("add"))([shortcut, y]))

    x_input = keras.Input(input_shape, name=name("input"))
    x = layers.ZeroPadding2D((3, 3), name=name("pad"))(x_input)
    x = relu(bn(conv(64, (7, 7), (2, 2), "valid", glorot_uniform, x), momentum=0.99))
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), name=name("maxpool"))(x)
    for blocks, filters, s in [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2),
                               (6, [256, 256, 1024], 2), (3, [512, 512, 2048], 2)]:
        x = convolutional_block(x, 3, filters, s)
        for _ in range(blocks - 1):
            x = identity_block(x, 3, filters)
    x = layers.AveragePooling2D((2, 2), name=name("avgpool"))(x)
    x = layers.Flatten(name=name("flatten"))(x)
    x = layers.Dense(classes, activation="softmax", name=name("dense"),
                     kernel_initializer=glorot_uniform(seed=next(counter)))(x)
    return keras.Model(inputs=x_input, outputs=x)


def correct_resnet50():
    spec = importlib.util.spec_from_file_location("correct_layers_add", CORRECT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ResNet50(input_shape=(64, 64, 3), classes=6)


def worker(args) -> None:
    """One run in this (fresh) process; prints one RESULT line."""
    started = time.perf_counter()
    sys.path.insert(0, str(REPO))
    import resnet_kit  # noqa: F401  (before TensorFlow)
    from resnet_kit.device import import_tensorflow

    import_tensorflow()
    from autograder.engine import trainingcache
    from autograder.resnets import accuracy

    model = correct_resnet50() if args.worker == "correct" else variant_resnet50()
    cache = trainingcache.TrainingCache(json.loads(args.cache), seed=args.seed)
    trainingcache.install(cache)
    outcome = accuracy.trained_accuracy(model, args.epochs)
    entry = outcome.entry or {}
    print("RESULT " + json.dumps({
        "network": args.worker, "key": outcome.key, "reused": outcome.reused,
        "accuracy": outcome.accuracy, "weights_sha256": entry.get("weights_sha256"),
        "architecture": trainingcache.architecture_fingerprint(model),
        "train_seconds": entry.get("seconds"), "process_seconds": time.perf_counter() - started,
        "entry": entry, "numerics": trainingcache.numerics_fingerprint(),
    }), flush=True)


def run(network: str, epochs: int, seed: int, cache: dict) -> dict:
    command = [sys.executable, __file__, "--worker", network, "--epochs", str(epochs),
               "--seed", str(seed), "--cache", json.dumps(cache)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ), capture_output=True,
                          text=True, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
            result["wall_seconds"] = time.perf_counter() - started
            return result
    raise RuntimeError(f"{network} run failed ({done.returncode}):\n{done.stderr[-3000:]}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=GRADER_SEED)
    parser.add_argument("--worker", choices=["correct", "variant"], help=argparse.SUPPRESS)
    parser.add_argument("--cache", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    runs = []
    for label, network, cache in [("1 correct, fresh process, empty cache", "correct", None),
                                  ("2 variant, fresh process, empty cache", "variant", None),
                                  ("3 variant, fresh process, run 1's entry", "variant", "run1")]:
        given = {runs[0]["key"]: runs[0]["entry"]} if cache == "run1" and runs[0]["key"] else {}
        result = run(network, args.epochs, args.seed, given)
        runs.append(result)
        print(f"run {label}:\n  key {result['key']}\n  architecture {result['architecture']}\n"
              f"  reused {result['reused']}  accuracy {result['accuracy']!r}\n"
              f"  weights_sha256 {result['weights_sha256'] or result['entry'].get('weights_sha256')}\n"
              f"  train+score {result['train_seconds']} s  process {result['process_seconds']:.1f} s"
              f"  wall {result['wall_seconds']:.1f} s", flush=True)
    first, second, third = runs
    numerics = first["numerics"]
    print(f"# {args.epochs} epoch(s), seed {args.seed}; TF {numerics['tensorflow']}, Keras "
          f"{numerics['keras']}, {numerics['cpu'].get('model name')} "
          f"({numerics['cpus_usable']} CPUs), gpus {numerics['gpus']}, env {numerics['environment']}")
    print(f"same key (correct vs variant): {first['key'] == second['key']}")
    print(f"same trained weights, two fresh processes: "
          f"{first['weights_sha256'] == second['weights_sha256']}")
    print(f"same accuracy: {first['accuracy'] == second['accuracy']}")
    print(f"hit reports run 1's result: {third['reused'] and third['accuracy'] == first['accuracy']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
