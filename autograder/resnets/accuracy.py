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

Which network is trained: the one the student's ``ResNet50`` builds, called as the ResNet-50
check calls it (``ResNet50(input_shape=(64, 64, 3), classes=6)``; the grader's capture plan
records that call, the sandbox makes it and the judge rebuilds its result). The notebook's
``model`` is never trained: any cell can set it to any network (a small CNN reaches 0.97 in 3
epochs), and points for it would be points for not doing the exercise. The network must also
*be* a ResNet-50 in its layers and parameters (:func:`not_a_resnet50`): the thresholds are
measured for ResNet-50, and a ``ResNet50`` that returns a small CNN is the same shortcut. A
ResNet-50 with a mistake in what it computes (a ReLU before an addition, a stride on the wrong
convolution, no zero padding, BatchNorm hard-wired) is still trained and scored: the ResNet-50
tests take its architecture points, and this test gives the training points it earns.
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


# Said when the accuracy test gives no points because of the network, not its accuracy.
WHICH_NETWORK = ("the accuracy test trains the network your ResNet50() builds, never the "
                 "notebook's `model`")


def not_a_resnet50(model) -> list[str]:
    """Why ``model`` is not a ResNet-50 the accuracy test trains ([]: it is one): its output
    shape, its layer counts (53 Conv2D, 53 BatchNormalization, 16 additions, 1 Dense, 1
    MaxPooling2D) and its parameters (total, trainable and not; a bias in every conv or none).
    Spatial shapes (strides, padding) and what the layers compute are not asked for: those are
    the ResNet-50 tests' mistakes, and such a network still trains."""
    from resnet_kit import architecture as arch
    from resnet_kit import diagnosis

    import keras

    wrong_output = diagnosis.output_shape_problem(model)  # names the layer (a missing Flatten)
    if wrong_output is not None:
        return [wrong_output]
    kinds = {"Conv2D": keras.layers.Conv2D, "BatchNormalization": keras.layers.BatchNormalization,
             "Dense": keras.layers.Dense, "MaxPooling2D": keras.layers.MaxPooling2D}
    counts = dict.fromkeys(arch.resnet50_layer_counts(), 0)
    for op in model.operations:
        for kind, cls in kinds.items():
            counts[kind] += isinstance(op, cls)
        counts["Add"] += diagnosis.classify(op) == "add"
    problems = [f"expected {n} {kind} ({why}), found {counts[kind]}"
                for kind, (n, why) in arch.resnet50_layer_counts().items() if counts[kind] != n]
    if problems:
        return problems
    got, want = diagnosis.resnet50_param_counts(model)
    if got != want:
        return [diagnosis.params_message(got, want)]
    return []


def network_to_train(resnet50):
    """The network ``resnet50`` builds, called as the ResNet-50 check calls it, if it is a
    ResNet-50 to train; otherwise why there are no accuracy points (``NotImplementedError``
    for an unwritten ``ResNet50``, ``AssertionError`` for anything else)."""
    from resnet_kit import diagnosis

    import keras

    if isinstance(resnet50, keras.Model) or not callable(resnet50):
        raise AssertionError(f"{WHICH_NETWORK}: check_training takes the function ResNet50, "
                             f"got a {type(resnet50).__name__}")
    from autograder.engine.judge import GraderError

    grader_errors: list[GraderError] = []

    def build(*args, **kwargs):  # the grader's own failure must not read as the student's
        try:
            return resnet50(*args, **kwargs)
        except GraderError as exc:
            grader_errors.append(exc)
            raise

    try:
        model = diagnosis.build_resnet50(build, skip=(str(HERE / "accuracy.py"),))
    except NotImplementedError:
        raise NotImplementedError(f"ResNet50 is not written yet, so there is nothing to train "
                                  f"and no accuracy points ({WHICH_NETWORK}): replace `raise "
                                  "NotImplementedError()` with your code") from None
    except AssertionError as exc:
        if grader_errors:
            raise grader_errors[0] from None
        raise AssertionError(f"ResNet50() did not build a network, so there is nothing to "
                             f"train and no accuracy points ({WHICH_NETWORK}): {exc}") from None
    problems = not_a_resnet50(model)
    if problems:
        raise AssertionError(str(diagnosis.Mistake(
            "ResNet50() does not build a ResNet-50, so it earns no accuracy points: the "
            "accuracy test trains only the ResNet-50 your ResNet50() builds (its thresholds "
            "are measured for ResNet-50), never another network or the notebook's `model`",
            problems)))
    return model


def check_training(resnet50, epochs: int) -> str:
    """Train the network ``resnet50`` builds (the student's ``ResNet50``, see
    :func:`network_to_train`) for ``epochs`` and assert the hidden-split accuracy reaches the
    threshold measured for that budget."""
    budget, threshold = threshold_for(epochs)
    model = network_to_train(resnet50)
    outcome = trained_accuracy(model, epochs)
    accuracy = outcome.accuracy
    note = f" {REUSED_NOTE}" if outcome.reused else ""
    assert accuracy >= threshold, (
        f"the grader trained the ResNet-50 your ResNet50() builds for {epochs} epoch(s) and it "
        f"classifies {accuracy:.1%} of the hidden hand signs correctly{note}; the reference "
        f"ResNet-50 reaches at least {threshold:.1%} with that budget ({budget}-epoch "
        "threshold). Check that the model trains: does the training loss go down? Are the "
        "blocks' visible tests passing?"
    )
    return (f"hidden-split accuracy {accuracy:.3f} >= {threshold:.3f} ({budget}-epoch "
            f"threshold), the network ResNet50() builds trained for {epochs} epoch(s){note}")
