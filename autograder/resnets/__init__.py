"""Judging code of the ``resnets`` assignment (instructor-only): the hidden-test checks, the
NumPy reference, the accuracy test with its measured thresholds and the hidden split."""

# How the grader treats this assignment (read by autograder.engine):
# names a test cell takes from the grader's settings, never from the student's notebook;
GRADER_VALUES = {"EPOCHS": "epochs"}
# the training budget when `grade --epochs` is not given (measured thresholds exist for it);
DEFAULT_EPOCHS = 3
# cells not run in the sandbox: the judge trains the captured architecture itself.
SKIP_WHILE_GRADING = ["training"]
