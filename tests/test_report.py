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


# --- what the class got wrong -----------------------------------------------------------------

# Real messages of the checks, with each student's own layer names and shapes: the summary
# groups them by kind.
RELU_BEFORE_ADD = ("AssertionError: ReLU applied before the addition (the final ReLU must come "
                   "after adding the shortcut, and only there) (found with {call})")
SHORTCUT_STRIDE = ("AssertionError: the shortcut conv must have stride 2, {layer} has strides=(1, "
                   "1) (found with convolutional_block(X, f=3, filters=[2, 3, 5], s=2) on X of "
                   "shape (2, 9, 9, 3))")
UNWRITTEN = "NotImplementedError: identity_block is not written yet: replace `raise ...`"


def known_class():
    """Six students with known failures in two exercises (visible and hidden tests each)."""
    def student(name, id_vis=None, id_hid=None, conv_vis=None, conv_hid=None, flags=()):
        cells = [("test_identity_block_visible", 2, id_vis), ("test_identity_block_hidden", 8, id_hid),
                 ("test_convolutional_block_visible", 2, conv_vis),
                 ("test_convolutional_block_hidden", 8, conv_hid)]
        r = result(name, [(gid, 0.0 if why else top, top, why) for gid, top, why in cells])
        r["flags"] = list(flags)
        return r

    relu = RELU_BEFORE_ADD.format
    return [
        student("ada"),
        student("bob", relu(call="identity_block(X, f=3, ...)"), relu(call="identity_block(X, f=2, ...)")),
        student("cy", relu(call="identity_block(X, f=3, ...)"), None,
                SHORTCUT_STRIDE.format(layer="conv2d_35"), SHORTCUT_STRIDE.format(layer="conv2d_59")),
        student("dee", UNWRITTEN, UNWRITTEN),
        student("eve", "grader error", "grader error", "grader error", "grader error",
                flags=["grader error"]),
        student("fay", None, None, "NameError: name 'convolutional_block' is not defined",
                "CellTimeoutError: stopped at the grader's time limit (60 s)", flags=["timeout"]),
    ]


def _summary():
    from autograder.engine.report import mistakes_summary
    from autograder.resnets import mistake_kind

    return mistakes_summary(known_class(), mistake_kind)


def test_the_mistakes_summary_groups_a_class_by_kind_of_mistake_and_counts_students():
    summary = _summary()
    by_name = {e.name: e for e in summary.exercises}
    assert list(by_name) == ["identity_block", "convolutional_block"]
    identity, conv = by_name["identity_block"], by_name["convolutional_block"]
    # eve (the grader failed her) is judged in no exercise.
    assert (identity.judged, identity.passed) == (5, 2)  # ada, fay
    assert [(k.id, who) for k, who in identity.kinds] == [
        ("relu-before-add", ["bob", "cy"]), ("unfinished", ["dee"])]
    assert (conv.judged, conv.passed) == (5, 3)  # ada, bob, dee
    assert [(k.id, k.apart, who) for k, who in conv.kinds] == [
        ("error-NameError", None, ["fay"]), ("shortcut-stride", None, ["cy"]),
        ("timeout", "timeout", ["fay"])]
    assert summary.apart == {"grader error": ["eve"], "timeout": ["fay"]}


def test_the_terminal_summary_says_counts_and_lists_students_only_when_asked():
    from autograder.engine.report import mistakes_text

    summary = _summary()
    text = mistakes_text(summary)
    assert "identity_block: 2 of 5 passed (40%)" in text
    assert "    2  ReLU applied before the addition  [relu-before-add]" in text
    assert "bob, cy" not in text and "report --mistakes" in text
    assert "grader errors: 1 student (eve); timeouts: 1 student (fay)" in text
    assert "stopped at the grader's time limit" not in text  # counted apart, not a mistake
    listed = mistakes_text(summary, who=True)
    assert "bob, cy" in listed and "report --mistakes" not in listed


def test_the_mistakes_page_and_chart_show_the_terminal_numbers(tmp_path):
    import re

    from autograder.engine.report import mistakes_chart, mistakes_html

    summary = _summary()
    chart = mistakes_chart(summary, tmp_path / "mistakes.png")
    page = mistakes_html(summary, tmp_path / "mistakes.html", chart).read_text()
    assert chart.read_bytes().startswith(b"\x89PNG") and "src='mistakes.png'" in page
    assert "identity_block: 2 of 5 passed (40%)" in page
    counts = re.findall(r"<summary>(\d+)</summary>([^<]*)</details></td><td>([^<]*)</td>", page)
    assert ("2", "bob, cy", "ReLU applied before the addition") in counts
    assert ("1", "cy", "wrong stride on the shortcut conv") in counts
    assert "grader errors: 1 (eve)" in page and "timeouts: 1 (fay)" in page


def test_a_failure_the_checks_do_not_name_is_grouped_by_what_it_is():
    from autograder.engine.report import failure_kind
    from autograder.resnets import mistake_kind

    assert failure_kind("AssertionError: something new", mistake_kind).id == "unnamed"
    assert failure_kind("missing notebook", mistake_kind).id == "nothing-to-grade"
    assert failure_kind("TestTimeout: the grader stopped this test after 5 s").apart == "timeout"
    assert failure_kind("GraderError: capture failed").apart == "grader error"
    assert failure_kind("ValueError: x", mistake_kind).id == "error-ValueError"


def _reports_with(tmp_path, results):
    """A reports folder whose latest run holds ``results`` (as `grade` writes them)."""
    run = tmp_path / "reports" / "resnets" / "runs" / "20260101-000000" / "results"
    run.mkdir(parents=True)
    for r in results:
        (run / f"{r['student']}.json").write_text(json.dumps(r))
    (tmp_path / "reports" / "resnets" / "latest-run").write_text("20260101-000000\n")
    return tmp_path / "reports"


def test_report_prints_the_mistakes_and_lists_the_students_with_the_flag(tmp_path, capsys):
    from autograder.engine import cli

    reports = _reports_with(tmp_path, known_class())
    assert cli.main(["--reports", str(reports), "report"]) == 0
    out = capsys.readouterr().out
    assert "What the class got wrong (6 students" in out and "bob, cy" not in out
    assert (reports / "resnets" / "mistakes.html").is_file()
    assert (reports / "resnets" / "mistakes.png").is_file()
    assert cli.main(["--reports", str(reports), "report", "--mistakes"]) == 0
    assert "bob, cy" in capsys.readouterr().out


def test_the_demo_fails_when_a_students_named_mistakes_differ_from_the_expected():
    from autograder.engine.democlass import check_expectations
    from autograder.engine.report import named_mistakes
    from autograder.resnets import mistake_kind

    cy = next(r for r in known_class() if r["student"] == "cy")
    found = named_mistakes(cy, mistake_kind)
    assert found == {"identity_block": ["relu-before-add"],
                     "convolutional_block": ["shortcut-stride"]}
    expected = {"students": {"cy": {"total": cy["total"], "status": cy["status"],
                                    "mistakes": found}}}
    assert check_expectations([cy], expected, name_mistake=mistake_kind) == []
    expected["students"]["cy"]["mistakes"] = {"identity_block": ["relu-before-add"]}
    (line,) = check_expectations([cy], expected, name_mistake=mistake_kind)
    assert line.startswith("cy: mistakes named") and "shortcut-stride" in line


def test_the_demo_class_expects_the_mistakes_democlass_lists():
    from autograder.engine.democlass import DEMO_MISTAKES, EXAMPLES_DIR, load_expectations

    expected, _ = load_expectations(EXAMPLES_DIR / "resnets")
    named = {s: w["mistakes"] for s, w in expected["students"].items() if w["mistakes"]}
    assert named == DEMO_MISTAKES["resnets"]
