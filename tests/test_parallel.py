"""Grading a class in parallel: serially, on local Dask workers and on a Dask cluster started
with Dask's own commands, the grades are the same; one gradebook and one results set come out;
a worker killed in the middle of a job loses no student."""

from __future__ import annotations

import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from autograder.engine import parallel
from autograder.engine.democlass import ClassBuilder
from autograder.engine.grading import Grader, load_results
from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course
from autograder.engine.course import Course
from autograder.engine.sandbox import SandboxUnavailable

from conftest import needs_sandbox

TIMEOUT, TRAINING_TIMEOUT = 10, 30
DASK = Path(sys.executable).parent / "dask"


def _course(root: Path) -> Course:
    make_toy_course(root)
    return Course(root, TOY_ASSIGNMENT, overrides={"GradingExecute": {"iopub_timeout": 4}})


@pytest.fixture(scope="module")
def toy_class(tmp_path_factory):
    """A toy course and a small class: a full solution, one with a bug in each answer, one with
    nothing done, one with an empty file (no job)."""
    root = tmp_path_factory.mktemp("course")
    course = _course(root)
    builder = ClassBuilder(course, course.release())
    built = root / "built"
    builder.build(built)
    incoming = root / "incoming"
    for student in ("solution", "bugs", "release", "empty"):
        shutil.copytree(built / student, incoming / student)
    return course, incoming


def _grade(course: Course, incoming: Path, reports: Path, **mode) -> tuple[dict, str]:
    log = io.StringIO()
    Grader(course, reports, timeout=TIMEOUT, training_timeout=TRAINING_TIMEOUT, out=log,
           **mode).grade_source(incoming)
    results = {r["student"]: r for r in load_results(reports, course.assignment)}
    return results, log.getvalue()


def _grades(results: dict) -> dict:
    """What must not depend on where the jobs ran: points per test, totals, statuses."""
    return {student: (r["total"], r["status"],
                      {cell: c["score"] for cell, c in sorted(r["cells"].items())})
            for student, r in sorted(results.items())}


def _gradebook_totals(course: Course) -> dict:
    from nbgrader.api import Gradebook

    api = course.api()
    with Gradebook(api.coursedir.db_url, api.course_id) as gb:
        return {s.student.id: s.score for s in gb.assignment_submissions(course.assignment)}


@pytest.fixture(scope="module")
def serial(toy_class, tmp_path_factory):
    course, incoming = toy_class
    return _grade(course, incoming, tmp_path_factory.mktemp("serial"), workers=1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaskCluster:
    """`dask scheduler` and N `dask worker`s on loopback, as the README starts them."""

    def __init__(self, workers: int, tmp: Path, worker_prefix: tuple[str, ...] = ()):
        self.address = f"tcp://127.0.0.1:{_free_port()}"
        port = self.address.rsplit(":", 1)[1]
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
        self.scheduler = subprocess.Popen(
            [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard"],
            stdout=open(tmp / "scheduler.log", "wb"), stderr=subprocess.STDOUT, env=env)
        # --no-nanny: a killed worker stays dead (a nanny would restart it), so the test shows
        # that its job moved to the other worker.
        self.workers = [subprocess.Popen(
            [*worker_prefix, DASK, "worker", self.address, "--nthreads", "1", "--no-nanny", "--no-dashboard"],
            stdout=open(tmp / f"worker{i}.log", "wb"), stderr=subprocess.STDOUT, env=env)
            for i in range(workers)]
        from distributed import Client

        with Client(self.address, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)

    def close(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


def test_the_default_worker_count_follows_the_stated_rule():
    assert parallel.default_workers(cores=2, memory=24 * 2**30) == 2  # one job per core
    assert parallel.default_workers(cores=16, memory=128 * 2**30) == 16
    assert parallel.default_workers(cores=64, memory=16 * 2**30) == 4  # memory caps it
    assert parallel.default_workers(cores=1, memory=2**30) == 1
    assert parallel.threads_per_job(2, cores=16) == 8


def test_a_packed_job_carries_its_empty_folders_and_the_source_notebooks(tmp_path):
    """What travels to a worker without the coordinator's disk."""
    import json

    from autograder.engine import jobs

    job = tmp_path / "job"
    (job / "pristine" / "work").mkdir(parents=True)  # the sandbox needs it, empty
    (job / "control").mkdir()
    (job / "control" / "job.json").write_text("{}")
    source = tmp_path / "solutions" / "nb.ipynb"
    source.parent.mkdir()
    source.write_text("{}")
    spec = {"job_dir": str(job), "source_notebooks": [str(source)], "student": "s"}
    (job / "spec.json").write_text(json.dumps(spec))
    elsewhere = tmp_path / "worker"
    jobs._unpack(jobs.pack(spec), elsewhere)
    assert (elsewhere / "pristine" / "work").is_dir()
    assert (elsewhere / "control" / "job.json").read_text() == "{}"
    assert (elsewhere / jobs.SOURCES / "nb.ipynb").is_file()
    moved = json.loads((elsewhere / "spec.json").read_text())
    assert moved["job_dir"] == "." and moved["source_notebooks"] == [f"{jobs.SOURCES}/nb.ipynb"]


@pytest.mark.slow
@needs_sandbox
def test_local_workers_give_the_same_grades_as_grading_one_by_one(toy_class, serial,
                                                                  tmp_path):
    course, incoming = toy_class
    results, log = _grade(course, incoming, tmp_path / "reports", workers=2)
    assert _grades(results) == _grades(serial[0])
    assert "on 2 local Dask worker processes" in log
    assert set(results) == {"solution", "bugs", "release", "empty"}  # every input a row
    assert _gradebook_totals(course) == {s: r["total"] for s, r in results.items()}


@pytest.mark.slow
@needs_sandbox
def test_a_dask_cluster_started_with_dasks_commands_gives_the_same_grades(toy_class, serial,
                                                                          tmp_path):
    course, incoming = toy_class
    cluster = DaskCluster(2, tmp_path)
    try:
        results, log = _grade(course, incoming, tmp_path / "reports", scheduler=cluster.address)
    finally:
        cluster.close()
    assert _grades(results) == _grades(serial[0])
    assert f"on the Dask cluster at {cluster.address}" in log
    # One results set and one gradebook, written by the coordinator alone.
    runs = list((tmp_path / "reports" / course.assignment / "runs").iterdir())
    assert len(runs) == 1 and len(list((runs[0] / "results").glob("*.json"))) == 4
    assert _gradebook_totals(course) == {s: r["total"] for s, r in results.items()}


@needs_sandbox
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a user namespace")
def test_a_cluster_whose_workers_cannot_sandbox_stops_before_grading_anyone(toy_class,
                                                                            tmp_path):
    """The coordinator need not sandbox on a cluster, every worker must: workers in a user
    namespace that maps only root (no uid to run student code as) are named with the cause."""
    course, incoming = toy_class
    elsewhere = (sys.executable, str(Path(__file__).parent / "elsewhere.py"), "--map",
                 "0:0:1", "--no-userns", "--")
    cluster = DaskCluster(1, tmp_path, worker_prefix=elsewhere)
    try:
        with pytest.raises(SandboxUnavailable) as caught:
            _grade(course, incoming, tmp_path / "reports", scheduler=cluster.address)
    finally:
        cluster.close()
    message = str(caught.value)
    assert f"on 1 worker(s) of {cluster.address}" in message
    assert "maps only uid 0" in message and "How to fix:" in message
    assert not list((tmp_path / "reports").rglob("results/*.json"))  # nobody graded


@pytest.mark.slow
@needs_sandbox
def test_a_worker_killed_in_the_middle_of_a_job_loses_no_student(toy_class, serial, tmp_path):
    course, incoming = toy_class
    cluster = DaskCluster(2, tmp_path)
    outcome: dict = {}

    def grade():
        outcome["results"], outcome["log"] = _grade(course, incoming, tmp_path / "reports",
                                                    scheduler=cluster.address)

    grading = threading.Thread(target=grade)
    grading.start()
    killed = None
    try:
        from distributed import Client

        with Client(cluster.address, timeout="30s") as client:
            pids = client.run(os.getpid)  # worker address -> its process
            deadline = time.monotonic() + 300
            while killed is None and time.monotonic() < deadline and grading.is_alive():
                busy = [w for w, keys in client.processing().items()
                        if any(str(k).startswith("grade-") for k in keys)]
                if busy:
                    time.sleep(3)  # well inside the job (a toy job takes 10 s or more)
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed = busy[0]
                time.sleep(0.5)
        grading.join(600)
    finally:
        cluster.close()
    assert killed is not None, "no job was seen running on a worker"
    assert not grading.is_alive()
    results = outcome["results"]
    assert _grades(results) == _grades(serial[0]), outcome["log"][-3000:]
    assert all("grader error" not in r["flags"] for r in results.values()), outcome["log"]
