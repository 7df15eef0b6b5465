"""Hidden-test checks for the residual-network assignment (instructor-only).

Each public ``check_*`` function takes the student's function, raises ``AssertionError`` with
a message that starts with the reason, and prints a one-line summary on success (it returns
None, so a test cell shows no ``Out[]``). They are called from nbgrader test cells, so this
module imports no test framework and writes nothing to stderr.

How a block or ResNet-50 is judged, and how a mistake is named, is :mod:`resnet_kit.diagnosis`
- the same code the students' visible checks use. What stays here is what must stay hidden:
the cases (more shapes, odd sizes, strides 2 and 3, batch > 1), the seeded weights the outputs
are compared with, and the identity probe.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

import resnet_kit  # noqa: F401  (sets TensorFlow's import-time environment first)
from resnet_kit import diagnosis
from resnet_kit.device import import_tensorflow
from resnet_kit.diagnosis import Case

import_tensorflow()  # quietly: its start-up lines would otherwise reach stderr

__all__ = [
    "check_identity_block",
    "check_convolutional_block",
    "check_basic_block",
    "check_resnet50",
]

_HERE = (os.path.abspath(__file__),)

IDENTITY_CASES = [
    Case("identity_block", (2, 5, 5, 4), 3, [2, 3, 4]),
    Case("identity_block", (3, 7, 7, 5), 3, [3, 2, 5]),
    Case("identity_block", (2, 6, 6, 3), 2, [4, 2, 3]),  # even f: 'same' pads asymmetrically
]
CONVOLUTIONAL_CASES = [
    Case("convolutional_block", (2, 9, 9, 3), 3, [2, 3, 5], s=2),
    Case("convolutional_block", (2, 7, 7, 4), 3, [3, 4, 6], s=2),
    Case("convolutional_block", (2, 6, 6, 3), 3, [4, 2, 5], s=1),
    Case("convolutional_block", (2, 8, 8, 2), 2, [3, 2, 4], s=3),
]
BASIC_CASES = [
    Case("basic_block", (2, 6, 6, 4), None, 4, s=1),  # identity shortcut
    Case("basic_block", (2, 9, 9, 3), None, 5, s=2),  # projection: stride
    Case("basic_block", (2, 7, 7, 3), None, 5, s=1),  # projection: channels change
    Case("basic_block", (2, 8, 8, 4), None, 4, s=2),  # projection: stride, same channels
]


def _grader_failed(exc: Exception) -> Exception:
    """The checking code's own failure (never the student's: their code's errors are caught
    and named where it runs) is the grader's error: the row says so, the student sees no
    traceback of the grader's, and the instructor re-grades after the fix."""
    from autograder.engine.judge import GraderError

    if isinstance(exc, GraderError):  # e.g. a capture the grader could not replay
        return exc
    return GraderError(f"the hidden check failed in the grader's own code "
                       f"({diagnosis._first_line(exc)}): not the student's mistake")


def _verdict(run) -> None:
    return diagnosis.verdict(run, crashed=_grader_failed)


def _identity_probe(model, roles, case: Case, rng):
    """With the last BN's gamma and beta at 0 the main path outputs 0: the block is ReLU(X),
    which is X itself for X >= 0. This is why deep residual nets can learn the identity."""
    last_bn = roles.bns[-1].layer
    if not (last_bn.scale and last_bn.center):
        return  # no gamma or beta to switch the main path off with
    saved = [np.asarray(v) for v in (last_bn.gamma, last_bn.beta)]
    last_bn.gamma.assign(np.zeros_like(saved[0]))
    last_bn.beta.assign(np.zeros_like(saved[1]))
    try:
        x = np.abs(rng.standard_normal(case.batch_shape)).astype("float32")
        for training in (False, True):
            out = np.asarray(model(x, training=training))
            if not diagnosis.matches(out, x):
                raise diagnosis.Mistake(
                    "with the last BatchNorm's gamma and beta set to 0 (main path switched "
                    "off) the identity block must return its input unchanged for X >= 0 "
                    f"(training={training}, rel_error {diagnosis.rel_error(out, x):.2g}): "
                    "check that the shortcut X is added, unchanged, before the final ReLU",
                    where=case.describe())
    finally:
        last_bn.gamma.assign(saved[0])
        last_bn.beta.assign(saved[1])


def _check_block(fn: Callable, name: str, cases: list[Case], probe=False) -> str:
    if not callable(fn):
        raise AssertionError(f"{name} must be a function")
    rng = np.random.default_rng(2024)
    with diagnosis.quiet():
        for case in cases:
            model = diagnosis.build_block(fn, case, skip=_HERE)
            roles = diagnosis.judge_block(model, case, rng)
            if probe:
                _identity_probe(model, roles, case, rng)
    return f"{name}: all {len(cases)} cases match the reference in training and inference mode"


def check_identity_block(fn: Callable) -> None:
    """Check ``identity_block(X, f, filters, training=None, initializer=...)``."""
    return _verdict(lambda: _check_block(fn, "identity_block", IDENTITY_CASES, probe=True))


def check_convolutional_block(fn: Callable) -> None:
    """Check ``convolutional_block(X, f, filters, s=2, training=None, initializer=...)``."""
    return _verdict(lambda: _check_block(fn, "convolutional_block", CONVOLUTIONAL_CASES))


def check_basic_block(fn: Callable) -> None:
    """Check ``basic_block(X, filters, s=1, training=None, initializer=...)``."""
    return _verdict(lambda: _check_block(fn, "basic_block", BASIC_CASES))


def _check_resnet50(fn: Callable) -> str:
    if not callable(fn):
        raise AssertionError("ResNet50 must be a function")
    model = diagnosis.build_resnet50(fn, skip=_HERE)
    diagnosis.judge_resnet50(model, np.random.default_rng(7))
    return (f"ResNet50: {model.count_params():,} parameters; every block, the stem and the "
            "head compute what the reference computes, in training and inference mode")


def check_resnet50(fn: Callable) -> None:
    """Check ``ResNet50(input_shape=(64, 64, 3), classes=6, training=None)``."""
    return _verdict(lambda: _check_resnet50(fn))
