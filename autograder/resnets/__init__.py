"""Judging code of the ``resnets`` assignment (instructor-only): the hidden-test checks, the
NumPy reference, the accuracy test with its measured thresholds and the hidden split (its seed
and a command to make a private one: ``hidden_split``)."""

# How the grader treats this assignment (read by autograder.engine):
# names a test cell takes from the grader's settings, never from the student's notebook;
GRADER_VALUES = {"EPOCHS": "epochs"}
# the training budget when `grade --epochs` is not given (measured thresholds exist for it);
DEFAULT_EPOCHS = 3
# cells not run in the sandbox: the judge trains the captured architecture itself.
SKIP_WHILE_GRADING = ["training"]
# the per-cell timeout (seconds) of every cell the sandbox runs, when `grade --timeout` is not
# given. With the training cells skipped, the solution's slowest cell is the set-up (importing
# TensorFlow): at most 3.6 s in 220 graded runs of the test suite on the kit's 2-core machine
# (every other cell under 1.1 s; the sandbox's journal records each cell's seconds). 60 s is
# 16x that, room for a machine 2-4x slower and loaded; a student's endless loop then costs a
# minute, not nbgrader_config.py's course-wide 300 s.
CELL_TIMEOUT = 60
# the most a job's notebooks may take in all (the executor's one budget, replays after kernel
# restarts included), below the sum of every cell at CELL_TIMEOUT (about 26 minutes for the two
# notebooks): the solution's whole sandboxed run took 27.2 s (19.9 CPU-s) in the demo on the
# kit's 2-core machine (2026-12-07); 600 s is 22x that, and a notebook whose every cell loops
# costs 10 minutes of a worker, not 26.
JOB_BUDGET = 600


def grading_notes() -> list[str]:
    """Lines the grader prints before grading: set-up an instructor should know about (empty
    when there is nothing to say). Today: whether the hidden split is the public default."""
    from . import hidden_split

    return hidden_split.notes()


def mistake_kind(message: str) -> tuple[str, str] | None:
    """(id, name) of the kind of mistake a check's message names (resnet_kit.diagnosis'
    MISTAKE_KINDS), or None: how `report` groups a class's failures."""
    from resnet_kit.diagnosis import kind_of

    kind = kind_of(message)
    return None if kind is None else (kind.id, kind.name)
