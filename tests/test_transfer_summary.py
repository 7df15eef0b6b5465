"""The transfer benchmark's summary over seeds (benchmarks/resnet50_training.py), which is what
issue 18's target is read from: the mean accuracy over seeds and the lowest class."""

import importlib.util
from pathlib import Path

import numpy as np

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "resnet50_training.py"


def _benchmark():
    spec = importlib.util.spec_from_file_location("resnet50_training", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _scored(confusion):
    confusion = np.asarray(confusion)
    return {"images": int(confusion.sum()), "confusion": confusion.tolist(),
            "accuracy": float(confusion.trace() / confusion.sum())}


def test_the_summary_gives_the_mean_over_seeds_and_each_class_from_the_summed_confusion():
    # Two seeds on 12 photos (2 per class): the first reads everything right, the second
    # reads every 3 as 5 and one 0 as 4.
    right = np.diag([2] * 6)
    wrong = right.copy()
    wrong[3, 3], wrong[3, 5] = 0, 2
    wrong[0, 0], wrong[0, 4] = 1, 1
    lines = _benchmark().transfer_summary([_scored(right), _scored(wrong)])
    text = "\n".join(lines)
    assert "mean accuracy over 2 seed(s): 0.875 (1.000 / 0.750)" in text
    assert "0: 0.75  1: 1.00  2: 1.00  3: 0.50  4: 1.00  5: 1.00; lowest 0.50 (class 3)" in text
    assert "    3: [0, 0, 0, 2, 0, 2]" in text  # summed: 2 right, 2 read as 5
    assert "    0: [3, 0, 0, 0, 1, 0]" in text
