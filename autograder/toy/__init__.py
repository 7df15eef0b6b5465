"""Judging settings of the ``toy`` assignment (autograder/engine/toy.py), the tiny course the
engine's tests and benchmarks grade. Its training test compares ``history`` with the student's
``square`` as the grader runs it, so a list a notebook merely claims earns nothing."""

# Names a test cell takes from the grader's settings, never from the student's notebook.
GRADER_VALUES = {"EPOCHS": "epochs"}
# The "training" budget when `grade --epochs` is not given.
DEFAULT_EPOCHS = 3
