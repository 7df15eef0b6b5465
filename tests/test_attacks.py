"""Red-team tests: hostile submissions graded with honest students (see tests/attacks/).

Two batches:

* the FAST subset (one or two toy attacks per category and an honest student, about 1.5
  minutes on 2 cores) runs in the normal suite (``make test``);
* the FULL corpus (every attack, including a few on the real ``resnets`` notebooks; about
  45 minutes on 2 cores) is marked ``attack`` (and ``slow``) and runs only when asked for:
  ``.venv/bin/python -m pytest -m attack tests/test_attacks.py``.

Each batch is graded once (module-scoped fixture); every attack is then its own test item:
no unfair point, no breach probe that succeeded, no forbidden flag, results and gradebook
agree, feedback inert. Global checks: honest students equal to grading them alone, no
process left behind, nothing written outside the job's work folder and the grader's own
folders, no contact with the host's listeners, every input file in some report row.

Set ``ATTACK_REPORT=/path/report.json`` to keep a JSON summary of a batch.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

import attacks
from attacks import harness

TOY_TIMEOUT, TOY_TRAINING_TIMEOUT = 10, 15
TOY_WALL = 150  # per-student wall clock in the full batch (DoS attacks run into it)


from conftest import SANDBOX_MISSING as _WHY_NOT, needs_sandbox  # noqa: E402


def _attack_run_requested(config) -> bool:
    return "attack" in (config.getoption("-m") or "") or os.environ.get("RUN_ATTACKS") == "1"


def _keep(batch, name):
    path = os.environ.get("ATTACK_REPORT")
    if path:
        path = Path(path)
        data = json.loads(path.read_text()) if path.is_file() else {}
        data[name] = harness.summary(batch)
        path.write_text(json.dumps(data, indent=1, default=str))


def _print_table(batch, title):
    print(f"\n== {title}: {len(batch.results)} students, {batch.seconds:.0f} s "
          f"(+ {batch.solo_seconds:.0f} s solo) ==")
    for row in batch.rows():
        flag = "UNFAIR" if row["unfair"] else "fair"
        print(f"{row['student'][:34]:34} {row['total']:>5g}/{row['fair']:<5g} {flag:6} "
              f"{row['status'][:40]:40} {row['seconds']} {','.join(row['breaches'])}")


def _scratch(tmp_path_factory, name: str) -> Path:
    """The batch's course folder. Not under /tmp when possible: the sandbox has a private
    writable /tmp, so a course under /tmp would make the attacks' write probes 'succeed' in
    that private copy; under /var/tmp they meet the read-only root a real course meets."""
    if os.access("/var/tmp", os.W_OK):
        return Path(tempfile.mkdtemp(prefix=f"resnet-kit-{name}-", dir="/var/tmp"))
    return tmp_path_factory.mktemp(name)


def _cleanup(tmp: Path):
    """Job work folders can hold gigabytes (disk attacks): remove the batch after the checks."""
    shutil.rmtree(tmp, ignore_errors=True)


# --- the fast subset --------------------------------------------------------------------------

FAST = attacks.select(assignment="toy", fast=True)


@pytest.fixture(scope="module")
def fast_batch(tmp_path_factory):
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    tmp = _scratch(tmp_path_factory, "attacks-fast")
    batch = harness.run_batch(tmp, FAST, "toy", timeout=TOY_TIMEOUT,
                              training_timeout=TOY_TRAINING_TIMEOUT, victim="zz_victim",
                              say=None)
    _print_table(batch, "fast attack batch")
    _keep(batch, "fast")
    yield batch
    _cleanup(tmp)


@needs_sandbox
@pytest.mark.parametrize("name", [a.name for a in FAST])
def test_fast_attack_is_graded_fairly_and_contained(fast_batch, name):
    assert not fast_batch.violations(name)


@needs_sandbox
def test_fast_batch_leaves_no_process_behind(fast_batch):
    assert not fast_batch.leftovers and not fast_batch.leftovers_late


@needs_sandbox
def test_fast_batch_writes_nothing_outside_the_jobs(fast_batch):
    assert not fast_batch.course_changes
    assert not fast_batch.host_hits


@needs_sandbox
def test_fast_batch_never_reaches_the_hosts_network(fast_batch):
    assert not fast_batch.contacts and not fast_batch.poked


@needs_sandbox
def test_fast_batch_every_input_file_has_a_report_row(fast_batch):
    assert not fast_batch.uncovered_inputs


# --- the full corpus --------------------------------------------------------------------------

FULL_TOY = attacks.select(assignment="toy")
# r_busy_neighbour is graded beside the honest solution at --workers 2 (its own batch below);
# alone in the full batch it would only slow itself.
FULL_RESNETS = [a for a in attacks.select(assignment="resnets") if a.name != "r_busy_neighbour"]


@pytest.fixture(scope="module")
def full_toy_batch(request, tmp_path_factory):
    if not _attack_run_requested(request.config):
        pytest.skip("the full attack batch runs with -m attack (or RUN_ATTACKS=1)")
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    tmp = _scratch(tmp_path_factory, "attacks-full-toy")
    batch = harness.run_batch(tmp, FULL_TOY, "toy", timeout=TOY_TIMEOUT,
                              training_timeout=TOY_TRAINING_TIMEOUT, student_timeout=TOY_WALL,
                              victim="zz_victim", say=None)
    _print_table(batch, "full toy attack batch")
    _keep(batch, "full_toy")
    yield batch
    _cleanup(tmp)


@pytest.fixture(scope="module")
def full_resnets_batch(request, tmp_path_factory):
    if not _attack_run_requested(request.config):
        pytest.skip("the full attack batch runs with -m attack (or RUN_ATTACKS=1)")
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    from attacks.resnets import pretrain_tiny

    tmp = _scratch(tmp_path_factory, "attacks-full-resnets")
    weights = pretrain_tiny(tmp / "tiny_weights.json")
    batch = harness.run_batch(tmp, FULL_RESNETS, "resnets", timeout=180, training_timeout=600,
                              student_timeout=1200, victim="honest_resnets_solution",
                              extra={"tiny_weights": weights}, say=None)
    _print_table(batch, "full resnets attack batch")
    _keep(batch, "full_resnets")
    yield batch
    _cleanup(tmp)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("name", [a.name for a in FULL_TOY])
def test_attack_is_graded_fairly_and_contained(full_toy_batch, name):
    assert not full_toy_batch.violations(name)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("name", [a.name for a in FULL_RESNETS])
def test_resnets_attack_is_graded_fairly(full_resnets_batch, name):
    assert not full_resnets_batch.violations(name)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("which", ["toy", "resnets"])
def test_full_batch_leaves_no_process_behind(request, which):
    batch = request.getfixturevalue(f"full_{which}_batch")
    assert not batch.leftovers and not batch.leftovers_late


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("which", ["toy", "resnets"])
def test_full_batch_writes_nothing_outside_the_jobs(request, which):
    batch = request.getfixturevalue(f"full_{which}_batch")
    assert not batch.course_changes
    assert not batch.host_hits


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_full_batch_never_reaches_the_hosts_network(full_toy_batch):
    assert not full_toy_batch.contacts and not full_toy_batch.poked


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("which", ["toy", "resnets"])
def test_full_batch_every_input_file_has_a_report_row(request, which):
    batch = request.getfixturevalue(f"full_{which}_batch")
    assert not batch.uncovered_inputs


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_work_folders_do_not_keep_what_students_left(full_toy_batch):
    """A student may leave up to the disk limit (2 GiB) in its work folder; the grader keeps
    every job folder, so a class can fill the grader's disk."""
    run = full_toy_batch.run_dirs[0]
    sizes = {}
    for sid in ("harm_leftover_files", "harm_fill_disk"):
        work = run / "jobs" / sid / "work"
        total = 0
        for dirpath, _, files in os.walk(work):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_blocks * 512
                except OSError:
                    pass
        sizes[sid] = total
    assert all(size < 64 * 2**20 for size in sizes.values()), sizes


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_no_single_student_holds_the_batch_past_its_cells_budget(full_toy_batch):
    """Cells have 10 s each (15 s training); a student whose cells all ran quickly must not
    keep the batch waiting until the whole-job wall clock."""
    # harm_busy_neighbour spends its time on purpose (each kernel restart replays a cell that
    # leaves 48 spinners, and its kernels start among them): the whole-job clock must end it.
    spends_its_budget = {"harm_busy_neighbour"}
    seconds = full_toy_batch.per_student_seconds
    slow = {sid: s for sid, s in seconds.items()
            if s and s > TOY_WALL - 10 and sid not in spends_its_budget}
    assert not slow, slow
    assert all(seconds[sid] <= TOY_WALL + 15 for sid in spends_its_budget), seconds


# --- nothing of the grading shell, and the probes that say so ---------------------------------

@needs_sandbox
def test_fast_batch_no_grading_shell_variable_reaches_any_file(fast_batch):
    """A variable set in the grading shell (as an instructor's token) appears in no job's
    output, result, feedback page or gradebook of the batch."""
    assert not fast_batch.canary_hits


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
@pytest.mark.parametrize("which", ["toy", "resnets"])
def test_full_batch_no_grading_shell_variable_reaches_any_file(request, which):
    assert not request.getfixturevalue(f"full_{which}_batch").canary_hits


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_full_batch_probes_come_out(full_toy_batch):
    """The breach checks read the attacks' probes; if they stopped coming out of the jobs,
    every breach check would pass unseen. Most probing attacks must have reported."""
    probing = full_toy_batch.probing
    reported = [sid for sid in probing if full_toy_batch.probes.get(sid)]
    assert len(reported) >= 0.8 * len(probing), sorted(set(probing) - set(reported))


# --- neighbours and a busy host: the honest student's grade does not move ---------------------

# Each of these graded at --workers 2 beside an honest student who starts at the same time.
LOAD_ATTACKS = ["harm_busy_neighbour", "harm_parallel_writers", "harm_memory_many_processes",
                "harm_fork_bomb", "harm_memory_bomb", "harm_infinite_output"]
VICTIM = [a for a in attacks.select(assignment="toy") if a.name == "zz_victim"]


@pytest.fixture(scope="module", params=LOAD_ATTACKS)
def beside_an_attacker(request, tmp_path_factory):
    if not _attack_run_requested(request.config):
        pytest.skip("the neighbour batches run with -m attack (or RUN_ATTACKS=1)")
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    attacker = next(a for a in attacks.REGISTRY if a.name == request.param)
    tmp = _scratch(tmp_path_factory, f"beside-{request.param}")
    # "a..." sorts first: the attacker and the honest student start together on 2 workers.
    batch = harness.run_batch(tmp, [attacker, *VICTIM], "toy", timeout=TOY_TIMEOUT,
                              training_timeout=TOY_TRAINING_TIMEOUT, student_timeout=TOY_WALL,
                              victim="zz_victim", workers=2, say=None)
    _print_table(batch, f"beside {request.param} (--workers 2)")
    yield batch
    _cleanup(tmp)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_honest_student_beside_an_attacker_gets_its_grade_alone(beside_an_attacker):
    batch = beside_an_attacker
    problems = [v for a in batch.attacks for v in batch.violations(a.name)]
    assert not problems
    assert not batch.canary_hits and not batch.leftovers_late


class _HostLoad:
    """Busy processes on the host, outside any job (a compile, another user's notebook), each
    in a session of its own: the kernel's autogroup scheduling shares the CPU per session, so
    one session of busy processes would only ever take its one share."""

    MARKER = "resnet-kit-test-host-load"

    def __init__(self, processes: int):
        import subprocess

        loop = f"while :; do :; done # {self.MARKER}"
        for _ in range(processes):
            subprocess.Popen(["setsid", "sh", "-c", loop], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        import signal

        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and self.MARKER.encode() in (entry / "cmdline").read_bytes():
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


@pytest.fixture(scope="module")
def quiet_and_busy(request, tmp_path_factory):
    """The honest students graded alone on a quiet host, then at --workers 2 while 4 busy
    processes per core run on the host."""
    if not _attack_run_requested(request.config):
        pytest.skip("the busy-host batches run with -m attack (or RUN_ATTACKS=1)")
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    honest = [a for a in attacks.select(assignment="toy") if a.honest]
    tmp = _scratch(tmp_path_factory, "busy-host")
    settings = dict(timeout=TOY_TIMEOUT, training_timeout=TOY_TRAINING_TIMEOUT,
                    student_timeout=TOY_WALL, victim="zz_victim", feedback=False, say=None)
    quiet = harness.run_batch(tmp / "quiet", honest, "toy", workers=1, **settings)
    load = _HostLoad(4 * (os.cpu_count() or 2))
    try:
        busy = harness.run_batch(tmp / "busy", honest, "toy", workers=2, **settings)
    finally:
        load.stop()
    _print_table(busy, "honest students on a busy host (--workers 2)")
    yield quiet, busy
    _cleanup(tmp)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_honest_students_keep_their_grade_while_the_host_is_busy(quiet_and_busy):
    quiet, busy = quiet_and_busy
    scores = {name: {sid: ({k: c["score"] for k, c in r["cells"].items()}, r["status"])
                     for sid, r in batch.results.items()}
              for name, batch in (("quiet", quiet), ("busy", busy))}
    assert scores["busy"] == scores["quiet"]


@pytest.fixture(scope="module")
def resnets_beside_a_busy_neighbour(request, tmp_path_factory):
    """The issue's case on the real assignment at its own cell timeout (60 s): the honest
    solution of notebook 1 and a neighbour of 48 spinners, started together on 2 workers."""
    if not _attack_run_requested(request.config):
        pytest.skip("the neighbour batches run with -m attack (or RUN_ATTACKS=1)")
    if _WHY_NOT is not None:
        pytest.skip(f"no sandbox: {_WHY_NOT}")
    pair = [a for a in attacks.select(assignment="resnets")
            if a.name in ("honest_resnets_solution", "r_busy_neighbour")]
    tmp = _scratch(tmp_path_factory, "resnets-beside-busy")
    batch = harness.run_batch(tmp, pair, "resnets", timeout=60, training_timeout=600,
                              student_timeout=1200, victim="honest_resnets_solution",
                              workers=2, feedback=False, say=None)
    _print_table(batch, "resnets: honest solution beside a busy neighbour (--workers 2)")
    yield batch
    _cleanup(tmp)


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_resnets_honest_solution_beside_a_busy_neighbour_gets_its_grade_alone(
        resnets_beside_a_busy_neighbour):
    batch = resnets_beside_a_busy_neighbour
    assert not [v for a in batch.attacks for v in batch.violations(a.name)]


@pytest.mark.attack
@pytest.mark.slow
@needs_sandbox
def test_full_batch_no_job_passes_its_memory_cap(full_toy_batch):
    """The cgroup's own peak for every job (harm_memory_many_processes asks for 12 GiB), where
    the machine gives jobs a cgroup."""
    from autograder.engine import cgroups, sandbox

    if cgroups.support().version is None:
        pytest.skip("no cgroup here: memory is capped per process only")
    cap = sandbox.DEFAULT_LIMITS.total_memory_bytes
    peaks = {sid: (r.get("usage") or {}).get("memory_peak")
             for sid, r in full_toy_batch.results.items()}
    measured = {sid: peak for sid, peak in peaks.items() if peak is not None}
    assert measured.get("harm_memory_many_processes", 0) >= cap - 2**28  # it did press the cap
    assert all(peak <= cap for peak in measured.values()), measured
