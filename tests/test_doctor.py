"""`python -m autograder doctor`: one line per check, OK or the problem and its fix; a non-zero
exit when something would stop grading."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine import doctor, jobs

from conftest import needs_sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
DOCTOR = [sys.executable, "-m", "autograder", "doctor"]


def _run(command, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                          **kwargs)


@needs_sandbox
def test_doctor_prints_a_line_per_check_and_exits_0_where_grading_works():
    done = _run(DOCTOR)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    names = [line[6:].split(":", 1)[0] for line in lines if line[:4] in ("OK  ", "WARN", "FAIL")]
    for expected in ("python", "packages", "tensorflow", "gpu", "sandbox", "sandbox network",
                     "sandbox student uid", "sandbox limits", "sandbox secrets",
                     "disk (reports)", "disk (temp)", "memory", "dask"):
        assert expected in names, done.stdout
    assert not any(line.startswith("FAIL") for line in lines), done.stdout
    assert lines[-1].startswith("doctor: ready to grade")
    tensorflow = next(line for line in lines if line[6:].startswith("tensorflow:"))
    assert "TensorFlow 2.21" in tensorflow and "oneDNN" in tensorflow and "CPU" in tensorflow


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a user namespace")
def test_doctor_names_the_cause_and_exits_1_where_no_sandbox_can_start():
    """In a user namespace that maps only root and allows no nested ones: the sandbox line
    fails with that cause and its fix, and doctor exits 1 (grading would stop)."""
    done = _run([sys.executable, str(REPO_ROOT / "tests" / "elsewhere.py"), "--map", "0:0:1",
                 "--no-userns", "--", *DOCTOR, "--no-tensorflow"])
    assert done.returncode == 1, done.stdout + done.stderr
    sandbox_line = next(line for line in done.stdout.splitlines()
                        if line.startswith("FAIL  sandbox:"))
    assert "maps only uid 0" in sandbox_line
    assert "fix:" in done.stdout and "Traceback" not in done.stdout + done.stderr
    assert done.stdout.splitlines()[-1].startswith("doctor: 1 problem(s) would stop grading")


@needs_sandbox
def test_a_secret_visible_in_the_sandbox_fails_the_secrets_check(monkeypatch, tmp_path):
    """Were the course's solutions bound into the students' sandbox, doctor would say so."""
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "answers.ipynb").write_text("{}")
    view = jobs.student_view
    monkeypatch.setattr(jobs, "student_view", lambda job: [*view(job), course / "solutions"])
    checks = {c.name: c for c in doctor.check_sandbox(course, "resnets")}
    assert checks["sandbox secrets"].level == doctor.FAIL
    assert str(course / "solutions") in checks["sandbox secrets"].said
    assert checks["sandbox network"].level == doctor.OK


def test_python_range_check_follows_requires_python():
    spec = ">=3.11,<3.14"
    assert doctor._python_supported(spec, (3, 11, 2))
    assert doctor._python_supported(spec, (3, 13, 0))
    assert not doctor._python_supported(spec, (3, 10, 13))
    assert not doctor._python_supported(spec, (3, 14, 0))


def test_summary_exit_status_is_1_only_for_failures():
    ok = doctor.Check("python", doctor.OK, "fine")
    warn = doctor.Check("gpu", doctor.WARN, "present, unused", "install CUDA")
    fail = doctor.Check("sandbox", doctor.FAIL, "cannot start", "the sysctl")
    assert doctor.summary([ok, warn]) == ("doctor: ready to grade, with 1 warning(s): gpu", 0)
    assert doctor.summary([ok, fail])[1] == 1
    assert "fix: the sysctl" in fail.line() and "fix" not in ok.line()


def test_job_limits_check_says_what_holds_without_cgroups_or_a_fixed_disk(monkeypatch):
    """Where no cgroup can be made and no folder mounted (a user without delegation, a
    container), doctor warns (grading still works) and names what then holds and the fix."""
    from autograder.engine import cgroups, sandbox

    monkeypatch.setattr(cgroups, "support", lambda: cgroups.Support(
        None, "cgroup v2: the memory, pids, cpu controller(s) are not delegated to /x"))
    monkeypatch.setattr(sandbox, "_unshare_mounts", lambda: "only root can mount")
    lines = {c.name: c for c in doctor.check_job_limits()}
    groups, disk = lines["job cgroups"], lines["job disk"]
    assert groups.level == disk.level == doctor.WARN
    assert "not delegated" in groups.said and "per process only" in groups.said
    assert "Delegate=yes" in groups.fix
    assert "only root can mount" in disk.said and "polled" in disk.said


def test_job_limits_check_is_ok_where_both_hold_here():
    from autograder.engine import cgroups

    if cgroups.support().version is None or os.geteuid() != 0:
        pytest.skip("needs root and a writable cgroup hierarchy")
    assert all(c.level == doctor.OK for c in doctor.check_job_limits())
