"""Hidden test of the trained ResNet-50: accuracy on a hidden hand-signs split.

The split (``autograder/resnets/data/signs_hidden.h5``) is rendered like the kit's data but with its own
seed, and students never receive it. Before evaluating, BatchNorm is recalibrated on the
shipped training set (see ``resnet_kit.training``), so a student is judged on what the network
learned, not on how far the moving averages lagged behind in a short grading run.

Thresholds depend on the number of epochs trained (graders lower it with RESNET_KIT_EPOCHS).
They were measured with ``benchmarks/resnet50_training.py thresholds`` over several seeds and are kept,
with the measurements, in ``autograder/resnets/thresholds.json``.
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


def train_fresh(model, epochs: int, batch_size: int = 32):
    """A copy of ``model``'s architecture with fresh weights, trained as notebook 2 trains
    (Adam, learning rate 1e-3, categorical cross-entropy, batch 32) on the kit's training set.

    The grader trains every student's architecture itself, with its own budget and seed, so
    nothing the student's kernel did (its EPOCHS, its training, its patched modules) counts.
    """
    import keras

    from resnet_kit import data

    fresh = keras.models.clone_model(model)
    fresh.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-3),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    x_train, y_train, _x_test, _y_test, classes = data.load_signs()
    x, y = data.preprocess(x_train, y_train, len(classes))
    fresh.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return fresh


def check_training(model, epochs: int) -> str:
    """Train ``model``'s architecture for ``epochs`` and assert the hidden-split accuracy
    reaches the threshold measured for that budget."""
    budget, threshold = threshold_for(epochs)
    accuracy = hidden_split_accuracy(train_fresh(model, epochs))
    assert accuracy >= threshold, (
        f"the grader trained your ResNet-50 for {epochs} epoch(s) and it classifies "
        f"{accuracy:.1%} of the hidden hand signs correctly; the reference ResNet-50 reaches at "
        f"least {threshold:.1%} with that budget ({budget}-epoch threshold). Check that the "
        "model trains: does the training loss go down? Are the blocks' visible tests passing?"
    )
    return f"hidden-split accuracy {accuracy:.3f} >= {threshold:.3f} ({budget}-epoch threshold)"
