"""The optional plain-vs-residual experiment: resnet_kit.experiments and its notebook."""

from __future__ import annotations

import ast
import inspect
import math
import re
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from resnet_kit import device, experiments

REPO_ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "plain_vs_residual"
NOTEBOOK = "3_plain_vs_residual.ipynb"
SOURCE = REPO_ROOT / "solutions" / ASSIGNMENT / NOTEBOOK
RELEASE = REPO_ROOT / "assignments" / ASSIGNMENT / NOTEBOOK
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@pytest.fixture(scope="module")
def keras():
    device.setup(seed=0, verbose=False)
    import keras

    return keras


@pytest.fixture(scope="module")
def tiny_basic_block(keras):
    """A correct basic block, as a student writes it in part 1 (two 3x3 convs, projection
    shortcut when the shape changes)."""
    from keras import layers

    def basic_block(X, filters, s=1, training=None, initializer=keras.initializers.GlorotUniform):
        shortcut = X
        X = layers.Conv2D(filters, 3, strides=s, padding="same",
                          kernel_initializer=initializer())(X)
        X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
        X = layers.Activation("relu")(X)
        X = layers.Conv2D(filters, 3, padding="same", kernel_initializer=initializer())(X)
        X = layers.BatchNormalization(axis=3, momentum=0.9)(X, training=training)
        if s != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=s, kernel_initializer=initializer())(
                shortcut)
            shortcut = layers.BatchNormalization(axis=3, momentum=0.9)(shortcut,
                                                                       training=training)
        X = layers.Add()([X, shortcut])
        return layers.Activation("relu")(X)

    return basic_block


def layer_counts(model) -> dict[str, int]:
    counts: dict[str, int] = {}
    for layer in model.layers:
        counts[type(layer).__name__] = counts.get(type(layer).__name__, 0) + 1
    return counts


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def test_downsample_averages_each_2x2_patch_and_scales_to_unit_range():
    x = np.zeros((1, 64, 64, 3), dtype=np.uint8)
    x[0, 0, 0, 0], x[0, 1, 1, 0] = 255, 255  # half of the top-left 2x2 patch of channel 0
    x[0, 2:4, 2:4, 1] = 51
    small = experiments.downsample(x)
    assert small.shape == (1, 32, 32, 3) and small.dtype == np.float32
    assert small[0, 0, 0, 0] == pytest.approx(0.5)
    assert small[0, 1, 1, 1] == pytest.approx(0.2)
    assert small.sum() == pytest.approx(0.5 + 0.2)


def test_load_small_signs_returns_32x32_training_images_and_integer_labels():
    X, y = experiments.load_small_signs(n=10)
    assert X.shape == (10, 32, 32, 3) and X.dtype == np.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert y.shape == (10,) and y.dtype == np.int64 and set(y) <= set(range(6))


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [2, 8])
def test_plain_net_has_depth_3x3_convolutions_bn_relu_and_no_shortcut(keras, depth):
    net = experiments.build_net(depth, width=8)
    counts = layer_counts(net)
    assert experiments.count_convolutions(net) == depth
    assert counts["Conv2D"] == depth  # no 1x1 projection either
    assert counts["BatchNormalization"] == depth
    assert "Add" not in counts
    assert net.name == f"plain_{depth}"
    assert tuple(net.outputs[0].shape) == (None, 6)


@pytest.mark.parametrize("depth", [2, 8])
def test_residual_net_is_made_of_the_block_it_is_given(keras, tiny_basic_block, depth):
    calls = []

    def recording_block(X, filters, s=1, **kwargs):
        calls.append((tuple(X.shape[1:]), filters, s))
        return tiny_basic_block(X, filters, s=s, **kwargs)

    net = experiments.build_net(depth, residual_block=recording_block, width=8)
    counts = layer_counts(net)
    assert experiments.count_convolutions(net) == depth
    assert experiments.count_convolutions(net, kernel_size=1) == 1  # first block's projection
    assert counts["Add"] == depth // 2
    assert net.name == f"residual_{depth}"
    assert tuple(net.outputs[0].shape) == (None, 6)
    # One block per pair of convolutions; the first halves the 32x32 image, the rest keep it.
    assert calls == [((32, 32, 3), 8, 2)] + [((16, 16, 8), 8, 1)] * (depth // 2 - 1)


def test_plain_and_residual_nets_differ_only_by_the_shortcuts(keras, tiny_basic_block):
    width = 8
    plain = experiments.build_net(6, width=width)
    residual = experiments.build_net(6, residual_block=tiny_basic_block, width=width)
    projection = (3 * width + width) + 4 * width  # 1x1 conv 3 -> width, then its BatchNorm
    assert residual.count_params() == plain.count_params() + projection


def test_build_net_honours_width_input_shape_and_classes(keras):
    net = experiments.build_net(4, width=5, input_shape=(20, 20, 1), classes=3)
    assert tuple(net.inputs[0].shape) == (None, 20, 20, 1)
    assert tuple(net.outputs[0].shape) == (None, 3)
    assert {layer.filters for layer in net.layers if type(layer).__name__ == "Conv2D"} == {5}


@pytest.mark.parametrize("depth", [0, 1, 7, -2])
def test_build_net_rejects_depths_that_are_not_whole_pairs(depth):
    with pytest.raises(ValueError, match="even number"):
        experiments.build_net(depth)


def test_build_net_rejects_a_residual_block_that_is_not_a_function():
    with pytest.raises(TypeError, match="basic_block"):
        experiments.build_net(4, residual_block="basic_block")


def test_the_module_implements_no_residual_block_itself():
    """The residual block is graded exercise 3: the module must not give it away. Its code
    (docstrings and comments aside) adds no tensors and builds no shortcut."""
    tree = ast.parse(inspect.getsource(experiments))
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant):
            body[0] = ast.Pass()  # drop the docstring
    code = ast.unparse(tree)
    assert not re.search(r"\bAdd\b|\badd\b|shortcut|\+\s*X\b|\bX\s*\+", code)


# --------------------------------------------------------------------------------------------
# Training and the figure
# --------------------------------------------------------------------------------------------


def test_run_experiment_returns_one_training_history_per_network(keras, tiny_basic_block,
                                                                 capfd):
    data = experiments.load_small_signs(n=16)
    runs = experiments.run_experiment(depths=(4, 2), epochs=1, residual_block=tiny_basic_block,
                                      seed=3, width=4, batch_size=8, data=data)
    assert [(r.label, r.depth, r.residual) for r in runs] == [
        ("plain-2", 2, False), ("plain-4", 4, False), ("residual-4", 4, True)]
    for run in runs:
        assert len(run.loss) == len(run.accuracy) == 1
        assert math.isfinite(run.final_loss) and 0.0 <= run.final_accuracy <= 1.0
        assert run.seconds > 0 and run.params > 0
    out, err = capfd.readouterr()
    assert "residual-4" in out and "final training loss" in out
    assert err == "", "the notebook must not write to stderr"


def test_run_experiment_without_a_block_trains_the_plain_nets_only(keras):
    data = experiments.load_small_signs(n=8)
    runs = experiments.run_experiment(depths=(2,), epochs=2, width=4, data=data, verbose=False)
    assert [run.label for run in runs] == ["plain-2"] and len(runs[0].loss) == 2


def test_the_same_seed_gives_the_same_curves(keras):
    data = experiments.load_small_signs(n=16)
    first, second = (
        experiments.run_experiment(depths=(2,), epochs=2, width=4, batch_size=8, data=data,
                                   seed=1, verbose=False)[0]
        for _ in range(2)
    )
    assert first.loss == second.loss and first.accuracy == second.accuracy


def test_plot_experiment_draws_loss_curves_and_accuracy_bars():
    from matplotlib.figure import Figure

    runs = [
        experiments.Run("plain-8", 8, False, [1.8, 1.2, 0.7], [0.2, 0.5, 0.8], 1.0, 10),
        experiments.Run("plain-32", 32, False, [1.8, 1.7, 1.5], [0.2, 0.25, 0.4], 1.0, 40),
        experiments.Run("residual-32", 32, True, [2.9, 1.0, 0.3], [0.1, 0.6, 0.9], 1.0, 41),
    ]
    fig = experiments.plot_experiment(runs)
    assert isinstance(fig, Figure)
    loss_ax, acc_ax = fig.axes
    assert len(loss_ax.get_lines()) == 3 + 1  # and the random-guessing line
    assert [t.get_text() for t in loss_ax.get_legend().get_texts()] == [
        "plain-8 (final 0.70)", "plain-32 (final 1.50)", "residual-32 (final 0.30)"]
    assert [p.get_height() for p in acc_ax.patches] == [0.8, 0.4, 0.9]
    colors = {line.get_color() for line in loss_ax.get_lines()[:3]}
    assert len(colors) == 3


def test_summary_lists_final_loss_and_accuracy():
    runs = [experiments.Run("plain-8", 8, False, [1.0, 0.5], [0.4, 0.875], 12.3, 10)]
    text = experiments.summary(runs)
    assert re.search(r"plain-8\s+0\.500\s+87\.5%\s+12 s", text)


# --------------------------------------------------------------------------------------------
# The notebook
# --------------------------------------------------------------------------------------------


def test_source_notebook_is_ungraded_with_one_solution_cell_and_unique_ids():
    notebook = nbformat.read(str(SOURCE), as_version=4)
    meta = [cell.metadata["nbgrader"] for cell in notebook.cells]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids))
    assert not any(m["grade"] for m in meta), "the optional notebook has no graded cells"
    solution = [cell for cell in notebook.cells if cell.metadata["nbgrader"]["solution"]]
    assert len(solution) == 1 and "def basic_block(" in solution[0].source
    assert all(m["locked"] for m in meta if not m["solution"])
    assert notebook.metadata["kernelspec"]["name"] == "python3"


def test_release_notebook_holds_no_solution():
    text = RELEASE.read_text()
    assert not [marker for marker in LEAK_MARKERS if marker in text]
    assert "raise NotImplementedError()" in text
    assert "autograder" not in text, "a student notebook must never need instructor code"


SUMMARY_LINE = re.compile(r"^\s*(plain|residual)-(\d+)\s+([\d.]+)\s+([\d.]+)%", re.MULTILINE)


@pytest.mark.slow
def test_solution_notebook_shows_the_deep_plain_net_training_worse():
    from nbclient import NotebookClient

    notebook = nbformat.read(str(SOURCE), as_version=4)
    started = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(SOURCE.parent)}}).execute()
    seconds = time.perf_counter() - started
    print(f"{NOTEBOOK}: executed in {seconds:.0f} s")
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert any("image/png" in o.get("data", {}) for o in outputs), "the figure is shown"
    text = "".join(o.text for o in outputs if o.output_type == "stream")
    final = {f"{kind}-{depth}": (float(loss), float(acc) / 100)
             for kind, depth, loss, acc in SUMMARY_LINE.findall(text)}
    print(final)
    (shallow, deep), residual = sorted(
        (k for k in final if k.startswith("plain")), key=lambda k: int(k.split("-")[1])
    ), next(k for k in final if k.startswith("residual"))
    # The degradation problem: the deep plain net fits its TRAINING data clearly worse than the
    # shallow plain net and than the residual net of the same depth.
    assert final[deep][0] > final[shallow][0] + 0.2
    assert final[deep][0] > final[residual][0] + 0.3
    assert final[deep][1] < min(final[shallow][1], final[residual][1]) - 0.15
