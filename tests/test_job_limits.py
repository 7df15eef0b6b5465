"""Hard per-job limits: total memory across a job's processes (a cgroup), a disk that is a
filesystem of fixed size, one time budget that kernel restarts cannot multiply, and the
coordinator stopping cleanly when the host's disk runs short."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import textwrap
import time
from pathlib import Path

import nbformat
import pytest

from autograder.engine import cgroups, sandbox
from autograder.engine.inside.nbexec import BUDGET_USED_UP, NOT_RUN_ENAME, GradingExecute

from conftest import needs_sandbox  # noqa: E402

MiB = 2**20
ENV = {"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
LIMITS = sandbox.Limits(memory_bytes=1 * 2**30, processes=64, file_bytes=256 * MiB,
                        disk_bytes=64 * MiB, tmp_bytes=16 * MiB, open_files=256,
                        wall_seconds=60, total_memory_bytes=256 * MiB)
# A filesystem of fixed size is exact to the page; what a full one may hold past its size:
# the last partial pages of the files being written (well under this).
DISK_MARGIN = 1 * MiB

CGROUPS = cgroups.support()
# On CI (the kit's own machines, cgroup v1 writable) a missing cgroup fails instead of skipping.
needs_cgroups = pytest.mark.skipif(CGROUPS.version is None and os.environ.get("CI") != "true",
                                   reason=f"no usable cgroup here: {CGROUPS.why_not}")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="only root mounts a job's own disk")


def _run(tmp_path, code: str, limits=LIMITS):
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    log = tmp_path / "log"
    result = sandbox.run([sys.executable, "-c", textwrap.dedent(code)], workdir=work,
                         env=ENV, limits=limits, log=log)
    return result, log.read_text(errors="replace")


# Each child touches 64 MiB and holds it: 8 of them want 512 MiB, twice the job's cap, while
# each stays far under RLIMIT_AS (1 GiB): only a cap on the processes together stops them.
MANY_PROCESSES_EACH_UNDER_ITS_RLIMIT = """
    import os, time
    children = []
    for _ in range(8):
        pid = os.fork()
        if pid == 0:
            block = bytearray(64 * 2**20)
            for i in range(0, len(block), 4096):
                block[i] = 1
            time.sleep(5)
            os._exit(0)
        children.append(pid)
    ended = [os.waitpid(pid, 0)[1] for pid in children]
    print("killed:", sum(1 for status in ended if os.WIFSIGNALED(status)))
"""


@needs_sandbox
@needs_cgroups
def test_memory_across_many_processes_is_stopped_at_the_jobs_total_cap(tmp_path):
    result, log = _run(tmp_path, MANY_PROCESSES_EACH_UNDER_ITS_RLIMIT)
    killed = int(log.split("killed:")[1].split()[0])
    assert killed >= 4, log  # 256 MiB holds at most 3 of the 64 MiB children (and Python)
    assert result.oom_kills and result.oom_kills >= killed
    assert result.memory_peak <= LIMITS.total_memory_bytes
    assert result.cgroup == CGROUPS.version


@needs_sandbox
@needs_cgroups
def test_without_a_total_cap_the_same_processes_all_live(tmp_path):
    """The control for the test above: its children fit their rlimits; the cap stops them."""
    limits = dataclasses.replace(LIMITS, total_memory_bytes=0)
    result, log = _run(tmp_path, MANY_PROCESSES_EACH_UNDER_ITS_RLIMIT, limits)
    assert "killed: 0" in log and result.oom_kills is None, log
    assert result.cgroup.startswith("none")


@needs_sandbox
@needs_cgroups
def test_the_job_cgroup_counts_cpu_time_of_every_process(tmp_path):
    result, _ = _run(tmp_path, """
        import os, time
        for _ in range(2):
            if os.fork() == 0:
                end = time.process_time() + 0.5
                while time.process_time() < end:
                    pass
                os._exit(0)
        for _ in range(2):
            os.wait()
    """)
    assert result.cpu_seconds >= 0.9  # two children of 0.5 CPU-s each (plus Python start-up)


# Sixteen writers at once, each wanting 16 MiB: 256 MiB against a 64 MiB disk.
PARALLEL_WRITERS = """
    for i in $(seq 16); do
        (dd if=/dev/zero of=file$i bs=64k count=256 2>/dev/null; echo "writer $i: $?") &
    done
    wait
"""

def _in_a_fixed_size_folder(work: Path, script: str, limits=LIMITS) -> dict:
    """``script`` in the sandbox as a job's phase runs: in a thread with its own mount
    namespace, the work folder a tmpfs of ``disk_bytes`` (what it holds, seen from there)."""
    def phase():
        with sandbox.fixed_size_folder(work, limits.disk_bytes) as not_fixed:
            result = sandbox.run(["/bin/sh", "-c", script], workdir=work, env={},
                                 limits=limits, log=work.parent / "log",
                                 disk_is_fixed=not not_fixed)
            files = sum(p.stat().st_size for p in work.iterdir() if p.name.startswith("file"))
            return {"not_fixed": not_fixed, "files": files, "killed": result.killed_reason}

    return sandbox.with_own_mounts(phase)


@needs_sandbox
@needs_root
def test_parallel_writers_stay_within_the_disk_cap_plus_a_page_margin(tmp_path):
    """The work folder is a tmpfs of ``disk_bytes`` in a mount namespace of the job's thread
    (as in grading). The old polled watchdog let 6 GiB through a 2 GiB cap."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "kept.txt").write_text("the folder's files are there inside")
    seen = _in_a_fixed_size_folder(work, "cat kept.txt; echo\n" + PARALLEL_WRITERS)
    assert seen["not_fixed"] == "", seen
    assert seen["files"] <= LIMITS.disk_bytes + DISK_MARGIN, seen
    assert seen["files"] >= LIMITS.disk_bytes - 4 * MiB, seen  # they did fill it
    assert seen["killed"] is None  # nothing to poll: writers get ENOSPC
    log = (tmp_path / "log").read_text()
    assert "the folder's files are there inside" in log
    assert log.count("writer") == 16 and ": 1" in log, log  # some writers were refused
    assert not any(work.iterdir())  # the tmpfs went with the block; the folder is left empty
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(work) not in mounts  # never visible to the rest of the process


def test_fixed_size_folder_says_why_not_outside_a_thread_of_its_own_mounts(tmp_path):
    with sandbox.fixed_size_folder(tmp_path, 2**20) as not_fixed:
        assert "mount namespace" in not_fixed


# --- one budget per job -----------------------------------------------------------------------

def test_kernel_restarts_spend_the_job_budget_instead_of_multiplying_it(tmp_path):
    """Six cells that kill their kernel after a slow first cell: each restart replays the
    first cell. Without a budget that is 7 kernels and 7 replays; with 12 s, the cells left
    when it is spent are not run, marked as such, and the job ends near its budget."""
    cells = [nbformat.v4.new_code_cell("import os, time\ntime.sleep(2)")]
    cells += [nbformat.v4.new_code_cell("os._exit(1)") for _ in range(6)]
    cells.append(nbformat.v4.new_code_cell("done = True"))
    nb = nbformat.v4.new_notebook(cells=cells)
    executor = GradingExecute(timeout=30, training_timeout=30, max_kernel_restarts=10,
                              kernel_name="python3", allow_errors=True)
    executor.budget_seconds = 12
    started = time.monotonic()
    executor.budget_deadline = started + 12
    executor.preprocess(nb, {"metadata": {"path": str(tmp_path)}})
    took = time.monotonic() - started
    last = nb.cells[-1].outputs
    assert last and last[0]["ename"] == NOT_RUN_ENAME, last
    assert last[0]["evalue"].startswith(BUDGET_USED_UP)
    # Past the budget: at most one kernel start and shutdown (a few seconds each here).
    assert took < 12 + 15, took


def test_the_budget_shortens_a_cells_timeout_when_little_is_left():
    executor = GradingExecute(timeout=60, training_timeout=600)
    executor.budget_seconds = 100
    executor.budget_deadline = time.monotonic() + 5
    assert executor.timeout_func(nbformat.v4.new_code_cell("x")) <= 5
    executor.budget_deadline = time.monotonic() + 1000
    assert executor.timeout_func(nbformat.v4.new_code_cell("x")) == 60


def test_job_budget_counts_each_running_cell_once_and_skipped_cells_little():
    from autograder.engine import jobs

    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("fit()", metadata={"tags": ["training"]}),
        nbformat.v4.new_code_cell(jobs.SKIPPED_NOTE.format(why="the grader trains it")),
        nbformat.v4.new_code_cell("   "),
        nbformat.v4.new_markdown_cell("text"),
    ])
    assert jobs.time_budget([nb], timeout=10, training_timeout=100) == (
        jobs.KERNEL_START_SECONDS + 10 + 100 + jobs.SKIPPED_CELL_SECONDS)


# --- cgroup v2, on a stand-in folder (no v2 host here: the files the kernel documents) -------

def test_v2_job_group_writes_the_caps_and_reads_usage_from_the_documented_files(tmp_path):
    found = cgroups.Support("v2", parents=(tmp_path,))
    group = cgroups.JobGroup.create(found, memory_bytes=6 * 2**30, processes=256)
    folder = group.folders["memory"]
    assert folder.parent == tmp_path and set(group.folders.values()) == {folder}
    written = {p.name: p.read_text() for p in folder.iterdir()}
    assert written == {"memory.max": str(6 * 2**30), "memory.swap.max": "0",
                       "pids.max": "256", "cpu.weight": str(100 * cgroups.CPU_WEIGHT)}
    (folder / "cpu.stat").write_text("usage_usec 2500000\nuser_usec 2000000\n")
    (folder / "memory.peak").write_text("1073741824\n")
    (folder / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n")
    assert group.usage() == cgroups.Usage(cpu_seconds=2.5, memory_peak=2**30, oom_kills=2)
    assert group.procs_files() == [str(folder / "cgroup.procs")]


def test_v2_support_names_controllers_that_are_not_delegated(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpu pids\n")
    found = cgroups._v2_support(tmp_path)
    assert found.version is None
    assert "memory" in found.why_not and "Delegate=yes" in found.why_not


def test_v2_support_enables_the_controllers_for_job_groups(tmp_path):
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    found = cgroups._v2_support(tmp_path)
    assert found == cgroups.Support("v2", parents=(tmp_path,))
    assert (tmp_path / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"


def test_the_assignments_job_budget_caps_the_sum_of_cell_timeouts(tmp_path):
    """A job's budget is every running cell at its timeout, unless the assignment's
    JOB_BUDGET is smaller (resnets: 600 s where the sum is about 26 minutes)."""
    from autograder.engine import jobs
    from autograder.engine.course import Course
    from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course

    make_toy_course(tmp_path / "course")
    sources = Course(tmp_path / "course", TOY_ASSIGNMENT).source_notebooks()
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in sources}
    budgets = {}
    for cap in (None, 30):
        settings = jobs.Settings(timeout=10, training_timeout=20, epochs=None, seed=0,
                                 job_budget=cap)
        jobs.prepare(tmp_path / "job", student="s", assignment=TOY_ASSIGNMENT,
                     notebooks=notebooks, source_notebooks=sources, plan={}, settings=settings)
        budgets[cap] = json.loads((tmp_path / "job/control/job.json").read_text())["budget_seconds"]
    assert budgets[None] > 30 and budgets[30] == 30, budgets

