"""Figures for the ResNet notebooks: sample images, training curves, confusion matrix, mistakes.

Every function returns a matplotlib :class:`~matplotlib.figure.Figure`. Make the call the last
line of a notebook cell and Jupyter shows the figure (no ``plt.show()`` needed); elsewhere use
``display(fig)`` or ``fig.savefig("name.png")``. The figure is closed in pyplot before it is
returned, so it is shown exactly once and figures never pile up in memory.

The functions accept labels in any layout the notebooks use: integer labels of shape (m,) or
Coursera's (1, m), one-hot labels (m, 6), or a model's predicted probabilities (m, 6) (the
most likely class is used). Images may be uint8 (0..255) or floats (0..1, or 0..255).

Nothing here writes to stderr (nbgrader scores a cell with stderr output 0): inputs are
cleaned up (e.g. clipped to the displayable range) instead of triggering matplotlib warnings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

# Size of one image tile in inches; 64x64 pixel images stay crisp and readable at this size.
_TILE_W, _TILE_H = 1.5, 1.75


def _pyplot():
    import matplotlib.pyplot as plt

    return plt


def _new_figure(figsize, nrows=1, ncols=1):
    """A figure with an (nrows, ncols) array of axes, already closed in pyplot (see module doc)."""
    plt = _pyplot()
    fig, axes = plt.subplots(nrows, ncols, figsize=figsize, layout="constrained", squeeze=False)
    plt.close(fig)
    return fig, axes


def to_labels(y, num_classes: int | None = None) -> np.ndarray:
    """Integer class labels of shape (m,) from labels in any of the notebooks' layouts.

    Accepts (m,) or (1, m) or (m, 1) integer labels, and (m, C) one-hot labels or predicted
    probabilities (the most likely class is taken).
    """
    y = np.asarray(y)
    if y.ndim == 2:
        if y.shape[1] == 1 or (y.shape[0] == 1 and np.issubdtype(y.dtype, np.integer)):
            y = y.reshape(-1)
        elif num_classes is not None and y.shape[0] == 1 and y.shape[1] != num_classes:
            y = y.reshape(-1)
        else:
            y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(
            f"Labels have shape {y.shape}; expected (m,), (1, m), or (m, C) one-hot/probabilities."
        )
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError(f"Labels must be whole numbers, got dtype {y.dtype} with fractions.")
    return y.astype(np.int64)


def _class_name(classes, label: int) -> str:
    if classes is None:
        return str(label)
    name = np.asarray(classes)[label] if 0 <= label < len(classes) else label
    if isinstance(name, bytes):
        name = name.decode("utf-8", "replace")
    if isinstance(name, np.generic):
        name = name.item()
    return str(name)


def _displayable(image) -> np.ndarray:
    """An image imshow shows without warnings: uint8, or floats clipped to [0, 1]."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.integer) or np.issubdtype(image.dtype, np.bool_):
        return np.clip(image, 0, 255).astype(np.uint8)
    image = image.astype(np.float32)
    finite = image[np.isfinite(image)]
    if finite.size and finite.max() > 1.0 + 1e-6:  # floats in 0..255 (not yet normalised)
        image = image / 255.0
    return np.clip(np.nan_to_num(image), 0.0, 1.0)


def _image_grid(images, titles, ncols, suptitle, title_colors=None):
    count = len(images)
    ncols = max(1, min(ncols, count))
    nrows = math.ceil(count / ncols)
    fig, axes = _new_figure((ncols * _TILE_W, nrows * _TILE_H + 0.35), nrows, ncols)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= count:
            continue
        image = _displayable(images[i])
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, interpolation="nearest")
        color = title_colors[i] if title_colors else "black"
        ax.set_title(titles[i], fontsize=9, color=color)
    fig.suptitle(suptitle, fontsize=11)
    return fig


def show_samples(X, Y, classes=None, n: int = 12, ncols: int = 6, indices=None,
                 title: str | None = None):
    """Show a grid of images with their labels.

    Args:
        X: images, shape (m, 64, 64, 3) (uint8 0..255 or floats).
        Y: labels for X, in any layout (see the module docstring).
        classes: names of the classes, indexed by label (e.g. ``classes`` from ``load_signs``);
            ``None`` shows the label numbers.
        n: how many images to show (the first ``n``), unless ``indices`` is given.
        ncols: images per row.
        indices: exactly which images to show, e.g. ``[0, 5, 17]``.
        title: figure title; default says how many of how many images are shown.

    Returns:
        The Figure: one axes per image, each titled ``y = <class>``.
    """
    X = np.asarray(X)
    labels = to_labels(Y, None if classes is None else len(classes))
    if len(labels) != len(X):
        raise ValueError(f"show_samples: {len(X)} images but {len(labels)} labels.")
    if indices is None:
        indices = np.arange(min(n, len(X)))
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if indices.size == 0:
        raise ValueError("show_samples: no images to show (X is empty or n/indices select none).")
    titles = [f"y = {_class_name(classes, int(labels[i]))}" for i in indices]
    if title is None:
        title = f"{len(indices)} of {len(X)} images, with their labels"
    return _image_grid(X[indices], titles, ncols, title)


def _history_dict(history) -> dict[str, list[float]]:
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        return dict(history.history)
    if isinstance(history, Mapping):
        return dict(history)
    raise TypeError(
        "plot_history expects what model.fit returns (a keras History) or its .history dict, "
        f"not {type(history).__name__}."
    )


def _accuracy_key(keys: Sequence[str]) -> str | None:
    for preferred in ("accuracy", "acc", "categorical_accuracy", "sparse_categorical_accuracy"):
        if preferred in keys:
            return preferred
    return next((k for k in keys if "acc" in k and not k.startswith("val_")), None)


def plot_history(history, title: str | None = "Training history"):
    """Plot loss and accuracy per epoch, training and (if recorded) validation.

    Args:
        history: what ``model.fit`` returns (a ``keras.callbacks.History``) or its
            ``.history`` dict, e.g. ``{"loss": [...], "accuracy": [...], "val_loss": [...]}``.
        title: figure title (``None`` for none).

    Returns:
        The Figure: a "Loss" axes and, if an accuracy metric was recorded, an "Accuracy" axes.
        Each has a "train" curve and, if recorded, a "validation" curve; the legend shows the
        final value of each.
    """
    from matplotlib.ticker import MaxNLocator

    values = _history_dict(history)
    keys = [k for k in values if not k.startswith("val_")]
    candidates = (("loss", "Loss"), (_accuracy_key(keys), "Accuracy"))
    panels = [(key, name) for key, name in candidates if key in values]
    if not panels or not any(len(values[k]) for k, _ in panels):
        raise ValueError(
            "plot_history: no loss or accuracy values to plot (found keys "
            f"{sorted(values)}). Was the model trained with model.fit(...)?"
        )
    fig, axes = _new_figure((5.0 * len(panels), 3.6), 1, len(panels))
    epochs_attr = getattr(history, "epoch", None)
    for ax, (key, name) in zip(axes.flat, panels):
        first, last = math.inf, -math.inf
        for series, label, style in ((key, "train", "o-"), ("val_" + key, "validation", "s--")):
            ys = np.asarray(values.get(series, []), dtype=float)
            if ys.size == 0:
                continue
            if epochs_attr is not None and len(epochs_attr) == ys.size:
                xs = np.asarray(epochs_attr) + 1
            else:
                xs = np.arange(1, ys.size + 1)
            first, last = min(first, xs.min()), max(last, xs.max())
            ax.plot(xs, ys, style, markersize=3 if ys.size > 30 else 5, linewidth=1.5,
                    label=f"{label} (final {ys[-1]:.3f})")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(name.lower())
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))
        if first <= last:  # whole epochs only, even for a single one
            ax.set_xlim(first - 0.5, last + 0.5)
        ax.grid(True, alpha=0.3)
        if name == "Accuracy":
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.set_ylim(bottom=0)
        ax.legend(loc="best", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=12)
    return fig


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Count matrix: entry ``[i, j]`` is how many images of class ``i`` were predicted ``j``.

    Labels may be in any layout (see the module docstring). NumPy only.
    """
    t = to_labels(y_true, num_classes)
    p = to_labels(y_pred, num_classes)
    if t.shape != p.shape:
        raise ValueError(f"confusion_matrix: {t.size} true labels but {p.size} predictions.")
    for name, labels in (("true labels", t), ("predictions", p)):
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(
                f"confusion_matrix: {name} must be 0..{num_classes - 1}, "
                f"found values from {labels.min()} to {labels.max()}."
            )
    counts = np.bincount(t * num_classes + p, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def plot_confusion_matrix(y_true, y_pred, classes, title: str | None = None):
    """Show the confusion matrix as a grid of counts.

    Rows are the true classes, columns the predicted ones; the diagonal holds the correct
    predictions. Every cell is annotated with its count.

    Args:
        y_true: true labels, any layout (e.g. ``Y_test_orig``).
        y_pred: predicted labels or the model's predicted probabilities (m, C).
        classes: the class names (e.g. ``classes`` from ``load_signs``); their number sets C.
        title: figure title; default gives the number of images and the accuracy.

    Returns:
        The Figure, with one axes.
    """
    num_classes = len(classes)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    total = int(cm.sum())
    side = max(3.6, 0.6 * num_classes + 1.6)
    fig, axes = _new_figure((side, side), 1, 1)
    ax = axes[0, 0]
    ax.imshow(cm, cmap="Blues", vmin=0, vmax=max(1, cm.max()))
    names = [_class_name(classes, k) for k in range(num_classes)]
    ax.set_xticks(range(num_classes), labels=names)
    ax.set_yticks(range(num_classes), labels=names)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    threshold = cm.max() / 2.0
    for i in range(num_classes):
        for j in range(num_classes):
            value = int(cm[i, j])
            color = "white" if value > threshold else ("black" if value else "0.6")
            ax.text(j, i, str(value), ha="center", va="center", color=color, fontsize=10)
    if title is None:
        accuracy = np.trace(cm) / total if total else float("nan")
        title = f"Confusion matrix\n{total} images, accuracy {accuracy:.1%}"
    ax.set_title(title, fontsize=11)
    return fig


def show_misclassified(X, y_true, y_pred, classes=None, max_images: int = 12, ncols: int = 6):
    """Show the images the model got wrong, titled ``true <class> / pred <class>``.

    Args:
        X: the images the predictions are for.
        y_true: their true labels, any layout.
        y_pred: predicted labels or the model's predicted probabilities (m, C).
        classes: class names (``None`` shows label numbers).
        max_images: show at most this many (the first ones, in data order).
        ncols: images per row.

    Returns:
        The Figure. With no mistakes it has a single empty axes saying so.
    """
    X = np.asarray(X)
    num_classes = None if classes is None else len(classes)
    t = to_labels(y_true, num_classes)
    p = to_labels(y_pred, num_classes)
    if not (len(X) == len(t) == len(p)):
        raise ValueError(
            f"show_misclassified: {len(X)} images, {len(t)} true labels and {len(p)} "
            "predictions; they must be the same length."
        )
    wrong = np.flatnonzero(t != p)
    if wrong.size == 0:
        fig, axes = _new_figure((5.0, 1.6), 1, 1)
        ax = axes[0, 0]
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"No misclassified images:\nall {len(X)} predictions are correct.",
                ha="center", va="center", fontsize=12, transform=ax.transAxes)
        fig.suptitle("Misclassified images", fontsize=11)
        return fig
    shown = wrong[:max_images]
    titles = [
        f"true {_class_name(classes, int(t[i]))} / pred {_class_name(classes, int(p[i]))}"
        for i in shown
    ]
    suptitle = f"Misclassified: {wrong.size} of {len(X)} images"
    if shown.size < wrong.size:
        suptitle += f" (showing the first {shown.size})"
    return _image_grid(X[shown], titles, ncols, suptitle, title_colors=["firebrick"] * len(shown))
