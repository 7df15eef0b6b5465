"""Mutant: the middle conv's window is hard-coded to 3x3 instead of f x f (right whenever f=3)."""

import keras
from keras import layers


def convolutional_block(X, f, filters, s=2, training=None,
                        initializer=keras.initializers.glorot_uniform):
    F1, F2, F3 = filters
    X_shortcut = X
    X = layers.Conv2D(F1, 1, strides=s, padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F2, 3, strides=1, padding="same", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F3, 1, strides=1, padding="valid", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X_shortcut = layers.Conv2D(F3, 1, strides=s, padding="valid",
                               kernel_initializer=initializer(seed=0))(X_shortcut)
    X_shortcut = layers.BatchNormalization(axis=3)(X_shortcut, training=training)
    X = layers.Add()([X, X_shortcut])
    return layers.Activation("relu")(X)
