"""Correct: `import tensorflow as tf` + tf.keras.layers, `x + y`, ReLU() layers, int kernel
sizes, uniquely named layers, shortcut listed first, Conv2D(..., activation=None) spelled out."""

import itertools

import tensorflow as tf

_ids = itertools.count()


def _name(kind):
    return f"{kind}_{next(_ids)}"


def identity_block(X, f, filters, training=None,
                   initializer=tf.keras.initializers.random_uniform):
    F1, F2, F3 = filters
    X_shortcut = X
    X = tf.keras.layers.Conv2D(F1, 1, padding="valid", activation=None, name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    X = tf.keras.layers.ReLU(name=_name("relu"))(X)
    X = tf.keras.layers.Conv2D(F2, f, padding="same", activation=None, name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    X = tf.keras.layers.ReLU(name=_name("relu"))(X)
    X = tf.keras.layers.Conv2D(F3, 1, padding="valid", activation=None, name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    X = X_shortcut + X
    return tf.keras.layers.ReLU(name=_name("relu"))(X)


def convolutional_block(X, f, filters, s=2, training=None,
                        initializer=tf.keras.initializers.glorot_uniform):
    F1, F2, F3 = filters
    # Shortcut first this time.
    shortcut = tf.keras.layers.Conv2D(F3, 1, strides=s, name=_name("sc_conv"),
                                      kernel_initializer=initializer(seed=0))(X)
    shortcut = tf.keras.layers.BatchNormalization(axis=3, name=_name("sc_bn"))(
        shortcut, training=training)
    X = tf.keras.layers.Conv2D(F1, 1, strides=s, name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    X = tf.keras.layers.ReLU()(X)
    X = tf.keras.layers.Conv2D(F2, f, padding="same", name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    X = tf.keras.layers.ReLU()(X)
    X = tf.keras.layers.Conv2D(F3, 1, name=_name("conv"),
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3, name=_name("bn"))(X, training=training)
    return tf.keras.layers.ReLU()(shortcut + X)


def basic_block(X, filters, s=1, training=None,
                initializer=tf.keras.initializers.glorot_uniform):
    shortcut = X
    X = tf.keras.layers.Conv2D(filters, 3, strides=s, padding="same",
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3)(X, training=training)
    X = tf.keras.layers.ReLU()(X)
    X = tf.keras.layers.Conv2D(filters, 3, padding="same",
                               kernel_initializer=initializer(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3)(X, training=training)
    if s != 1 or shortcut.shape[-1] != filters:
        shortcut = tf.keras.layers.Conv2D(filters, 1, strides=s,
                                          kernel_initializer=initializer(seed=0))(shortcut)
        shortcut = tf.keras.layers.BatchNormalization(axis=3)(shortcut, training=training)
    return tf.keras.layers.ReLU()(X + shortcut)


def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):
    glorot = tf.keras.initializers.glorot_uniform
    X_input = tf.keras.Input(input_shape)
    X = tf.keras.layers.ZeroPadding2D(3)(X_input)
    X = tf.keras.layers.Conv2D(64, 7, strides=2, kernel_initializer=glorot(seed=0))(X)
    X = tf.keras.layers.BatchNormalization(axis=3)(X, training=training)
    X = tf.keras.layers.ReLU()(X)
    X = tf.keras.layers.MaxPooling2D(3, strides=2)(X)
    for blocks, filters, s in [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2),
                               (6, [256, 256, 1024], 2), (3, [512, 512, 2048], 2)]:
        X = convolutional_block(X, 3, filters, s=s, training=training)
        for _ in range(blocks - 1):
            X = identity_block(X, 3, filters, training=training)
    X = tf.keras.layers.AveragePooling2D(2)(X)
    X = tf.keras.layers.Flatten()(X)
    X = tf.keras.layers.Dense(classes, activation="softmax")(X)
    return tf.keras.Model(X_input, X)
