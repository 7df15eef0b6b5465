"""Plain vs. residual: see the degradation problem on a laptop CPU (optional, ungraded).

He et al. (2015) found that a deeper *plain* network (convolutions, BatchNorm and ReLU stacked
one after the other) reaches a **higher training loss** than a shallower one, although it could
copy the shallower network and pass its input through the extra layers unchanged. That is not
overfitting, since the training loss is the one that is worse: the deep plain network is harder
to optimise. A residual network of the same depth does not have this problem.

This module reproduces that comparison small enough for a few minutes on two CPU cores:

* :func:`load_small_signs`: the kit's hand signs (:func:`resnet_kit.data.load_signs`),
  downsampled from 64x64 to 32x32 pixels by 2x2 average pooling (in NumPy), scaled to [0, 1].
* :func:`build_net`: a small CNN whose ``depth`` counts its 3x3 convolutions. Without a
  ``residual_block`` its body is a plain stack of conv-BN-ReLU-conv-BN-ReLU pairs; with one
  (your ``basic_block`` from part 1) the body is those blocks. Everything else is the same.
* :func:`run_experiment`: trains a shallow plain net, a deep plain net and a deep residual net
  with the same seed, data and optimiser, and returns their training curves.
* :func:`plot_experiment`: the training-loss curves and the final training accuracy.

The residual block is deliberately **not** implemented here: the residual networks are built
from the function you pass in.

Import :mod:`resnet_kit` (and call :func:`resnet_kit.device.setup`) before TensorFlow, as
everywhere in the kit. Everything this module prints goes to stdout.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence

import numpy as np

from resnet_kit import data as _data
from resnet_kit import device as _device

#: BatchNorm momentum, the same as the notebooks' ``BN_MOMENTUM`` (part 1, section 4).
BN_MOMENTUM = 0.9
#: Side of the downsampled images, in pixels.
SMALL_IMAGE_SIZE = 32
#: Default network width (filters of every 3x3 convolution).
DEFAULT_WIDTH = 16
#: Default depths: (shallow, deep), in 3x3 convolutions.
DEFAULT_DEPTHS = (8, 48)
#: Default number of training epochs.
DEFAULT_EPOCHS = 8
#: Default mini-batch size.
DEFAULT_BATCH_SIZE = 32
#: Adam's learning rate (Keras' default).
DEFAULT_LEARNING_RATE = 1e-3

# Colours of the plot (colour-blind safe, Okabe-Ito): plain networks from the shallowest to the
# deepest, then residual ones.
_PLAIN_COLORS = ("#0072B2", "#E69F00", "#CC79A7", "#D55E00")
_RESIDUAL_COLORS = ("#009E73", "#56B4E9", "#000000")


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def downsample(X_orig, factor: int = 2) -> np.ndarray:
    """Average-pool images by ``factor`` x ``factor`` in NumPy and scale them to [0, 1].

    ``(m, 64, 64, 3)`` uint8 in, ``(m, 64 // factor, 64 // factor, 3)`` float32 out.
    """
    X = _data.normalize_images(X_orig)
    m, h, w, c = X.shape
    if h % factor or w % factor:
        raise ValueError(f"downsample: {h}x{w} images do not divide by factor {factor}.")
    return X.reshape(m, h // factor, factor, w // factor, factor, c).mean(axis=(2, 4))


def load_small_signs(n: int | None = None, data_dir=None):
    """The hand-signs TRAINING set at 32x32 pixels, for the plain-vs-residual experiment.

    Loads :func:`resnet_kit.data.load_signs`, downsamples the 64x64 images to 32x32 by 2x2
    average pooling (NumPy) and scales them to [0, 1]. Only the training set is returned: the
    experiment is about how well each network *fits its training data*, not about test accuracy.

    Args:
        n: keep only the first ``n`` images (``None``: all 1080).
        data_dir: passed to :func:`resnet_kit.data.load_signs`.

    Returns:
        ``(X, y)``: float32 images (m, 32, 32, 3) and int64 labels (m,) (0..5 fingers).
    """
    X_orig, Y_orig, _, _, _ = _data.load_signs(data_dir)
    y = np.asarray(Y_orig).reshape(-1).astype(np.int64)
    if n is not None:
        X_orig, y = X_orig[:n], y[:n]
    return downsample(X_orig, 64 // SMALL_IMAGE_SIZE), y


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


def _plain_pair(X, filters: int, s: int = 1):
    """conv3x3 (stride s) - BN - ReLU - conv3x3 - BN - ReLU, no shortcut: the plain counterpart
    of a basic block (same layers, same initializer, same BatchNorm)."""
    import keras
    from keras import layers

    for stride in (s, 1):
        X = layers.Conv2D(filters, kernel_size=3, strides=stride, padding="same",
                          kernel_initializer=keras.initializers.GlorotUniform())(X)
        X = layers.BatchNormalization(axis=3, momentum=BN_MOMENTUM)(X)
        X = layers.Activation("relu")(X)
    return X


def build_net(depth: int, residual_block: Callable | None = None, width: int = DEFAULT_WIDTH,
              input_shape: tuple[int, int, int] = (SMALL_IMAGE_SIZE, SMALL_IMAGE_SIZE, 3),
              classes: int = _data.NUM_CLASSES):
    """A small CNN with ``depth`` 3x3 convolutions, plain or residual.

    Layout: ``depth // 2`` units of two 3x3 convolutions with ``width`` filters, then global
    average pooling and a dense softmax layer. The first unit has stride 2 (32x32 images become
    16x16 feature maps, which keeps the experiment fast); the others keep the shape.

    * ``residual_block=None``: each unit is a plain pair conv-BN-ReLU-conv-BN-ReLU, no shortcut.
    * ``residual_block=basic_block``: each unit is ``residual_block(X, width, s=...)``, your
      block from part 1 (its signature: ``basic_block(X, filters, s=1, training=None,
      initializer=glorot_uniform)``). The first block changes the shape (3 -> ``width``
      channels, stride 2), so it uses its 1x1 projection shortcut; all the others add the
      identity. As in the ResNet papers, ``depth`` does not count the projection convolution.

    Args:
        depth: number of 3x3 convolutions, an even number >= 2.
        residual_block: ``None`` for a plain network, or a function building a residual block.
        width: filters of every 3x3 convolution.
        input_shape: shape of one image.
        classes: number of classes of the softmax layer.

    Returns:
        An uncompiled ``keras.Model`` named ``plain_<depth>`` or ``residual_<depth>``.
    """
    import keras
    from keras import layers

    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)):
        raise TypeError(f"build_net: depth must be an integer, not {type(depth).__name__}.")
    if depth < 2 or depth % 2:
        raise ValueError(
            f"build_net: depth={depth}; it counts 3x3 convolutions, two per unit, so it must be "
            "an even number >= 2."
        )
    if residual_block is not None and not callable(residual_block):
        raise TypeError("build_net: residual_block must be a function such as basic_block, "
                        f"not {type(residual_block).__name__}.")
    X_input = keras.Input(shape=tuple(input_shape))
    X = X_input
    for unit in range(int(depth) // 2):
        stride = 2 if unit == 0 else 1
        if residual_block is None:
            X = _plain_pair(X, width, s=stride)
        else:
            X = residual_block(X, width, s=stride)
    X = layers.GlobalAveragePooling2D()(X)
    X = layers.Dense(classes, activation="softmax",
                     kernel_initializer=keras.initializers.GlorotUniform())(X)
    kind = "plain" if residual_block is None else "residual"
    return keras.Model(inputs=X_input, outputs=X, name=f"{kind}_{int(depth)}")


def count_convolutions(model, kernel_size: int = 3) -> int:
    """How many ``kernel_size`` x ``kernel_size`` Conv2D layers a model has."""
    return sum(
        1 for layer in model.layers
        if type(layer).__name__ == "Conv2D" and tuple(layer.kernel_size) == (kernel_size,) * 2
    )


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """One trained network: its per-epoch TRAINING loss and accuracy."""

    label: str  # e.g. "plain-32"
    depth: int
    residual: bool
    loss: list[float]
    accuracy: list[float]
    seconds: float
    params: int

    @property
    def final_loss(self) -> float:
        return self.loss[-1]

    @property
    def final_accuracy(self) -> float:
        return self.accuracy[-1]


class _EpochPrinter:
    """A Keras callback (made lazily, so importing this module does not import Keras)."""

    @staticmethod
    def make(label: str, epochs: int):
        import keras

        class EpochPrinter(keras.callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                logs = logs or {}
                print(f"  {label:>12}  epoch {epoch + 1:>2}/{epochs}  "
                      f"loss {logs.get('loss', float('nan')):.3f}  "
                      f"accuracy {logs.get('accuracy', float('nan')):.3f}", flush=True)

        return EpochPrinter()


def _train(model, X, y, epochs: int, batch_size: int, learning_rate: float, seed: int,
           label: str, verbose: bool):
    """Compile ``model`` with Adam, train it on ``(X, y)``; return (history dict, seconds)."""
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    callbacks = [_EpochPrinter.make(label, epochs)] if verbose else []
    _device.seed_everything(seed)  # the same batch order for every network
    started = time.perf_counter()
    history = model.fit(X, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0,
                        callbacks=callbacks)
    return history.history, time.perf_counter() - started


def run_experiment(depths: Sequence[int] = DEFAULT_DEPTHS, epochs: int = DEFAULT_EPOCHS,
                   residual_block: Callable | None = None, seed: int = 0,
                   width: int = DEFAULT_WIDTH, batch_size: int = DEFAULT_BATCH_SIZE,
                   learning_rate: float = DEFAULT_LEARNING_RATE, data=None,
                   verbose: bool = True) -> list[Run]:
    """Train plain networks of every depth in ``depths`` and a residual one of the deepest.

    Every network is built and trained with the same seed (:func:`resnet_kit.device
    .seed_everything` before it is built and again before it is trained, so all see the same
    batches in the same order), the same data and Adam with the same learning rate.

    Args:
        depths: depths of the plain networks, e.g. ``(8, 48)``: a shallow and a deep one.
        epochs: training epochs per network.
        residual_block: your ``basic_block``; a residual network as deep as the deepest plain
            one is trained with it. ``None`` trains the plain networks only.
        seed: the random seed.
        width: filters of every 3x3 convolution.
        batch_size: mini-batch size.
        learning_rate: Adam's learning rate.
        data: ``(X, y)`` to train on; default :func:`load_small_signs` (1080 images, 32x32).
        verbose: print one line per network and epoch (stdout).

    Returns:
        A list of :class:`Run` (plain networks by depth, then the residual one); each has the
        per-epoch training ``loss`` and ``accuracy``, ``final_loss``, ``final_accuracy``,
        ``seconds`` and ``params``.
    """
    depths = sorted({int(d) for d in depths})
    if not depths:
        raise ValueError("run_experiment: give at least one depth.")
    X, y = load_small_signs() if data is None else data
    plan = [(d, None) for d in depths]
    if residual_block is not None:
        plan.append((depths[-1], residual_block))
    if verbose:
        print(f"Training {len(plan)} networks for {epochs} epochs each on {len(X)} images of "
              f"{X.shape[1]}x{X.shape[2]} pixels (seed {seed}).", flush=True)
    runs = []
    for depth, block in plan:
        _device.seed_everything(seed)
        model = build_net(depth, residual_block=block, width=width, input_shape=X.shape[1:],
                          classes=_data.NUM_CLASSES)
        label = f"{'plain' if block is None else 'residual'}-{depth}"
        history, seconds = _train(model, X, y, epochs=epochs, batch_size=batch_size,
                                  learning_rate=learning_rate, seed=seed, label=label,
                                  verbose=verbose)
        run = Run(label=label, depth=depth, residual=block is not None,
                  loss=[float(v) for v in history["loss"]],
                  accuracy=[float(v) for v in history["accuracy"]],
                  seconds=seconds, params=int(model.count_params()))
        if verbose:
            print(f"  {label:>12}  done in {run.seconds:.0f} s ({run.params:,} parameters)",
                  flush=True)
        runs.append(run)
    if verbose:
        print(summary(runs))
    return runs


def summary(runs: Sequence[Run]) -> str:
    """A small table of the final training loss and accuracy of each network."""
    lines = [f"{'network':>12}  {'final training loss':>19}  {'training accuracy':>17}  time",
             f"{'-' * 12}  {'-' * 19}  {'-' * 17}  ----"]
    for run in runs:
        lines.append(f"{run.label:>12}  {run.final_loss:>19.3f}  {run.final_accuracy:>17.1%}"
                     f"  {run.seconds:.0f} s")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------


def _colors(runs: Sequence[Run]) -> list[str]:
    """Shallowest plain net blue, deepest plain vermillion, residual green."""
    plain = sorted({run.depth for run in runs if not run.residual})
    residual = sorted({run.depth for run in runs if run.residual}, reverse=True)
    colors = []
    for run in runs:
        if run.residual:
            colors.append(_RESIDUAL_COLORS[min(residual.index(run.depth),
                                               len(_RESIDUAL_COLORS) - 1)])
        elif run.depth == plain[-1] and len(plain) > 1:
            colors.append(_PLAIN_COLORS[-1])
        else:
            colors.append(_PLAIN_COLORS[min(plain.index(run.depth), len(_PLAIN_COLORS) - 2)])
    return colors


def plot_experiment(runs: Sequence[Run], title: str | None = None):
    """Training loss per epoch of every network, and each one's final training accuracy.

    Returns:
        A matplotlib Figure with two axes: "Training loss" (one curve per network, plain
        networks solid, residual dashed, and a dotted line at the loss of random guessing)
        and "Final training accuracy" (one bar per network).
        It is closed in pyplot already: make the call the last line of a cell to show it.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    runs = list(runs)
    if not runs:
        raise ValueError("plot_experiment: no results to plot.")
    colors = _colors(runs)
    fig, (ax_loss, ax_acc) = plt.subplots(
        1, 2, figsize=(11, 4.2), layout="constrained", gridspec_kw={"width_ratios": [1.6, 1]})
    plt.close(fig)
    top = 0.0
    for run, color in zip(runs, colors):
        epochs = np.arange(1, len(run.loss) + 1)
        ax_loss.plot(epochs, run.loss, "--" if run.residual else "-", marker="o", markersize=4,
                     linewidth=2, color=color,
                     label=f"{run.label} (final {run.final_loss:.2f})")
        top = max(top, max(v for v in run.loss if math.isfinite(v)))
    # Cross-entropy of guessing uniformly among the classes: where every network starts.
    guess = math.log(_data.NUM_CLASSES)
    ax_loss.axhline(guess, color="0.5", linestyle=":", linewidth=1.2)
    ax_loss.annotate(f"random guessing (ln {_data.NUM_CLASSES} = {guess:.2f})", (0.99, guess),
                     xycoords=("axes fraction", "data"), xytext=(0, -4),
                     textcoords="offset points", fontsize=9, color="0.35", ha="right",
                     va="top")
    ax_loss.set_title("Training loss (lower is better)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("cross-entropy on the training set")
    ax_loss.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_loss.set_ylim(0, top * 1.05 if top > 0 else 1)
    ax_loss.grid(True, alpha=0.3)
    ax_loss.legend(loc="upper right", fontsize=10)

    names = [run.label for run in runs]
    accuracies = [run.final_accuracy for run in runs]
    bars = ax_acc.bar(names, accuracies, color=colors)
    for bar, value in zip(bars, accuracies):
        ax_acc.text(bar.get_x() + bar.get_width() / 2, value + 0.02, f"{value:.0%}",
                    ha="center", va="bottom", fontsize=11)
    ax_acc.set_title("Final training accuracy (higher is better)")
    ax_acc.set_ylim(0, 1.12)
    ax_acc.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax_acc.grid(True, axis="y", alpha=0.3)
    if title is None:
        title = "Plain vs. residual: the deeper plain network fits its training data worse"
    if title:
        fig.suptitle(title, fontsize=12)
    return fig
