"""A broken grader is never a class of zeros.

When the grader itself fails for a student (its own exception, a job process that crashed, a
judge that did not finish...), `grade` still grades the whole batch, then says so in a banner
(how many, who, the first whole traceback) and exits 3; those rows say "grader error", which
the table says is not the student's fault. What student code can bring about (killing the
notebook runner, a network too large for the judge's memory...) stays a student status. The
demo checks every demo student against its expected total and status. Local Dask clusters
print nothing of their own (no port warning, no log lines) unless the dashboard is asked for.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine import cli, democlass, jobs, parallel, report
from autograder.engine.course import Course
from autograder.engine.democlass import ClassBuilder, check_expectations
from autograder.engine.grading import GRADER_ERROR, LIMIT, RUNNER_KILLED, Grader, load_results
from autograder.engine.inside.nbexec import ExecutorReport
from autograder.engine.toy import TOY_ASSIGNMENT, TOY_NOTEBOOK, make_toy_course

from conftest import needs_sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
TOY_BUDGET = ["--timeout", "10", "--training-timeout", "30"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """A toy course and a class: a full solution, the untouched release, an empty notebook
    (nothing to run: no job)."""
    root = tmp_path_factory.mktemp("toy")
    make_toy_course(root)
    course = Course(root, TOY_ASSIGNMENT)
    ClassBuilder(course, course.release()).build(root / "built")
    incoming = root / "incoming"
    for student in ("solution", "release", "empty"):
        shutil.copytree(root / "built" / student, incoming / student)
    return root, incoming


def _grade(toy, reports: Path, *options: str) -> int:
    root, incoming = toy
    return cli.main(["--course", str(root), "--assignment", TOY_ASSIGNMENT, "--reports",
                     str(reports), "grade", str(incoming), *TOY_BUDGET, *options])


def _gradebook_students(root: Path) -> set[str]:
    from nbgrader.api import Gradebook

    api = Course(root, TOY_ASSIGNMENT).api()
    with Gradebook(api.coursedir.db_url, api.course_id) as gb:
        return {s.student.id for s in gb.assignment_submissions(TOY_ASSIGNMENT)}


# -- grade: the banner and the exit status ---------------------------------------------------

def test_a_job_that_raises_makes_grade_fail_with_a_banner_while_every_student_keeps_a_row(
        toy, tmp_path, monkeypatch, capsys):
    def broken_run(spec):
        raise RuntimeError("injected: the grader's own bug")

    monkeypatch.setattr(jobs, "run", broken_run)
    status = _grade(toy, tmp_path / "reports", "--workers", "1", "--no-sandbox")
    out, err = capsys.readouterr()
    assert status == cli.EXIT_GRADER_ERROR == 3, out + err
    # The banner: how many, who, and the first whole traceback (the job's, raised here).
    assert "THE GRADER FAILED for 2 of 3 student(s)" in err, err
    assert "release: the job failed: RuntimeError: injected: the grader's own bug" in err
    assert "solution: the job failed" in err and "empty:" not in err
    assert "Traceback (most recent call last)" in err and "in broken_run" in err, err
    # Every student has a row and a gradebook entry; the grader's rows say whose fault it is.
    results = {r["student"]: r for r in load_results(tmp_path / "reports", TOY_ASSIGNMENT)}
    assert set(results) == {"solution", "release", "empty"}
    assert results["solution"]["flags"][0] == GRADER_ERROR
    assert "in broken_run" in results["solution"]["grader_error"]["traceback"]
    assert results["empty"]["status"] == "unsandboxed; empty"  # its own status, no banner
    assert "grader error (not the student's fault: re-grade after fixing)" in out
    assert _gradebook_students(toy[0]) >= {"solution", "release", "empty"}


def test_a_job_process_that_crashes_on_a_dask_worker_brings_its_traceback_back(
        toy, tmp_path, monkeypatch, capfd):
    """--workers 2: the job process on the worker exits with a traceback (here: settings the
    grader's own code cannot read); the coordinator shows that traceback, Dask prints none of
    its log lines."""
    real = Grader.before_job

    def corrupt(self, spec):
        real(self, spec)
        spec["settings"]["limits"] = {"no_such_limit": 1}

    monkeypatch.setattr(Grader, "before_job", corrupt)
    status = _grade(toy, tmp_path / "reports", "--workers", "2", "--no-sandbox")
    out, err = capfd.readouterr()
    assert status == 3, out + err
    assert "THE GRADER FAILED for 2 of 3 student(s)" in err, err
    assert "unexpected keyword argument 'no_such_limit' (both tries)" in err, err
    # The job process's own traceback, from the worker: where it failed in jobs.py.
    assert 'autograder/engine/jobs.py", line' in err and "in _limits" in err, err
    assert "distributed." not in err and "Compute Failed" not in err, err
    results = load_results(tmp_path / "reports", TOY_ASSIGNMENT)
    assert sorted(r["student"] for r in results) == ["empty", "release", "solution"]


def test_a_grader_failure_in_the_coordinator_is_caught_per_student(toy, tmp_path,
                                                                   monkeypatch, capsys):
    real = Grader.finish_student

    def finish(self, pending, outcome):
        if pending.sf.student == "release":
            raise KeyError("injected in the coordinator")
        return real(self, pending, outcome)

    monkeypatch.setattr(jobs, "run", lambda spec: {"stand-in": "no job runs in this test"})
    monkeypatch.setattr(Grader, "finish_student", finish)
    monkeypatch.setattr(Grader, "merge", lambda self, student, outcome, started: {
        "verdicts": {}, "flags": [], "details": [], "executed": {}, "recorded": True,
        "grader_error": None, "seconds": 0.0})
    status = _grade(toy, tmp_path / "reports", "--workers", "1", "--no-sandbox")
    err = capsys.readouterr().err
    assert status == 3
    assert "THE GRADER FAILED for 1 of 3 student(s)" in err, err
    assert "release: merging the job's results raised KeyError" in err, err
    assert "in finish" in err  # the coordinator's traceback


def test_the_banner_says_nothing_when_the_grader_did_not_fail():
    results = [{"student": "a", "total": 0, "max": 4, "status": "timeout; cell errors",
                "flags": ["timeout", "cell errors"], "cells": {}, "details": []}]
    assert report.grader_error_banner(results) is None
    assert "not the student's fault" not in report.table(results)


def test_the_banner_lists_every_failed_student_and_the_first_traceback_whole():
    def failed(student, reason, tb):
        return {"student": student, "total": 0, "max": 4, "status": GRADER_ERROR,
                "flags": [GRADER_ERROR], "cells": {}, "details": [f"grader error: {reason}"],
                "grader_error": {"reason": reason, "traceback": tb}}

    tb = "Traceback (most recent call last):\n" + "".join(
        f'  File "x.py", line {n}, in f{n}\n' for n in range(60)) + "ValueError: deep"
    banner = report.grader_error_banner([
        failed("bob", "the judge did not finish (exit code 1)", tb),
        {"student": "ok", "total": 4, "max": 4, "status": "ok", "flags": [], "cells": {}},
        failed("amy", "nbgrader could not record the grades", "other traceback"),
    ])
    assert "THE GRADER FAILED for 2 of 3 student(s)" in banner
    assert "# bob: the judge did not finish" in banner and "# amy: nbgrader" in banner
    assert "line 0, in f0" in banner and "line 59, in f59" in banner  # whole, not cut
    assert "ValueError: deep" in banner and "other traceback" not in banner
    assert banner.splitlines()[0] == banner.splitlines()[-1] == "#" * report.TABLE_WIDTH


def test_grade_help_documents_the_exit_statuses(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["grade", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "Exit status:" in text and "3 the GRADER failed for some students" in text
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "1 a demo student's total or status differs" in text and "--only" in text


# -- whose failure: merge() on job outcomes made by hand --------------------------------------

def _report_lines(records: list[dict]) -> str:
    """What the executor writes for ``records`` (its hello first), as the host's log holds it."""
    read, write = os.pipe()
    with os.fdopen(read, "rb") as reader:
        report_ = ExecutorReport(write, drain_seconds=0)
        for record in records:
            report_.record(**record)
        os.close(write)
        return reader.read().decode()


STARTED = [{"event": "notebook", "notebook": TOY_NOTEBOOK, "cells": 8},
           {"event": "cell", "notebook": TOY_NOTEBOOK, "index": 1, "status": "ran",
            "grade_id": "setup", "graded": False, "errors": []}]
FINISHED = STARTED + [{"event": "done", "notebook": TOY_NOTEBOOK, "sha256": "x"},
                      {"event": "end"}]
RAISED_HERE = ("Traceback (most recent call last):\n  File \"/grader/run_notebooks.py\", "
               "line 3, in main\nZeroDivisionError: the runner's own bug\n")


@pytest.fixture(scope="module")
def merger(tmp_path_factory):
    """merge() of a Grader whose gradebook writes are stand-ins, on job folders made here."""
    root = tmp_path_factory.mktemp("merge")
    make_toy_course(root)
    grader = Grader(Course(root, TOY_ASSIGNMENT), root / "reports", out=io.StringIO())
    grader.zeros = []
    grader.record_in_gradebook = lambda student, outcome: grader.recording
    grader.record_zero_in_gradebook = grader.zeros.append
    counter = iter(range(10**6))

    def merge(*, log="", sandbox=None, judge=None, judge_log="", verdicts=None,
              recording=(True, "")):
        job = root / f"job{next(counter)}"
        (job / "trusted" / "executed").mkdir(parents=True)
        (job / "spec.json").write_text(json.dumps({"notebooks": [TOY_NOTEBOOK]}))
        (job / "sandbox.log").write_text(log)
        (job / "judge.log").write_text(judge_log)
        grader.recording = recording
        outcome = {"sandbox": {"returncode": 0, "timed_out": False, "killed": None,
                               **(sandbox or {})},
                   "judge": {"returncode": 0, "timed_out": False, "killed": None,
                             **(judge or {})},
                   "verdicts": verdicts or {}, "skipped_files": [],
                   "executed_dir": str(job / "trusted" / "executed")}
        return grader.merge("someone", outcome, 0.0)

    merge.grader = grader
    return merge


def test_a_clean_job_is_nobodys_failure(merger):
    job = merger(log=_report_lines(FINISHED))
    assert job["flags"] == [] and job["grader_error"] is None, job


def test_a_runner_killed_by_the_notebook_is_the_students_status(merger):
    job = merger(log=_report_lines(STARTED), sandbox={"returncode": 137})
    assert job["flags"] == [RUNNER_KILLED] and job["grader_error"] is None, job
    assert any("killed (signal 9)" in d for d in job["details"]), job["details"]


def test_a_runner_that_raised_is_the_graders_failure_with_its_traceback(merger):
    job = merger(log=_report_lines(STARTED) + RAISED_HERE, sandbox={"returncode": 1})
    assert job["flags"] == [GRADER_ERROR], job
    assert "ZeroDivisionError: the runner's own bug" in job["grader_error"]["traceback"]
    assert "@@resnet-kit" not in job["grader_error"]["traceback"]  # the report's lines left out


def test_a_sandbox_that_never_started_is_the_graders_failure(merger):
    job = merger(log="bwrap: Creating new namespace failed: Operation not permitted\n",
                 sandbox={"returncode": 1})
    assert job["flags"] == [GRADER_ERROR], job
    assert "could not start" in job["grader_error"]["reason"]
    assert "Creating new namespace failed" in job["grader_error"]["traceback"]


def test_a_runner_stopped_at_the_sandboxs_limit_is_the_students_status(merger):
    job = merger(log=_report_lines(STARTED), sandbox={"returncode": 137, "killed":
                                                      "wall-clock limit 60 s", "timed_out": True})
    assert job["flags"] == ["timeout"] and job["grader_error"] is None, job


def test_a_log_flooded_past_its_cap_is_the_students_limit(merger):
    job = merger(log=_report_lines(STARTED) + "x" * 100
                 + "\n[sandbox: output cut here, 99999 more bytes not kept]\n",
                 sandbox={"log_truncated": True})
    assert job["flags"] == [LIMIT] and job["grader_error"] is None, job


def test_the_cut_marker_printed_by_student_code_is_not_the_sandboxs_word(merger):
    """Only the sandbox says the log was cut: text that looks like its marker changes nothing."""
    job = merger(log=_report_lines(STARTED)
                 + "\n[sandbox: output cut here, 99999 more bytes not kept]\n")
    assert LIMIT not in job["flags"], job


def test_a_judge_that_raised_is_the_graders_failure_with_its_traceback(merger):
    job = merger(log=_report_lines(FINISHED), judge={"returncode": 1},
                 judge_log="Traceback (most recent call last):\nImportError: no checks\n")
    assert job["flags"] == [GRADER_ERROR], job
    assert "judge did not finish (exit code 1)" in job["grader_error"]["reason"]
    assert "ImportError: no checks" in job["grader_error"]["traceback"]


def test_a_judge_out_of_memory_or_out_of_time_on_a_students_network_is_the_students(merger):
    job = merger(log=_report_lines(FINISHED), judge={"returncode": 134},
                 judge_log="terminate called after throwing an instance of 'std::bad_alloc'\n")
    assert job["flags"] == [LIMIT] and job["grader_error"] is None, job
    job = merger(log=_report_lines(FINISHED), judge={"returncode": 137, "timed_out": True,
                                                     "killed": "wall-clock limit 3600 s"})
    assert job["flags"] == ["timeout"] and job["grader_error"] is None, job


def test_a_test_the_judge_could_not_run_is_the_graders_but_a_students_lookalike_is_not(merger):
    own = {"output_type": "error", "ename": "GraderError", "evalue": "f[] was not captured",
           "traceback": ["GraderError: f[] was not captured"]}
    students = dict(own, traceback=["\x1b[0;31mGraderError\x1b[0m: f[] was not captured"])
    job = merger(log=_report_lines(FINISHED),
                 verdicts={TOY_NOTEBOOK: {"test_square": {"outputs": [own]}}})
    assert job["flags"] == [GRADER_ERROR], job
    assert "squares/test_square: f[] was not captured" in job["grader_error"]["traceback"]
    job = merger(log=_report_lines(FINISHED),
                 verdicts={TOY_NOTEBOOK: {"test_square": {"outputs": [students]}}})
    assert job["flags"] == [] and job["grader_error"] is None, job


def test_grades_nbgrader_could_not_record_are_the_graders_and_the_gradebook_gets_zero(merger):
    before = len(merger.grader.zeros)
    job = merger(log=_report_lines(FINISHED),
                 recording=(False, "Traceback (most recent call last):\nOSError: disk full"))
    assert job["flags"] == [GRADER_ERROR] and not job["recorded"], job
    assert "OSError: disk full" in job["grader_error"]["traceback"]
    assert merger.grader.zeros[before:] == ["someone"]  # still in the gradebook


# -- demo: expected results -------------------------------------------------------------------

EXPECTED = {"max": 48, "students": {
    "solution": {"total": 48, "status": "ok"},
    "release": {"total": 0, "status": "cell errors; unfinished"},
    "lucky": {"total": {"min": 38, "max": 48}, "status": "ok"},
}}


def _result(student, total, status, out_of=48):
    return {"student": student, "total": total, "max": out_of, "status": status}


def test_results_as_expected_pass_the_demo_check():
    results = [_result("solution", 48, "ok"), _result("release", 0, "cell errors; unfinished"),
               _result("lucky", 38, "ok")]
    assert check_expectations(results, EXPECTED) == []


def test_each_difference_from_the_expected_results_is_named():
    results = [_result("solution", 38, "ok"), _result("release", 0, "grader error"),
               _result("lucky", 30, "ok"), _result("newcomer", 1, "ok")]
    assert check_expectations(results, EXPECTED) == [
        "lucky: total 30, expected 38 to 48",
        "newcomer: graded, but has no expected result",
        "release: status 'grader error', expected 'cell errors; unfinished'",
        "solution: total 38, expected 48",
    ]
    assert check_expectations([_result("solution", 40, "ok", out_of=40)], EXPECTED,
                              only=["solution"]) == [
        "solution: total 40, expected 48; out of 40, expected out of 48"]


def test_only_the_students_asked_for_are_checked_and_each_must_be_graded():
    assert check_expectations([_result("solution", 48, "ok")], EXPECTED, ["solution"]) == []
    assert check_expectations([_result("solution", 48, "ok")], EXPECTED) == [
        "lucky: expected 38 to 48 'ok', but was not graded",
        "release: expected 0 'cell errors; unfinished', but was not graded"]


def test_demo_only_names_students_of_the_class(tmp_path):
    for name in ("solution", "raises"):
        (tmp_path / name).mkdir()
    assert cli.demo_selection(tmp_path, "raises, solution,raises") == ["raises", "solution"]
    assert cli.demo_selection(tmp_path, None) is None
    with pytest.raises(cli.GradingError, match="no such demo student.*nobody.*solution"):
        cli.demo_selection(tmp_path, "solution,nobody")


def test_the_kits_demo_class_has_a_generated_expectation_for_every_student():
    examples = democlass.EXAMPLES_DIR / "resnets"
    expected, path = democlass.load_expectations(examples)
    assert path == democlass.EXAMPLES_DIR / "resnets.expected.json" and expected, path
    table = democlass.DEMO_EXPECTED["resnets"]
    assert sorted(p.name for p in examples.iterdir()) == sorted(table) == sorted(
        expected["students"])
    assert {s: (w["total"], w["status"]) for s, w in expected["students"].items()} == table, (
        "run `python -m autograder examples`")
    assert expected["max"] == table["solution"][0] == 48 and table["solution"][1] == "ok"


@needs_sandbox
def test_demo_fails_naming_a_student_whose_result_differs(toy, tmp_path, capsys):
    """The toy course's demo, on a class beside a made-up expectations file: the solution as
    expected, the release with a wrong status; --only grades those two alone."""
    root, _incoming = toy
    examples = tmp_path / "toyclass"
    for student in ("solution", "release", "empty"):
        shutil.copytree(root / "built" / student, examples / student)
    democlass.expectations_path(examples).write_text(json.dumps({"max": 4, "students": {
        "solution": {"total": 4, "status": "ok"},
        "release": {"total": 0, "status": "ok"},
        "empty": {"total": 0, "status": "empty"}}}))
    status = cli.main(["--course", str(root), "--assignment", TOY_ASSIGNMENT, "--reports",
                       str(tmp_path / "reports"), "demo", "--examples", str(examples),
                       "--only", "solution,release", "--workers", "1", *TOY_BUDGET])
    out, err = capsys.readouterr()
    assert status == cli.EXIT_DEMO_DIFFERS == 1, out + err
    assert "check FAILED: 1 difference(s)" in err, err
    assert "release: status 'unfinished', expected 'ok'" in err, err
    assert "solution:" not in err and "empty" not in err, err
    assert sorted(r["student"] for r in load_results(tmp_path / "reports", TOY_ASSIGNMENT)) \
        == ["release", "solution"]


def test_a_grader_failure_in_demo_exits_3_with_the_banner_not_a_class_of_zeros(
        toy, tmp_path, monkeypatch, capsys):
    """The issue's case: every job dies for the grader's own reason. demo still reports each
    student, but says the grader failed and exits 3, never 0 with a table of zeros."""
    root, _incoming = toy
    examples = tmp_path / "toyclass"
    for student in ("solution", "release"):
        shutil.copytree(root / "built" / student, examples / student)
    democlass.expectations_path(examples).write_text(json.dumps({"max": 4, "students": {
        "solution": {"total": 4, "status": "ok"},
        "release": {"total": 0, "status": "unfinished"}}}))

    def broken_run(spec):
        raise TypeError("injected: extractall() got an unexpected keyword argument 'filter'")

    monkeypatch.setattr(jobs, "run", broken_run)
    status = cli.main(["--course", str(root), "--assignment", TOY_ASSIGNMENT, "--reports",
                       str(tmp_path / "reports"), "demo", "--examples", str(examples),
                       "--workers", "1", "--no-sandbox", *TOY_BUDGET])
    out, err = capsys.readouterr()
    assert status == cli.EXIT_GRADER_ERROR == 3, out + err
    assert "THE GRADER FAILED for 2 of 2 student(s)" in err, err
    assert "unexpected keyword argument 'filter'" in err and "in broken_run" in err
    assert "solution: total 0, expected 4" in err  # the expectation check says so too


# -- local Dask clusters are quiet ------------------------------------------------------------

def test_a_local_cluster_serves_no_dashboard_and_takes_no_fixed_port_unless_asked():
    quiet = parallel.local_cluster_options(2)
    assert quiet["dashboard_address"] is None
    assert quiet["scheduler_kwargs"] == {"dashboard": False, "dashboard_address": "127.0.0.1:0"}
    assert quiet["silence_logs"] >= 40  # no WARNING/ERROR lines of Dask's own
    asked = parallel.local_cluster_options(2, "127.0.0.1:9999")
    assert asked["dashboard_address"] == "127.0.0.1:9999" and "scheduler_kwargs" not in asked
    assert cli.build_parser().parse_args(["grade", "x", "--dashboard"]).dashboard \
        == parallel.DEFAULT_DASHBOARD == "127.0.0.1:8787"
    assert cli.build_parser().parse_args(["demo", "--dashboard", ":8788"]).dashboard == ":8788"
    assert cli.build_parser().parse_args(["demo"]).dashboard is None


@needs_sandbox
def test_grading_on_local_workers_prints_nothing_of_dasks_own_even_with_port_8787_taken(
        toy, tmp_path):
    """A real `grade --workers 2` (in a fresh process, as an instructor runs it) while another
    program holds Dask's default port: stderr has no port warning and no Dask log line."""
    root, incoming = toy
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen(1)
    except OSError:
        pass  # taken already: the same situation
    try:
        done = subprocess.run(
            [sys.executable, "-m", "autograder", "--course", str(root), "--assignment",
             TOY_ASSIGNMENT, "--reports", str(tmp_path / "reports"), "grade", str(incoming),
             "--workers", "2", *TOY_BUDGET],
            capture_output=True, text=True, cwd=REPO_ROOT, timeout=600)
    finally:
        holder.close()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "on 2 local Dask worker processes" in done.stdout
    for noise in ("Port 8787", "already in use", "distributed.", "dashboard", "bokeh"):
        assert noise not in done.stderr, done.stderr
    assert "solution  4/4    ok" in done.stdout, done.stdout


# -- the host's disk runs short: stop cleanly -------------------------------------------------

def test_grading_stops_starting_jobs_when_the_hosts_disk_runs_short(toy, tmp_path, monkeypatch,
                                                                     capfd):
    """The coordinator checks free disk before each job: once short, it starts no more jobs,
    keeps every result graded before, gives each student not graded a grader-error row that
    says why, prints what happened and exits 3."""
    checks = []
    real = Grader.free_disk_needed

    def short_after_the_first_job(self):
        checks.append(1)
        return real(self) if len(checks) == 1 else 2**62  # then: more than any disk holds

    monkeypatch.setattr(Grader, "free_disk_needed", short_after_the_first_job)
    status = _grade(toy, tmp_path / "reports", "--workers", "1", "--no-sandbox")
    out, err = capfd.readouterr()
    assert status == cli.EXIT_GRADER_ERROR, out + err
    results = {r["student"]: r for r in load_results(tmp_path / "reports", TOY_ASSIGNMENT)}
    assert set(results) == {"solution", "release", "empty"}  # every input has its row
    graded = [r for r in results.values() if r["seconds"] > 0]
    stopped = [r for r in results.values() if GRADER_ERROR in r["flags"]]
    assert len(graded) == 1 and len(stopped) == 1, {s: r["status"] for s, r in results.items()}
    assert graded[0]["total"] in (0, 4)  # its own grade, kept
    assert "short of disk" in stopped[0]["grader_error"]["reason"]
    said = out + err
    assert "Grading stopped early" in said and "make room" in said, said
