"""Autograde ONE student in a child process: ``python -m autograder.engine.worker SPEC.json``.

The batch runs each student here, under a wall-clock watchdog, so nothing a submission does
(or nbgrader does with it) can stop the batch. The spec names the course root, assignment,
student and config overrides; the worker runs nbgrader's autograde through ``NbGraderAPI``,
reads the grades back from the gradebook, scans the autograded notebooks for what went wrong
and writes a JSON result next to the spec.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import json
import sys
import time
from pathlib import Path

import nbformat

from .course import Course
from .nbexec import DEAD_KERNEL_ENAME, GRADER_ENAMES, NOT_RUN_ENAME, TIMEOUT_ENAME


def first_error(cell) -> str | None:
    """The cell's error as "Name: message"; the grader's own (timeout, dead kernel) first.

    A timed-out cell holds the KeyboardInterrupt of the interrupt before the grader's
    CellTimeoutError; the timeout is what happened.
    """
    errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if not errors:
        return None
    out = min(errors, key=lambda error: error.get("ename") not in GRADER_ENAMES)
    value = str(out.get("evalue", "")).strip().splitlines()
    return f"{out.get('ename')}: {value[0] if value else ''}".strip().rstrip(":")[:300]


def scan_autograded(path: Path) -> dict:
    """Flags, per-grade-cell error messages, and what went wrong in the other cells.

    ``cell_errors`` lists the first error of every cell that is not a test cell (a student's
    answer that raises or does not parse, a locked cell that fails because an answer is
    missing, the cell that hung or killed the kernel), so the report can say where it happened.
    Errors the student's code raised itself also set the flag "cell errors".
    """
    nb = nbformat.read(path, as_version=4)
    flags, errors, cell_errors = [], {}, []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        enames = {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}
        if TIMEOUT_ENAME in enames and "timeout" not in flags:
            flags.append("timeout")
        if enames & {DEAD_KERNEL_ENAME, NOT_RUN_ENAME} and "kernel died" not in flags:
            flags.append("kernel died")
        nbg = cell.metadata.get("nbgrader", {})
        err = first_error(cell)
        if not err:
            continue
        if nbg.get("grade") and nbg.get("grade_id"):
            errors[nbg["grade_id"]] = err
            continue
        cell_errors.append(f"cell '{nbg.get('grade_id') or f'#{index + 1}'}' {err}")
        if not enames & GRADER_ENAMES and "cell errors" not in flags:
            flags.append("cell errors")
    return {"flags": flags, "errors": errors, "cell_errors": cell_errors}


def run(spec: dict) -> dict:
    course = Course(Path(spec["root"]), spec["assignment"], spec.get("overrides"))
    student = spec["student"]
    started = time.monotonic()
    api = course.api()
    outcome = api.autograde(course.assignment, student, force=True, create=True)
    result = {"success": bool(outcome.get("success")), "seconds": 0.0, "notebooks": {}}
    if not outcome.get("success"):
        text = (outcome.get("error") or "") + (outcome.get("log") or "")
        result["error"] = text[-4000:]
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(api.coursedir.db_url, api.coursedir.course_id) as gb:
        try:
            submission = gb.find_submission(course.assignment, student)
        except MissingEntry:
            submission = None
        if submission is not None and outcome.get("success"):
            for nb in submission.notebooks:
                cells = {}
                for grade in nb.grades:
                    score = grade.score  # manual score if a grader set one, else auto
                    cells[grade.name] = {
                        "score": None if score is None else float(score),
                        "max": float(grade.max_score),
                    }
                result["notebooks"][nb.name] = {"cells": cells}
    autograded = course.autograded_root / student / course.assignment
    for name, entry in result["notebooks"].items():
        path = autograded / f"{name}.ipynb"
        if path.exists():
            entry.update(scan_autograded(path))
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec_path = Path(argv[0])
    spec = json.loads(spec_path.read_text())
    try:
        result = run(spec)
    except Exception:  # noqa: BLE001 - report, never crash silently
        import traceback

        result = {"success": False, "error": traceback.format_exc()[-4000:], "notebooks": {}}
    Path(spec["result"]).write_text(json.dumps(result, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
