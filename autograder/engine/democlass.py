"""Generate the demo class (``autograder/examples/<assignment>/``) from the course notebooks.

Every example is built from the current source notebooks and release, so the examples stay in
sync when the notebooks change: solution regions and graded cells are found by nbgrader
metadata (``grade_id``, ``solution``, ``grade``, ``points``), never by cell position.

One folder per student (layout 2 of :mod:`autograder.engine.intake`)::

    solution/          every answer filled in from solutions/ (full marks)
    release/           the release, untouched (what a student who did nothing submits)
    bugs/              one classic bug per graded block (answers with their own tests)
    raises/            a cell that raises at run time (in the 2nd answer of the 1st notebook)
    syntax_error/      a syntax error in the 1st answer
    loops/             an infinite loop in the 2nd answer (-> timeout)
    kills_kernel/      os.kill(os.getpid(), 9) in the 2nd answer (-> kernel died)
    edited_tests/      1st answer left undone and its test cell rewritten to pass
    deleted_tests/     full solution with the 1st test cell deleted
    duplicated_tests/  full solution with the 1st test cell pasted twice
    empty/             an empty notebook
    not_a_notebook/    a .ipynb that is not JSON

Failure examples change the FIRST notebook only and submit the others as released (untouched),
so only ``solution`` and ``bugs`` pay for training in the demo.

What each example must get (total and status, and the mistakes the checks name in its work)
is measured, kept in :data:`DEMO_EXPECTED` and :data:`DEMO_MISTAKES` and written beside the
class (``<assignment>.expected.json``); ``demo`` grades the class and fails, naming them, when
a student's total, status or named mistakes differ (:func:`check_expectations`).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import copy
import json
import re
import shutil
from pathlib import Path

import nbformat

from .course import Course

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "examples"

# What each demo student gets, measured with `python -m autograder demo` (its defaults: a
# 1-epoch training budget, the assignment's cell timeout, the judge's seed) on 2026-12-07 on
# the kit's 2-core machine, the whole class with --workers 2 and `--only solution,raises` with
# --workers 1: the same totals and statuses. {student: (total, status)}; a total may be
# {"min": a, "max": b} where it can honestly vary. Only `solution` trains (`bugs` builds no
# network). Its 10 accuracy points are pass/fail: the hidden-split accuracy of the network the
# judge trains (its own seed, deterministic ops) against the 1-epoch threshold, 0.247 (the
# lowest of 5 seeds, 0.297, minus 0.05; data of 2026-12-07). The accuracy itself depends on the
# numerics: 0.390 with --workers 2 (1 TensorFlow thread per job), 0.387 with --workers 1; the
# points do not, with that margin, so the solution's expected total is full marks, exactly: a
# machine where it falls below the threshold is a finding (the demo says so), not noise.
# Update this table when a change of the notebooks, the examples or the grader changes a
# result on purpose, then run `python -m autograder examples`.
DEMO_EXPECTED: dict[str, dict[str, tuple]] = {
    "resnets": {
        "solution": (48, "ok"),
        "release": (0, "cell errors; unfinished"),
        "bugs": (0, "cell errors"),
        "raises": (18, "cell errors; unfinished"),
        "syntax_error": (18, "cell errors; unfinished"),
        "loops": (18, "timeout; cell errors; unfinished"),
        "kills_kernel": (18, "kernel died; cell errors; unfinished"),
        "edited_tests": (18, "cell errors; unfinished; tests edited"),
        "deleted_tests": (28, "cell errors; unfinished; missing cells"),
        "duplicated_tests": (28, "cell errors; unfinished; duplicate cells"),
        "empty": (0, "empty"),
        "not_a_notebook": (0, "not a notebook"),
    },
}


# The mistakes the checks name in each demo student's work, by exercise (report.named_mistakes;
# a student not listed: none): the demo's mistakes summary is these, counted. Measured with the
# whole class, as DEMO_EXPECTED; the bugs are democlass.CLASSIC_BUGS (the README's list).
DEMO_MISTAKES: dict[str, dict[str, dict[str, list[str]]]] = {
    "resnets": {
        "bugs": {"identity_block": ["shortcut-not-added"],
                 "convolutional_block": ["shortcut-stride"],
                 "basic_block": ["add-after-relu"],
                 "resnet50": ["shapes-differ-at-add"],
                 "trained_model": ["shapes-differ-at-add"]},
    },
}


def expectations_path(examples: Path) -> Path:
    """Where a demo class's expected results are: beside its folder (a file in the class
    folder would be graded as a student's)."""
    examples = Path(examples)
    return examples.parent / f"{examples.name}.expected.json"


def load_expectations(examples: Path) -> tuple[dict | None, Path]:
    """(the expected results of the class in ``examples``, or None where it has none; the
    file's path)."""
    path = expectations_path(examples)
    try:
        return json.loads(path.read_text()), path
    except FileNotFoundError:
        return None, path


def _total_ok(total: float, want) -> bool:
    if isinstance(want, dict):
        return float(want.get("min", float("-inf"))) - 1e-9 <= total \
            <= float(want.get("max", float("inf"))) + 1e-9
    return abs(total - float(want)) <= 1e-9


def _said(want) -> str:
    if isinstance(want, dict):
        return f"{want.get('min', '-inf'):g} to {want.get('max', 'inf'):g}"
    return f"{float(want):g}"


def check_expectations(results: list[dict], expected: dict,
                       only: list[str] | None = None, name_mistake=None) -> list[str]:
    """Each way ``results`` differ from ``expected`` (see :func:`ClassBuilder.expectations`),
    one line per student; [] when every student got its expected total, maximum and status,
    and (given the assignment's ``name_mistake``) the mistakes the checks name in its work.
    ``only``: the students graded (None: the whole class), each of which must be there."""
    from .report import named_mistakes

    want = expected.get("students", {})
    got = {r["student"]: r for r in results}
    lines = []
    for student in sorted(set(got) | set(want if only is None else only)):
        if student not in want:
            lines.append(f"{student}: graded, but has no expected result")
            continue
        if student not in got:
            lines.append(f"{student}: expected {_said(want[student]['total'])} "
                         f"'{want[student]['status']}', but was not graded")
            continue
        r, w = got[student], want[student]
        problems = []
        if not _total_ok(float(r["total"]), w["total"]):
            problems.append(f"total {r['total']:g}, expected {_said(w['total'])}")
        if "max" in expected and abs(float(r["max"]) - float(expected["max"])) > 1e-9:
            problems.append(f"out of {r['max']:g}, expected out of {float(expected['max']):g}")
        if r["status"] != w["status"]:
            problems.append(f"status '{r['status']}', expected '{w['status']}'")
        named = named_mistakes(r, name_mistake) if name_mistake is not None else None
        if named is not None and "mistakes" in w and named != w["mistakes"]:
            problems.append(f"mistakes named {named}, expected {w['mistakes']}")
        if problems:
            lines.append(f"{student}: " + "; ".join(problems))
    return lines

# Classic bugs, tried in order on each answer's solution region; the first that changes the
# text is used. Fallback: the region's last statement is replaced by ``pass``.
CLASSIC_BUGS: list[tuple[str, str, str]] = [
    # forgot the skip connection: the block is a plain ConvNet block
    (r"(?:\w+\.)*Add\(\)\(\[\s*(\w+)\s*,\s*\w+\s*\]\)", r"\1  # bug: shortcut dropped", "no shortcut"),
    # a stage opened with an identity block instead of a convolutional block (shapes clash)
    (r"convolutional_block\(([^)]*?),\s*s\s*=\s*\w+([^)]*)\)", r"identity_block(\1\2)",
     "identity block opens a stage"),
    # the projection shortcut forgets its stride (shapes no longer match when s > 1)
    (r"(\w*shortcut\w*\s*=\s*(?:\w+\.)*Conv2D\([^)]*?strides\s*=\s*)s\b", r"\g<1>1", "shortcut stride 1"),
    # ReLU applied before the addition instead of after it
    (r"(\n[ \t]*)(\w+\s*=\s*(?:\w+\.)*Add\(\)\([^\n]*\))(\n[ \t]*)"
     r"(\w+\s*=\s*(?:\w+\.)*Activation\([\"']relu[\"']\)\(\w+\))", r"\1\4\3\2", "relu before add"),
    # BatchNorm over the wrong axis
    (r"axis\s*=\s*3\b", "axis=1", "batchnorm axis 1"),
    # wrong padding in the main path
    (r"padding\s*=\s*['\"]same['\"]", "padding='valid'", "valid padding"),
]


def _nbg(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def strip_solution_markers(source: str) -> str:
    return "\n".join(
        line for line in source.split("\n")
        if "BEGIN SOLUTION" not in line and "END SOLUTION" not in line
    )


def solution_region(source: str) -> tuple[int, int] | None:
    lines = source.split("\n")
    begin = next((i for i, l in enumerate(lines) if "BEGIN SOLUTION" in l), None)
    end = next((i for i, l in enumerate(lines) if "END SOLUTION" in l), None)
    if begin is None or end is None or end <= begin:
        return None
    return begin, end


def classic_bug(source: str, used: set[str] | None = None) -> tuple[str, str]:
    """Return (source with one classic bug in its solution region, bug name).

    Bugs named in ``used`` are tried last, so consecutive answers get different bugs."""
    used = used or set()
    region = solution_region(source)
    lines = source.split("\n")
    if region is None:
        inner = source
    else:
        inner = "\n".join(lines[region[0] + 1 : region[1]])
    rules = [r for r in CLASSIC_BUGS if r[2] not in used] + [r for r in CLASSIC_BUGS if r[2] in used]
    for pattern, repl, name in rules:
        mutated, n = re.subn(pattern, repl, inner, count=1)
        if n and mutated != inner:
            break
    else:
        body = inner.split("\n")
        last = max((i for i, l in enumerate(body) if l.strip() and not l.strip().startswith("#")), default=None)
        if last is None:
            return source, "none"
        indent = body[last][: len(body[last]) - len(body[last].lstrip())]
        body[last] = indent + "pass  # bug: last step missing"
        mutated, name = "\n".join(body), "last step missing"
    if region is None:
        return strip_solution_markers(mutated), name
    return strip_solution_markers("\n".join(lines[: region[0]] + [mutated] + lines[region[1] + 1 :])), name


class ClassBuilder:
    def __init__(self, course: Course, release_dir: Path):
        self.course = course
        self.names = [p.stem for p in sorted(release_dir.glob("*.ipynb"))]
        self.release = {n: nbformat.read(release_dir / f"{n}.ipynb", as_version=4) for n in self.names}
        self.source = {n: nbformat.read(course.source_dir / f"{n}.ipynb", as_version=4) for n in self.names}
        self.first = next(
            (n for n in self.names if any(_nbg(c).get("solution") for c in self.release[n].cells)),
            self.names[0],
        )

    def max_points(self) -> float:
        """Full marks: the points of every graded cell of the release."""
        return sum(float(_nbg(c).get("points", 0) or 0) for nb in self.release.values()
                   for c in nb.cells if _nbg(c).get("grade"))

    def expectations(self, made: dict[str, str]) -> dict | None:
        """The expected results of the examples ``made`` ({student: what it shows}), from
        :data:`DEMO_EXPECTED`; None for an assignment without measured ones."""
        table = DEMO_EXPECTED.get(self.course.assignment)
        if table is None:
            return None
        # An example without a measured result gets none (demo then says so), and a table
        # left behind by a change of the notebooks shows as differences when demo runs.
        full = self.max_points()
        mistakes = DEMO_MISTAKES.get(self.course.assignment, {})
        return {
            "assignment": self.course.assignment,
            "about": "Generated by `python -m autograder examples` from "
                     "autograder/engine/democlass.py (DEMO_EXPECTED, measured with the demo's "
                     "defaults); do not edit. `demo` fails when a student's total, maximum, "
                     "status or named mistakes differ.",
            "max": full,
            "students": {student: {"total": table[student][0], "status": table[student][1],
                                   "mistakes": mistakes.get(student, {}), "shows": why}
                         for student, why in made.items() if student in table},
        }

    def source_cell(self, nb: str, grade_id: str):
        for cell in self.source[nb].cells:
            if _nbg(cell).get("grade_id") == grade_id:
                return cell
        raise KeyError(grade_id)

    def answers(self, nb: str) -> list[int]:
        return [i for i, c in enumerate(self.release[nb].cells) if _nbg(c).get("solution") and c.cell_type == "code"]

    def tests(self, nb: str) -> list[int]:
        return [i for i, c in enumerate(self.release[nb].cells) if _nbg(c).get("grade") and not _nbg(c).get("solution")]

    def released(self, nb: str):
        return copy.deepcopy(self.release[nb])

    def solved(self, nb: str):
        out = self.released(nb)
        for i in self.answers(nb):
            src = self.source_cell(nb, _nbg(out.cells[i])["grade_id"]).source
            out.cells[i].source = strip_solution_markers(src)
        return out

    def graded_answers(self, nb: str) -> list[int]:
        """Answer cells with test cells of their own (before the next answer cell)."""
        answers, cells = self.answers(nb), self.release[nb].cells
        out = []
        for n, i in enumerate(answers):
            stop = answers[n + 1] if n + 1 < len(answers) else len(cells)
            if any(_nbg(c).get("grade") and not _nbg(c).get("solution") for c in cells[i + 1 : stop]):
                out.append(i)
        return out

    def buggy(self, nb: str):
        """Every graded block gets a classic bug; answers without tests of their own (such as
        code pasted from part 1) stay correct, so each bug is scored on its own."""
        out = self.solved(nb)
        bugs, used = [], set()
        for i in self.graded_answers(nb):
            gid = _nbg(out.cells[i])["grade_id"]
            out.cells[i].source, name = classic_bug(self.source_cell(nb, gid).source, used)
            used.add(name)
            bugs.append(f"{gid}: {name}")
        return out, bugs

    def _nth_answer(self, nb: str, n: int) -> int:
        answers = self.answers(nb)
        return answers[min(n, len(answers) - 1)]

    def build(self, dest: Path) -> dict[str, str]:
        """Write every example under ``dest``; return {student: what it demonstrates}."""
        if dest.exists():
            shutil.rmtree(dest)
        first, others = self.first, [n for n in self.names if n != self.first]
        made: dict[str, str] = {}

        def save(student: str, notebooks: dict, why: str):
            folder = dest / student
            folder.mkdir(parents=True, exist_ok=True)
            for name, nb in notebooks.items():
                if isinstance(nb, (bytes, str)):
                    (folder / f"{name}.ipynb").write_bytes(nb if isinstance(nb, bytes) else nb.encode())
                else:
                    nbformat.write(nb, folder / f"{name}.ipynb")
            made[student] = why

        def with_others(nb_first):
            return {first: nb_first, **{n: self.released(n) for n in others}}

        save("solution", {n: self.solved(n) for n in self.names}, "every answer filled in")
        save("release", {n: self.released(n) for n in self.names}, "the untouched release")
        bug_nbs, bug_list = {}, []
        for n in self.names:
            bug_nbs[n], found = self.buggy(n)
            bug_list += found
        save("bugs", bug_nbs, "one classic bug per graded block: " + "; ".join(bug_list))

        def with_answer(n: int, change):
            """The solved first notebook, its (n+1)-th answer's source changed, + the others."""
            nb = self.solved(first)
            i = self._nth_answer(first, n)
            nb.cells[i].source = change(nb.cells[i].source)
            return with_others(nb)

        save("raises", with_answer(1, lambda s: 'raise RuntimeError("something went wrong here")\n' + s),
             "a cell that raises (2nd answer)")
        save("syntax_error", with_answer(0, lambda s: s.rstrip() + "\n    return (\n"),
             "a syntax error in the 1st answer")
        save("loops", with_answer(1, lambda s: "while True:  # never ends\n    pass\n" + s),
             "an infinite loop in the 2nd answer")
        save("kills_kernel", with_answer(1, lambda s: "import os\nos.kill(os.getpid(), 9)\n" + s),
             "kills its kernel in the 2nd answer")

        nb = self.solved(first)
        a = self._nth_answer(first, 0)
        nb.cells[a].source = self.release[first].cells[a].source  # undone
        t = next(j for j in self.tests(first) if j > a)
        nb.cells[t].source = "# edited so that it passes\nassert True"
        save("edited_tests", with_others(nb), "1st answer undone, its test rewritten to pass")

        nb = self.solved(first)
        del nb.cells[self.tests(first)[0]]
        save("deleted_tests", with_others(nb), "full solution, 1st test cell deleted")

        nb = self.solved(first)
        t = self.tests(first)[0]
        twin = copy.deepcopy(nb.cells[t])
        twin["id"] = twin.get("id", "cell") + "-copy"
        nb.cells.insert(t + 1, twin)
        save("duplicated_tests", with_others(nb), "full solution, 1st test cell pasted twice")

        empty = nbformat.v4.new_notebook()
        empty.metadata = copy.deepcopy(self.release[first].metadata)
        save("empty", {first: empty}, "an empty notebook (no cells)")
        save("not_a_notebook", {first: b"This is my homework, I could not upload the notebook.\n"},
             "a .ipynb file that is not a notebook")
        # The README and the expected results sit beside the class folder, not in it: a file
        # in the class folder would be graded as a (stray) submission.
        expected = self.expectations(made)
        path = expectations_path(dest)
        if expected is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(json.dumps(expected, indent=1) + "\n")

        def said(student: str) -> str:
            if expected is None or student not in expected["students"]:
                return ""
            want = expected["students"][student]
            return f" (expected: {_said(want['total'])}/{expected['max']:g}, {want['status']})"

        (dest.parent / "README.md").write_text(
            f"# Demo class for `{self.course.assignment}` (generated: `python -m autograder examples`)\n\n"
            "Made from `solutions/` and the release by `autograder/engine/democlass.py`; do not edit.\n"
            "One folder per student, graded by `python -m autograder demo`"
            + (f", which checks each against `{path.name}`" if expected else "") + ":\n\n"
            + "".join(f"- `{s}/`: {why}{said(s)}\n" for s, why in made.items())
        )
        return made


def build_examples(course: Course, dest: Path | None = None, release_dir: Path | None = None) -> dict[str, str]:
    release_dir = release_dir or course.scratch_release()
    dest = dest or EXAMPLES_DIR / course.assignment
    return ClassBuilder(course, release_dir).build(dest)
