"""Grades for a learning-management system: Canvas' and Moodle's grade import CSVs, or a plain
CSV of every test's points, from a grading run's results.

The column rules, as the systems document them:

* Canvas, gradebook import ("Import scores", the format of its own gradebook export): the
  columns ``Student``, ``ID``, ``SIS User ID``, ``SIS Login ID`` and ``Section``, then one
  column per assignment holding points. A student is matched by one of Student (name, "Last,
  First"), ID (Canvas' user id) or SIS User ID; SIS Login ID and Section are required columns
  (they may be empty). The export's second row, ``Points Possible``, holds each assignment's
  maximum. A column whose name is no existing assignment creates one; a blank cell changes
  nothing. (Canvas guides, "How do I import grades in the Gradebook?"; Ohio State's
  "Import a CSV file to Carmen grades": "Student Name ... OR Student ID OR Student SIS User ID
  ... SIS Login ID ... Section ... Assignment Name".)
* Moodle, grade import from CSV (grade/import/csv): a header row, one row per user; at import
  the teacher maps one column to a user field ("Identify user by": email address, username,
  ID number or user id, gradeimport_csv_load_data's mapping identifiers useremail, username,
  useridnumber and userid) and each grade column to a grade item. A row whose identifier
  matches no user is reported by Moodle and imports nothing; an empty grade is skipped.
* csv: the report's grades.csv (every test's points, total, max, status, failures, details)
  with the roster's columns in front.

The roster (``--roster FILE``, a CSV, header :data:`ROSTER_COLUMNS`; only ``student`` is
required) maps the kit's student ids - the nbgrader ids, the report's first column - to the
LMS's. Matching is exact, character for character: a graded student the roster does not name
gets a row whose name says UNMATCHED and whose LMS ids are empty (the LMS refuses it by name,
so the instructor sees it), never another student's ids; a roster entry with no submission
gets a row with no grade (blank: the LMS changes nothing). Both are listed when exporting,
with the roster's look-alike ids (same letters after case folding and Unicode normalisation)
named as such.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import unicodedata
from pathlib import Path

from . import report

TARGETS = ("canvas", "moodle", "csv")
# The roster's header: the kit's student id, then what the LMS knows the student by.
ROSTER_COLUMNS = ("student", "name", "canvas_id", "sis_user_id", "sis_login_id", "section",
                  "email", "username", "id_number")
CANVAS_COLUMNS = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
CANVAS_POINTS_ROW = "Points Possible"
# Moodle's user fields a column can be mapped to, by the name Moodle's own grade export gives
# the column: --moodle-id picks one.
MOODLE_IDENTIFIERS = {"email": ("email", "Email address"), "username": ("username", "Username"),
                      "idnumber": ("id_number", "ID number")}
UNMATCHED = "UNMATCHED"


class RosterError(ValueError):
    """A roster that cannot be used as it is (its header, a repeated id)."""


@dataclasses.dataclass
class Row:
    """One exported student: the roster's entry (empty for a graded student it does not
    name) and the result (None for a roster entry with no submission)."""

    student: str
    entry: dict
    result: dict | None

    @property
    def matched(self) -> bool:
        return bool(self.entry) and self.result is not None


@dataclasses.dataclass
class Export:
    rows: list[Row]
    not_in_roster: list[str]
    no_submission: list[str]
    look_alikes: dict[str, str]  # graded id -> the roster id it looks like
    roster_given: bool

    def name(self, row: Row) -> str:
        """The student's name for people; ``UNMATCHED <id>`` where the roster lacks them."""
        if not self.roster_given:
            return row.student
        return row.entry.get("name") or row.student if row.entry else f"{UNMATCHED} {row.student}"

    def identifier(self, row: Row, field: str) -> str:
        """The roster's ``field`` of the student (the kit's id without a roster)."""
        if not self.roster_given:
            return row.student
        return row.entry.get(field, "") if row.entry else f"{UNMATCHED} {row.student}"


def read_roster(path: Path) -> dict[str, dict]:
    """{student id: its row}, from a CSV whose header has ``student`` and any of
    :data:`ROSTER_COLUMNS` (unknown columns are refused: a misspelt one would be ignored)."""
    with open(path, newline="", encoding="utf-8-sig") as fh:  # Excel's byte-order mark
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        unknown = [h for h in header if h not in ROSTER_COLUMNS]
        if "student" not in header or unknown:
            raise RosterError(f"{path}: the roster's header must have 'student' and only these "
                              f"columns: {', '.join(ROSTER_COLUMNS)}"
                              + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
        roster: dict[str, dict] = {}
        for line, raw in enumerate(reader, start=2):
            entry = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
            student = entry.get("student", "")
            if not student:
                raise RosterError(f"{path}, line {line}: no student id")
            if student in roster:
                raise RosterError(f"{path}, line {line}: student '{student}' is listed twice")
            roster[student] = entry
    return roster


def _folded(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold().strip()


def match(results: list[dict], roster: dict[str, dict] | None) -> Export:
    """Every graded student and every roster entry, each once; exact ids only."""
    graded = {r["student"]: r for r in results}
    if roster is None:  # no roster: the kit's id stands for the name and the identifier
        return Export([Row(s, {}, graded[s]) for s in sorted(graded)], [], [], {}, False)
    rows = [Row(s, roster.get(s, {}), graded.get(s)) for s in sorted(set(graded) | set(roster))]
    not_in_roster = sorted(set(graded) - set(roster))
    no_submission = sorted(set(roster) - set(graded))
    by_folded = {_folded(s): s for s in roster}
    look_alikes = {}
    for student in not_in_roster:
        # The intake gives a look-alike name its cleaned id plus "-" and a hash (alice-1a2b3c4d)
        unhashed = re.sub(r"-[0-9a-f]{8,}$", "", student)
        for candidate in (student, unhashed):
            if _folded(candidate) in by_folded:
                look_alikes[student] = by_folded[_folded(candidate)]
                break
    return Export(rows, not_in_roster, no_submission, look_alikes, True)


def _points(value: float) -> str:
    return f"{value:g}"


def canvas_rows(export: Export, assignment: str, max_points: float) -> list[list[str]]:
    """Canvas' gradebook import: the header, the Points Possible row, a row per student."""
    rows = [[*CANVAS_COLUMNS, assignment],
            [CANVAS_POINTS_ROW, "", "", "", "", _points(max_points)]]
    for row in export.rows:
        entry = row.entry
        grade = _points(row.result["total"]) if row.result is not None else ""
        rows.append([export.name(row), entry.get("canvas_id", ""), entry.get("sis_user_id", ""),
                     entry.get("sis_login_id", ""), entry.get("section", ""), grade])
    return rows


def moodle_rows(export: Export, assignment: str, identifier: str) -> list[list[str]]:
    """Moodle's grade import: the identifier column (see :data:`MOODLE_IDENTIFIERS`), the
    student's name (to read, not mapped) and the grade (points)."""
    field, column = MOODLE_IDENTIFIERS[identifier]
    rows = [[column, "Name", assignment]]
    for row in export.rows:
        grade = _points(row.result["total"]) if row.result is not None else ""
        rows.append([export.identifier(row, field), export.name(row), grade])
    return rows


def plain_rows(export: Export, results: list[dict]) -> list[list[str]]:
    """The report's grades.csv rows (every test's points, total, max, status, failures) with
    the roster's name, email and section in front; a roster entry with no submission gets
    its columns and an empty rest."""
    header, *graded = report.grade_rows(results)
    by_student = {row[0]: row for row in graded}
    rows = [["name", "email", "section", *header]]
    for row in export.rows:
        rest = by_student.get(row.student) or [row.student] + [""] * (len(header) - 1)
        rows.append([export.name(row), row.entry.get("email", ""), row.entry.get("section", ""),
                     *rest])
    return rows


def write(rows: list[list[str]], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


def export(results: list[dict], target: str, path: Path, assignment: str,
           roster: dict[str, dict] | None = None, moodle_id: str = "email") -> Export:
    """Write ``target``'s CSV of ``results`` to ``path``; what could not be matched is in the
    returned :class:`Export` (see :func:`problems`)."""
    matched = match(results, roster)
    if target == "canvas":
        max_points = max((r["max"] for r in results), default=0.0)
        rows = canvas_rows(matched, assignment, max_points)
    elif target == "moodle":
        rows = moodle_rows(matched, assignment, moodle_id)
    elif target == "csv":
        rows = plain_rows(matched, results)
    else:
        raise ValueError(f"unknown target {target!r}: one of {', '.join(TARGETS)}")
    write(rows, path)
    return matched


def problems(matched: Export, target: str) -> list[str]:
    """Lines for the instructor: graded students the roster does not name, roster entries
    with no submission, and look-alike ids; [] when every one matched."""
    lines = []
    if matched.not_in_roster:
        lines.append(f"NOT IN THE ROSTER ({len(matched.not_in_roster)}): their rows say "
                     f"'{UNMATCHED} <id>' with no LMS id, so the LMS will refuse them: add them "
                     "to the roster, then export again")
        for student in matched.not_in_roster:
            like = matched.look_alikes.get(student)
            lines.append(f"  {student}" + (f"  (looks like the roster's '{like}', but is not "
                                            "the same id: check which is right)" if like else ""))
    if matched.no_submission:
        lines.append(f"NO SUBMISSION ({len(matched.no_submission)}): in the roster, not graded; "
                     "their rows have no grade (the LMS leaves theirs as it is)")
        lines += [f"  {student}" for student in matched.no_submission]
    if not matched.roster_given and target != "csv":
        lines.append("no --roster: the kit's student ids are written as they are (Canvas: the "
                     "Student column; Moodle: the identifier column)")
    return lines
