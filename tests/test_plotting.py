"""Tests for resnet_kit.plotting: the figures show what they claim to show."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from resnet_kit import plotting  # noqa: E402
from resnet_kit.plotting import (  # noqa: E402
    confusion_matrix,
    plot_confusion_matrix,
    plot_history,
    show_misclassified,
    show_samples,
    to_labels,
)

# Any warning (they go to stderr, which nbgrader scores as a failed cell) fails a test.
pytestmark = pytest.mark.filterwarnings("error")

CLASSES = np.arange(6)


def images(m: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(m, 64, 64, 3), dtype=np.uint8)


def image_axes(fig: Figure):
    """The axes that show an image, in grid order."""
    return [ax for ax in fig.axes if ax.images]


def visible_xticks(ax) -> list[float]:
    low, high = ax.get_xlim()
    return [t for t in ax.get_xticks().tolist() if low <= t <= high]


def texts(ax) -> list[str]:
    return [t.get_text() for t in ax.texts]


@pytest.fixture(autouse=True)
def no_figures_left_open():
    plt.close("all")
    yield
    # Figures are closed in pyplot before being returned: nothing accumulates in a notebook.
    assert plt.get_fignums() == []


def test_to_labels_accepts_every_layout_the_notebooks_use():
    expected = [2, 0, 5]
    np.testing.assert_array_equal(to_labels([2, 0, 5]), expected)
    np.testing.assert_array_equal(to_labels(np.array([[2, 0, 5]])), expected)  # Coursera (1, m)
    np.testing.assert_array_equal(to_labels(np.array([[2], [0], [5]])), expected)
    one_hot = np.eye(6)[expected]
    np.testing.assert_array_equal(to_labels(one_hot), expected)
    probabilities = one_hot * 0.7 + 0.05
    np.testing.assert_array_equal(to_labels(probabilities, 6), expected)
    assert to_labels(np.array([[0.1, 0.2, 0.1, 0.3, 0.2, 0.1]]), 6).tolist() == [3]


# --------------------------------------------------------------------------------------------
# show_samples
# --------------------------------------------------------------------------------------------


def test_show_samples_shows_first_n_images_titled_with_their_labels():
    X, Y = images(20), np.arange(20).reshape(1, -1) % 6
    fig = show_samples(X, Y, CLASSES, n=12)
    assert isinstance(fig, Figure)
    shown = image_axes(fig)
    assert len(shown) == 12
    assert [ax.get_title() for ax in shown] == [f"y = {k % 6}" for k in range(12)]
    np.testing.assert_array_equal(shown[3].images[0].get_array(), X[3])
    assert fig.get_suptitle() == "12 of 20 images, with their labels"


def test_show_samples_grid_leaves_unused_cells_blank():
    fig = show_samples(images(7), np.zeros(7, int), CLASSES, n=7, ncols=4)
    assert len(fig.axes) == 8  # 2 rows x 4 columns
    assert len(image_axes(fig)) == 7
    assert all(not ax.axison for ax in fig.axes)


def test_show_samples_with_indices_class_names_and_one_hot_labels():
    X = images(10)
    Y = np.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]]
    names = ["rock", "paper", "scissors"]
    fig = show_samples(X, Y, names, indices=[2, 4])
    assert [ax.get_title() for ax in image_axes(fig)] == ["y = scissors", "y = paper"]


def test_show_samples_accepts_float_images_in_either_range():
    X = images(3)
    for scaled in (X / 255.0, X.astype(np.float32)):  # 0..1 and 0..255 floats
        fig = show_samples(scaled, [0, 1, 2], CLASSES)
        shown = image_axes(fig)[0].images[0].get_array()
        np.testing.assert_allclose(np.asarray(shown) * 255.0, X[0], atol=1e-3)


def test_show_samples_rejects_mismatched_labels():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        show_samples(images(3), [0, 1], CLASSES)


# --------------------------------------------------------------------------------------------
# plot_history
# --------------------------------------------------------------------------------------------

HISTORY = {
    "loss": [1.8, 1.1, 0.7, 0.4],
    "accuracy": [0.2, 0.5, 0.7, 0.9],
    "val_loss": [1.9, 1.3, 1.0, 0.8],
    "val_accuracy": [0.15, 0.4, 0.6, 0.75],
}


class FakeHistory:
    """What model.fit returns, as far as plot_history is concerned."""

    def __init__(self, history, epoch):
        self.history = history
        self.epoch = epoch


def test_plot_history_draws_train_and_validation_loss_and_accuracy():
    fig = plot_history(HISTORY)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    loss_ax, acc_ax = fig.axes
    for ax, key in ((loss_ax, "loss"), (acc_ax, "accuracy")):
        train, val = ax.get_lines()
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4])
        np.testing.assert_array_equal(train.get_ydata(), HISTORY[key])
        np.testing.assert_array_equal(val.get_ydata(), HISTORY["val_" + key])
        assert ax.get_xlabel() == "epoch"
        assert visible_xticks(ax) == [1, 2, 3, 4]
    legend = [t.get_text() for t in loss_ax.get_legend().get_texts()]
    assert legend == ["train (final 0.400)", "validation (final 0.800)"]
    assert acc_ax.get_ylim()[0] <= 0 and acc_ax.get_ylim()[1] >= 1


def test_plot_history_accepts_a_keras_history_and_its_epoch_numbers():
    history = FakeHistory({"loss": [0.5, 0.4], "acc": [0.8, 0.9]}, epoch=[3, 4])
    fig = plot_history(history)
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    (line,) = fig.axes[1].get_lines()
    np.testing.assert_array_equal(line.get_xdata(), [4, 5])  # continued training: epochs 4, 5


def test_plot_history_without_validation_or_accuracy():
    fig = plot_history({"loss": [1.0, 0.5, 0.25]})
    assert [ax.get_title() for ax in fig.axes] == ["Loss"]
    assert len(fig.axes[0].get_lines()) == 1
    fig = plot_history({"loss": [1.0], "sparse_categorical_accuracy": [0.5]})
    assert [ax.get_title() for ax in fig.axes] == ["Loss", "Accuracy"]
    assert visible_xticks(fig.axes[0]) == [1]  # a single epoch gets a single tick


def test_plot_history_explains_bad_input():
    with pytest.raises(ValueError, match=r"no loss or accuracy values.*found keys \['lr'\]"):
        plot_history({"lr": [0.1]})
    with pytest.raises(TypeError, match="keras History"):
        plot_history([0.5, 0.4])


# --------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------


def brute_force_counts(y_true, y_pred, n):
    counts = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred):
        counts[t, p] += 1
    return counts


def test_confusion_matrix_counts_match_a_brute_force_count():
    rng = np.random.default_rng(3)
    y_true, y_pred = rng.integers(0, 6, 200), rng.integers(0, 6, 200)
    expected = brute_force_counts(y_true, y_pred, 6)
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 6), expected)


def test_plot_confusion_matrix_annotates_every_cell_with_its_count():
    rng = np.random.default_rng(4)
    y_true = rng.integers(0, 6, 150)
    y_pred = np.where(rng.random(150) < 0.7, y_true, rng.integers(0, 6, 150))
    fig = plot_confusion_matrix(y_true.reshape(1, -1), np.eye(6)[y_pred], CLASSES)
    (ax,) = fig.axes
    shown = np.full((6, 6), -1)
    for text in ax.texts:
        col, row = text.get_position()
        shown[int(round(row)), int(round(col))] = int(text.get_text())
    expected = brute_force_counts(y_true, y_pred, 6)
    np.testing.assert_array_equal(shown, expected)
    np.testing.assert_array_equal(ax.images[0].get_array(), expected)
    assert ax.get_xlabel() == "Predicted label" and ax.get_ylabel() == "True label"
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(k) for k in range(6)]
    accuracy = np.mean(y_true == y_pred)
    assert ax.get_title() == f"Confusion matrix\n150 images, accuracy {accuracy:.1%}"


def test_plot_confusion_matrix_uses_class_names():
    fig = plot_confusion_matrix([0, 1, 1], [0, 1, 0], ["cat", "dog"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["cat", "dog"]
    assert sorted(texts(ax)) == ["0", "1", "1", "1"]


def test_confusion_matrix_rejects_out_of_range_or_mismatched_labels():
    with pytest.raises(ValueError, match=r"predictions must be 0\.\.5, found values from 0 to 7"):
        confusion_matrix([0, 1], [0, 7], 6)
    with pytest.raises(ValueError, match="3 true labels but 2 predictions"):
        confusion_matrix([0, 1, 2], [0, 1], 6)


# --------------------------------------------------------------------------------------------
# show_misclassified
# --------------------------------------------------------------------------------------------


def test_show_misclassified_shows_only_the_mistakes_with_true_and_pred():
    X = images(10)
    y_true = np.array([[0, 1, 2, 3, 4, 5, 0, 1, 2, 3]])
    y_pred = np.array([0, 2, 2, 3, 1, 5, 0, 1, 5, 3])  # wrong at 1, 4, 8
    fig = show_misclassified(X, y_true, y_pred, CLASSES)
    shown = image_axes(fig)
    titles = [ax.get_title() for ax in shown]
    assert titles == ["true 1 / pred 2", "true 4 / pred 1", "true 2 / pred 5"]
    np.testing.assert_array_equal(shown[1].images[0].get_array(), X[4])
    assert fig.get_suptitle() == "Misclassified: 3 of 10 images"


def test_show_misclassified_limits_the_number_of_images():
    X = images(30)
    y_true = np.zeros(30, int)
    probabilities = np.eye(6)[np.ones(30, int)]  # everything predicted as 1
    fig = show_misclassified(X, y_true, probabilities, CLASSES, max_images=8, ncols=4)
    assert len(image_axes(fig)) == 8
    assert fig.get_suptitle() == "Misclassified: 30 of 30 images (showing the first 8)"


def test_show_misclassified_says_so_when_there_are_no_mistakes():
    fig = show_misclassified(images(5), [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], CLASSES)
    (ax,) = fig.axes
    assert not ax.images
    assert texts(ax) == ["No misclassified images:\nall 5 predictions are correct."]


# --------------------------------------------------------------------------------------------
# Rendering and side effects
# --------------------------------------------------------------------------------------------


def test_every_figure_renders_to_png_without_warnings(tmp_path):
    X, y = images(12), np.arange(12) % 6
    figures = {
        "samples": show_samples(X, y, CLASSES),
        "history": plot_history(HISTORY),
        "confusion": plot_confusion_matrix(y, (y + 1) % 6, CLASSES),
        "misclassified": show_misclassified(X, y, (y + 1) % 6, CLASSES),
        "none_misclassified": show_misclassified(X, y, y, CLASSES),
    }
    for name, fig in figures.items():
        path = tmp_path / f"{name}.png"
        fig.savefig(path, dpi=60)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plotting_writes_nothing_to_stderr_and_does_not_import_tensorflow():
    code = textwrap.dedent(
        """
        import sys, numpy as np
        from resnet_kit import plotting as p
        X = np.random.default_rng(0).random((8, 64, 64, 3)) * 300 - 20  # out of range on purpose
        y = np.arange(8) % 6
        figures = (
            p.show_samples(X, y, range(6)),
            p.plot_history({"loss": [1, 0.5]}),
            p.plot_confusion_matrix(y, y, range(6)),
            p.show_misclassified(X, y, y[::-1], range(6)),
        )
        for fig in figures:
            fig.savefig("/dev/null", format="png", dpi=60)
        print("tensorflow" in sys.modules)
        """
    )
    env = dict(os.environ, MPLBACKEND="Agg")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120, env=env)
    assert result.stderr == b""
    assert result.stdout.strip() == b"False"

