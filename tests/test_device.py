"""Tests for resnet_kit.device: environment defaults, silence on stderr, determinism.

TensorFlow reads its environment once, at import, so everything that depends on import order
runs in a fresh interpreter (``sys.executable``), with the kit's variables removed from the
environment it inherits (this pytest process has already imported resnet_kit).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from resnet_kit import device
from resnet_kit.device import DeviceInfo, configure_environment, muted_stderr

REPO = Path(__file__).resolve().parents[1]
KIT_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL")


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in KIT_VARIABLES}
    env.update(overrides)
    return env


def run_python(code: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter; stdout as text, stderr as raw bytes."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        cwd=REPO,
        env=clean_env(**env),
        timeout=timeout,
    )
    result.stdout = result.stdout.decode()
    return result


def last_json_line(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------
# Environment defaults at import
# --------------------------------------------------------------------------------------------

SHOW_ENV = """
    import json, os, sys
    import resnet_kit
    print(json.dumps({
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "log_level": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
        "tensorflow_imported": "tensorflow" in sys.modules,
    }))
"""


def test_importing_resnet_kit_sets_tensorflow_defaults_without_importing_tensorflow():
    result = run_python(SHOW_ENV)
    assert result.returncode == 0, result.stderr.decode()
    assert last_json_line(result.stdout) == {
        "onednn": "1",
        "log_level": "3",
        "tensorflow_imported": False,
    }
    assert result.stderr == b""


def test_values_the_user_set_win_over_the_defaults():
    result = run_python(SHOW_ENV, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="1")
    assert result.returncode == 0, result.stderr.decode()
    assert last_json_line(result.stdout)["onednn"] == "0"
    assert last_json_line(result.stdout)["log_level"] == "1"


def test_configure_environment_returns_the_values_in_force(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    assert configure_environment() == {"TF_ENABLE_ONEDNN_OPTS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


# --------------------------------------------------------------------------------------------
# Small pieces, in this process
# --------------------------------------------------------------------------------------------


def test_muted_stderr_silences_the_file_descriptor_and_then_restores_it(capfd):
    with muted_stderr():
        os.write(2, b"C++ log line\n")  # what TensorFlow's C++ logging does
    os.write(2, b"visible again\n")
    assert capfd.readouterr().err == "visible again\n"


def test_muted_stderr_restores_stderr_after_an_exception(capfd):
    with pytest.raises(RuntimeError):
        with muted_stderr():
            raise RuntimeError("boom")
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


def test_device_info_summary_is_one_readable_line():
    cpu = DeviceInfo("CPU", (), True, True, 0, "2.21.0", "3.15.1")
    assert str(cpu) == (
        "TensorFlow 2.21.0, Keras 3.15.1 on CPU; oneDNN on, deterministic ops, seed 0"
    )
    gpu = DeviceInfo("GPU", ("GPU:0",), False, False, None, "2.21.0", "3.15.1")
    assert str(gpu) == (
        "TensorFlow 2.21.0, Keras 3.15.1 on GPU (GPU:0); non-deterministic ops, seed None"
    )


def test_seed_everything_makes_python_numpy_and_keras_draws_repeat():
    import random

    import keras

    def draws():
        return (random.random(), float(np.random.rand()),
                float(keras.random.uniform((1,), seed=None)[0]))

    device.seed_everything(7)
    first = draws()
    device.seed_everything(7)
    assert draws() == first


# --------------------------------------------------------------------------------------------
# setup() in fresh interpreters
# --------------------------------------------------------------------------------------------


def test_setup_is_silent_on_stderr_and_prints_its_summary_to_stdout():
    result = run_python(
        """
        import json
        import resnet_kit
        from resnet_kit.device import setup
        info = setup(seed=0)
        print(json.dumps({"device": info.device, "onednn": info.onednn,
                          "deterministic": info.deterministic, "seed": info.seed}))
        """
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b"", result.stderr.decode(errors="replace")
    info = last_json_line(result.stdout)
    if info["device"] == "GPU":
        pytest.skip("this machine has a GPU; the oneDNN report is about CPU runs")
    assert info == {"device": "CPU", "onednn": True, "deterministic": True, "seed": 0}
    summary = result.stdout.splitlines()[0]
    assert summary.startswith("TensorFlow ")
    assert summary.endswith("on CPU; oneDNN on, deterministic ops, seed 0")


def test_tensorflow_imported_before_resnet_kit_is_reported_as_onednn_off():
    result = run_python(
        """
        import json, logging
        import tensorflow as tf
        import resnet_kit
        from resnet_kit.device import setup
        info = setup(seed=0, verbose=False)
        print(json.dumps({"onednn": info.onednn,
                          "quiet_python_logger": tf.get_logger().level == logging.ERROR}))
        """
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    # Too late for the kit's default; TensorFlow's Python warnings are still turned down.
    assert last_json_line(result.stdout) == {"onednn": False, "quiet_python_logger": True}


def test_onednn_the_user_asked_for_counts_even_if_tensorflow_came_first():
    result = run_python(
        """
        import tensorflow
        import resnet_kit
        from resnet_kit.device import setup
        print(setup(seed=None, verbose=False).onednn)
        """,
        TF_ENABLE_ONEDNN_OPTS="1",
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stdout.strip().splitlines()[-1] == "True"


# --------------------------------------------------------------------------------------------
# setup() + a tiny training run, in fresh interpreters (slow: they train, if only briefly)
# --------------------------------------------------------------------------------------------

# Builds, fits and predicts with a tiny conv + BatchNorm model once per seed (re-seeding with
# seed_everything before each), saves the weights to an .npz file and prints setup's result
# as the last stdout line. The data is the same for every seed; only the seed differs.
FIT_SCRIPT = """
    import json, sys
    import resnet_kit
    from resnet_kit.device import seed_everything, setup

    seeds = [int(s) for s in sys.argv[1].split(",")]
    info = setup(seed=seeds[0])

    import keras
    import numpy as np

    rng = np.random.default_rng(123)
    x = rng.random((24, 12, 12, 3), dtype=np.float32)
    y = rng.integers(0, 6, 24)

    def fit(seed):
        seed_everything(seed)
        model = keras.Sequential([
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(4, 3, padding="same"),
            keras.layers.BatchNormalization(),
            keras.layers.Activation("relu"),
            keras.layers.Dropout(0.2),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(6, activation="softmax"),
        ])
        model.compile(keras.optimizers.Adam(0.01), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        model.fit(x, y, epochs=2, batch_size=8, validation_split=0.25, verbose=1)
        model.predict(x, verbose=1)
        return model.get_weights()

    weights = {f"seed{s}_{i}": w for s in seeds for i, w in enumerate(fit(s))}
    np.savez(sys.argv[2], **weights)
    print(json.dumps({"device": info.device, "onednn": info.onednn,
                      "deterministic": info.deterministic, "seed": info.seed}))
"""


@pytest.fixture(scope="module")
def fit_runs(tmp_path_factory):
    """Two fresh interpreters, run side by side: one fits with seed 0 then seed 1, the other
    with seed 0 only."""
    folder = tmp_path_factory.mktemp("fits")
    runs = {}
    for name, seeds in (("a", "0,1"), ("b", "0")):
        out = folder / f"{name}.npz"
        proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(FIT_SCRIPT), seeds, str(out)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=REPO,
            env=clean_env(),
        )
        runs[name] = (proc, out)
    results = {}
    try:
        for name, (proc, out) in runs.items():
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr.decode(errors="replace")
            with np.load(out) as weights:
                results[name] = {
                    "stdout": stdout.decode(),
                    "stderr": stderr,
                    "info": last_json_line(stdout.decode()),
                    "weights": {k: weights[k] for k in weights.files},
                }
    finally:
        for proc, _ in runs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return results


def by_seed(weights: dict, seed: int) -> list[np.ndarray]:
    """The weights of the fit with this seed, in get_weights() order."""
    keys = [k for k in weights if k.startswith(f"seed{seed}_")]
    return [weights[k] for k in sorted(keys, key=lambda k: int(k.split("_")[1]))]


@pytest.mark.slow
def test_setup_then_fit_and_predict_write_nothing_to_stderr(fit_runs):
    # nbgrader scores a test cell that writes anything to stderr as 0.
    for run in fit_runs.values():
        assert run["stderr"] == b"", run["stderr"].decode(errors="replace")
        assert run["info"]["deterministic"] is True
        assert "Epoch 2/2" in run["stdout"]  # Keras' progress output goes to stdout


@pytest.mark.slow
def test_same_seed_gives_identical_weights_in_separate_runs(fit_runs):
    first = by_seed(fit_runs["a"]["weights"], 0)
    second = by_seed(fit_runs["b"]["weights"], 0)
    assert len(first) == len(second) == 8  # conv (2), batch norm (4 with moving stats), dense (2)
    for w1, w2 in zip(first, second):
        np.testing.assert_array_equal(w1, w2)


@pytest.mark.slow
def test_different_seed_gives_different_weights(fit_runs):
    weights = fit_runs["a"]["weights"]
    seed0, seed1 = by_seed(weights, 0), by_seed(weights, 1)
    assert not np.array_equal(seed0[0], seed1[0])  # conv kernels start from different draws

