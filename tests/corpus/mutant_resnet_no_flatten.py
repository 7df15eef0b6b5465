"""Mutant: no Flatten between the average pool and Dense: Dense then works on the channels of each
position and the model outputs (None, 1, 1, 6)."""

import keras
from keras import layers
from correct_layers_add import convolutional_block, identity_block


def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):
    X_input = keras.Input(input_shape)
    X = layers.ZeroPadding2D((3, 3))(X_input)
    X = layers.Conv2D(64, (7, 7), strides=(2, 2))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)
    for blocks, filters, s in [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2),
                               (6, [256, 256, 1024], 2), (3, [512, 512, 2048], 2)]:
        X = convolutional_block(X, f=3, filters=filters, s=s, training=training)
        for _ in range(blocks - 1):
            X = identity_block(X, 3, filters, training=training)
    X = layers.AveragePooling2D((2, 2))(X)
    X = layers.Dense(classes, activation="softmax")(X)
    return keras.Model(inputs=X_input, outputs=X)
