"""Correct: `from tensorflow import keras`, layers.add([...]), keras.ops.add, keras.ops.relu and
keras.activations.relu on tensors, axis=-1, padding='same' on the 1x1 convs (the same as
'valid' for a 1x1 kernel, whatever the stride), training passed by keyword or not at all, a
BatchNormalization with epsilon=1e-5."""

from tensorflow import keras
from tensorflow.keras import layers


def identity_block(X, f, filters, training=None, initializer=keras.initializers.RandomUniform):
    F1, F2, F3 = filters
    shortcut = X
    X = layers.Conv2D(filters=F1, kernel_size=(1, 1), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=-1)(X, training=training)
    X = keras.ops.relu(X)
    X = layers.Conv2D(filters=F2, kernel_size=(f, f), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=-1)(X, training=training)
    X = keras.activations.relu(X)
    X = layers.Conv2D(filters=F3, kernel_size=(1, 1), kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(epsilon=1e-5, momentum=0.9)(X, training=training)
    return keras.ops.relu(layers.add([X, shortcut]))


def convolutional_block(X, f, filters, s=2, training=None,
                        initializer=keras.initializers.GlorotUniform):
    F1, F2, F3 = filters
    X_shortcut = layers.Conv2D(F3, (1, 1), strides=(s, s), padding="same",
                               kernel_initializer=initializer(seed=0))(X)
    X_shortcut = layers.BatchNormalization(axis=3)(X_shortcut)  # training left to Keras
    X = layers.Conv2D(F1, (1, 1), strides=(s, s), padding="same",
                      kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X)
    X = layers.Activation(keras.activations.relu)(X)
    X = layers.Conv2D(F2, (f, f), padding="same", kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X)
    X = layers.Activation("relu")(X)
    X = layers.Conv2D(F3, (1, 1), kernel_initializer=initializer(seed=0))(X)
    X = layers.BatchNormalization(axis=3)(X)
    X = keras.ops.add(X, X_shortcut)
    return layers.ReLU()(X)
