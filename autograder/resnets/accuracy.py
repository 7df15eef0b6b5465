"""Hidden test of the trained ResNet-50: accuracy on a hidden hand-signs split.

The split (``autograder/resnets/data/signs_hidden.h5``) is rendered like the kit's data but with its own
seed, and students never receive it. Before evaluating, BatchNorm is recalibrated on the
shipped training set (see ``resnet_kit.training``), so a student is judged on what the network
learned, not on how far the moving averages lagged behind in a short grading run.

Thresholds depend on the number of epochs trained (graders lower it with RESNET_KIT_EPOCHS).
They were measured with ``benchmarks/resnet50_training.py thresholds`` over several seeds and are kept,
with the measurements, in ``autograder/resnets/thresholds.json``.

The grader trains each architecture once: the result is kept in the judge's training cache
(:mod:`autograder.engine.trainingcache`) under a key of the architecture, the grader's seed,
the data, the budget and the numerics, and every student with the same key reuses it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
HIDDEN_SPLIT = HERE / "data" / "signs_hidden.h5"
THRESHOLDS_FILE = HERE / "thresholds.json"


def load_hidden_split():
    """Hidden images scaled to [0, 1] and their integer labels."""
    from resnet_kit.data import load_signs_split

    from resnet_kit.data import normalize_images

    x, y, _classes = load_signs_split(HIDDEN_SPLIT)
    return normalize_images(x), np.asarray(y).ravel()


def hidden_split_accuracy(model, recalibrate: bool = True, batch_size: int = 32) -> float:
    """Fraction of the hidden split that ``model`` classifies correctly, in inference mode."""
    from resnet_kit import data, training

    if recalibrate:
        x_train, _, _, _, _ = data.load_signs()
        training.recalibrate_batchnorm(model, data.normalize_images(x_train), batch_size)
    x, y = load_hidden_split()
    probabilities = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    return float(np.mean(np.argmax(probabilities, axis=1) == y))


def thresholds() -> dict[int, float]:
    """Measured pass thresholds: epochs trained -> minimum hidden-split accuracy."""
    with open(THRESHOLDS_FILE) as f:
        table = json.load(f)["thresholds"]
    return {int(epochs): float(value) for epochs, value in table.items()}


def threshold_for(epochs: int) -> tuple[int, float]:
    """The threshold of the largest measured budget that does not exceed ``epochs``."""
    table = thresholds()
    budgets = [budget for budget in sorted(table) if budget <= epochs]
    if not budgets:
        raise AssertionError(
            f"no accuracy threshold was measured for {epochs} epoch(s); the smallest grading "
            f"budget is {min(table)} epochs (set RESNET_KIT_EPOCHS to at least that)"
        )
    return budgets[-1], table[budgets[-1]]


# What a cached accuracy promises beyond its key's other parts: change it when the training or
# the measurement changes (the optimizer settings, data and budget are in the key already).
PROCEDURE = ("resnets.accuracy/1: clone, canonical init, fit shuffled, BatchNorm recalibrated "
             "on the training set, accuracy on the hidden split")
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
LOSS = "categorical_crossentropy"
REUSED_NOTE = ("(trained result reused from the training cache: same architecture, seed, data "
               "and budget)")


def _optimizer():
    import keras

    return keras.optimizers.Adam(learning_rate=LEARNING_RATE)


def _compile_and_fit(model, epochs: int, batch_size: int) -> None:
    from resnet_kit import data

    model.compile(optimizer=_optimizer(), loss=LOSS, metrics=["accuracy"])
    x_train, y_train, _x_test, _y_test, classes = data.load_signs()
    x, y = data.preprocess(x_train, y_train, len(classes))
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)


def data_fingerprint() -> str:
    """sha256 of what training and scoring read: the training arrays and the hidden split."""
    import hashlib

    from resnet_kit import data

    digest = hashlib.sha256()
    x_train, y_train, _x_test, _y_test, classes = data.load_signs()
    for array in (x_train, y_train, classes):
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}/{array.dtype};".encode())
        digest.update(array.tobytes())
    digest.update(HIDDEN_SPLIT.read_bytes())
    return digest.hexdigest()


def optimizer_settings() -> dict:
    """The optimizer's full configuration (learning rate, betas, epsilon, ...), for the key."""
    import keras

    config = keras.optimizers.serialize(_optimizer())
    config = dict(config, config={k: v for k, v in config["config"].items() if k != "name"})
    return json.loads(json.dumps(config, default=str))


def trained_accuracy(model, epochs: int, batch_size: int = BATCH_SIZE):
    """Hidden-split accuracy of ``model``'s architecture trained from canonical weights with
    the grader's seed, or the same result from the judge's training cache
    (:mod:`autograder.engine.trainingcache`). Returns a ``trainingcache.Outcome``."""
    from autograder.engine import trainingcache

    key_parts = {"procedure": PROCEDURE, "data": data_fingerprint(), "epochs": int(epochs),
                 "batch_size": int(batch_size), "optimizer": optimizer_settings(), "loss": LOSS}
    return trainingcache.train_or_reuse(
        model, lambda fresh: _compile_and_fit(fresh, epochs, batch_size),
        hidden_split_accuracy, key_parts)


def check_training(model, epochs: int) -> str:
    """Train ``model``'s architecture for ``epochs`` and assert the hidden-split accuracy
    reaches the threshold measured for that budget."""
    budget, threshold = threshold_for(epochs)
    outcome = trained_accuracy(model, epochs)
    accuracy = outcome.accuracy
    note = f" {REUSED_NOTE}" if outcome.reused else ""
    assert accuracy >= threshold, (
        f"the grader trained your ResNet-50 for {epochs} epoch(s) and it classifies "
        f"{accuracy:.1%} of the hidden hand signs correctly{note}; the reference ResNet-50 "
        f"reaches at least {threshold:.1%} with that budget ({budget}-epoch threshold). Check "
        "that the model trains: does the training loss go down? Are the blocks' visible tests "
        "passing?"
    )
    return (f"hidden-split accuracy {accuracy:.3f} >= {threshold:.3f} ({budget}-epoch "
            f"threshold){note}")
