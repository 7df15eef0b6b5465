"""Correct: the notebook's solution style - `import keras`, unnamed layers, Add(), Activation("relu")."""

import keras
from keras import layers
from keras.initializers import glorot_uniform, random_uniform


def identity_block(X, f, filters, training=None, initializer=random_uniform):
    F1, F2, F3 = filters
    X_shortcut = X
    X = layers.Conv2D(F1, (1, 1), strides=(1, 1), padding="valid",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F2, (f, f), strides=(1, 1), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Add()([X, X_shortcut])
    X = layers.Activation("relu")(X)
    return X


def convolutional_block(X, f, filters, s=2, training=None, initializer=glorot_uniform):
    F1, F2, F3 = filters
    X_shortcut = X
    X = layers.Conv2D(F1, (1, 1), strides=(s, s), padding="valid",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F2, (f, f), strides=(1, 1), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F3, (1, 1), strides=(1, 1), padding="valid",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X_shortcut = layers.Conv2D(F3, (1, 1), strides=(s, s), padding="valid",
                               kernel_initializer=initializer(seed=0))(X_shortcut)
    X_shortcut = layers.BatchNormalization(axis=3, momentum=0.9)(X_shortcut, training=training)
    X = layers.Add()([X, X_shortcut])
    X = layers.Activation("relu")(X)
    return X


def basic_block(X, filters, s=1, training=None, initializer=glorot_uniform):
    X_shortcut = X
    X = layers.Conv2D(filters, (3, 3), strides=(s, s), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(filters, (3, 3), strides=(1, 1), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
    if s != 1 or X_shortcut.shape[-1] != filters:
        X_shortcut = layers.Conv2D(filters, (1, 1), strides=(s, s), padding="valid",
                                   kernel_initializer=initializer(seed=0))(X_shortcut)
        X_shortcut = layers.BatchNormalization(axis=3, momentum=0.9)(X_shortcut,
                                                                     training=training)
    X = layers.Add()([X, X_shortcut])
    X = layers.Activation("relu")(X)
    return X


def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):
    X_input = keras.Input(input_shape)
    X = layers.ZeroPadding2D((3, 3))(X_input)
    X = layers.Conv2D(64, (7, 7), strides=(2, 2), kernel_initializer=glorot_uniform(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X, training=training)
    X = layers.Activation("relu")(X)
    X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)
    stages = [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2), (6, [256, 256, 1024], 2),
              (3, [512, 512, 2048], 2)]
    for blocks, filters, s in stages:
        X = convolutional_block(X, f=3, filters=filters, s=s, training=training)
        for _ in range(blocks - 1):
            X = identity_block(X, 3, filters, training=training)
    X = layers.AveragePooling2D((2, 2))(X)
    X = layers.Flatten()(X)
    X = layers.Dense(classes, activation="softmax", kernel_initializer=glorot_uniform(seed=0))(X)
    return keras.Model(inputs=X_input, outputs=X)
