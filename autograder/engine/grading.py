"""Grade a batch of submissions with nbgrader, one student at a time, losing nothing.

For each student found by :mod:`autograder.engine.intake`:

1. each notebook is checked and repaired against a fresh release (:mod:`autograder.engine.repair`)
   and written to nbgrader's ``submitted/<student>/<assignment>/``;
2. nbgrader's autograde runs in a child process (:mod:`autograder.engine.worker`) under a watchdog;
   the execution preprocessor (:mod:`autograder.engine.nbexec`) survives dead kernels and hangs and
   journals every cell as it finishes;
3. the grades (from the gradebook, or from the journal when the child itself failed) and
   what happened become ``<reports>/<assignment>/results/<student>.json``.

Every student in the input gets a result, whatever their files contain.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from . import intake, repair
from .course import Course
from .nbexec import JOURNAL_ENV

# Status flags, in the order they are listed in a report's status column.
STATUS_ORDER = [
    repair.NOT_A_NOTEBOOK,
    repair.EMPTY,
    "missing notebook",
    "kernel died",
    "timeout",
    "cell errors",
    "grader error",
    repair.MISSING_CELLS,
    repair.DUPLICATE_CELLS,
    repair.TESTS_EDITED,
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


def time_budget(release_dir: Path, timeout: int, training_timeout: int, tags=("training",)) -> int:
    """Longest a student can legitimately take: every cell at its timeout, twice over."""
    total = 0
    for path in sorted(release_dir.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.source.strip():
                is_training = any(t in cell.metadata.get("tags", []) for t in tags)
                total += training_timeout if is_training else timeout
    return 2 * total + 120


def fmt_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


def status_of(flags) -> str:
    ordered = [f for f in STATUS_ORDER if f in flags] + sorted(set(flags) - set(STATUS_ORDER))
    return "; ".join(ordered) if ordered else "ok"


def results_dir(reports: Path, assignment: str) -> Path:
    return reports / assignment / "results"


def scores_from_journal(journal_dir: Path) -> dict[str, dict]:
    """Per-notebook {grade_id: {score, max}} from the cells the journal saw finish."""
    out = {}
    if not journal_dir.is_dir():
        return out
    for path in sorted(journal_dir.glob("*.jsonl")):
        cells = {}
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a kill
            if rec.get("grade") and rec.get("grade_id"):
                pts = float(rec.get("points") or 0)
                ok = not rec.get("errors")
                cells[rec["grade_id"]] = {"score": pts if ok else 0.0, "max": pts,
                                          "error": None if ok else (rec["errors"] or ["error"])[-1]}
        out[path.stem] = cells
    return out


class Grader:
    def __init__(self, course: Course, reports: Path, *, timeout: int | None = None,
                 training_timeout: int | None = None, epochs: int | None = None,
                 student_timeout: int | None = None, out=sys.stdout):
        self.course = course
        self.reports = Path(reports)
        self.out = out
        self.epochs = epochs
        overrides = {k: dict(v) for k, v in (course.overrides or {}).items()}
        if timeout is not None:
            overrides.setdefault("GradingExecute", {})["timeout"] = int(timeout)
        if training_timeout is not None:
            overrides.setdefault("GradingExecute", {})["training_timeout"] = int(training_timeout)
        self.overrides = overrides
        cfg = course.config.GradingExecute
        self.timeout = int(timeout if timeout is not None else cfg.get("timeout", 300))
        self.training_timeout = int(
            training_timeout if training_timeout is not None else cfg.get("training_timeout", 3600)
        )
        self.student_timeout = student_timeout
        self.release_dir: Path | None = None

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def prepare(self) -> None:
        self.say(f"Generating the release of '{self.course.assignment}' (nbgrader generate_assignment)...")
        self.release_dir = self.course.scratch_release()
        self.release = {p.stem: nbformat.read(p, as_version=4) for p in sorted(self.release_dir.glob("*.ipynb"))}
        self.cells = graded_cells(self.release_dir)
        if self.student_timeout is None:
            self.student_timeout = time_budget(self.release_dir, self.timeout, self.training_timeout)

    def grade_source(self, source: Path) -> list[dict]:
        if self.release_dir is None:
            self.prepare()
        workdir = self.reports / self.course.assignment / "intake"
        if workdir.exists():
            shutil.rmtree(workdir)
        source = Path(source).resolve()
        if source.is_dir() and (source == self.course.submitted_root
                                or self.course.submitted_root in source.parents):
            # nbgrader's own submitted/ tree: grading rewrites it, so read from a copy.
            copy_of = workdir / "input"
            shutil.copytree(source, copy_of)
            source = copy_of
        students = intake.collect(source, self.course.assignment, list(self.release), workdir)
        if not students:
            self.say(f"No submissions found in {source}.")
            return []
        self.say(f"Grading {len(students)} student(s) from {source} "
                 f"(cell timeout {self.timeout} s, training cells {self.training_timeout} s"
                 + (f", RESNET_KIT_EPOCHS={self.epochs}" if self.epochs is not None else "") + ")")
        results = []
        started = time.monotonic()
        for n, sf in enumerate(students.values(), 1):
            t0 = time.monotonic()
            result = self.grade_student(sf)
            results.append(result)
            done, left = n, len(students) - n
            elapsed = time.monotonic() - started
            eta = elapsed / done * left
            self.say(
                f"[{done}/{len(students)}] {sf.student}: {result['total']:g}/{result['max']:g} "
                f"{result['status']} ({time.monotonic() - t0:.1f} s) | done {done}, left {left}, "
                f"elapsed {fmt_seconds(elapsed)}, ETA {fmt_seconds(eta)}"
            )
        return results

    # -- one student ----------------------------------------------------------------------
    def grade_student(self, sf: intake.StudentFiles) -> dict:
        course, student = self.course, sf.student
        sub_dir = course.submitted_root / student / course.assignment
        if sub_dir.exists():
            shutil.rmtree(sub_dir)
        auto_dir = course.autograded_root / student / course.assignment
        if auto_dir.exists():
            shutil.rmtree(auto_dir)
        flags: list[str] = []
        details: list[str] = list(sf.notes)
        per_nb: dict[str, dict] = {name: {"file": None, "flags": [], "details": []} for name in self.release}
        written = 0
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
                written += 1
        if sf.timestamp is not None and written:
            shutil.copy(sf.timestamp, sub_dir / "timestamp.txt")  # nbgrader's late penalties
        for path in sf.stray:
            details.append(f"ignored file {path.name} (matches no notebook of the assignment)")
        if not sf.notebooks and sf.stray:
            flags.append(repair.NOT_A_NOTEBOOK)
        # Only-missing notebooks are reported as "missing notebook" only when something else
        # was submitted; a student with nothing usable gets the file's own problem.

        run = {"success": True, "notebooks": {}, "seconds": 0.0}
        if written:
            run = self.run_worker(student)
            if not run.get("success"):
                flags.append("grader error")
                last = [ln for ln in (run.get("error") or "").strip().splitlines() if ln.strip()]
                details.append("grader error: " + (last[-1][:200] if last else "unknown"))
        journal = self.journal_dir(student)
        from_journal = scores_from_journal(journal) if not run.get("success") else {}

        cells_out, total, max_total = {}, 0.0, 0.0
        for gc in self.cells:
            entry = per_nb[gc.notebook]
            nb_run = run.get("notebooks", {}).get(gc.notebook)
            score, error = 0.0, None
            if nb_run and gc.grade_id in nb_run.get("cells", {}):
                value = nb_run["cells"][gc.grade_id]["score"]
                score = 0.0 if value is None else value
                error = nb_run.get("errors", {}).get(gc.grade_id)
            elif gc.grade_id in from_journal.get(gc.notebook, {}):
                rec = from_journal[gc.notebook][gc.grade_id]
                score, error = rec["score"], rec["error"]
            elif entry["flags"]:
                error = entry["flags"][0]
            else:
                error = "not graded"
            if score < gc.points and not error:
                error = "partial credit" if score > 0 else "failed"
            cells_out[f"{gc.notebook}/{gc.grade_id}"] = {
                "notebook": gc.notebook, "grade_id": gc.grade_id, "score": score,
                "max": gc.points, "error": error,
            }
            total += score
            max_total += gc.points
        for name, entry in per_nb.items():
            nb_run = run.get("notebooks", {}).get(name, {})
            for f in nb_run.get("flags", []):
                if f not in entry["flags"]:
                    entry["flags"].append(f)
            entry["details"].extend(f"{name}: {text}" for text in nb_run.get("cell_errors", []))
            if not nb_run and name in from_journal:
                # the worker failed: say where the journal stopped
                pass
            details.extend(entry["details"])
            flags.extend(f for f in entry["flags"] if f not in flags)
        # A student whose every notebook is missing/unreadable is not a "missing notebook" case.
        if "missing notebook" in flags and not written and len(flags) > 1:
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
            "seconds": run.get("seconds", 0.0),
        }
        out_dir = results_dir(self.reports, course.assignment)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{student}.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        return result

    def journal_dir(self, student: str) -> Path:
        return self.reports / self.course.assignment / "journal" / student

    def run_worker(self, student: str) -> dict:
        work = self.reports / self.course.assignment / "work"
        work.mkdir(parents=True, exist_ok=True)
        journal = self.journal_dir(student)
        if journal.exists():
            shutil.rmtree(journal)
        journal.mkdir(parents=True)
        spec = {
            "root": str(self.course.root),
            "assignment": self.course.assignment,
            "student": student,
            "overrides": self.overrides,
            "result": str(work / f"{student}.result.json"),
        }
        result_path = Path(spec["result"])
        if result_path.exists():
            result_path.unlink()
        spec_path = work / f"{student}.spec.json"
        spec_path.write_text(json.dumps(spec))
        env = dict(os.environ)
        env[JOURNAL_ENV] = str(journal)
        if self.epochs is not None:
            env["RESNET_KIT_EPOCHS"] = str(self.epochs)
        env.setdefault("PYTHONUNBUFFERED", "1")
        log_path = work / f"{student}.log"
        started = time.monotonic()
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "autograder.engine.worker", str(spec_path)],
                cwd=str(self.course.root), env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            try:
                proc.wait(timeout=self.student_timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return {"success": False, "notebooks": {}, "seconds": round(time.monotonic() - started, 2),
                        "error": f"grading took longer than {self.student_timeout} s and was stopped"}
        if not result_path.exists():
            tail = log_path.read_text(errors="replace")[-2000:]
            return {"success": False, "notebooks": {}, "seconds": round(time.monotonic() - started, 2),
                    "error": f"grader process exited with code {proc.returncode}\n{tail}"}
        return json.loads(result_path.read_text())


def load_results(reports: Path, assignment: str) -> list[dict]:
    folder = results_dir(Path(reports), assignment)
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
