"""The NumPy reference (resnet_kit/reference.py) computes what TensorFlow/Keras compute."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)
from resnet_kit.device import import_tensorflow

tf = import_tensorflow()

import dataclasses  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from keras import layers  # noqa: E402

from resnet_kit import reference as ref  # noqa: E402

# float32 Keras vs float64 NumPy on O(1) values: a few float32 roundings per output.
RTOL = 1e-4


def close(actual, expected, floor_scale=1e-3):
    expected = np.asarray(expected, dtype=np.float64)
    floor = floor_scale * max(float(np.max(np.abs(expected))), 1e-6)
    return ref.rel_error(actual, expected, floor=floor) < RTOL


@pytest.mark.parametrize(
    "size, kernel, stride, expected",
    [
        (8, 3, 1, (1, 1)),
        (8, 3, 2, (0, 1)),  # asymmetric: the extra zero goes after
        (7, 3, 2, (1, 1)),
        (9, 1, 2, (0, 0)),
        (8, 1, 2, (0, 0)),
        (5, 5, 1, (2, 2)),
        (6, 4, 1, (1, 2)),
        (7, 5, 3, (2, 2)),
        (8, 5, 3, (1, 2)),
    ],
)
def test_same_padding_matches_tensorflows_rule(size, kernel, stride, expected):
    assert ref.same_padding(size, kernel, stride) == expected


@pytest.mark.parametrize("padding", ["valid", "same"])
@pytest.mark.parametrize(
    "hw, k, stride",
    [((7, 7), 3, 2), ((9, 9), 3, 2), ((8, 9), 3, 2), ((8, 8), 1, 2), ((7, 6), 5, 1),
     ((9, 7), 3, 3), ((6, 6), 4, 2), ((5, 5), 3, 1)],
)
def test_conv2d_matches_tf_nn_conv2d(hw, k, stride, padding):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, *hw, 3))
    kernel = rng.standard_normal((k, k, 3, 4))
    bias = rng.standard_normal(4)
    expected = tf.nn.conv2d(
        x.astype("float32"), kernel.astype("float32"), strides=stride, padding=padding.upper()
    ) + bias.astype("float32")
    actual = ref.conv2d(x, kernel, bias, stride=stride, padding=padding)
    assert actual.shape == tuple(expected.shape)
    assert close(actual, expected.numpy())


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_matches_keras_conv2d_with_stride_2_on_odd_input(padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 9, 7, 2)).astype("float32")
    layer = layers.Conv2D(5, (3, 3), strides=(2, 2), padding=padding)
    expected = np.asarray(layer(x))
    actual = ref.conv2d(x, layer.kernel.numpy(), layer.bias.numpy(), stride=2, padding=padding)
    assert actual.shape == expected.shape
    assert close(actual, expected)


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_matches_keras_in_both_modes(training):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((4, 5, 5, 3)) * 2 + 1).astype("float32")
    bn = layers.BatchNormalization(axis=3, epsilon=1e-2)
    bn.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, 3), rng.standard_normal(3), rng.standard_normal(3),
               rng.uniform(0.5, 2.0, 3)]
    bn.set_weights([w.astype("float32") for w in weights])
    expected = np.asarray(bn(x, training=training))
    gamma, beta, mean, var = weights
    actual = ref.batchnorm(x, gamma, beta, mean, var, epsilon=1e-2, training=training)
    assert close(actual, expected)


def test_batchnorm_training_mode_uses_the_biased_variance():
    x = np.arange(4.0).reshape(4, 1, 1, 1)
    out = ref.batchnorm(x, [1.0], [0.0], [0.0], [1.0], epsilon=0.0, training=True)
    np.testing.assert_allclose(out.ravel(), (x.ravel() - 1.5) / np.sqrt(1.25))


def test_rel_error_is_cs231n_formula():
    assert ref.rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert ref.rel_error([1.0], [3.0]) == pytest.approx(0.5)
    assert ref.rel_error([0.0], [0.0]) == 0.0


# --- blocks vs hand-written Keras blocks whose layers the test holds --------------------------


def _randomise(model_layers, rng):
    """Give every conv and BN non-trivial weights; return their reference records."""
    records = []
    for layer in model_layers:
        if isinstance(layer, layers.Conv2D):
            k = layer.kernel.shape
            kernel = rng.standard_normal(k) * np.sqrt(2.0 / (k[0] * k[1] * k[2]))
            bias = rng.standard_normal(k[3]) * 0.1
            layer.set_weights([kernel.astype("float32"), bias.astype("float32")])
            records.append(ref.Conv(kernel, bias))
        else:
            c = layer.gamma.shape[0]
            w = [rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.3,
                 rng.standard_normal(c) * 0.3, rng.uniform(0.5, 2.0, c)]
            layer.set_weights([a.astype("float32") for a in w])
            records.append(ref.BatchNorm(*w, epsilon=layer.epsilon))
    return records


def _outputs_both_modes(model, x):
    # Inference first: a training-mode call updates the moving averages.
    return np.asarray(model(x, training=False)), np.asarray(model(x, training=True))


@pytest.mark.parametrize("shape", [(2, 6, 6, 8), (3, 7, 7, 8)])
def test_identity_block_ref_matches_keras(shape):
    f, (F1, F2, F3) = 3, (3, 5, 8)
    L = [layers.Conv2D(F1, 1), layers.BatchNormalization(axis=3, epsilon=1e-3),
         layers.Conv2D(F2, f, padding="same"), layers.BatchNormalization(axis=3, epsilon=1e-2),
         layers.Conv2D(F3, 1), layers.BatchNormalization(axis=3, epsilon=1e-3)]
    inp = keras.Input(shape[1:])
    h = layers.ReLU()(L[1](L[0](inp)))
    h = layers.ReLU()(L[3](L[2](h)))
    out = layers.ReLU()(layers.Add()([L[5](L[4](h)), inp]))
    model = keras.Model(inp, out)
    w = _randomise(L, np.random.default_rng(3))
    x = np.random.default_rng(4).standard_normal(shape).astype("float32")
    inference, training = _outputs_both_modes(model, x)
    assert close(ref.identity_block_ref(x, *w, training=False), inference)
    assert close(ref.identity_block_ref(x, *w, training=True), training)


@pytest.mark.parametrize("shape, f, s", [((2, 8, 8, 3), 3, 2), ((2, 9, 9, 4), 3, 2),
                                         ((2, 7, 7, 4), 2, 1), ((1, 9, 9, 3), 3, 3)])
def test_convolutional_block_ref_matches_keras(shape, f, s):
    F1, F2, F3 = 2, 3, 6
    L = [layers.Conv2D(F1, 1, strides=s), layers.BatchNormalization(axis=3),
         layers.Conv2D(F2, f, padding="same"), layers.BatchNormalization(axis=3),
         layers.Conv2D(F3, 1), layers.BatchNormalization(axis=3),
         layers.Conv2D(F3, 1, strides=s), layers.BatchNormalization(axis=3)]
    inp = keras.Input(shape[1:])
    h = layers.ReLU()(L[1](L[0](inp)))
    h = layers.ReLU()(L[3](L[2](h)))
    out = layers.ReLU()(L[5](L[4](h)) + L[7](L[6](inp)))
    model = keras.Model(inp, out)
    w = _randomise(L, np.random.default_rng(5))
    x = np.random.default_rng(6).standard_normal(shape).astype("float32")
    inference, training = _outputs_both_modes(model, x)
    assert close(ref.convolutional_block_ref(x, *w, s=s, training=False), inference)
    assert close(ref.convolutional_block_ref(x, *w, s=s, training=True), training)


@pytest.mark.parametrize("shape, filters, s", [((2, 6, 6, 4), 4, 1), ((2, 9, 9, 3), 5, 2),
                                               ((2, 6, 6, 3), 5, 1)])
def test_basic_block_ref_matches_keras(shape, filters, s):
    projection = s != 1 or shape[-1] != filters
    L = [layers.Conv2D(filters, 3, strides=s, padding="same"), layers.BatchNormalization(axis=3),
         layers.Conv2D(filters, 3, padding="same"), layers.BatchNormalization(axis=3)]
    if projection:
        L += [layers.Conv2D(filters, 1, strides=s), layers.BatchNormalization(axis=3)]
    inp = keras.Input(shape[1:])
    h = layers.ReLU()(L[1](L[0](inp)))
    h = L[3](L[2](h))
    shortcut = L[5](L[4](inp)) if projection else inp
    model = keras.Model(inp, layers.ReLU()(h + shortcut))
    w = _randomise(L, np.random.default_rng(7))
    x = np.random.default_rng(8).standard_normal(shape).astype("float32")
    inference, training = _outputs_both_modes(model, x)
    assert close(ref.basic_block_ref(x, *w, s=s, training=False), inference)
    assert close(ref.basic_block_ref(x, *w, s=s, training=True), training)


def test_block_refs_accept_dicts():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((1, 4, 4, 2))
    convs = [{"kernel": rng.standard_normal((1, 1, 2, 2))},
             {"kernel": rng.standard_normal((3, 3, 2, 2))},
             {"kernel": rng.standard_normal((1, 1, 2, 2)), "bias": np.ones(2)}]
    bns = [dataclasses.asdict(ref.BatchNorm.fresh(2)) for _ in range(3)]
    as_dicts = ref.identity_block_ref(x, convs[0], bns[0], convs[1], bns[1], convs[2], bns[2],
                                      training=True)
    as_records = ref.identity_block_ref(
        x, *[item for c, b in zip(convs, bns) for item in (ref.as_conv(c), ref.as_batchnorm(b))],
        training=True,
    )
    np.testing.assert_array_equal(as_dicts, as_records)
