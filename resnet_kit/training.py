"""Training helpers the ResNet-50 notebook uses.

The one idea here is BatchNorm *recalibration*. In inference mode a BatchNormalization layer
normalises with moving averages of the batch statistics it saw in training. After a short
training run those averages lag behind the weights (see part 1, section 4), and the network
looks much worse at test time than it is. Recalibrating replaces them with the statistics of
the training set under the *final* weights: one forward pass in training mode, averaging the
per-batch means and variances with equal weight. Weights are not changed.
"""

from __future__ import annotations

import os

import numpy as np

EPOCHS_ENVIRONMENT_VARIABLE = "RESNET_KIT_EPOCHS"


def epochs_setting(default: int) -> int:
    """The number of epochs to train: ``RESNET_KIT_EPOCHS`` if set (graders lower it), else ``default``."""
    value = os.environ.get(EPOCHS_ENVIRONMENT_VARIABLE, "").strip()
    if not value:
        return default
    try:
        epochs = int(value)
    except ValueError:
        raise ValueError(
            f"{EPOCHS_ENVIRONMENT_VARIABLE}={value!r} is not a whole number of epochs"
        ) from None
    if epochs < 1:
        raise ValueError(f"{EPOCHS_ENVIRONMENT_VARIABLE} must be at least 1, got {epochs}")
    return epochs


def batchnorm_layers(model) -> list:
    """Every BatchNormalization layer in ``model``, nested models included."""
    import keras

    found = []
    for layer in model.layers:  # public API: a nested model is one of the layers
        if isinstance(layer, keras.Model):
            found += batchnorm_layers(layer)
        elif isinstance(layer, keras.layers.BatchNormalization):
            found.append(layer)
    return found


def recalibrate_batchnorm(model, x: np.ndarray, batch_size: int = 32) -> int:
    """Set every BatchNorm layer's moving mean/variance to its average over ``x``.

    Runs ``model`` once over ``x`` in training mode. Batch k (counting from 0) is given
    momentum k / (k + 1), so the moving statistics end as the plain average of the per-batch
    statistics, whatever the layers' own momentum. Returns the number of layers recalibrated.
    """
    layers = batchnorm_layers(model)
    if not layers:
        return 0
    momenta = [layer.momentum for layer in layers]
    try:
        for batch_index, start in enumerate(range(0, len(x), batch_size)):
            for layer in layers:
                layer.momentum = batch_index / (batch_index + 1)
            model(x[start : start + batch_size], training=True)
    finally:
        for layer, momentum in zip(layers, momenta):
            layer.momentum = momentum
    return len(layers)
