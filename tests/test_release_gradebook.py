"""Releasing after the solutions changed their cells, with a gradebook that holds earlier
submissions (an earlier `make demo` or a graded class).

nbgrader's generate_assignment refuses to add or remove cells of an assignment that has
submissions ("Cannot add or remove cells ... because there are submissions associated with
it", nbgrader issues #1646 and #1699) and, run with force, has already removed the old release
folder by then. The kit generates the release in a scratch course with a fresh gradebook and
replaces assignments/ only once that succeeded; the course gradebook is brought to the
release's cells separately, and where it cannot be (submissions of other cells), `grade` stops
before grading anyone and says what differs and how to go on, while `release` says so as a
warning. The demo replaces its own example students' earlier submissions.

All on the toy course; no student code runs (the graded students have nothing to run).
"""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell

from autograder.engine import cli, democlass
from autograder.engine.course import (Course, GradingError, StaleGradebook, release_layout,
                                      replace_folder)
from autograder.engine.grading import Grader, load_results
from autograder.engine.toy import TOY_ASSIGNMENT, TOY_NOTEBOOK, make_toy_course

NEW_CELL = "own_photo_note"


def _course(root: Path) -> Course:
    make_toy_course(root)
    return Course(root, TOY_ASSIGNMENT)


def _source(course: Course) -> Path:
    return course.source_dir / f"{TOY_NOTEBOOK}.ipynb"


def _add_locked_cell(course: Course) -> None:
    """What commit fc7f0f1 did to notebook 2: a new locked markdown cell at the end."""
    nb = nbformat.read(_source(course), as_version=4)
    cell = new_markdown_cell("## Try it on your own hand (optional)", metadata={"nbgrader": {
        "grade": False, "grade_id": NEW_CELL, "locked": True, "schema_version": 3,
        "solution": False, "task": False}})
    cell["id"] = "toy-new"
    nb.cells.append(cell)
    nbformat.write(nb, _source(course))


def _submit(course: Course, *students: str) -> None:
    """Submissions recorded in the course gradebook, as autograde leaves them."""
    # nbgrader's add_submission makes SQLAlchemy warn "not in session" (its own API; the
    # engine silences the same in Course): not this test's subject.
    with warnings.catch_warnings(), course.gradebook() as gb:
        warnings.simplefilter("ignore")
        for student in students:
            gb.update_or_create_student(student)
            gb.add_submission(TOY_ASSIGNMENT, student)


def _gradebook(course: Course) -> dict:
    """Who submitted, and the cells the gradebook records for the toy notebook."""
    with course.gradebook() as gb:
        notebook = gb.find_notebook(TOY_NOTEBOOK, TOY_ASSIGNMENT)
        return {"students": sorted(s.student.id for s in gb.assignment_submissions(TOY_ASSIGNMENT)),
                "cells": sorted(c.name for c in notebook.source_cells),
                "sources": {c.name: c.source for c in notebook.source_cells}}


def _files(folder: Path) -> dict:
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def graded_before(tmp_path):
    """A toy course released and graded (two submissions), then a cell added to the source."""
    course = _course(tmp_path / "course")
    course.sync_gradebook(course.release())
    _submit(course, "alice", "bob")
    before = _files(course.release_dir)
    _add_locked_cell(course)
    return course, before


def test_release_after_a_cell_was_added_succeeds_with_a_gradebook_holding_earlier_submissions(
        graded_before, capsys):
    course, before = graded_before
    recorded = _gradebook(course)
    assert NEW_CELL not in recorded["cells"]

    status = cli.main(["--course", str(course.root), "--assignment", TOY_ASSIGNMENT, "release"])
    out, err = capsys.readouterr()

    assert status == 0, out + err
    assert NEW_CELL in release_layout(course.release_dir)[TOY_NOTEBOOK]["source"]
    assert _files(course.release_dir) != before and (course.release_dir / f"{TOY_NOTEBOOK}.ipynb").is_file()
    assert "released 1 notebook(s)" in out
    # The gradebook keeps what it had, and the warning says what differs and what to do.
    assert _gradebook(course) == recorded
    assert "warning: the release is written" in err
    assert f"{TOY_NOTEBOOK}: cells added: {NEW_CELL}" in err
    assert "2 submission(s) of 'toy' (alice, bob)" in err
    assert f"mv {course.root / 'gradebook.db'} " in err
    assert "`grade` stops before grading anyone" in err
    assert not [p for p in (course.root / "build").iterdir()]  # no scratch left behind


def test_the_release_is_the_same_whatever_the_gradebook_holds(graded_before, tmp_path):
    course, _ = graded_before
    course.release()
    fresh = _course(tmp_path / "fresh")
    _add_locked_cell(fresh)
    fresh.release()
    assert _files(course.release_dir) == _files(fresh.release_dir)


def test_grading_with_a_gradebook_of_earlier_cells_stops_saying_what_differs_and_how_to_fix_it(
        graded_before, tmp_path):
    course, _ = graded_before
    course.release()
    recorded = _gradebook(course)
    incoming = tmp_path / "incoming" / "carol"
    incoming.mkdir(parents=True)
    (incoming / f"{TOY_NOTEBOOK}.ipynb").write_text("")
    reports = tmp_path / "reports"

    with pytest.raises(StaleGradebook) as stop:
        Grader(course, reports, sandbox=False, out=io.StringIO()).grade_source(incoming.parent)
    message = str(stop.value)
    assert f"cells added: {NEW_CELL}" in message and "nothing was graded" in message
    assert "git checkout <commit> -- solutions/toy" in message
    assert _gradebook(course) == recorded  # nothing recorded, nothing mixed
    assert not load_results(reports, TOY_ASSIGNMENT)

    # What the message says to do: move the gradebook aside and grade again.
    aside = Path(message.split("mv ", 1)[1].split()[1])
    (course.root / "gradebook.db").rename(aside)
    [result] = Grader(course, reports, sandbox=False, out=io.StringIO()).grade_source(incoming.parent)
    assert result["student"] == "carol" and result["total"] == 0
    now = _gradebook(course)
    assert now["students"] == ["carol"] and NEW_CELL in now["cells"]
    assert Course(course.root, TOY_ASSIGNMENT).gradebook_conflict(course.release_dir) is None


def test_a_change_of_cell_contents_reaches_the_gradebook_despite_earlier_submissions(tmp_path):
    """nbgrader allows it (same cells): autograde must then restore the new hidden tests."""
    course = _course(tmp_path / "course")
    course.sync_gradebook(course.release())
    _submit(course, "alice")
    nb = nbformat.read(_source(course), as_version=4)
    test = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_cube")
    test.source = test.source.replace("cube(-3) == -27", "cube(-2) == -8")
    nbformat.write(nb, _source(course))

    course.sync_gradebook(course.release())
    recorded = _gradebook(course)
    assert recorded["students"] == ["alice"]
    assert "cube(-2) == -8" in recorded["sources"]["test_cube"]


def test_a_failed_generation_leaves_assignments_and_the_gradebook_untouched(graded_before):
    course, before = graded_before
    recorded = _gradebook(course)
    nb = nbformat.read(_source(course), as_version=4)
    nb.cells[1].metadata["nbgrader"]["grade_id"] = "intro"  # two cells with one id: nbgrader fails
    nbformat.write(nb, _source(course))

    with pytest.raises(GradingError, match="generate_assignment failed"):
        course.release()
    assert _files(course.release_dir) == before
    assert _gradebook(course) == recorded
    assert not [p for p in (course.root / "build").iterdir()]


def test_a_release_that_would_leak_replaces_nothing(graded_before):
    course, before = graded_before
    nb = nbformat.read(_source(course), as_version=4)
    # a hidden test's line quoted in a markdown cell: nbgrader clears nothing there
    nb.cells[0].source += ('\n\n    assert square(-4) == 16, "square(-4) should be 16"'
                           '  # HIDDEN-SQUARE-CHECK')
    nbformat.write(nb, _source(course))

    with pytest.raises(GradingError, match="leaks instructor material"):
        course.release()
    assert _files(course.release_dir) == before


def test_the_old_release_is_put_back_when_the_new_one_cannot_take_its_place(tmp_path, monkeypatch):
    target, fresh = tmp_path / "assignments" / "toy", tmp_path / "build" / "toy"
    for folder, text in ((target, "old"), (fresh, "new")):
        folder.mkdir(parents=True)
        (folder / "squares.ipynb").write_text(text)
    rename = os.rename

    def failing(src, dst):  # the new folder cannot be moved in (putting the old back can)
        if Path(dst) == target and ".new-" in Path(src).name:
            raise OSError("disk full")
        rename(src, dst)

    monkeypatch.setattr(os, "rename", failing)
    with pytest.raises(OSError, match="disk full"):
        replace_folder(target, fresh)
    assert (target / "squares.ipynb").read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["toy"]


def test_release_check_touches_no_gradebook(tmp_path):
    course = _course(tmp_path / "course")
    course.release()
    assert cli.main(["--course", str(course.root), "--assignment", TOY_ASSIGNMENT,
                     "release", "--check"]) == 0
    assert not (course.root / "gradebook.db").exists()


def _demo(course: Course, examples: Path, reports: Path) -> int:
    return cli.main(["--course", str(course.root), "--assignment", TOY_ASSIGNMENT, "--reports",
                     str(reports), "demo", "--examples", str(examples), "--workers", "1",
                     "--no-sandbox"])


def _demo_class(tmp_path: Path) -> Path:
    """A demo class of one student with nothing to run (no job, no sandbox needed)."""
    examples = tmp_path / "toyclass"
    (examples / "empty").mkdir(parents=True)
    (examples / "empty" / f"{TOY_NOTEBOOK}.ipynb").write_text("")
    democlass.expectations_path(examples).write_text(json.dumps(
        {"max": 4, "students": {"empty": {"total": 0, "status": "unsandboxed; empty"}}}))
    return examples


def test_the_demo_replaces_its_own_earlier_submissions_after_a_cell_was_added(tmp_path, capsys):
    course = _course(tmp_path / "course")
    course.sync_gradebook(course.release())
    _submit(course, "empty")  # an earlier demo's
    _add_locked_cell(course)

    status = _demo(course, _demo_class(tmp_path), tmp_path / "reports")
    out, err = capsys.readouterr()

    assert status == 0, out + err
    assert "removed 1 submission(s) of 'toy' recorded with earlier cells" in out
    recorded = _gradebook(course)
    assert recorded["students"] == ["empty"] and NEW_CELL in recorded["cells"]


def test_the_demo_stops_when_others_submissions_use_the_earlier_cells(tmp_path, capsys):
    course = _course(tmp_path / "course")
    course.sync_gradebook(course.release())
    _submit(course, "empty", "alice")  # alice is not a demo student: her grade is kept
    _add_locked_cell(course)

    status = _demo(course, _demo_class(tmp_path), tmp_path / "reports")
    out, err = capsys.readouterr()

    assert status == cli.EXIT_USAGE, out + err
    assert f"cells added: {NEW_CELL}" in err and "alice" in err and "nothing was graded" in err
    assert _gradebook(course)["students"] == ["alice", "empty"]
    assert NEW_CELL in release_layout(course.release_dir)[TOY_NOTEBOOK]["source"]
