"""Grade a batch of submissions: every student a sandboxed job, one writer of the stores.

For each student found by :mod:`autograder.engine.intake`:

1. each notebook is checked and repaired against a fresh release
   (:mod:`autograder.engine.repair`) and written to nbgrader's ``submitted/<student>/``;
2. a job (:mod:`autograder.engine.jobs`) runs the notebooks in the sandbox, where graded cells
   only capture the student's objects as data, then the judge runs the tests on that data in a
   process no student code ever ran in;
3. this process (and only this one) writes the gradebook through nbgrader's autograde, with
   the judge's outputs in the graded cells (:mod:`autograder.engine.gradebook`), and the
   result to ``<reports>/<assignment>/runs/<run>/results/<student>.json``.

Every run has its own folder; ``report`` and ``feedback`` read the latest one. Every student
in the input gets a result, whatever their files contain.

A failure of the grader itself (see :meth:`Grader.merge` for which failures are whose) never
stops the batch and never passes for a student's result: that student's row says
``grader error``, the result keeps the reason and the whole traceback (``grader_error``), and
:func:`grader_failures` lists them for the command's banner and exit status.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import hashlib
import importlib
import json
import re
import shutil
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import nbformat

from . import intake, jobs, repair
from .course import Course, GradingError, merge_overrides
from .gradebook import verdict_score
from .sandbox import human_bytes
from .inside.nbexec import (DEAD_KERNEL_ENAME, GRADER_ENAMES, NOT_RUN_ENAME, TIMEOUT_ENAME,
                            parse_report)

UNSANDBOXED = "unsandboxed"
HOST_SHORT = "the grading host is short of disk"
LIMIT = "limit exceeded"
UNFINISHED = "unfinished"
# The grader failed, not the student (see Grader.merge): reported in a banner, and `grade`
# exits with a status of its own.
GRADER_ERROR = "grader error"
# Student code stopped the grader's notebook runner in the sandbox (it shares the student's
# uid there, so a notebook can kill it): the student's doing, not the grader's failure.
RUNNER_KILLED = "runner killed"
# A cell that raised this has an exercise the student has not done yet (the release's
# placeholder), which is no crash: the status says "unfinished", not "cell errors".
UNFINISHED_ENAME = "NotImplementedError"
# Status flags, in the order they are listed in a report's status column.
STATUS_ORDER = [
    UNSANDBOXED,
    repair.NOT_A_NOTEBOOK,
    repair.TOO_LARGE,
    repair.EMPTY,
    "missing notebook",
    "kernel died",
    RUNNER_KILLED,
    "timeout",
    LIMIT,
    "cell errors",
    UNFINISHED,
    GRADER_ERROR,
    repair.MISSING_CELLS,
    repair.DUPLICATE_CELLS,
    repair.TESTS_EDITED,
    repair.REPAIRED,
]


@dataclasses.dataclass
class GradedCell:
    notebook: str
    grade_id: str
    points: float


def graded_cells(release_dir: Path) -> list[GradedCell]:
    out = []
    for path in sorted(release_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            nbg = cell.metadata.get("nbgrader", {})
            if nbg.get("grade"):
                out.append(GradedCell(path.stem, nbg["grade_id"], float(nbg.get("points", 0))))
    return out


def usage_of(box: dict) -> dict:
    """What the notebooks' sandbox used, as its cgroup counted it (None where there was none),
    and how its limits were held."""
    return {"cpu_seconds": box.get("cpu_seconds"), "memory_peak": box.get("memory_peak"),
            "wall_seconds": box.get("seconds"), "cgroup": box.get("cgroup"),
            "disk": box.get("disk")}


def timed_out(result: dict) -> bool:
    """Whether a student's row counts a timeout (a cell, the job's budget, or a clock)."""
    return "timeout" in (result.get("flags") or [])


def fmt_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_of(flags) -> str:
    ordered = [f for f in STATUS_ORDER if f in flags] + sorted(set(flags) - set(STATUS_ORDER))
    return "; ".join(ordered) if ordered else "ok"


def runs_dir(reports: Path, assignment: str) -> Path:
    return Path(reports) / assignment / "runs"


def latest_run(reports: Path, assignment: str) -> Path | None:
    pointer = Path(reports) / assignment / "latest-run"
    if pointer.is_file():
        run = runs_dir(reports, assignment) / pointer.read_text().strip()
        if run.is_dir():
            return run
    return None


def results_dir(reports: Path, assignment: str) -> Path:
    """The results of the latest ``grade`` run (a run never mixes with earlier ones)."""
    run = latest_run(reports, assignment)
    return (run if run else runs_dir(reports, assignment) / "none") / "results"


# The longest error message kept in results, CSV and feedback (whole messages are rarely
# longer; a student's own exception could be anything).
ERROR_CHARS = 2000


def one_line(text: str, limit: int = ERROR_CHARS) -> str:
    """``text`` whole on one line: every run of whitespace (newlines too) one space, cut at
    ``limit`` characters with an ellipsis."""
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


# Python 3.13 raises a private subclass of SyntaxError for code that ends too early; students
# (and the report) should read the error they know.
ERROR_NAMES = {"_IncompleteInputError": "SyntaxError"}


def error_text(ename, evalue, limit: int = ERROR_CHARS) -> str:
    """An error as "Name: message", the message whole (all its lines) on one line."""
    ename = ERROR_NAMES.get(ename, ename)
    return one_line(f"{ename}: {evalue}", limit).rstrip(":").strip()


def cell_error(cell) -> str | None:
    """The cell's error as "Name: message" with the whole message (see :func:`error_text`);
    the grader's own (timeout, dead kernel) first."""
    errors = [out for out in cell.get("outputs", []) if out.get("output_type") == "error"]
    if not errors:
        return None
    out = min(errors, key=lambda error: error.get("ename") not in GRADER_ENAMES)
    return error_text(out.get("ename"), out.get("evalue", ""))


def executor_report(log: Path) -> dict:
    """What the sandbox's executor reported about each notebook (see nbexec.ExecutorReport),
    read from its log: ``{"started", "missing", "notebooks": {name: {"cells", "restarts",
    "done"}}}``. Only lines the executor authenticated count; the kernel cannot write them."""
    try:
        text = Path(log).read_bytes().decode("utf-8", "replace")
    except OSError:
        text = ""
    parsed = parse_report(text)
    notebooks: dict[str, dict] = {}
    for record in parsed["records"]:
        name = record.get("notebook")
        if not isinstance(name, str):
            continue
        seen = notebooks.setdefault(name, {"cells": [], "restarts": 0, "done": None})
        if record.get("event") == "cell":
            seen["cells"].append(record)
        elif record.get("event") == "restart":
            seen["restarts"] += 1
        elif record.get("event") == "done":
            seen["done"] = record
    return {"started": parsed["started"], "missing": parsed["missing"], "notebooks": notebooks}


# How much of a log the result keeps as a grader failure's traceback.
TRACEBACK_CHARS = 8000


def log_tail(path: Path, limit: int = TRACEBACK_CHARS) -> str:
    """The end of a job's log (sandbox.log, judge.log) as a grader failure's traceback: the
    executor's report lines left out (they are in the log, and say nothing to a person)."""
    try:
        text = Path(path).read_bytes()[-4 * limit:].decode("utf-8", "replace")
    except OSError as exc:
        return f"({Path(path).name} could not be read: {exc.strerror or exc})"
    from .inside.nbexec import REPORT_PREFIX

    lines = [line for line in text.splitlines() if not line.startswith(REPORT_PREFIX)]
    text = "\n".join(lines).strip()
    return (text[-limit:] if text else f"({Path(path).name} is empty)")


def by_a_signal(returncode) -> int | None:
    """The signal that ended a process, from its exit status as a sandbox reports it (128+N,
    bwrap's and a shell's way) or as subprocess does (-N); None when it exited by itself."""
    if isinstance(returncode, int) and returncode < 0:
        return -returncode
    if isinstance(returncode, int) and 128 < returncode < 160:
        return returncode - 128
    return None


# What the judge's log says when it ran out of memory (TensorFlow aborts on std::bad_alloc
# under the sandbox's address-space limit; Python raises MemoryError).
OUT_OF_MEMORY = ("MemoryError", "bad_alloc", "Cannot allocate memory", "ResourceExhausted",
                 "OOM when allocating", "out of memory")


def judge_grader_error(output) -> bool:
    """Whether a verdict's output is the judge's own GraderError (judge._judge writes its
    traceback as the one plain line "GraderError: <message>"); a student's exception of that
    name, replayed in a test, has the colour codes of judge._error and is a test failure."""
    return (isinstance(output, dict) and output.get("ename") == "GraderError"
            and output.get("traceback") == [f"GraderError: {output.get('evalue', '')}"])


def grader_failures(results: list[dict]) -> list[dict]:
    """The results whose row says ``grader error``: students the grader failed, in the order
    they were graded."""
    return [r for r in results if GRADER_ERROR in (r.get("flags") or [])]


def scan_executed(seen: dict | None) -> dict:
    """Flags and per-cell errors of a notebook (graded cells' errors aside) from what the
    executor reported about it (``executor_report(...)["notebooks"][name]``). Which flag
    applies is the executor's observation: an error the kernel raised, whatever its name, is a
    cell error (``unfinished`` where it is a NotImplementedError: an exercise not done yet);
    only the executor's timer makes a timeout, only a death it saw a dead kernel."""
    flags, cell_errors = [], []
    for cell in (seen or {}).get("cells", []):
        status = cell.get("status")
        errors = [e for e in cell.get("errors") or [] if isinstance(e, list) and len(e) == 2]
        if status == "timeout":
            flag = "timeout"
            text = f"{TIMEOUT_ENAME}: stopped at the grader's time limit ({cell.get('limit')} s)"
            if cell.get("restarted"):
                text += "; it ignored the interrupt, so the kernel was restarted"
        elif status == "kernel died":
            flag, text = "kernel died", f"{DEAD_KERNEL_ENAME}: the kernel died while running it"
        elif status == "not run":
            flag = "timeout" if cell.get("out_of_time") else "kernel died"
            text = f"{NOT_RUN_ENAME}: {cell.get('reason') or 'not executed'}"
        elif errors:
            # An exercise not done yet (NotImplementedError) is "unfinished", not a crash.
            unfinished = [e for e in errors if str(e[0]) == UNFINISHED_ENAME]
            flag = UNFINISHED if unfinished else "cell errors"
            ename, evalue = (str(part) for part in (unfinished or errors)[0])
            text = error_text(ename, evalue)
        else:
            continue
        if cell.get("graded"):  # the judge reports on graded cells
            if flag not in ("cell errors", UNFINISHED) and flag not in flags:
                flags.append(flag)
            continue
        if flag not in flags:
            flags.append(flag)
        index = cell.get("index")
        where = cell.get("grade_id") or (f"#{index + 1}" if isinstance(index, int) else "?")
        cell_errors.append(f"cell '{where}' {text}")
    return {"flags": flags, "cell_errors": cell_errors}


def returned_notebook_problem(executed_dir: Path, name: str, seen: dict | None,
                              skipped: list[str]) -> str | None:
    """Why the executed notebook ``name`` (kept for showing outputs) cannot be trusted or
    shown, or None. The executor reported the sha256 of what it wrote."""
    done = (seen or {}).get("done")
    path = Path(executed_dir) / f"{name}.ipynb"
    if done is None:
        if path.is_file():
            return (f"{name}: the executed notebook was not written by the grader (it stopped "
                    "first); its outputs may be forged")
        return None  # the unfinished run is reported already
    if done.get("error"):
        return f"{name}: executed notebook not returned: the grader could not write it ({done['error']})"
    if not path.is_file():
        why = [s for s in skipped if s.startswith(f"{name}.ipynb ")]
        return (f"{name}: executed notebook not returned: "
                + (why[0] if why else f"{name}.ipynb missing from the sandbox's out/ folder"))
    try:
        data = path.read_bytes()
        nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as exc:  # noqa: BLE001 - rewritten by student code: may be anything
        return f"{name}: executed notebook not returned: unreadable ({type(exc).__name__})"
    if hashlib.sha256(data).hexdigest() != done.get("sha256"):
        return (f"{name}: the executed notebook was changed after the grader wrote it; its "
                "outputs may be forged")
    return None


def assignment_settings(assignment: str):
    """The assignment's judging package (autograder.<assignment>), if it has one."""
    try:
        return importlib.import_module(f"autograder.{assignment}")
    except ModuleNotFoundError:
        return None


@dataclasses.dataclass
class PendingStudent:
    """A student between :meth:`Grader.start_student` and :meth:`Grader.finish_student`."""

    sf: intake.StudentFiles
    flags: list[str]
    details: list[str]
    per_nb: dict[str, dict]
    repaired: dict
    spec: dict | None  # the job's spec; None when no notebook can run
    started: float


class Progress:
    """One line as each student is done: points, status, seconds, and for the batch how many
    are done and left, the time so far and an ETA (from the pace so far, parallel included)."""

    def __init__(self, total: int, say):
        self.total, self.say, self.count = total, say, 0
        self.started = time.monotonic()

    def starting(self, student: str, one_at_a_time: bool) -> str:
        """The line said as a student's job starts (its number only when jobs run in order)."""
        return (f"[{self.count + 1}/{self.total}] {student}: grading ..." if one_at_a_time
                else f"{student}: grading (on a worker) ...")

    def done(self, student: str, result: dict) -> dict:
        self.count += 1
        now = time.monotonic()
        elapsed, left = now - self.started, self.total - self.count
        eta = elapsed / self.count * left
        self.say(f"[{self.count}/{self.total}] {student}: {result['total']:g}/{result['max']:g} "
                 f"{result['status']} (job {result.get('seconds', 0.0):.1f} s) | done "
                 f"{self.count}, left {left}, elapsed {fmt_seconds(elapsed)}, "
                 f"ETA {fmt_seconds(eta)}")
        return result


class ResultCache:
    """A file of judged results by key under the reports folder (trained results, reusable
    verdicts). The judge is trusted (no student code ran in it) and sends its new entries back;
    the coordinator alone writes the file, whole-file replace so a reader never sees half a
    file. ``enabled`` False (``--no-cache``): nothing is read or written."""

    def __init__(self, path: Path, what: str, enabled: bool = True):
        self.path, self.what, self.enabled = path, what, enabled
        self.entries: dict = {}
        if enabled:
            try:
                entries = json.loads(path.read_text())
            except (OSError, ValueError):
                entries = {}
            self.entries = entries if isinstance(entries, dict) else {}

    def for_job(self) -> dict | None:
        """What a job's judge gets: the entries so far, or None when caching is off."""
        return self.entries if self.enabled else None

    def add(self, new) -> None:
        """Merge a judge's new entries: sha256 keys with dict values, and the first writer of a
        key wins (a judge cannot overwrite what another student's judge wrote)."""
        from .trainingcache import KEY_PATTERN

        if not self.enabled or not isinstance(new, dict):
            return
        fresh = {k: v for k, v in new.items() if isinstance(k, str) and KEY_PATTERN.match(k)
                 and isinstance(v, dict) and k not in self.entries}
        if not fresh:
            return
        self.entries.update(fresh)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.entries, indent=1, sort_keys=True))
        partial.replace(self.path)

    def describe(self) -> str:
        return f"{len(self.entries)} {self.what} in {self.path}"


class Grader:
    def __init__(self, course: Course, reports: Path, *, timeout: int | None = None,
                 training_timeout: int | None = None, epochs: int | None = None,
                 student_timeout: int | None = None, sandbox: bool = True,
                 seed: int | None = None, workers: int = 1, scheduler: str | None = None,
                 cache: bool = True, dashboard: str | None = None, out=None):
        from .judge import GRADER_SEED

        self.course = course
        self.reports = Path(reports)
        self.out = out if out is not None else sys.stdout  # as it is now (tests redirect it)
        self.judging = assignment_settings(course.assignment)
        self.epochs = epochs if epochs is not None else getattr(self.judging, "DEFAULT_EPOCHS", None)
        cfg = course.config.GradingExecute
        if timeout is None:
            timeout = getattr(self.judging, "CELL_TIMEOUT", None) or cfg.get("timeout", 300)
        self.timeout = int(timeout)
        self.training_timeout = int(
            training_timeout if training_timeout is not None else cfg.get("training_timeout", 3600)
        )
        self.student_timeout = student_timeout
        self.sandbox = sandbox
        self.seed = GRADER_SEED if seed is None else int(seed)
        self.release_dir: Path | None = None
        # Students whose submissions recorded with earlier cells may be removed from the
        # gradebook before grading (the demo class: graded again right after); anyone else's
        # stop grading with what to do (Course.sync_gradebook).
        self.replaceable: frozenset[str] = frozenset()
        self.noted = False
        self.workers = max(1, int(workers or 1))
        self.scheduler = scheduler
        self.dashboard = dashboard  # the Dask dashboard's address (None: no dashboard)
        self.cache = cache
        self.training_cache: ResultCache | None = None  # trained results by architecture
        self.verdict_cache: ResultCache | None = None  # test outputs by captured inputs

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def say_notes(self) -> None:
        """The assignment's notes for the instructor (its judging package's
        ``grading_notes() -> list[str]``, if it has one), once per Grader."""
        if self.noted:
            return
        self.noted = True
        notes = getattr(self.judging, "grading_notes", None)
        if not callable(notes):
            return
        try:
            lines = list(notes() or [])
        except Exception as exc:  # noqa: BLE001 - a note never stops grading
            lines = [f"note: the assignment's grading_notes() failed: {type(exc).__name__}: {exc}"]
        for line in lines:
            self.say(str(line))

    def prepare(self) -> None:
        if self.sandbox and not self.scheduler:  # a cluster's workers are checked instead
            from . import sandbox

            sandbox.preflight()  # stops here, saying why and how to fix it, if it cannot start
        self.say(f"Generating the release of '{self.course.assignment}' (nbgrader generate_assignment)...")
        release_dir = self.course.scratch_release()
        # autograde restores and scores the cells the gradebook records: they must be the
        # release's (a gradebook with submissions of other cells stops here, saying what to do)
        for note in self.course.sync_gradebook(release_dir, self.replaceable):
            self.say(f"note: {note}")
        self.release_dir = release_dir
        self.release = {p.stem: nbformat.read(p, as_version=4) for p in sorted(self.release_dir.glob("*.ipynb"))}
        self.cells = graded_cells(self.release_dir)
        self.sources = self.course.source_notebooks()
        self.run_id = time.strftime("%Y%m%d-%H%M%S")
        self.run_dir = runs_dir(self.reports, self.course.assignment) / self.run_id
        n = 1
        while self.run_dir.exists():
            n += 1
            self.run_dir = runs_dir(self.reports, self.course.assignment) / f"{self.run_id}-{n}"
        self.run_dir.mkdir(parents=True)
        self.plan = self.capture_plan()
        # Trained results (autograder.engine.trainingcache) and verdicts (judge.VerdictCache),
        # kept across runs; `grade --no-cache` turns both off.
        folder = self.reports / self.course.assignment
        self.training_cache = ResultCache(folder / "training-cache.json", "trained result(s)",
                                          self.cache)
        self.verdict_cache = ResultCache(folder / "verdict-cache.json", "judged test(s)",
                                         self.cache)

    def capture_plan(self) -> dict:
        """The checks' calls (autograder.engine.plan), cached under the reports folder by a
        hash of everything they depend on: the source notebooks and the grader's code."""
        from . import plan as plan_module
        from .judge import grader_values_for

        values = grader_values_for(self.judging, dataclasses.asdict(self.settings()))
        digest = plan_module.fingerprint(self.sources, self.course.assignment, values)
        cached = self.reports / self.course.assignment / "plans" / f"{digest}.json"
        if cached.is_file():
            shutil.copy(cached, self.run_dir / "plan.json")
            return json.loads(cached.read_text())
        self.say("Planning what the sandbox captures (the checks' calls, run on the solution)...")
        plan_path = self.run_dir / "plan.json"
        done = subprocess.run(
            [sys.executable, "-m", "autograder.engine.plan", str(plan_path), *map(str, self.sources),
             "--values", json.dumps(values)],
            cwd=str(self.course.root), capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            raise GradingError("could not plan the captures from the solution notebooks:\n"
                               + done.stderr[-3000:])
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(plan_path, cached)
        return json.loads(plan_path.read_text())

    def limits(self):
        """The sandbox's limits for every job of this run."""
        from . import sandbox

        if self.student_timeout is None:  # each job's own budget sets its clock (jobs.py)
            return sandbox.DEFAULT_LIMITS
        return dataclasses.replace(sandbox.DEFAULT_LIMITS,
                                   wall_seconds=float(self.student_timeout))

    def settings(self) -> jobs.Settings:
        limits = dataclasses.asdict(self.limits())
        return jobs.Settings(timeout=self.timeout, training_timeout=self.training_timeout,
                             epochs=self.epochs, seed=self.seed, sandbox=self.sandbox,
                             limits=limits, job_budget=getattr(self.judging, "JOB_BUDGET", None))

    def grade_source(self, source: Path) -> list[dict]:
        if self.release_dir is None:
            self.prepare()
        self.say_notes()
        workdir = self.run_dir / "intake"
        source = Path(source).resolve()
        if source.is_dir() and (source == self.course.submitted_root
                                or self.course.submitted_root in source.parents):
            # nbgrader's own submitted/ tree: grading rewrites it, so read from a copy.
            copy_of = workdir / "input"
            shutil.copytree(source, copy_of, symlinks=True)
            source = copy_of
        students = intake.collect(source, self.course.assignment, list(self.release), workdir)
        self.students = students  # by student id: a timed-out one may be graded again
        (self.reports / self.course.assignment / "latest-run").write_text(self.run_dir.name + "\n")
        for note in getattr(students, "notes", []):
            self.say(f"note: {note}")
        if not students:
            self.say(f"No submissions found in {source}.")
            return []
        self.say(f"Grading {len(students)} student(s) from {source} "
                 f"(cell timeout {self.timeout} s, training budget {self.epochs} epoch(s), "
                 + ("sandboxed" if self.sandbox else "UNSANDBOXED: student code runs unconfined")
                 + f"); run {self.run_dir.name}")
        from . import parallel

        runner = parallel.runner_for(self.workers, self.scheduler, self.dashboard)
        if self.sandbox and self.scheduler:
            self.check_worker_sandboxes(runner)
        self.say(f"Jobs run {runner.description}"
                 + (f"; caches: {self.training_cache.describe()}, "
                    f"{self.verdict_cache.describe()}" if self.cache else "; caches off")
                 + ".")
        if self.dashboard:
            link = getattr(runner, "dashboard_link", None)
            self.say(f"Dask dashboard: {link}{parallel.dashboard_note()}" if link else
                     "Dask dashboard: none (jobs run one after the other in this process, "
                     "without Dask: give --workers 2 or more, or --scheduler)")
        progress = Progress(len(students), self.say)
        results, queue = [], []
        try:
            for sf in students.values():
                try:
                    pending = self.start_student(sf)
                except Exception as exc:  # noqa: BLE001 - one student never stops the batch
                    results.append(progress.done(sf.student, self.failed_result(
                        sf, f"preparing the job raised {type(exc).__name__}: {exc}",
                        traceback.format_exc())))
                    continue
                if pending.spec is None:  # nothing to run (no notebook could be read)
                    results.append(progress.done(sf.student, self.finish_student(pending, None)))
                else:
                    queue.append(parallel.Job(sf.student, pending.spec, pending))
            def before(job) -> None:
                self.check_free_disk()
                self.before_job(job.spec)
                self.say(progress.starting(job.student, one_at_a_time=self.workers == 1
                                           and not self.scheduler))

            for job, outcome, error in runner.run(queue, before, self.say):
                results.append(progress.done(job.student, self.finished(job, outcome, error)))
            if len(queue) > 1 and (self.workers > 1 or self.scheduler):
                self.rerun_timeouts_alone(runner, results, before)
        finally:
            runner.close()
        stopped = [r for r in results if str((r.get("grader_error") or {}).get("reason", ""))
                   .startswith(f"{parallel.NOT_GRADED}: {HOST_SHORT}")]
        if stopped:
            self.say(f"Grading stopped early ({stopped[0]['grader_error']['reason']}). The "
                     f"{len(results) - len(stopped)} student(s) graded before keep their "
                     f"results; {len(stopped)} were not graded (their rows say so): make room "
                     "and grade again.")
        return results

    def finished(self, job, outcome: dict | None, error) -> dict:
        """The result of a job the runner gave back (``error``: why it failed, or None)."""
        from .parallel import NOT_GRADED

        try:
            if error is not None and str(error).startswith(NOT_GRADED):  # never started
                return self.failed_result(job.state.sf, str(error))
            if error is not None:
                return self.failed_result(job.state.sf, f"the job failed: {error}",
                                          getattr(error, "traceback", ""))
            return self.finish_student(job.state, outcome)
        except Exception as exc:  # noqa: BLE001 - one student never stops the batch
            return self.failed_result(
                job.state.sf, f"merging the job's results raised {type(exc).__name__}: "
                f"{exc}", traceback.format_exc())

    def rerun_timeouts_alone(self, runner, results: list[dict], before) -> None:
        """A timeout counts only when the student's own code used the time: each student who
        timed out while other jobs ran beside it is graded again alone, under the same
        limits, and that run's result counts (the row's details say both)."""
        from . import parallel

        again = [i for i, r in enumerate(results)
                 if timed_out(r) and GRADER_ERROR not in (r.get("flags") or [])]
        if not again:
            return
        self.say(f"Grading {len(again)} student(s) again, one at a time: they timed out while "
                 "other jobs ran beside them, and a timeout counts only if it happens alone.")
        for index in again:
            first = results[index]
            sf = self.students[first["student"]]
            try:
                self.check_free_disk()  # before its first run's files are replaced
                pending = self.start_student(sf)
            except Exception as exc:  # noqa: BLE001 - the first result stands, said so
                first["details"].append(f"could not be graded again alone ({exc}): the "
                                        "timeout beside other jobs stands")
                self.write_result(first)
                continue
            queue = [parallel.Job(sf.student, pending.spec, pending)]
            for job, outcome, error in runner.run(queue, before, self.say):
                result = self.finished(job, outcome, error)
            used = first.get("usage") or {}
            beside = (f"timed out while other jobs ran beside it (score {first['total']:g}"
                      + (f"; the sandbox used {used['cpu_seconds']:.0f} CPU-s in "
                         f"{used['wall_seconds']:.0f} s" if used.get("cpu_seconds") is not None
                         and used.get("wall_seconds") else "") + ")")
            verdict = ("timed out again, so the timeout counts" if timed_out(result) else
                       "finished within the limits: this run's grade counts")
            result["details"].insert(0, f"graded again alone: the first run {beside}; alone, "
                                        f"under the same limits, it {verdict}")
            result["first_run"] = {k: first.get(k) for k in ("total", "status", "usage")}
            self.write_result(result)
            results[index] = result
            self.say(f"  {sf.student}: alone {result['total']:g}/{result['max']:g} "
                     f"({result['status']}; first run {first['total']:g}, {first['status']})")

    def free_disk_needed(self) -> int:
        """Free disk the coordinator wants before starting a job: the job's copied-out files
        and, where its folder is not a filesystem of its own, the folder (each at most the
        disk cap), and 1 GiB for results, feedback and the gradebook."""
        return 2 * self.limits().disk_bytes + 2**30

    def check_free_disk(self) -> None:
        """Stop starting jobs (every graded result kept) before the host's disk runs out."""
        from .parallel import StopDispatch

        free, need = shutil.disk_usage(self.run_dir).free, self.free_disk_needed()
        if free < need:
            raise StopDispatch(f"{HOST_SHORT}: {human_bytes(free)} free where {self.run_dir} "
                               f"lies, and a job needs {human_bytes(need)}")

    def check_worker_sandboxes(self, runner) -> None:
        """On a cluster, each worker must start the sandbox (the coordinator need not): stop
        before grading anyone, naming each worker that cannot and why."""
        from .sandbox import SandboxUnavailable

        failing = {w: why for w, why in runner.sandbox_failures().items() if why}
        if failing:
            runner.close()
            raise SandboxUnavailable(
                f"on {len(failing)} worker(s) of {self.scheduler}:\n" + "\n".join(
                    f"{worker}: {why}" for worker, why in sorted(failing.items())))
        self.say(f"The sandbox starts on every worker of {self.scheduler}.")

    def before_job(self, spec: dict) -> None:
        """Just before a job is handed to a runner: it gets the caches as they are now, and
        its TensorFlow a fair share of the cores when jobs share this machine."""
        spec["training_cache"] = self.training_cache.for_job() if self.training_cache else None
        spec["verdict_cache"] = self.verdict_cache.for_job() if self.verdict_cache else None
        if self.workers > 1 and not self.scheduler:
            from .parallel import threads_per_job

            threads = str(threads_per_job(self.workers))
            spec["env"].update({"TF_NUM_INTRAOP_THREADS": threads,
                                    "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": threads})

    # -- one student ----------------------------------------------------------------------
    def failed_result(self, sf, reason: str, traceback_text: str = "") -> dict:
        """The result of a student the grader failed before anything of theirs was judged (the
        job raised or was lost twice, or the coordinator's own part raised): every test 0,
        status ``grader error``, the reason and traceback kept for the banner."""
        cells = {f"{gc.notebook}/{gc.grade_id}": {"notebook": gc.notebook, "grade_id": gc.grade_id,
                                                  "score": 0.0, "max": gc.points, "error": GRADER_ERROR}
                 for gc in self.cells}
        flags = [GRADER_ERROR] + ([UNSANDBOXED] if not self.sandbox else [])
        result = {"student": sf.student, "assignment": self.course.assignment,
                  "files": sorted({p.name for p in sf.notebooks.values()} | {p.name for p in sf.stray}),
                  "cells": cells, "total": 0.0, "max": sum(gc.points for gc in self.cells),
                  "flags": flags, "status": status_of(flags),
                  "details": list(sf.notes) + [f"grader error: {reason}"],
                  "grader_error": {"reason": reason, "traceback": traceback_text},
                  "notebooks": {}, "seconds": 0.0, "run": self.run_dir.name}
        try:  # the report says 0: so does the gradebook
            self.record_zero_in_gradebook(sf.student)
        except Exception as exc:  # noqa: BLE001
            result["details"].append(f"grader error: nbgrader could not record the grades "
                                     f"({type(exc).__name__}: {exc})")
        self.write_result(result)
        return result

    def write_result(self, result: dict) -> None:
        """``results/<student>.json``. Its fields in name order, its tests (``cells``) in
        notebook order, as the release has them: the report and feedback list them so."""
        out_dir = self.run_dir / "results"
        out_dir.mkdir(parents=True, exist_ok=True)
        ordered = {key: result[key] for key in sorted(result)}
        (out_dir / f"{result['student']}.json").write_text(json.dumps(ordered, indent=1) + "\n")

    def start_student(self, sf: intake.StudentFiles) -> PendingStudent:
        """The coordinator's part before the job: the student's files repaired into nbgrader's
        submitted/ folder, and the job folder written (its spec; None when nothing can run)."""
        course, student = self.course, sf.student
        sub_dir = course.submitted_root / student / course.assignment
        if sub_dir.exists():
            shutil.rmtree(sub_dir)
        auto_dir = course.autograded_root / student / course.assignment
        if auto_dir.exists():
            shutil.rmtree(auto_dir)
        flags: list[str] = [] if self.sandbox else [UNSANDBOXED]
        details: list[str] = list(sf.notes)
        per_nb: dict[str, dict] = {name: {"file": None, "flags": [], "details": []} for name in self.release}
        repaired: dict = {}
        for name, release_nb in self.release.items():
            path = sf.notebooks.get(name)
            entry = per_nb[name]
            if path is None:
                entry["flags"].append("missing notebook")
                entry["details"].append(f"{name}.ipynb not submitted")
                continue
            entry["file"] = path.name
            fixed = repair.repair(path.read_bytes(), release_nb)
            for kind, detail in fixed.problems:
                if kind not in entry["flags"]:
                    entry["flags"].append(kind)
                entry["details"].append(f"{name}: {detail}")
            if fixed.notebook is not None:
                repair.write(fixed.notebook, sub_dir / f"{name}.ipynb")
                repaired[name] = nbformat.read(sub_dir / f"{name}.ipynb", as_version=4)
        if sf.timestamp is not None and repaired:
            shutil.copy(sf.timestamp, sub_dir / "timestamp.txt")  # nbgrader's late penalties
        for path in sf.stray:
            details.append(f"ignored file {path.name} (matches no notebook of the assignment)")
        if not sf.notebooks and sf.stray:
            flags.append(repair.NOT_A_NOTEBOOK)
        spec = None
        if repaired:
            spec = jobs.prepare(
                self.run_dir / "jobs" / student, student=student,
                assignment=self.course.assignment, notebooks=repaired,
                source_notebooks=[p for p in self.sources if p.stem in repaired], plan=self.plan,
                settings=self.settings(),
                skip_tags=getattr(self.judging, "SKIP_WHILE_GRADING", ()), env={},
                executor={k: v for k, v in self.course.config.GradingExecute.items()
                          if k in ("iopub_timeout", "max_kernel_restarts", "replay_timeout")},
            )
        return PendingStudent(sf, flags, details, per_nb, repaired, spec, time.monotonic())

    def finish_student(self, pending: PendingStudent, outcome: dict | None) -> dict:
        """The coordinator's part after the job: statuses, gradebook, result file."""
        course, student = self.course, pending.sf.student
        sf, flags, details, per_nb = pending.sf, pending.flags, pending.details, pending.per_nb
        job = {"verdicts": {}, "seconds": 0.0}
        failure = None  # the grader's own failure: {"reason", "traceback"}
        if outcome is not None:
            job = self.merge(student, outcome, pending.started)
            for cache, new in ((self.training_cache, outcome.get("training_cache")),
                               (self.verdict_cache, outcome.get("verdict_cache"))):
                if cache is not None:
                    cache.add(new)
            flags += [f for f in job["flags"] if f not in flags]
            details += job["details"]
            failure = job["grader_error"]
        else:  # nothing to run: the gradebook still gets the submission, with 0 points
            try:
                self.record_zero_in_gradebook(student)
            except Exception as exc:  # noqa: BLE001 - reported, never stops the batch
                flags.append(GRADER_ERROR)
                reason = f"nbgrader could not record the grades ({type(exc).__name__}: {exc})"
                details.append(f"grader error: {reason}")
                failure = {"reason": reason, "traceback": traceback.format_exc()}

        cells_out, total, max_total = {}, 0.0, 0.0
        for gc in self.cells:
            entry = per_nb[gc.notebook]
            verdict = job["verdicts"].get(gc.notebook, {}).get(gc.grade_id)
            score, error = 0.0, None
            if isinstance(verdict, dict):
                outputs = verdict.get("outputs") or []
                score = min(verdict_score(outputs, gc.points), gc.points)
                error = cell_error({"outputs": [o for o in outputs if isinstance(o, dict)]})
            elif entry["flags"]:
                error = entry["flags"][0]
            else:
                error = "not graded"
            if score < gc.points and not error:
                error = "failed"
            cells_out[f"{gc.notebook}/{gc.grade_id}"] = {
                "notebook": gc.notebook, "grade_id": gc.grade_id, "score": score,
                "max": gc.points, "error": error,
            }
            total += score
            max_total += gc.points
        for name, entry in per_nb.items():
            executed = job.get("executed", {}).get(name, {})
            for f in executed.get("flags", []):
                if f not in entry["flags"]:
                    entry["flags"].append(f)
            entry["details"].extend(f"{name}: {text}" for text in executed.get("cell_errors", []))
            details.extend(entry["details"])
            flags.extend(f for f in entry["flags"] if f not in flags)
        # A student whose every notebook is missing/unreadable is not a "missing notebook" case.
        if "missing notebook" in flags and not pending.repaired and len(flags) > 1:
            flags.remove("missing notebook")
        result = {
            "student": student,
            "assignment": course.assignment,
            "files": sorted({p.name for p in sf.notebooks.values()} | {p.name for p in sf.stray}),
            "cells": cells_out,
            "total": round(total, 4),
            "max": round(max_total, 4),
            "flags": flags,
            "status": status_of(flags),
            "details": details,
            "notebooks": per_nb,
            "seconds": job.get("seconds", 0.0),
            "run": self.run_dir.name,
            "usage": job.get("usage"),  # CPU seconds, peak memory, how the limits were held
        }
        if failure:
            result["grader_error"] = failure
        self.write_result(result)
        return result

    # Whose failure is it? Only the grader's own failures make a row "grader error" (and the
    # banner, and `grade`'s exit status 3); whatever student code can bring about stays a
    # student status, said plainly in the details. Student code runs only in the notebook
    # sandbox (and the pristine one), as the same uid as the grader's notebook runner there, so:
    #
    # * The job raised, its process crashed, or it lost its worker twice (parallel.JobFailure);
    #   preparing the job or merging its results raised: the grader's. Every way student code
    #   can end a job (wall clock, disk, idle, memory, dead kernels) is part of an outcome, and
    #   the limits that keep it from taking the worker down are the grader's to hold (where
    #   they do not, e.g. memory summed over many processes, a worker lost to the machine's
    #   OOM killer shows as the grader's: a false alarm, never a silent zero).
    # * The runner's report never started (no hello in sandbox.log) and the sandbox was not
    #   stopped: the sandbox or the runner could not start, before any student code existed.
    #   The grader's (on a worker: bwrap missing, a broken environment...).
    # * The runner did not finish a notebook, or records of its report are missing, and the
    #   sandbox was not stopped at a limit: student code CAN do this. A notebook can kill the
    #   runner (os.kill(os.getppid(), 9): it ends by a signal) or, where bwrap's pid 1 is
    #   reachable, flood the log past its cap so the report's end is lost. So: a cut log is
    #   the student's LIMIT, a runner ended by a signal after a notebook had started is
    #   RUNNER_KILLED (a student status); a runner that exited by itself (a Python traceback
    #   in sandbox.log: the grader's code raised) or one that died before any notebook started
    #   is the grader's. A notebook that makes the runner raise gets a false alarm, never a
    #   silent zero.
    # * The judge (no student code; it reads the captured data) stopped at its sandbox's limit
    #   (wall clock, disk) or ran out of memory (a student's network can be too large to
    #   train): the student's TIMEOUT / LIMIT. Any other judge exit (its own traceback: each
    #   test's exceptions are caught per test, so an exit means the grader's code failed
    #   outside any test; a crash by another signal) is the grader's.
    # * A test the judge answered with GraderError (the capture plan does not cover a check, a
    #   capture that could not be planned): the grader's. Forged capture records can also
    #   cause it; that is a false alarm for the instructor to read, never a silent zero.
    # * nbgrader could not record the grades: the grader's (the repaired notebook is the
    #   grader's to make recordable); the gradebook then gets 0 points for the student, so
    #   they are in it until graded again.
    def merge(self, student: str, outcome: dict, started: float) -> dict:
        flags, details = [], []
        failures: list[dict] = []  # the grader's own: {"reason", "traceback"}

        def grader_failed(reason: str, traceback_text: str = "") -> None:
            details.append(f"grader error: {reason}")
            failures.append({"reason": reason, "traceback": traceback_text})

        box = outcome["sandbox"]
        if box.get("killed"):
            flags.append("timeout" if box.get("timed_out") else LIMIT)
            details.append(f"the sandbox was stopped: {box['killed']}")
        for ended in (box, outcome.get("pristine") or {}):
            if ended.get("oom_kills"):
                flags.append(LIMIT)
                details.append(f"the job's memory cap ({human_bytes(self.limits().total_memory_bytes)}"
                               f" for all its processes together) was reached: the kernel "
                               f"stopped {ended['oom_kills']} of its processes")
            if (ended.get("disk") or {}).get("full"):
                flags.append(LIMIT)
                details.append(f"the job's disk ({human_bytes(ended['disk']['bytes'])}, a "
                               "filesystem of its own) was full: writes past it failed")
        executed_dir = Path(outcome["executed_dir"])
        job_dir = executed_dir.parent.parent
        judge = outcome["judge"]
        if judge.get("killed"):
            flags.append("timeout" if judge.get("timed_out") else LIMIT)
            details.append(f"the judge (it grades the captured work outside the notebook's "
                           f"sandbox) was stopped: {judge['killed']}; tests it had not judged "
                           "score 0")
        elif judge.get("returncode") not in (0, None):
            code = judge["returncode"]
            log = log_tail(job_dir / "judge.log")
            if any(sign in log for sign in OUT_OF_MEMORY) or by_a_signal(code) == 9:
                flags.append(LIMIT)
                details.append(f"the judge ran out of memory grading the captured network (exit "
                               f"code {code}): a network this large cannot be trained within "
                               "the grader's memory limit; tests it had not judged score 0")
            else:
                grader_failed(f"the judge did not finish (exit code {code}); tests it had not "
                              "judged score 0", log)
        unplanned = [f"{nb}/{gid}: {out.get('evalue', '')}"
                     for nb, cells in (outcome.get("verdicts") or {}).items()
                     if isinstance(cells, dict)
                     for gid, verdict in cells.items() if isinstance(verdict, dict)
                     for out in verdict.get("outputs") or []
                     if judge_grader_error(out)]
        if unplanned:
            grader_failed(f"the judge could not run {len(unplanned)} test(s) (GraderError; "
                          "they score 0)", "\n".join(unplanned))
        for skipped in outcome.get("skipped_files", []):
            details.append(f"left in the sandbox: {skipped}")
        # Statuses come from the executor's own report (sandbox.log), never from the executed
        # notebooks: student code can rewrite those, or make them too large to copy out.
        log_path = job_dir / "sandbox.log"
        report = executor_report(log_path)
        try:
            names = list(json.loads((job_dir / "spec.json").read_text())["notebooks"])
        except (OSError, ValueError, KeyError, TypeError):
            names = sorted(report["notebooks"])
        stopped = bool(box.get("killed"))
        executed, unfinished = {}, []
        for name in names:
            seen = report["notebooks"].get(name)
            executed[name] = scan_executed(seen)
            if seen is None or seen["done"] is None:
                last = seen["cells"][-1] if seen and seen["cells"] else None
                unfinished.append(name + (f" (last cell reported: #{last.get('index', -1) + 1})"
                                          if last and isinstance(last.get("index"), int) else ""))
            problem = returned_notebook_problem(executed_dir, name, seen,
                                                outcome.get("skipped_files", []))
            if problem:
                details.append(problem)
        if unfinished:
            details.append("the executor did not finish " + ", ".join(unfinished)
                           + ("" if stopped else "; see sandbox.log"))
        code = box.get("returncode")
        if stopped:
            pass  # the sandbox's limits stopped it: the flag above says which
        elif not report["started"]:
            grader_failed("the sandbox or the grader's notebook runner could not start (its "
                          f"report is missing from sandbox.log; exit code {code})",
                          log_tail(log_path))
        elif report["missing"] or unfinished:
            lost = (f"{report['missing']} record(s) of the executor's report never reached the "
                    "grader; statuses may be incomplete" if report["missing"] else "")
            signal_number = by_a_signal(code)
            if box.get("log_truncated"):  # the sandbox's own word, not the log's text
                flags.append(LIMIT)
                details.append("the job's output passed the grader's log limit, so the end of "
                               "the runner's report was lost" + (f" ({lost})" if lost else ""))
            elif signal_number and report["notebooks"]:
                flags.append(RUNNER_KILLED)
                details.append(f"the grader's notebook runner was killed (signal "
                               f"{signal_number}) after the notebook's code had started: the "
                               "cells after that point did not run" + (f"; {lost}" if lost
                                                                       else ""))
            else:
                grader_failed((lost or "the grader's notebook runner stopped before the end")
                              + f" (exit code {code})", log_tail(log_path))
        recorded, why = self.record_in_gradebook(student, outcome)
        if not recorded:
            grader_failed("nbgrader could not record the grades", why)
            try:  # every student is in the gradebook: 0 points until graded again
                self.record_zero_in_gradebook(student)
                details.append("the gradebook holds 0 points for this submission until it is "
                               "graded again")
            except Exception as exc:  # noqa: BLE001 - reported above
                details.append(f"nbgrader could not record 0 points either "
                               f"({type(exc).__name__}: {exc})")
        if failures:
            flags.append(GRADER_ERROR)
        return {"verdicts": outcome.get("verdicts") or {}, "flags": flags, "details": details,
                "executed": executed, "recorded": recorded,
                "grader_error": ({"reason": "; ".join(f["reason"] for f in failures),
                                  "traceback": "\n\n".join(f["traceback"] for f in failures
                                                            if f["traceback"])}
                                 if failures else None),
                # the job's own time (a parallel job may have waited for a worker before)
                "seconds": outcome.get("seconds", round(time.monotonic() - started, 2)),
                "usage": usage_of(box)}

    def record_in_gradebook(self, student: str, outcome: dict) -> tuple[bool, str]:
        """nbgrader's autograde with the job's outputs injected: the one gradebook writer.
        Returns whether it succeeded and, where not, nbgrader's traceback and log."""
        trusted = Path(outcome["executed_dir"]).parent
        (trusted / "verdicts.json").write_text(json.dumps(outcome.get("verdicts") or {}))
        overrides = merge_overrides(self.course.overrides,
                                    {"InjectResults": {"job_results": str(trusted)}})
        api = Course(self.course.root, self.course.assignment, overrides).api()
        with warnings.catch_warnings():  # SQLAlchemy's session warnings from nbgrader's API
            warnings.simplefilter("ignore")
            result = api.autograde(self.course.assignment, student, force=True, create=True)
        if result.get("success"):
            return True, ""
        return False, "\n".join(str(result.get(key)) for key in ("error", "log")
                                 if result.get(key)).strip()[-TRACEBACK_CHARS:]

    def record_zero_in_gradebook(self, student: str) -> None:
        """A submission of ``student`` scoring 0 on every test, in place of any earlier one:
        for a student with nothing to run (every file empty, not a notebook or missing), so
        that the gradebook (and the formgrader's average) counts them as the report does."""
        from nbgrader.api import Gradebook, MissingEntry

        api = self.course.api()
        with warnings.catch_warnings():  # SQLAlchemy's session warnings from nbgrader's API
            warnings.simplefilter("ignore")
            with Gradebook(api.coursedir.db_url, api.course_id) as gb:
                gb.update_or_create_student(student)
                try:
                    gb.remove_submission(self.course.assignment, student)
                except MissingEntry:
                    pass
                submission = gb.add_submission(self.course.assignment, student)
                for notebook in submission.notebooks:
                    for grade in notebook.grades:
                        grade.auto_score = 0.0
                        grade.needs_manual_grade = False
                gb.db.commit()


def load_results(reports: Path, assignment: str, run: str | None = None) -> list[dict]:
    """Results of the latest run, or of ``run`` (a folder name under ``runs/``)."""
    folder = (runs_dir(Path(reports), assignment) / run / "results" if run
              else results_dir(Path(reports), assignment))
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
