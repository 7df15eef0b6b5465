"""Mutant: Add()([X, X]) - the main path added to itself instead of the shortcut."""

import keras
from keras import layers


def identity_block(X, f, filters, training=None, initializer=keras.initializers.random_uniform):
    F1, F2, F3 = filters
    X = layers.Conv2D(F1, (1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F2, (f, f), padding="same", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F3, (1, 1), padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Add()([X, X])
    return layers.Activation("relu")(X)
