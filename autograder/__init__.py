"""Instructor-only code: NumPy reference implementations, hidden-test checks and grading.

Never needed by a student notebook; the student bundle leaves this package out.
"""
