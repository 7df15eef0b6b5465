"""Grades for Canvas and Moodle: the documented columns, every student once under their own
ids (a roster with a missing student, an extra one and a look-alike id), and the same points as
the report and nbgrader's gradebook."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from autograder.engine import cli, export, report
from autograder.engine.course import Course
from autograder.engine.democlass import ClassBuilder
from autograder.engine.grading import load_results
from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course

from conftest import needs_sandbox

ROSTER_HEADER = ",".join(export.ROSTER_COLUMNS)


def graded_result(student, total, top=10.0):
    return {"student": student, "total": total, "max": top, "status": "ok", "flags": [],
            "details": [], "cells": {"nb/test_a": {"notebook": "nb", "grade_id": "test_a",
                                                   "score": total, "max": top, "error": None}}}


# Graded: alice, bob, a look-alike of alice (the intake's id for "Alice." next to "alice") and
# zed, whom the roster does not know. The roster: alice, bob and carol, who submitted nothing.
CLASS = [graded_result("alice", 9), graded_result("bob", 4), graded_result("alice-aa3bed7f", 1),
         graded_result("zed", 7)]
ROSTER = f"""{ROSTER_HEADER}
alice,"Liddell, Alice",1001,S1,aliddell,Sec A,alice@uni.edu,aliddell,ID-1
bob,"Builder, Bob",1002,S2,bbuilder,Sec B,bob@uni.edu,bbuilder,ID-2
carol,"Danvers, Carol",1003,S3,cdanvers,Sec A,carol@uni.edu,cdanvers,ID-3
"""


@pytest.fixture
def roster(tmp_path):
    path = tmp_path / "roster.csv"
    path.write_text(ROSTER)
    return export.read_roster(path)


def _read(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_canvas_export_has_canvas_columns_and_every_student_under_their_own_ids(tmp_path, roster):
    matched = export.export(CLASS, "canvas", tmp_path / "canvas.csv", "ResNets", roster)
    rows = _read(tmp_path / "canvas.csv")
    assert list(rows[0]) == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "ResNets"]
    assert rows[0]["Student"] == "Points Possible" and rows[0]["ResNets"] == "10"
    by_name = {r["Student"]: r for r in rows[1:]}
    assert by_name["Liddell, Alice"] == {"Student": "Liddell, Alice", "ID": "1001",
                                         "SIS User ID": "S1", "SIS Login ID": "aliddell",
                                         "Section": "Sec A", "ResNets": "9"}
    assert by_name["Builder, Bob"]["ResNets"] == "4"
    # Carol submitted nothing: her row, no grade. The look-alike and zed: no one's ids.
    assert by_name["Danvers, Carol"]["ResNets"] == "" and by_name["Danvers, Carol"]["ID"] == "1003"
    for stranger, points in (("alice-aa3bed7f", "1"), ("zed", "7")):
        row = by_name[f"UNMATCHED {stranger}"]
        assert (row["ID"], row["SIS User ID"], row["SIS Login ID"], row["ResNets"]) == (
            "", "", "", points)
    assert len(rows) == 1 + 5  # Points Possible, then each student once
    assert matched.not_in_roster == ["alice-aa3bed7f", "zed"]
    assert matched.no_submission == ["carol"]


def test_moodle_export_identifies_students_by_the_field_the_instructor_picks(tmp_path, roster):
    for field, column, alice in (("email", "Email address", "alice@uni.edu"),
                                 ("username", "Username", "aliddell"),
                                 ("idnumber", "ID number", "ID-1")):
        export.export(CLASS, "moodle", tmp_path / f"{field}.csv", "ResNets", roster, field)
        rows = _read(tmp_path / f"{field}.csv")
        assert list(rows[0]) == [column, "Name", "ResNets"]
        grades = {r[column]: r["ResNets"] for r in rows}
        assert grades[alice] == "9" and len(rows) == 5
        assert grades["UNMATCHED alice-aa3bed7f"] == "1" and grades["UNMATCHED zed"] == "7"


def test_unmatched_students_are_listed_loudly_with_their_look_alike(roster):
    lines = export.problems(export.match(CLASS, roster), "canvas")
    text = "\n".join(lines)
    assert "NOT IN THE ROSTER (2)" in text and "NO SUBMISSION (1)" in text
    assert "alice-aa3bed7f  (looks like the roster's 'alice'" in text
    assert "  zed" in text and "  carol" in text


def test_a_roster_with_an_unknown_column_or_a_repeated_id_is_refused(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("student,mail\nalice,a@uni.edu\n")
    with pytest.raises(export.RosterError, match="unknown: mail"):
        export.read_roster(bad)
    bad.write_text("student,name\nalice,A\nalice,B\n")
    with pytest.raises(export.RosterError, match="listed twice"):
        export.read_roster(bad)


@pytest.fixture(scope="module")
def toy_graded(tmp_path_factory):
    """A toy class graded for real: the solution, the untouched release and bugs."""
    root = tmp_path_factory.mktemp("toy")
    make_toy_course(root)
    course = Course(root, TOY_ASSIGNMENT)
    ClassBuilder(course, course.release()).build(root / "built")
    incoming = root / "incoming"
    for student in ("solution", "release", "bugs"):
        shutil.copytree(root / "built" / student, incoming / student)
    reports = root / "reports"
    status = cli.main(["--course", str(root), "--assignment", TOY_ASSIGNMENT, "--reports",
                       str(reports), "grade", str(incoming), "--timeout", "10",
                       "--training-timeout", "30", "--workers", "1"])
    assert status == cli.EXIT_OK
    return root, reports


@needs_sandbox
def test_exported_grades_equal_the_reports_and_the_gradebooks(toy_graded, tmp_path):
    from nbgrader.api import Gradebook

    root, reports = toy_graded
    roster = tmp_path / "roster.csv"
    roster.write_text(f"{ROSTER_HEADER}\n" + "".join(
        f"{s},{s.title()},{n},S{n},{s},A,{s}@uni.edu,{s},ID{n}\n"
        for n, s in enumerate(("solution", "release", "bugs"))))
    base = ["--course", str(root), "--assignment", TOY_ASSIGNMENT, "--reports", str(reports),
            "export", "--roster", str(roster)]
    for target in ("canvas", "moodle", "csv"):
        assert cli.main(base + ["--to", target, "--out", str(tmp_path / f"{target}.csv")]) == 0
    results = load_results(reports, TOY_ASSIGNMENT)
    in_report = {r["student"]: r["total"] for r in _read(report.write_csv(results, tmp_path / "r.csv"))}
    api = Course(root, TOY_ASSIGNMENT).api()
    with Gradebook(api.coursedir.db_url, api.course_id) as gb:
        in_gradebook = {s.student.id: s.score for s in gb.assignment_submissions(TOY_ASSIGNMENT)}
    canvas = {r["SIS Login ID"]: r[TOY_ASSIGNMENT] for r in _read(tmp_path / "canvas.csv")[1:]}
    moodle = {r["Email address"].split("@")[0]: r[TOY_ASSIGNMENT]
              for r in _read(tmp_path / "moodle.csv")}
    plain = {r["student"]: r["total"] for r in _read(tmp_path / "csv.csv")}
    assert set(in_report) == set(in_gradebook) == set(canvas) == set(moodle) == set(plain)
    for student, total in in_report.items():
        assert float(total) == in_gradebook[student] == float(canvas[student]) \
            == float(moodle[student]) == float(plain[student]), student
    assert len({float(t) for t in in_report.values()}) > 1  # the class has different grades
