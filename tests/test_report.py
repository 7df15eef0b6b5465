"""What the instructor reads: every failure's whole reason in results, CSV and terminal table,
tests in notebook order. No grading runs here (results are made by hand)."""

from __future__ import annotations

import csv
import json

from autograder.engine.grading import ERROR_CHARS, cell_error, error_text, one_line
from autograder.engine.report import (TABLE_REASON_CHARS, columns, failures_of, shorten, table,
                                      write_csv)

# A check's message as the judge raises it today: the call first, the reasons on later lines.
CONTEXT_FIRST = ("identity_block(X, f=3, filters=[2, 4, 4]) with X of shape (2, 5, 5, 4):\n"
                 "  - BatchNorm missing after the 2nd conv (3x3, 'same') of the main path\n"
                 "  - wrong number of filters in conv 3 of the main path: expected 4, got 2")
KERAS = ("Exception encountered when calling Conv2D.call().\n\n"
         "Computed output size would be negative. Received `inputs shape=(None, 1, 1, 512)`, "
         "`kernel shape=(3, 3, 512, 512)`, `dilation_rate=(1, 1)`.")


def result(student, cells, total=0.0, status="ok"):
    """A result as grading.Grader writes it; ``cells``: (grade_id, score, max, error)."""
    return {"student": student, "assignment": "resnets", "total": total,
            "max": sum(c[2] for c in cells), "status": status, "flags": [], "details": [],
            "cells": {f"nb/{gid}": {"notebook": "nb", "grade_id": gid, "score": score,
                                    "max": top, "error": error}
                      for gid, score, top, error in cells}}


def test_a_cells_error_keeps_every_line_of_its_message_on_one_line():
    out = {"output_type": "error", "ename": "AssertionError", "evalue": CONTEXT_FIRST}
    text = cell_error({"outputs": [out]})
    assert "\n" not in text and "  " not in text
    assert text.startswith("AssertionError: identity_block(X, f=3")
    assert "BatchNorm missing after the 2nd conv" in text and text.endswith("expected 4, got 2")


def test_a_keras_build_failure_keeps_the_reason_after_its_generic_first_line():
    out = {"output_type": "error", "ename": "ValueError", "evalue": KERAS}
    assert "output size would be negative" in cell_error({"outputs": [out]})


def test_the_grader_s_own_error_comes_first_and_no_error_is_none():
    outs = [{"output_type": "error", "ename": "ValueError", "evalue": "student's"},
            {"output_type": "error", "ename": "CellTimeoutError", "evalue": "stopped"}]
    assert cell_error({"outputs": outs}) == "CellTimeoutError: stopped"
    assert cell_error({"outputs": [{"output_type": "stream", "text": "hi"}]}) is None


def test_a_huge_message_is_cut_with_an_ellipsis():
    text = error_text("ValueError", "x " * 10_000)
    assert len(text) == ERROR_CHARS and text.endswith("\u2026")
    assert one_line("a\n\n  b\tc") == "a b c"
    assert error_text("NotImplementedError", "") == "NotImplementedError"


def test_the_table_shows_the_reason_whether_it_comes_first_or_last():
    padding = "x" * 400  # longer than the table shows: it must shorten
    late = f"AssertionError: block(X) with X of shape (2, 5, 5, 4) {padding}: - BatchNorm missing"
    early = f"AssertionError: BatchNorm missing after conv 2 {padding} (block(X) with X ...)"
    for text in (late, early):
        short = shorten(text)
        assert len(short) <= TABLE_REASON_CHARS and "\u2026" in short
        assert "BatchNorm missing" in short
    assert shorten("short and whole") == "short and whole"


def test_the_table_lists_each_failure_with_its_reason_under_the_student():
    results = [result("bob", [("test_b", 0, 1, "AssertionError: " + CONTEXT_FIRST),
                              ("test_a", 2, 2, None)], total=2),
               result("amy", [("test_b", 1, 1, None), ("test_a", 2, 2, None)], total=3)]
    text = table(results)
    lines = text.splitlines()
    amy, bob = lines.index(next(x for x in lines if x.startswith("amy"))), lines.index(
        next(x for x in lines if x.startswith("bob")))
    assert amy < bob and lines[amy + 1].startswith("bob")  # amy passed everything
    why = " ".join(line.strip() for line in lines[bob + 1:-1])
    assert why.startswith("test_b: AssertionError: identity_block")
    assert "wrong number of filters" in why and "test_a" not in why
    assert table(results, why=False).count("\n") == 5  # header, rule, 2 rows, mean


def test_the_table_puts_tests_with_the_same_reason_on_one_line():
    r = result("cid", [("t1", 0, 1, "missing notebook"), ("t2", 0, 1, "missing notebook")])
    assert "    t1, t2: missing notebook" in table([r]).splitlines()


def test_csv_columns_and_failures_are_in_notebook_order_with_whole_messages(tmp_path):
    # Notebook order is the results' order: test_z comes before test_a in the notebook.
    r = result("dan", [("test_z", 0, 1, "AssertionError: " + one_line(CONTEXT_FIRST)),
                       ("test_a", 0, 2, "ValueError: " + one_line(KERAS))])
    r = json.loads(json.dumps(r))  # as read back from results/<student>.json
    assert columns([r])[0] == ["test_z", "test_a"]
    path = write_csv([r], tmp_path / "grades.csv")
    [row] = list(csv.DictReader(path.open(encoding="utf-8")))
    header = next(csv.reader(path.open(encoding="utf-8")))
    assert header[:3] == ["student", "test_z", "test_a"]
    assert row["failures"].index("test_z: ") < row["failures"].index("test_a: ")
    assert "wrong number of filters in conv 3" in row["failures"]
    assert "output size would be negative" in row["failures"]
    assert [t for t, _ in failures_of(r)] == ["test_z", "test_a"]
