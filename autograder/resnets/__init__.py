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


def grading_notes() -> list[str]:
    """Lines the grader prints before grading: set-up an instructor should know about (empty
    when there is nothing to say). Today: whether the hidden split is the public default."""
    from . import hidden_split

    return hidden_split.notes()
