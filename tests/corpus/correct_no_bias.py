"""Correct: every Conv2D with use_bias=False (BatchNorm's beta does the bias's job), `a + b`
for the addition and layers.ReLU()."""

import keras
from keras import layers
from keras.initializers import glorot_uniform, random_uniform


def _conv(filters, k, s, padding, initializer):
    return layers.Conv2D(filters, k, strides=s, padding=padding, use_bias=False,
                         kernel_initializer=initializer(seed=0))


def _bn(X, training):
    return layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)


def identity_block(X, f, filters, training=None, initializer=random_uniform):
    F1, F2, F3 = filters
    h = layers.ReLU()(_bn(_conv(F1, 1, 1, "valid", initializer)(X), training))
    h = layers.ReLU()(_bn(_conv(F2, f, 1, "same", initializer)(h), training))
    h = _bn(_conv(F3, 1, 1, "valid", initializer)(h), training)
    return layers.ReLU()(h + X)


def convolutional_block(X, f, filters, s=2, training=None, initializer=glorot_uniform):
    F1, F2, F3 = filters
    h = layers.ReLU()(_bn(_conv(F1, 1, s, "valid", initializer)(X), training))
    h = layers.ReLU()(_bn(_conv(F2, f, 1, "same", initializer)(h), training))
    h = _bn(_conv(F3, 1, 1, "valid", initializer)(h), training)
    shortcut = _bn(_conv(F3, 1, s, "valid", initializer)(X), training)
    return layers.ReLU()(h + shortcut)


def basic_block(X, filters, s=1, training=None, initializer=glorot_uniform):
    h = layers.ReLU()(_bn(_conv(filters, 3, s, "same", initializer)(X), training))
    h = _bn(_conv(filters, 3, 1, "same", initializer)(h), training)
    shortcut = X
    if s != 1 or X.shape[-1] != filters:
        shortcut = _bn(_conv(filters, 1, s, "valid", initializer)(X), training)
    return layers.ReLU()(h + shortcut)


def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):
    X_input = keras.Input(input_shape)
    X = layers.ZeroPadding2D((3, 3))(X_input)
    X = layers.ReLU()(_bn(_conv(64, 7, 2, "valid", glorot_uniform)(X), training))
    X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)
    for blocks, filters, s in [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2),
                               (6, [256, 256, 1024], 2), (3, [512, 512, 2048], 2)]:
        X = convolutional_block(X, f=3, filters=filters, s=s, training=training)
        for _ in range(blocks - 1):
            X = identity_block(X, 3, filters, training=training)
    X = layers.GlobalAveragePooling2D()(X)
    X = layers.Dense(classes, activation="softmax")(X)
    return keras.Model(inputs=X_input, outputs=X)
