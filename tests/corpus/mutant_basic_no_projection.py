"""Mutant: the shortcut is always X, even when the shape changes."""

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
    X = layers.Add()([X, X_shortcut])
    return layers.ReLU()(X)
