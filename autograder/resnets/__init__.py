"""Judging code of the ``resnets`` assignment (instructor-only): the hidden-test checks, the
NumPy reference, the accuracy test with its measured thresholds and the hidden split."""
