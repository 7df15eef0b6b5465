"""Grades CSV, terminal table and histogram from the per-student results.

Tests come in notebook order (as the results list them). Every failed test's reason is
whole in the CSV (``failures``); the terminal table lists each failing student's reasons
under their row, shortened to :data:`TABLE_REASON_CHARS` around the middle, so that both
the start of a message and its end (where the reason of a "context: reason" message is)
stay in view.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import textwrap
from pathlib import Path

# How much of one failure's message the terminal table shows (the CSV and feedback: all).
TABLE_REASON_CHARS = 240
TABLE_WIDTH = 100
# The status flag of a student the grader failed (grading.GRADER_ERROR), and how the table
# says it: the row is the grader's failure, not the student's.
GRADER_ERROR = "grader error"
GRADER_ERROR_SAID = "grader error (not the student's fault: re-grade after fixing)"


def columns(results: list[dict]) -> tuple[list[str], list[str]]:
    """Graded-cell columns in notebook order: ``grade_id``, or ``notebook/grade_id`` where
    ids repeat; and the results' keys for them."""
    keys: list[str] = []
    for r in results:
        for key in r["cells"]:
            if key not in keys:
                keys.append(key)
    ids = [k.split("/", 1)[1] for k in keys]
    return [k if ids.count(k.split("/", 1)[1]) > 1 else k.split("/", 1)[1] for k in keys], keys


def grade_rows(results: list[dict]) -> list[list[str]]:
    """grades.csv's header and a row per student (by id): each test's points in notebook
    order, total, max, status, why each failed test failed, details."""
    names, keys = columns(results)
    rows = [["student", *names, "total", "max", "status", "failures", "details"]]
    for r in sorted(results, key=lambda r: r["student"]):
        cells = [f"{r['cells'][k]['score']:g}" if k in r["cells"] else "" for k in keys]
        failures = " | ".join(f"{test}: {why}" for test, why in failures_of(r, names, keys))
        rows.append([r["student"], *cells, f"{r['total']:g}", f"{r['max']:g}", r["status"],
                     failures, " | ".join(r.get("details", []))])
    return rows


def write_csv(results: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(grade_rows(results))
    return path


def failed(cell: dict) -> bool:
    try:
        return not float(cell["score"]) >= float(cell["max"]) > 0
    except (KeyError, TypeError, ValueError):
        return True


def failures_of(result: dict, names: list[str] | None = None,
                keys: list[str] | None = None) -> list[tuple[str, str]]:
    """``(test, why)`` for each test ``result`` did not pass, in notebook order, the message
    whole (as the results hold it)."""
    if names is None or keys is None:
        names, keys = columns([result])
    out = []
    for name, key in zip(names, keys):
        cell = result["cells"].get(key)
        if cell is not None and failed(cell):
            out.append((name, str(cell.get("error") or "failed")))
    return out


def shorten(text: str, limit: int = TABLE_REASON_CHARS) -> str:
    """``text`` on one line; if longer than ``limit``, its start and its end with an
    ellipsis between: a message that starts with its context ("block(X, ...) with X of shape
    ...:") keeps its reason at the end, one that starts with its reason keeps it at the
    start."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    if len(text) <= limit:
        return text
    head = limit * 2 // 5
    tail = limit - head - 3
    return text[:head].rstrip() + " \u2026 " + text[-tail:].lstrip()


def reasons(result: dict, width: int = TABLE_WIDTH, indent: str = "    ") -> list[str]:
    """The table's lines under a student's row: why each failed test failed, tests with the
    same reason on one line."""
    grouped: dict[str, list[str]] = {}
    for test, why in failures_of(result):
        grouped.setdefault(shorten(why), []).append(test)
    lines = []
    for why, tests in grouped.items():
        lines += textwrap.wrap(f"{', '.join(tests)}: {why}", width=width, initial_indent=indent,
                               subsequent_indent=indent + "  ", break_on_hyphens=False)
    return lines


def table(results: list[dict], why: bool = True) -> str:
    """Student, total and status per row; with ``why``, each failing student's reasons
    (shortened, see :func:`shorten`) under their row."""
    if not results:
        return "(no graded submissions)"
    ordered = sorted(results, key=lambda r: r["student"])
    rows = [("student", "total", "status")]
    for r in ordered:
        status = r["status"]
        if GRADER_ERROR in (r.get("flags") or []):
            status = status.replace(GRADER_ERROR, GRADER_ERROR_SAID)
        rows.append((r["student"], f"{r['total']:g}/{r['max']:g}", status))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    buf = io.StringIO()
    for n, row in enumerate(rows):
        buf.write("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() + "\n")
        if n == 0:
            buf.write("  ".join("-" * w for w in widths) + "\n")
        elif why:
            buf.writelines(line + "\n" for line in reasons(ordered[n - 1]))
    totals = [r["total"] for r in results]
    buf.write(f"{len(results)} student(s); mean {sum(totals) / len(totals):.2f} of {results[0]['max']:g}\n")
    return buf.getvalue()


def grader_error_banner(results: list[dict], width: int = TABLE_WIDTH) -> str | None:
    """A framed block for the students the grader itself failed (``grader error`` rows), or
    None when there are none: how many, who and why, and the first one's whole traceback (the
    results keep every one's: ``grader_error`` in results/<student>.json)."""
    failed = [r for r in results if GRADER_ERROR in (r.get("flags") or [])]
    if not failed:
        return None
    rule = "#" * width
    lines = [rule,
             f"# THE GRADER FAILED for {len(failed)} of {len(results)} student(s): their rows say "
             f"'{GRADER_ERROR}'.",
             "# Their points are NOT their work's: fix the grader, then grade them again.", "#"]
    for r in failed:
        reason = (r.get("grader_error") or {}).get("reason") or "; ".join(
            d for d in r.get("details", []) if d.startswith(GRADER_ERROR)) or "(no reason kept)"
        lines += textwrap.wrap(f"{r['student']}: {shorten(reason)}", width=width - 2,
                               initial_indent="# ", subsequent_indent="#     ")
    first = next((r for r in failed if (r.get("grader_error") or {}).get("traceback")), None)
    lines.append("#")
    if first is None:
        lines.append("# (no traceback was kept)")
    else:
        lines.append(f"# The first traceback ({first['student']}):")
        lines.append("#")
        lines += ["#   " + line for line in
                  first["grader_error"]["traceback"].rstrip().splitlines()]
    lines.append(rule)
    return "\n".join(lines) + "\n"


def histogram(results: list[dict], path: Path, title: str = "") -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    totals = [r["total"] for r in results]
    top = max([r["max"] for r in results] + [1.0])
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    bins = min(20, max(5, int(top) + 1))
    ax.hist(totals, bins=bins, range=(0, top), color="#4472c4", edgecolor="white")
    ax.set_xlabel(f"total points (of {top:g})")
    ax.set_ylabel("students")
    ax.set_title(title or "Grade distribution")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


# ============================================================================================
# What the class got wrong
# ============================================================================================
#
# Each failed test is put in a kind, by what its error says: a mistake the assignment's checks
# name (the assignment's ``mistake_kind(message)``, e.g. resnet_kit.diagnosis for resnets), an
# exercise not written yet, nothing to grade, or another error, by its exception's name. The
# kind, never the message's text (layer names and shapes differ from student to student), is
# what is counted. A test the grader failed or stopped at its time limit is counted apart: it
# says nothing about what the student understood.

# The engine's own kinds, for failures that are no named mistake. (id, name)
UNFINISHED_KIND = ("unfinished", "not written yet (NotImplementedError)")
NOTHING_KIND = ("nothing-to-grade", "nothing to grade (notebook missing, empty or unreadable)")
UNNAMED_KIND = ("unnamed", "a check failed without naming the mistake")
# Failures counted apart from the students' mistakes, by why.
APART_GRADER = "grader error"
APART_TIMEOUT = "timeout"
# The error names a timeout leaves: the sandbox's cell timer, the judge's per-test budget.
TIMEOUT_ENAMES = ("CellTimeoutError", "TestTimeout")
# What a failed test's "error" is when nothing of the student's ran (grading.finish_student:
# the notebook's first repair flag, or "not graded").
NOTHING_ERRORS = ("missing notebook", "not graded", "empty", "not a notebook", "too large")
# At most this many bars in the mistakes chart (the most common).
CHART_BARS = 20


@dataclasses.dataclass(frozen=True)
class FailureKind:
    """What one failed test is: ``id`` (stable, for grouping and tools), ``name`` (for
    people), ``named`` (a mistake the checks name) and ``apart`` (None, or why it is counted
    apart from the students' mistakes: :data:`APART_GRADER`, :data:`APART_TIMEOUT`)."""

    id: str
    name: str
    named: bool = False
    apart: str | None = None


def failure_kind(error: str, name_mistake=None) -> FailureKind:
    """The kind of a failed test from its error (``"Name: message"`` as the results hold it).
    ``name_mistake(message)``: the assignment's ``(id, name)`` of a named mistake, or None."""
    error = str(error or "").strip()
    ename, _, message = error.partition(": ")
    if error == GRADER_ERROR or ename == "GraderError":
        return FailureKind("grader-error", "the grader failed", apart=APART_GRADER)
    if ename in TIMEOUT_ENAMES:
        return FailureKind("timeout", "stopped at the grader's time limit", apart=APART_TIMEOUT)
    if error in NOTHING_ERRORS or not message:
        return FailureKind(*NOTHING_KIND)
    named = name_mistake(message) if name_mistake is not None else None
    if named is not None:
        return FailureKind(*named, named=True)
    if ename == "NotImplementedError":
        return FailureKind(*UNFINISHED_KIND)
    if ename == "AssertionError":
        return FailureKind(*UNNAMED_KIND)
    if re.fullmatch(r"[A-Za-z_][\w.]*", ename):
        return FailureKind(f"error-{ename}", f"the test raised {ename}"
                           + (" (a name its cells never defined: an earlier cell failed)"
                              if ename == "NameError" else ""))
    return FailureKind(*NOTHING_KIND)


def exercise_of(test: str) -> str:
    """The exercise a test column checks: its grade id without ``test_`` and ``_visible`` /
    ``_hidden`` (test_identity_block_visible and _hidden are both ``identity_block``)."""
    notebook, _, grade_id = test.rpartition("/")
    name = re.sub(r"_(visible|hidden)$", "", re.sub(r"^test_", "", grade_id))
    return f"{notebook}/{name}" if notebook else name


@dataclasses.dataclass
class ExerciseSummary:
    """One exercise across the class: how many of the judged students passed all its tests,
    and each kind of failure with the students who made it (most common first)."""

    name: str
    tests: list[str]
    judged: int
    passed: int
    kinds: list[tuple[FailureKind, list[str]]]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.judged if self.judged else 0.0


@dataclasses.dataclass
class MistakesSummary:
    students: int
    exercises: list[ExerciseSummary]
    apart: dict[str, list[str]]  # why counted apart -> students

    def named(self) -> list[tuple[str, FailureKind, list[str]]]:
        """(exercise, kind, students) of every kind counted as a student's, most common first."""
        rows = [(e.name, k, who) for e in self.exercises for k, who in e.kinds if k.apart is None]
        return sorted(rows, key=lambda row: (-len(row[2]), row[0], row[1].name))


def mistakes_summary(results: list[dict], name_mistake=None) -> MistakesSummary:
    """Every exercise's pass rate and its failures by kind (see :func:`failure_kind`), a
    student counted once per kind and exercise; students the grader failed are judged in no
    exercise and counted apart, as are tests stopped at a time limit."""
    names, keys = columns(results)
    exercises: dict[str, list[tuple[str, str]]] = {}
    for name, key in zip(names, keys):
        exercises.setdefault(exercise_of(name), []).append((name, key))
    apart: dict[str, set[str]] = {APART_GRADER: set(), APART_TIMEOUT: set()}
    for r in results:
        if GRADER_ERROR in (r.get("flags") or []):
            apart[APART_GRADER].add(r["student"])
        if "timeout" in (r.get("flags") or []):
            apart[APART_TIMEOUT].add(r["student"])
    out = []
    for exercise, tests in exercises.items():
        judged = passed = 0
        who: dict[str, set[str]] = {}
        kinds: dict[str, FailureKind] = {}
        for r in results:
            if r["student"] in apart[APART_GRADER]:
                continue
            judged += 1
            failed_here = [r["cells"][key] for _, key in tests
                           if key in r["cells"] and failed(r["cells"][key])]
            passed += not failed_here and all(key in r["cells"] for _, key in tests)
            for cell in failed_here:
                kind = failure_kind(cell.get("error") or "failed", name_mistake)
                if kind.apart is not None:
                    apart[kind.apart].add(r["student"])
                kinds.setdefault(kind.id, kind)
                who.setdefault(kind.id, set()).add(r["student"])
        ordered = sorted(who, key=lambda k: (kinds[k].apart is not None, -len(who[k]),
                                             kinds[k].name))
        out.append(ExerciseSummary(exercise, [name for name, _ in tests], judged, passed,
                                   [(kinds[k], sorted(who[k])) for k in ordered]))
    return MistakesSummary(len(results), out, {why: sorted(s) for why, s in apart.items()})


def named_mistakes(result: dict, name_mistake) -> dict[str, list[str]]:
    """{exercise: the ids of the mistakes the checks named in it} for one student (exercises
    without one left out): what the demo checks each demo student against."""
    found: dict[str, set[str]] = {}
    for test, why in failures_of(result):
        kind = failure_kind(why, name_mistake)
        if kind.named:
            found.setdefault(exercise_of(test), set()).add(kind.id)
    return {exercise: sorted(ids) for exercise, ids in found.items()}


def _students(count: int) -> str:
    return f"{count} student{'s' if count != 1 else ''}"


def mistakes_text(summary: MistakesSummary, who: bool = False, width: int = TABLE_WIDTH) -> str:
    """The summary for the terminal: per exercise, its pass rate, then each kind of failure
    with how many students (most common first); ``who``: their ids under each line."""
    buf = io.StringIO()
    buf.write(f"What the class got wrong ({_students(summary.students)}; a "
              "student counts once per kind and exercise)\n")
    for e in summary.exercises:
        buf.write(f"{e.name}: {e.passed} of {e.judged} passed ({e.pass_rate:.0%})\n")
        for kind, students in e.kinds:
            if kind.apart is not None:
                continue
            tag = f"  [{kind.id}]" if kind.named else ""
            buf.write(f"  {len(students):3d}  {kind.name}{tag}\n")
            if who:
                buf.writelines(line + "\n" for line in textwrap.wrap(
                    ", ".join(students), width=width, initial_indent=" " * 7,
                    subsequent_indent=" " * 7))
    apart = [f"{why}s: {_students(len(s))}" + (f" ({', '.join(s)})" if s else "")
             for why, s in summary.apart.items()]
    buf.write("Counted apart, not the students' mistakes: " + "; ".join(apart) + "\n")
    if not who:
        buf.write("(report --mistakes lists the students behind each count)\n")
    return buf.getvalue()


def mistakes_chart(summary: MistakesSummary, path: Path, title: str = "") -> Path:
    """A horizontal bar per kind of failure counted as the students' (the most common
    :data:`CHART_BARS`), its length the number of students, named mistakes in one colour and
    the rest (unfinished, errors, nothing to grade) in another."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary.named()[:CHART_BARS][::-1]  # the most common on top
    fig, ax = plt.subplots(figsize=(12, 0.45 * max(len(rows), 2) + 1.4), dpi=100)
    labels = [f"{exercise}: {kind.name}" for exercise, kind, _ in rows]
    counts = [len(who) for _, _, who in rows]
    colours = ["#c0504d" if kind.named else "#9e9e9e" for _, kind, _ in rows]
    bars = ax.barh(range(len(rows)), counts, color=colours)
    ax.bar_label(bars, padding=3)
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.set_xlabel(f"students (of {summary.students})")
    ax.set_xlim(0, max(counts + [1]) * 1.15)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_title(title or "What the class got wrong")
    from matplotlib.patches import Patch

    ax.legend(handles=[Patch(color="#c0504d", label="mistake named by the checks"),
                       Patch(color="#9e9e9e", label="unfinished, error or nothing to grade")],
              loc="lower right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)
    return path


def mistakes_html(summary: MistakesSummary, path: Path, chart: Path | None = None,
                  title: str = "") -> Path:
    """The summary as a page: a table per exercise (pass rate, each kind with its count; the
    students one click away), what was counted apart, and the chart when given."""
    from html import escape

    title = title or "What the class got wrong"
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
             "<style>body{font-family:sans-serif;max-width:60em;margin:1em auto}"
             "table{border-collapse:collapse;margin-bottom:1.5em}"
             "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}"
             "td.n{text-align:right}code{color:#555}</style></head><body>",
             f"<h1>{escape(title)}</h1>",
             f"<p>{summary.students} students. A student counts once per kind of mistake and "
             "exercise; mistakes are grouped by kind, not by their exact message. Click a count "
             "for the students.</p>"]
    for e in summary.exercises:
        parts.append(f"<h2>{escape(e.name)}: {e.passed} of {e.judged} passed "
                     f"({e.pass_rate:.0%})</h2>")
        parts.append("<p>tests: " + ", ".join(f"<code>{escape(t)}</code>" for t in e.tests)
                     + "</p>")
        rows = [(k, who) for k, who in e.kinds if k.apart is None]
        if not rows:
            parts.append("<p>No failures.</p>")
            continue
        parts.append("<table><tr><th>students</th><th>mistake</th><th>kind</th></tr>")
        for kind, who in rows:
            parts.append(f"<tr><td class='n'><details><summary>{len(who)}</summary>"
                         f"{escape(', '.join(who))}</details></td><td>{escape(kind.name)}</td>"
                         f"<td><code>{escape(kind.id) if kind.named else ''}</code></td></tr>")
        parts.append("</table>")
    parts.append("<h2>Counted apart (not the students' mistakes)</h2><ul>")
    for why, who in summary.apart.items():
        parts.append(f"<li>{escape(why)}s: {len(who)}"
                     + (f" ({escape(', '.join(who))})" if who else "") + "</li>")
    parts.append("</ul>")
    if chart is not None:
        parts.append(f"<img src='{escape(chart.name)}' alt='the mistakes as a bar chart'>")
    parts.append("</body></html>\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
