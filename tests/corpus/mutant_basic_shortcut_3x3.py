"""Mutant: the projection shortcut is a 3x3 conv ('same'), not 1x1: the shapes still add up,
the values do not."""

import keras
from keras import layers


def basic_block(X, filters, s=1, training=None, initializer=keras.initializers.glorot_uniform):
    X_shortcut = X
    X = layers.Conv2D(filters, 3, strides=s, padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.ReLU()(X)
    X = layers.Conv2D(filters, 3, strides=1, padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    if s != 1 or X_shortcut.shape[-1] != filters:
        X_shortcut = layers.Conv2D(filters, 3, strides=s, padding="same",
                                   kernel_initializer=initializer(seed=0))(X_shortcut)
        X_shortcut = layers.BatchNormalization(axis=3)(X_shortcut, training=training)
    X = layers.Add()([X, X_shortcut])
    return layers.ReLU()(X)
