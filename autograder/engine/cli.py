"""``python -m autograder`` / ``resnet-kit-grade``: the instructor's grading command.

Subcommands use nbgrader's vocabulary and work on the course directory (default: the
repository root, where ``nbgrader_config.py`` lives):

    release                 regenerate assignments/<assignment>/ from solutions/ and check it
    release --check         regenerate into build/ and compare with the committed release
    grade SUBMISSIONS       autograde a submitted/ tree, a folder or a .zip of notebooks
    feedback [STUDENT...]   per-student HTML feedback (hidden tests never shown)
    report                  grades CSV + terminal table + histogram PNG + what the class got
                            wrong (terminal, mistakes.html, mistakes.png; --mistakes: who)
    export --to canvas|moodle|csv [--roster FILE]
                            grades for the LMS's import, ids matched through the roster
    bundle                  the zip students receive
    examples                regenerate the demo class in autograder/examples/<assignment>/
    demo                    release + grade the demo class on a small budget + feedback + report,
                            and check every demo student's total and status (--only NAME,...)
    doctor                  check that this machine can grade: Python, packages, TensorFlow,
                            the sandbox, disk, memory, Dask (exit 1 when something would stop it)

Every subcommand's ``--help`` says what it writes and its defaults (see :data:`WRITES`), and
``grade``'s and ``demo``'s their exit statuses (:data:`EXIT_STATUSES`). A subcommand is a
parser in :func:`build_parser` and a function in :data:`COMMANDS` (course, reports, args ->
exit status).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import argparse
import filecmp
import sys
import textwrap
import time
from pathlib import Path

from . import parallel
from .course import DEFAULT_ASSIGNMENT, REPO_ROOT, Course, GradingError, StaleGradebook

NAMING_RULE = """\
Submissions (SUBMISSIONS may be a folder or a .zip of any of these):
  nbgrader tree   DIR/<student>/<assignment>/<notebook>.ipynb   (e.g. submitted/)
  per student     DIR/<student>/<notebook>.ipynb (any depth; <student>.zip also works)
  flat (LMS)      DIR/<student>_<notebook>.ipynb, e.g. alice_1_residual_blocks.ipynb
A file name must END with a notebook name of the assignment (case-insensitive; a download
counter like "-1" or " (2)" is ignored); the text before it, minus trailing "_" tokens
that are digits or "late" (Canvas: alice_late_1234_5678_...), is the student id. Other
files are listed in the report under the student whose id starts their name. Only names
spelled identically are one student. Ids keep letters, digits, ".", "-" and "_" (after NFKC);
a name that is not exactly its id (non-ASCII look-alikes such as full-width or Cyrillic
letters, or a clash after cleaning) gets "-" and 8 hex digits of its hash, so two people
never share an id. Dot-files count; only __MACOSX/, .ipynb_checkpoints/, __pycache__/,
.DS_Store and Thumbs.db are skipped. Zips are unpacked with size limits. Every student found
gets a report row, whatever their files contain.
"""

DEMO_TRAINING_TIMEOUT = 900
DEMO_EPOCHS = 1

# Exit statuses. A student's own failures (timeouts, errors, edited tests...) are results,
# never a failed command: only the grader's failures are.
EXIT_OK = 0
EXIT_DEMO_DIFFERS = 1    # demo: a demo student's total or status is not the expected one
EXIT_USAGE = 2           # nothing graded: bad input, no sandbox, no release...
EXIT_GRADER_ERROR = 3    # the grader itself failed for some students (banner on stderr)
EXIT_STATUSES = {
    "grade": f"""\
Exit status:
  {EXIT_OK}  every student graded (whatever their own results)
  {EXIT_USAGE}  nothing graded: the command could not start (a missing folder, no sandbox, a
     gradebook holding submissions recorded with other cells than the release has...)
  {EXIT_GRADER_ERROR}  the GRADER failed for some students (its own exception, a crashed or
     lost job, a sandbox that could not start on a worker): the batch still finished and
     every student has a row and a gradebook entry, but those rows say "grader error" and
     their points are not their work's. A banner on stderr lists them with the first full
     traceback (each one's is in results/<student>.json, "grader_error"); fix the grader,
     then grade them again.
""",
    "demo": f"""\
Exit status:
  {EXIT_OK}  every demo student got its expected total and status
  {EXIT_DEMO_DIFFERS}  a demo student's total or status differs from the expected one
     (<class>.expected.json beside the class, written by `examples`): demo lists them
  {EXIT_USAGE}  nothing graded (no demo class, an unknown --only name, no sandbox...)
  {EXIT_GRADER_ERROR}  the grader failed for some demo students (banner on stderr, as `grade`)
""",
}

# What each subcommand writes (its --help says it): <reports> is --reports.
WRITES = {
    "release": "Writes: assignments/<assignment>/ (the student notebooks: generated in a scratch "
               "course with a fresh gradebook, and put in place only once that succeeded) and the "
               "assignment's cells in gradebook.db (left as they are, with a warning saying what "
               "to do, while it holds submissions recorded with other cells); with --check, only "
               "build/release/<assignment>/.",
    "grade": "Writes: <reports>/<assignment>/runs/<run>/ (results/<student>.json, one per student, "
             "plan.json, jobs/<student>/ with each job's sandbox.log) and "
             "<reports>/<assignment>/latest-run; for nbgrader: submitted/<student>/<assignment>/ (the repaired "
             "notebooks), autograded/<student>/<assignment>/ and every student's grades in gradebook.db "
             "(0 points for one with nothing gradable). Prints the table: each student's total "
             "and status, and why each failed test failed.",
    "feedback": "Writes: <reports>/<assignment>/feedback/<student>/index.html (total, status, every "
                "test's points and why it failed) and <notebook>.html per graded notebook "
                "(a page that would show hidden tests or live content is withheld). Reads "
                "the results of the latest `grade` run (or --run).",
    "report": "Writes: <reports>/<assignment>/grades.csv (a row per student: points per test in "
              "notebook order, total, max, status, why each failed test failed, details), "
              "<reports>/<assignment>/totals.png (histogram of totals), mistakes.html and "
              "mistakes.png beside it (what the class got wrong: each exercise's pass rate and "
              "its mistakes by kind, with how many students made each); prints the table and "
              "the mistakes summary. Reads the results of the latest `grade` run (or --run).",
    "export": "Writes: the grades for a learning-management system (--out; default: "
              "<reports>/<assignment>/export-<target>.csv) from the results of the latest "
              "`grade` run (or --run); prints which students the roster could not match.",
    "bundle": "Writes: the zip students receive (default: <reports>/resnet-kit-<assignment>.zip), "
              "checked for solutions, hidden tests and grader code.",
    "examples": "Writes: the demo class, one folder per example student (default: "
                "autograder/examples/<assignment>/) and a README.md beside it.",
    "demo": "Writes: what `release`, `grade`, `feedback` and `report` write, the reports "
            "under <course>/reports/demo/ (not <course>/reports/) unless --reports is given. "
            "Submissions of the demo's own students recorded in gradebook.db with earlier "
            "cells are replaced; anyone else's stop the demo before grading.",
    "doctor": "Writes nothing (a sandbox's scratch folder in the temp folder, removed). Prints "
              "one line per check: OK, WARN (grading works; read it) or FAIL with the fix; "
              "exits 1 when something would stop grading.",
}


EXPORT_EPILOG = """\
Roster (--roster FILE): a CSV whose header has student and any of
  student,name,canvas_id,sis_user_id,sis_login_id,section,email,username,id_number
student is the kit's id (the report's first column); the others are the LMS's. Ids match
exactly: a graded student not in the roster gets an 'UNMATCHED <id>' row with no LMS id
(never another student's), a roster entry with no submission a row with no grade; both are
listed. Exit status: 0 written, every student matched; 1 written, some did not match;
2 nothing written (no results, a bad roster).
"""


def budget_defaults(assignment: str = DEFAULT_ASSIGNMENT) -> dict:
    """What `grade` uses when no option says: the assignment's CELL_TIMEOUT and DEFAULT_EPOCHS,
    the kit's nbgrader_config.py (GradingExecute) and the judge's seed; for the help text."""
    from .course import load_config
    from .grading import assignment_settings
    from .judge import GRADER_SEED

    try:
        cfg = load_config(REPO_ROOT).GradingExecute
        timeout, training = cfg.get("timeout", 300), cfg.get("training_timeout", 3600)
    except Exception:  # noqa: BLE001 - help text only
        timeout, training = 300, 3600
    judging = assignment_settings(assignment)
    return {"timeout": timeout, "cell_timeout": getattr(judging, "CELL_TIMEOUT", None),
            "training_timeout": training, "epochs": getattr(judging, "DEFAULT_EPOCHS", None),
            "seed": GRADER_SEED}


def default_course_dir() -> Path:
    cwd = Path.cwd()
    return cwd if (cwd / "nbgrader_config.py").exists() else REPO_ROOT


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="resnet-kit-grade",
        description="Instructor autograder for the ResNet course kit (nbgrader 0.9.6).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=NAMING_RULE,
    )
    p.add_argument("--course", type=Path, default=None,
                   help="nbgrader course directory (default: here if it has nbgrader_config.py, else the repo root)")
    p.add_argument("--assignment", default=DEFAULT_ASSIGNMENT, help="assignment name (default: %(default)s)")
    p.add_argument("--reports", type=Path, default=None,
                   help="output folder for results/CSV/feedback (default: <course>/reports)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("release", help="regenerate the student release and check it for leaks",
                       description="Regenerate the student release (nbgrader generate_assignment) "
                       "and check it for leaks. " + WRITES["release"])
    r.add_argument("--check", action="store_true",
                   help="do not touch assignments/: regenerate into build/ and fail if it differs")

    known = budget_defaults()

    def budget(sp, training=None, epochs=None):
        sp.add_argument("--timeout", type=int, default=None,
                        help="per-cell timeout in seconds for the cells the sandbox runs "
                        "(default: the assignment's CELL_TIMEOUT: %s for %s; for an assignment "
                        "that sets none, nbgrader_config.py's GradingExecute.timeout: %s s in "
                        "the kit's)" % (
                            f"{known['cell_timeout']} s" if known["cell_timeout"] else "none",
                            DEFAULT_ASSIGNMENT, known["timeout"]))
        sp.add_argument("--training-timeout", type=int, default=training,
                        help="timeout in seconds for cells tagged 'training' (default: %s)" % (
                            "nbgrader_config.py's GradingExecute.training_timeout: "
                            f"{known['training_timeout']} s in the kit's" if training is None
                            else f"{training} s"))
        sp.add_argument("--epochs", type=int, default=epochs,
                        help="training budget: the judge trains each student's architecture for "
                        "this many epochs with its own seed (default: %s)" % (
                            f"the assignment's DEFAULT_EPOCHS: {known['epochs']} for "
                            f"{DEFAULT_ASSIGNMENT}" if epochs is None else epochs))
        sp.add_argument("--seed", type=int, default=None,
                        help="the judge's seed for initial weights and training (default: "
                        f"{known['seed']})")
        sp.add_argument("--no-sandbox", dest="sandbox", action="store_false",
                        help="run student code WITHOUT the sandbox (for a machine where "
                        "bubblewrap cannot start); every report row is then marked "
                        "'unsandboxed'")
        sp.add_argument("--student-timeout", type=int, default=None,
                        help="wall-clock limit for each sandbox of one student (default: the job's "
                        "time budget, each cell that runs once at its timeout and a kernel start "
                        "per notebook, plus 120 s; the judge: 3600 s)")
        sp.add_argument("--workers", type=int, default=None,
                        help="students graded at once on this machine, each job in its own "
                        "Dask worker process (default here: %d, the rule: one job per %s "
                        "and per %d GB of RAM, at least 1; 1 grades one student after the "
                        "other in this process). With several, each job's TensorFlow gets "
                        "cores / workers threads" % (
                            parallel.default_workers(),
                            "core" if parallel.CORES_PER_JOB == 1
                            else f"{parallel.CORES_PER_JOB} cores",
                            parallel.MEMORY_PER_JOB // 2**30))
        sp.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                        help="grade on a running Dask cluster (its scheduler's address; "
                        "scheduler and workers started with `dask scheduler` / `dask worker` "
                        "from the kit's environment, see README); jobs that fail or lose their "
                        "worker are retried once (default: no cluster)")
        sp.add_argument("--dashboard", nargs="?", const=parallel.DEFAULT_DASHBOARD,
                        default=None, metavar="ADDRESS",
                        help="serve Dask's dashboard while grading, at ADDRESS (without one: "
                        f"{parallel.DEFAULT_DASHBOARD}, this machine only) with --workers 2 or "
                        "more, and print its link; with --scheduler, print the cluster's link "
                        "(default: no dashboard)")
        sp.add_argument("--no-cache", dest="cache", action="store_false",
                        help="train every student's network and run every test, even when "
                        "the caches hold the result: training-cache.json (same architecture, "
                        "seed, data, budget and numerics) and verdict-cache.json (same test, "
                        "same captured inputs, same grader code and numerics), both in "
                        "<reports>/<assignment>/ (default: use them)")

    g = sub.add_parser("grade", help="autograde submissions: results under <reports>/<assignment>/runs/, grades in gradebook.db", epilog=NAMING_RULE + "\n" + EXIT_STATUSES["grade"],
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=textwrap.fill(
                           "Autograde submissions: each student's notebooks run in the sandbox, "
                           "the judge runs the tests outside it.", 78)
                       + "\n\n" + textwrap.fill(WRITES["grade"], 78))
    g.add_argument("submissions", type=Path, help="submitted/ tree, folder or .zip")
    budget(g)

    f = sub.add_parser("feedback", help="per-student HTML feedback pages in <reports>/<assignment>/feedback/",
                       description="Per-student HTML feedback. " + WRITES["feedback"])
    f.add_argument("students", nargs="*", help="only these students (default: all graded)")
    f.add_argument("--run", default=None,
                   help="a grading run (folder under <reports>/<assignment>/runs/; default: the latest)")

    rp = sub.add_parser("report", help="grades.csv, totals.png and the terminal table",
                        description="Grades CSV, terminal table and histogram. " + WRITES["report"])
    rp.add_argument("--run", default=None,
                    help="a grading run (folder under <reports>/<assignment>/runs/; default: the latest)")
    rp.add_argument("--mistakes", action="store_true",
                    help="list the students behind each count of the mistakes summary "
                    "(default: counts only; mistakes.html has them one click away)")

    x = sub.add_parser("export", help="grades for Canvas or Moodle (their import CSVs), or a "
                       "plain CSV", formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=textwrap.fill("Grades for a learning-management system. "
                                                 + WRITES["export"], 78),
                       epilog=EXPORT_EPILOG)
    x.add_argument("--to", required=True, choices=("canvas", "moodle", "csv"), dest="target",
                   help="canvas: gradebook import (Student, ID, SIS User ID, SIS Login ID, "
                   "Section, then the assignment's points, and a Points Possible row); moodle: "
                   "grade import (an identifier column, the name, the points); csv: every "
                   "test's points, total, status and failures")
    x.add_argument("--roster", type=Path, default=None,
                   help="CSV mapping the kit's student ids to the LMS's (header below; "
                   "default: none, the kit's ids are written as they are)")
    x.add_argument("--out", type=Path, default=None,
                   help="where to write (default: <reports>/<assignment>/export-<target>.csv)")
    x.add_argument("--run", default=None,
                   help="a grading run (folder under <reports>/<assignment>/runs/; default: the latest)")
    x.add_argument("--moodle-id", default="email", choices=("email", "username", "idnumber"),
                   help="moodle: which user field identifies the student, map it to the same "
                   "field at import (default: %(default)s)")
    x.add_argument("--column", default=None,
                   help="the assignment's column name (default: the assignment's name; Canvas: "
                   "use its gradebook column, e.g. 'ResNets (1234)', to update that assignment)")

    b = sub.add_parser("bundle", help="build the student zip",
                       description="Build the student zip. " + WRITES["bundle"])
    b.add_argument("-o", "--output", type=Path, default=None,
                   help="zip path (default: <reports>/resnet-kit-<assignment>.zip)")

    e = sub.add_parser("examples", help="regenerate the demo class from the current notebooks",
                       description="Regenerate the demo class from the current notebooks. "
                       + WRITES["examples"])
    e.add_argument("--dest", type=Path, default=None,
                   help="where to write it (default: autograder/examples/<assignment>)")

    d = sub.add_parser("demo", help="release, grade the demo class, feedback, report, check",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       description=textwrap.fill(
                           "Release, grade the demo class on a small budget, feedback, report, "
                           "then check each demo student's total and status against the "
                           "expected ones (<class>.expected.json, beside the class). "
                           + WRITES["demo"], 78),
                       epilog=EXIT_STATUSES["demo"])
    budget(d, DEMO_TRAINING_TIMEOUT, DEMO_EPOCHS)
    d.add_argument("--examples", type=Path, default=None,
                   help="class to grade (default: autograder/examples/<assignment>)")
    d.add_argument("--only", default=None, metavar="NAME[,NAME...]",
                   help="grade only these demo students (comma-separated folder names, e.g. "
                   "solution,raises) and check only theirs (default: the whole class)")
    dr = sub.add_parser("doctor", help="check that this machine can grade (exit 1 if not)",
                        description="Check what grading needs: Python and package versions, "
                        "TensorFlow (oneDNN, CPU features, GPU), the sandbox (starts; network "
                        "off; memory, process and file limits; the course's secrets and this "
                        "shell's variables invisible inside), free disk and memory, Dask. "
                        + WRITES["doctor"])
    dr.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                    help="also check a running Dask cluster: reachable, has workers, same "
                    "versions")
    dr.add_argument("--no-tensorflow", dest="tensorflow", action="store_false",
                    help="skip the TensorFlow check (the slowest, a few seconds)")
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    course_dir = (args.course or default_course_dir()).resolve()
    course = Course(course_dir, args.assignment)
    reports = (args.reports or course_dir / "reports").resolve()
    from .sandbox import SandboxUnavailable

    try:
        return COMMANDS[args.command](course, reports, args)
    except GradingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SandboxUnavailable as exc:
        print(f"error: the sandbox for student code cannot start: {exc}\n"
              "Fix that, or grade without it (`grade --no-sandbox`: student code then runs "
              "unconfined and every report row says so).", file=sys.stderr)
        return EXIT_USAGE


def cmd_release(course: Course, reports: Path, args) -> int:
    if getattr(args, "check", False):
        fresh = course.scratch_release()
        committed = course.release_dir
        names = sorted({p.name for p in fresh.glob("*.ipynb")} | {p.name for p in committed.glob("*.ipynb")})
        differ = [n for n in names if not (committed / n).exists() or not (fresh / n).exists()
                  or not filecmp.cmp(committed / n, fresh / n, shallow=False)]
        if differ:
            print("release is out of date: " + ", ".join(differ) + " (run: python -m autograder release)")
            return 1
        print(f"release {committed.relative_to(course.root)} is up to date ({len(names)} notebooks, no leaks)")
        return 0
    out = course.release()
    nbs = sorted(p.name for p in out.glob("*.ipynb"))
    print(f"released {len(nbs)} notebook(s) to {out.relative_to(course.root)}: {', '.join(nbs)}; no leaks found")
    try:
        for note in course.sync_gradebook(out, getattr(args, "replaceable", ())):
            print(f"note: {note}")
    except StaleGradebook as exc:
        if getattr(args, "strict", False):
            raise
        sys.stdout.flush()
        print("warning: the release is written, but " + exc.explain(
            "`grade` stops before grading anyone while it does"), file=sys.stderr, flush=True)
    return 0


def _grader(course, reports, args):
    from .grading import Grader

    return Grader(course, reports, timeout=args.timeout, training_timeout=args.training_timeout,
                  epochs=args.epochs, student_timeout=args.student_timeout,
                  sandbox=args.sandbox, seed=args.seed,
                  workers=(args.workers if args.workers is not None
                           else 1 if args.scheduler else parallel.default_workers()),
                  scheduler=args.scheduler, cache=args.cache,
                  dashboard=getattr(args, "dashboard", None))


def say_grader_failures(results: list[dict]) -> bool:
    """The banner for students the grader failed, on stderr (after what stdout holds so far);
    True when there was one."""
    from . import report

    banner = report.grader_error_banner(results)
    if banner is None:
        return False
    sys.stdout.flush()
    print("\n" + banner, file=sys.stderr, end="", flush=True)
    return True


def cmd_grade(course: Course, reports: Path, args) -> int:
    from . import report

    if not args.submissions.exists():
        raise GradingError(f"{args.submissions} does not exist")
    results = _grader(course, reports, args).grade_source(args.submissions)
    print()
    print(report.table(results), end="")
    from .grading import results_dir

    print(f"results: {results_dir(reports, course.assignment)}")
    return EXIT_GRADER_ERROR if say_grader_failures(results) else EXIT_OK


def cmd_feedback(course: Course, reports: Path, args) -> int:
    from .feedback import generate
    from .grading import load_results

    results = load_results(reports, course.assignment, args.run)
    if args.students:
        results = [r for r in results if r["student"] in set(args.students)]
    if not results:
        raise GradingError("nothing graded yet: run `grade` first")
    pages = generate(course, reports, results, out=sys.stdout)
    for student, files in pages.items():
        print(f"{student}: {files[0]}")
    return 0


def cmd_report(course: Course, reports: Path, args) -> int:
    from . import report
    from .grading import load_results

    results = load_results(reports, course.assignment, args.run)
    if not results:
        raise GradingError("nothing graded yet: run `grade` first")
    write_report(course, reports, results, "totals", who=args.mistakes)
    return 0


def cmd_export(course: Course, reports: Path, args) -> int:
    from . import export
    from .grading import load_results

    results = load_results(reports, course.assignment, args.run)
    if not results:
        raise GradingError("nothing graded yet: run `grade` first")
    try:
        roster = export.read_roster(args.roster) if args.roster else None
    except (OSError, export.RosterError) as exc:
        raise GradingError(str(exc)) from None
    out = args.out or reports / course.assignment / f"export-{args.target}.csv"
    matched = export.export(results, args.target, out, args.column or course.assignment,
                            roster, args.moodle_id)
    lines = export.problems(matched, args.target)
    print(f"{args.target}: {sum(r.result is not None for r in matched.rows)} graded student(s) "
          f"written to {out}")
    if lines:
        sys.stdout.flush()
        print("\n".join(lines), file=sys.stderr)
    return 1 if matched.not_in_roster or matched.no_submission else EXIT_OK


def mistake_namer(assignment: str):
    """The assignment's ``mistake_kind(message) -> (id, name) | None``, or None."""
    from .grading import assignment_settings

    return getattr(assignment_settings(assignment), "mistake_kind", None)


def write_report(course: Course, reports: Path, results: list[dict], what: str,
                 who: bool = False) -> None:
    """grades.csv, the histogram, the mistakes page and chart; print the table, the mistakes
    summary (``who``: with the students behind each count) and where each file is."""
    from . import report

    base = reports / course.assignment
    csv_path = report.write_csv(results, base / "grades.csv")
    png = report.histogram(results, base / "totals.png", f"{course.assignment}: {what}")
    summary = report.mistakes_summary(results, mistake_namer(course.assignment))
    title = f"{course.assignment}: what the class got wrong"
    chart = report.mistakes_chart(summary, base / "mistakes.png", title)
    page = report.mistakes_html(summary, base / "mistakes.html", chart, title)
    print(report.table(results), end="")
    print()
    print(report.mistakes_text(summary, who=who), end="")
    print(f"CSV: {csv_path}\nhistogram: {png}\nmistakes: {page} (chart: {chart})")


def cmd_bundle(course: Course, reports: Path, args) -> int:
    from . import bundle

    dest = args.output or reports / f"resnet-kit-{course.assignment}.zip"
    path, warnings = bundle.build(course, dest.resolve())
    for w in warnings:
        print(f"warning: {w}")
    print(f"bundle: {path} (checked: no solutions, hidden tests or autograder code)")
    return 0


def cmd_examples(course: Course, reports: Path, args) -> int:
    from .democlass import EXAMPLES_DIR, build_examples

    dest = args.dest or EXAMPLES_DIR / course.assignment
    made = build_examples(course, dest)
    for student, why in made.items():
        print(f"{student:18s} {why}")
    print(f"wrote {len(made)} examples to {dest}")
    return 0


def demo_selection(examples: Path, only: str | None) -> list[str] | None:
    """The demo students ``--only`` names (None: all), each checked to be a student folder of
    the class."""
    if only is None:
        return None
    names = [n.strip() for n in only.split(",") if n.strip()]
    known = sorted(p.name for p in examples.iterdir() if p.is_dir())
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise GradingError(f"--only: no such demo student(s) in {examples}: "
                           f"{', '.join(unknown) or '(none given)'}; the class has: "
                           + ", ".join(known))
    return list(dict.fromkeys(names))


def cmd_demo(course: Course, reports: Path, args) -> int:
    import shutil
    import tempfile

    from . import report
    from .democlass import EXAMPLES_DIR, check_expectations, load_expectations
    from .feedback import generate

    started = time.monotonic()
    reports = reports / "demo" if args.reports is None else reports
    examples = args.examples or EXAMPLES_DIR / course.assignment
    if not examples.is_dir():
        raise GradingError(f"no demo class in {examples}: run `python -m autograder examples`")
    only = demo_selection(examples, getattr(args, "only", None))
    print(f"== release ({course.assignment})")
    # The demo class's own earlier submissions may be replaced when the notebooks' cells
    # changed since (they are graded again now); anyone else's stop the demo, saying why.
    demo_students = frozenset(p.name for p in examples.iterdir() if p.is_dir())
    cmd_release(course, reports, argparse.Namespace(check=False, strict=True,
                                                    replaceable=demo_students))
    with tempfile.TemporaryDirectory(prefix="demo-only-") as tmp:
        source = examples
        if only is not None:  # a class of just those students, under their own names
            source = Path(tmp) / examples.name
            for name in only:
                shutil.copytree(examples / name, source / name)
        print(f"== grade {examples}" + (f" (only {', '.join(only)})" if only else ""))
        grader = _grader(course, reports, args)
        grader.replaceable = demo_students
        results = grader.grade_source(source)
    print("== feedback")
    generate(course, reports, results, out=sys.stdout)
    print()
    write_report(course, reports, results, "demo class")
    print(f"feedback: {reports / course.assignment / 'feedback'}")
    print(f"demo took {time.monotonic() - started:.0f} s")
    status = EXIT_OK
    expected, where = load_expectations(examples)
    if expected is None:
        print(f"== check: no expected results for this class ({where}): not checked")
    else:
        differences = check_expectations(results, expected, only,
                                         mistake_namer(course.assignment))
        if differences:
            status = EXIT_DEMO_DIFFERS
            sys.stdout.flush()
            print(f"\n== check FAILED: {len(differences)} difference(s) from the expected "
                  f"results ({where}):", file=sys.stderr)
            for line in differences:
                print(f"  {line}", file=sys.stderr)
            print("If a change of the kit meant this, measure the class again, update "
                  "democlass.DEMO_EXPECTED and run `python -m autograder examples`.",
                  file=sys.stderr, flush=True)
        else:
            print(f"== check: all {len(results)} demo student(s) got their expected total, "
                  f"status and named mistakes ({where})")
    if say_grader_failures(results):
        status = EXIT_GRADER_ERROR
    return status


def cmd_doctor(course: Course, reports: Path, args) -> int:
    from . import doctor

    print(f"Checking what grading '{course.assignment}' in {course.root} needs...", flush=True)
    checks = doctor.run_checks(course.root, course.assignment, reports,
                               scheduler=args.scheduler, tensorflow=args.tensorflow,
                               say=lambda line: print(line, flush=True))
    line, status = doctor.summary(checks)
    print(line)
    return status


COMMANDS = {
    "release": cmd_release,
    "grade": cmd_grade,
    "feedback": cmd_feedback,
    "report": cmd_report,
    "export": cmd_export,
    "bundle": cmd_bundle,
    "examples": cmd_examples,
    "demo": cmd_demo,
    "doctor": cmd_doctor,
}


if __name__ == "__main__":
    sys.exit(main())
