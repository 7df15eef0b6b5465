"""Per-student HTML feedback that never shows hidden test code (nbgrader issue #917).

nbgrader's generate_feedback renders the autograded notebook, whose test cells hold the
hidden tests again (autograde restores test cells from the gradebook), and whose tracebacks
quote the failing lines. :class:`HideHiddenTests` (in the GenerateFeedback chain, set in
``nbgrader_config.py`` and by :func:`generate`) replaces each hidden region with a comment,
and drops traceback frames that quote hidden code or instructor-only modules
(``autograder/``), keeping the exception name and message the student needs. Every HTML page
is then checked for leak markers and hidden-test lines before it is kept.

``index.html`` per student summarises: status, each test's points and why it failed.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import html
import re
import shutil
from pathlib import Path

from nbgrader.preprocessors import NbGraderPreprocessor

from .course import Course, hidden_snippets, text_leaks

HIDDEN_NOTE = "# (hidden tests ran here; their code is not shown)"
HIDDEN_FRAME = "[... a frame of the hidden tests is not shown ...]"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def remove_hidden_regions(source: str, begin="BEGIN HIDDEN TESTS", end="END HIDDEN TESTS") -> tuple[str, list[str]]:
    out, hidden, inside = [], [], False
    for line in source.split("\n"):
        if begin in line:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + HIDDEN_NOTE)
        elif end in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            out.append(line)
    return "\n".join(out), hidden


def frame_reveals(frame: str, hidden_lines: list[str]) -> bool:
    text = strip_ansi(frame)
    if re.search(r"[/\\]autograder[/\\]", text) or "autograder.resnets.checks" in text:
        return True
    for line in hidden_lines:
        line = line.strip()
        if len(line) >= 6 and line in text:
            return True
    return False


class HideHiddenTests(NbGraderPreprocessor):
    """Remove hidden test code from test cells and from every traceback."""

    def preprocess(self, nb, resources):
        hidden = []
        for cell in nb.cells:
            new_source, lines = remove_hidden_regions(cell.source)
            if lines:
                cell.source = new_source
                hidden.extend(lines)
        self._hidden = hidden
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") != "error":
                continue
            frames = list(out.get("traceback", []))
            kept = []
            for n, frame in enumerate(frames):
                last = n == len(frames) - 1
                if not last and frame_reveals(frame, self._hidden):
                    if not kept or kept[-1] != HIDDEN_FRAME:
                        kept.append(HIDDEN_FRAME)
                else:
                    kept.append(frame)
            out["traceback"] = kept
        return cell, resources


def html_text(page: str) -> str:
    """The visible text of an HTML page (what a leak check must look at)."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def check_page(path: Path, snippets) -> list[str]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    return text_leaks(html_text(raw), str(path), snippets) + [
        p for p in text_leaks(raw, str(path), snippets) if "contains '" in p
    ]


def generate(course: Course, reports: Path, results: list[dict], out=None) -> dict[str, list[Path]]:
    """nbgrader generate_feedback per student + a summary page; returns pages per student."""
    assignment = course.assignment
    fb_root = Path(reports) / assignment / "feedback"
    snippets = course.hidden_snippets()
    overrides = {
        "CourseDirectory": {"feedback_directory": str(fb_root / "nbgrader")},
    }
    merged = {k: dict(v) for k, v in (course.overrides or {}).items()}
    for k, v in overrides.items():
        merged.setdefault(k, {}).update(v)
    api = Course(course.root, assignment, merged).api()
    pages: dict[str, list[Path]] = {}
    for result in results:
        student = result["student"]
        target = fb_root / student
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        problems = []
        nb_pages = []
        autograded = course.autograded_root / student / assignment
        if autograded.is_dir() and any(autograded.glob("*.ipynb")):
            outcome = api.generate_feedback(assignment, student, force=True)
            produced = fb_root / "nbgrader" / student / assignment
            if not outcome.get("success"):
                problems.append("nbgrader could not render the notebooks")
            for page in sorted(produced.glob("*.html")):
                leaks = check_page(page, snippets)
                if leaks:
                    problems.append(f"{page.name} withheld: it would reveal hidden tests")
                    if out:
                        print("LEAK (page withheld): " + "; ".join(leaks), file=out)
                    continue
                dest = target / page.name
                shutil.copy(page, dest)
                nb_pages.append(dest)
            if produced.exists():
                shutil.rmtree(produced)
        index = target / "index.html"
        index.write_text(summary_page(result, nb_pages, problems), encoding="utf-8")
        leaks = check_page(index, snippets)
        if leaks:  # the summary quotes error messages only; refuse to ship a leak anyway
            index.write_text(summary_page(result, nb_pages, problems, redact=True), encoding="utf-8")
        pages[student] = [index, *nb_pages]
    shutil.rmtree(fb_root / "nbgrader", ignore_errors=True)
    return pages


STATUS_HELP = {
    "ok": "Your notebooks ran from top to bottom and every test was run.",
    "not a notebook": "A file could not be read as a Jupyter notebook (damaged or wrong file). "
                      "Tests of that notebook score 0.",
    "empty": "A notebook was empty. Its tests score 0.",
    "missing notebook": "A notebook of the assignment was not in your submission. Its tests score 0.",
    "kernel died": "Python stopped (crashed or exited) while running a cell. The grader restarted "
                   "it, re-ran the cells above and continued after that cell.",
    "timeout": "A cell ran longer than the time limit and was stopped. Cells after it still ran.",
    "grader error": "The grader could not finish your notebooks; the points shown are those of "
                    "the tests that had finished. The instructor has been told.",
    "missing cells": "You deleted read-only cells (such as tests); they were put back and run.",
    "duplicate cells": "You copied a read-only cell; only one copy was graded.",
    "tests edited": "You changed a test cell; your notebook was graded with the original tests.",
}


def summary_page(result: dict, nb_pages: list[Path], problems: list[str], redact: bool = False) -> str:
    esc = html.escape
    rows = []
    for key, cell in result["cells"].items():
        passed = cell["score"] >= cell["max"] and cell["max"] > 0
        why = "" if passed else (cell.get("error") or "failed")
        if redact:
            why = "failed" if why else ""
        rows.append(
            f"<tr class={'pass' if passed else 'fail'}><td>{esc(cell['notebook'])}</td>"
            f"<td>{esc(cell['grade_id'])}</td><td>{cell['score']:g} / {cell['max']:g}</td>"
            f"<td>{'passed' if passed else 'failed'}</td><td>{esc(why)}</td></tr>"
        )
    flags = result.get("flags") or ["ok"]
    explanations = "".join(
        f"<li><b>{esc(f)}</b>: {esc(STATUS_HELP.get(f, ''))}</li>" for f in flags
    )
    details = "".join(f"<li>{esc(d)}</li>" for d in result.get("details", []) + problems)
    links = "".join(f'<li><a href="{esc(p.name)}">{esc(p.stem)}</a></li>' for p in nb_pages)
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Feedback: {esc(result['assignment'])} - {esc(result['student'])}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}}td,th{{padding:.3em .6em;border-bottom:1px solid #ddd}}
tr.pass td:nth-child(4){{color:#080}}tr.fail td:nth-child(4){{color:#b00}}</style></head>
<body><h1>{esc(result['assignment'])}: {esc(result['student'])}</h1>
<p><b>Total: {result['total']:g} / {result['max']:g}</b> &middot; status: {esc(result['status'])}</p>
<ul>{explanations}</ul>
<h2>Tests</h2><table><tr><th>notebook</th><th>test</th><th>points</th><th>result</th><th>why</th></tr>
{''.join(rows)}</table>
{'<h2>Details</h2><ul>' + details + '</ul>' if details else ''}
{'<h2>Your graded notebooks</h2><ul>' + links + '</ul>' if links else ''}
<p><small>Hidden tests are run but their code is not shown.</small></p>
</body></html>
"""
