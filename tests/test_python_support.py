"""The kit works on every CPython its pinned stack installs on (3.11 to 3.13), not only on the
newest patch release.

* A job archive unpacks with the same guarantees whether or not ``tarfile`` has the data filter
  (Debian 12's Python 3.11.2 has none): the fallback is tested directly on every Python.
* The Makefile finds a supported interpreter, or says clearly why there is none, and never
  mixes a ``.venv`` made by one Python with another one asked for.
* No code calls a standard-library module or function that is newer than 3.11.0 or was
  removed by 3.13.
"""

from __future__ import annotations

import ast
import io
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from autograder.engine import jobs, safetar

REPO_ROOT = Path(__file__).resolve().parents[1]

WAYS = [pytest.param(False, id="by-hand"),
        pytest.param(True, id="data-filter",
                     marks=pytest.mark.skipif(not safetar.has_data_filter(),
                                              reason="this Python's tarfile has no data filter"))]


# --- archives -----------------------------------------------------------------------------------

def _member(name: str, kind: bytes = tarfile.REGTYPE, *, data: bytes = b"", mode: int = 0o644,
            linkname: str = "") -> tuple[tarfile.TarInfo, bytes | None]:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.mtime, info.linkname = kind, mode, 1_700_000_000, linkname
    info.uid, info.gid, info.uname, info.gname = 0, 0, "root", "root"
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        return info, data
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        info.devmajor, info.devminor = 1, 3
    return info, None


def _archive(*members) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _extract(data: bytes, dest: Path, data_filter: bool) -> None:
    safetar.extract_bytes(data, dest, data_filter=data_filter)


def _tree(root: Path) -> dict:
    """Everything about a folder that an extraction decides: kinds, modes, times, contents."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = path.relative_to(root).as_posix()
        if stat.S_ISDIR(st.st_mode):
            out[rel] = ("dir", stat.S_IMODE(st.st_mode), int(st.st_mtime))
        else:
            assert stat.S_ISREG(st.st_mode), f"{rel} is neither a file nor a folder"
            out[rel] = ("file", stat.S_IMODE(st.st_mode), int(st.st_mtime), path.read_bytes())
    return out


UNSAFE = {
    "symlink inside": _member("link", tarfile.SYMTYPE, linkname="ok.txt"),
    "symlink out": _member("link", tarfile.SYMTYPE, linkname="/etc/passwd"),
    "hardlink": _member("hard", tarfile.LNKTYPE, linkname="ok.txt"),
    "hardlink out": _member("hard", tarfile.LNKTYPE, linkname="/etc/passwd"),
    "absolute path": _member("/tmp/resnet-kit-absolute", data=b"x"),
    "dot-dot": _member("../escaped", data=b"x"),
    "dot-dot deeper": _member("a/../../escaped", data=b"x"),
    "dot-dot that stays inside": _member("a/../b", data=b"x"),
    "character device": _member("null", tarfile.CHRTYPE),
    "block device": _member("disk", tarfile.BLKTYPE),
    "fifo": _member("pipe", tarfile.FIFOTYPE),
}


@pytest.mark.parametrize("data_filter", WAYS)
@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_an_unsafe_member_is_refused_before_anything_is_written(tmp_path, case, data_filter):
    dest = tmp_path / "dest"
    archive = _archive(_member("ok.txt", data=b"fine"), UNSAFE[case])
    with pytest.raises(safetar.UnsafeArchive):
        _extract(archive, dest, data_filter)
    assert list(dest.iterdir()) == []  # not even the good member before it
    assert not (tmp_path / "escaped").exists()
    assert not Path("/tmp/resnet-kit-absolute").exists()


@pytest.mark.parametrize("data_filter", WAYS)
def test_a_link_already_in_the_destination_does_not_lead_out(tmp_path, data_filter):
    dest, outside = tmp_path / "dest", tmp_path / "outside"
    dest.mkdir()
    outside.mkdir()
    (dest / "out").symlink_to(outside)
    with pytest.raises(safetar.UnsafeArchive, match="outside"):
        _extract(_archive(_member("out/planted", data=b"x")), dest, data_filter)
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("data_filter", WAYS)
def test_modes_lose_setuid_setgid_sticky_and_group_or_other_write(tmp_path, data_filter):
    wanted = {  # archive mode -> extracted mode
        0o4755: 0o755,  # setuid
        0o2755: 0o755,  # setgid
        0o1777: 0o755,  # sticky, world-writable
        0o6777: 0o755,
        0o666: 0o644,   # group/other write
        0o644: 0o644,
        0o600: 0o600,
        0o444: 0o644,   # the owner may always write
        0o070: 0o640,   # not executable by its owner: by nobody
        0o700: 0o700,
    }
    members = [_member(f"f{mode:o}", data=b"#!/bin/sh\n", mode=mode) for mode in wanted]
    members.append(_member("folder", tarfile.DIRTYPE, mode=0o7777))
    dest = tmp_path / "dest"
    _extract(_archive(*members), dest, data_filter)
    for mode, expected in wanted.items():
        got = stat.S_IMODE((dest / f"f{mode:o}").stat().st_mode)
        assert got == expected, f"{mode:o} -> {got:o}, not {expected:o}"
    umask = os.umask(0)
    os.umask(umask)
    folder = stat.S_IMODE((dest / "folder").stat().st_mode)
    assert folder == 0o777 & ~umask  # the archive's mode is ignored, as the data filter does
    assert not folder & (stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX)


def _job_folder(tmp_path: Path) -> dict:
    """A job folder as the coordinator prepares one: nested folders, an empty one, modes, times."""
    job = tmp_path / "job"
    files = {"control/job.json": (b'{"timeout": 60}', 0o644),
             "control/plan.json": (b"[]", 0o600),
             "work/in/1_residual_blocks.ipynb": (b'{"cells": []}', 0o664),
             "pristine/in/calls.json": (b"{}", 0o644),
             "bin/helper.sh": (b"#!/bin/sh\necho hi\n", 0o755)}
    for rel, (data, mode) in files.items():
        path = job / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        path.chmod(mode)
        os.utime(path, (1_700_000_123, 1_700_000_123))
    (job / "pristine" / "work").mkdir(parents=True)  # empty: the sandbox needs it
    source = tmp_path / "solutions" / "1_residual_blocks.ipynb"
    source.parent.mkdir()
    source.write_text("{}")
    spec = {"job_dir": str(job), "source_notebooks": [str(source)], "student": "s"}
    (job / "spec.json").write_text(json.dumps(spec))
    for folder in sorted((p for p in job.rglob("*") if p.is_dir()), reverse=True):
        os.utime(folder, (1_600_000_000, 1_600_000_000))  # an extraction that forgets them shows
    return spec


@pytest.mark.skipif(not safetar.has_data_filter(), reason="this Python's tarfile has no data filter")
def test_a_job_archive_unpacks_identically_by_hand_and_with_the_data_filter(tmp_path):
    archive = jobs.pack(_job_folder(tmp_path))
    _extract(archive, tmp_path / "by-hand", data_filter=False)
    _extract(archive, tmp_path / "data-filter", data_filter=True)
    by_hand, filtered = _tree(tmp_path / "by-hand"), _tree(tmp_path / "data-filter")
    assert by_hand == filtered
    assert len(by_hand) >= 12


def test_without_a_data_filter_the_engine_unpacks_jobs_by_hand(tmp_path, monkeypatch):
    """Python 3.11.0-3.11.3 (Debian 12: 3.11.2): no tarfile.data_filter, and extractall does
    not know the filter keyword."""
    spec = _job_folder(tmp_path)
    archive = jobs.pack(spec)
    monkeypatch.delattr(tarfile, "data_filter", raising=False)

    def old_extractall(self, path=".", members=None, *, numeric_owner=False, **unknown):
        raise TypeError(f"extractall() got an unexpected keyword argument {sorted(unknown)}")

    monkeypatch.setattr(tarfile.TarFile, "extractall", old_extractall)
    assert not safetar.has_data_filter()
    with pytest.raises(RuntimeError, match="no data filter"):
        safetar.extract_bytes(archive, tmp_path / "never", data_filter=True)
    worker = tmp_path / "worker"
    jobs._unpack(archive, worker)
    job = Path(spec["job_dir"])
    assert (worker / "pristine" / "work").is_dir()
    assert (worker / jobs.SOURCES / "1_residual_blocks.ipynb").read_text() == "{}"
    for rel in ("control/job.json", "control/plan.json", "work/in/1_residual_blocks.ipynb",
                "bin/helper.sh"):
        assert (worker / rel).read_bytes() == (job / rel).read_bytes()
        assert int((worker / rel).stat().st_mtime) == 1_700_000_123
    assert int((worker / "pristine" / "work").stat().st_mtime) == 1_600_000_000
    assert int((worker / "control").stat().st_mtime) == 1_600_000_000
    assert stat.S_IMODE((worker / "bin/helper.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((worker / "control/plan.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((worker / "work/in/1_residual_blocks.ipynb").stat().st_mode) == 0o644
    # and a hostile archive is still refused there
    with pytest.raises(safetar.UnsafeArchive):
        jobs._unpack(_archive(UNSAFE["symlink out"]), tmp_path / "hostile")


# --- the Makefile's choice of interpreter -------------------------------------------------------

needs_make = pytest.mark.skipif(shutil.which("make") is None, reason="no make")


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(0o755)
    return path


def _fake_python(path: Path, version: str, *, prefix: str = "/opt/fake", venv: bool = True) -> Path:
    """Answers the Makefile's two questions (version and prefix; can it make venvs) as told."""
    return _script(path, f'case "$2" in\n'
                         f'  *ensurepip*) exit {0 if venv else 1} ;;\n'
                         f'  *) echo "{version} {prefix}" ;;\n'
                         f'esac\n')


def _not_running(path: Path) -> Path:
    """What a pyenv shim for a version that is not selected does."""
    name = path.name
    return _script(path, f'echo "pyenv: {name}: command not found" >&2\nexit 127\n')


def _this_python(path: Path) -> Path:
    return _script(path, f'exec "{sys.executable}" "$@"\n')


def _make(cwd: Path, *args: str, path_dirs: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHON", "MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env["PATH"] = os.pathsep.join([*map(str, path_dirs), "/usr/bin", "/bin"])
    return subprocess.run(["make", "-s", "-f", str(REPO_ROOT / "Makefile"), *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60, check=False)


@needs_make
def test_make_refuses_a_python_that_is_too_old_and_says_which_are_supported(tmp_path):
    old = _fake_python(tmp_path / "bin" / "python3.10", "3.10.13")
    done = _make(tmp_path, "which-python", f"PYTHON={old}")
    assert done.returncode != 0
    assert f"PYTHON={old} is Python 3.10.13" in done.stderr
    assert "supports Python 3.11 to 3.13" in done.stderr
    assert not (tmp_path / ".venv").exists()


@needs_make
@pytest.mark.skipif(not Path("/root/.pyenv/versions/3.10.13/bin/python3.10").exists(),
                    reason="no pyenv Python 3.10.13 here")
def test_make_refuses_a_real_python_3_10(tmp_path):
    done = _make(tmp_path, "venv-python", "PYTHON=/root/.pyenv/versions/3.10.13/bin/python3.10")
    assert done.returncode != 0 and "is Python 3.10.13" in done.stderr
    assert not (tmp_path / ".venv").exists()


@needs_make
@pytest.mark.parametrize("version", ["3.14.0", "2.7.18"])
def test_make_refuses_a_python_newer_or_older_than_the_supported_range(tmp_path, version):
    fake = _fake_python(tmp_path / "bin" / "python", version)
    done = _make(tmp_path, "which-python", f"PYTHON={fake}")
    assert done.returncode != 0 and f"is Python {version}" in done.stderr


@needs_make
def test_make_says_to_install_the_venv_package_when_ensurepip_is_missing(tmp_path):
    debian = _fake_python(tmp_path / "bin" / "python3.11", "3.11.2", prefix="/usr", venv=False)
    done = _make(tmp_path, "which-python", f"PYTHON={debian}")
    assert done.returncode != 0
    assert "cannot make virtual environments" in done.stderr
    assert "apt install python3.11-venv" in done.stderr


@needs_make
def test_make_says_when_the_python_asked_for_does_not_exist_or_run(tmp_path):
    done = _make(tmp_path, "which-python", "PYTHON=/nonexistent/python3.11")
    assert done.returncode != 0 and "not found" in done.stderr
    shim = _not_running(tmp_path / "bin" / "python3.12")
    done = _make(tmp_path, "which-python", f"PYTHON={shim}")
    assert done.returncode != 0 and "does not run as Python" in done.stderr


@needs_make
def test_make_takes_the_first_interpreter_that_runs_and_is_supported(tmp_path):
    fakes = tmp_path / "bin"
    _not_running(fakes / "python3.13")  # a pyenv shim: on PATH, fails when run
    _fake_python(fakes / "python3.12", "3.10.13")  # claims a name it is not
    _fake_python(fakes / "python3.11", "3.11.2", prefix="/usr", venv=False)  # Debian, no -venv
    _this_python(fakes / "python3")
    done = _make(tmp_path, "which-python", path_dirs=(fakes,))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{platform.python_version()} python3"


@needs_make
def test_make_lists_what_it_tried_when_no_interpreter_fits(tmp_path):
    fakes = tmp_path / "bin"
    _not_running(fakes / "python3.13")
    _fake_python(fakes / "python3.12", "3.10.13")
    _fake_python(fakes / "python3.11", "3.11.2", prefix="/usr", venv=False)
    _fake_python(fakes / "python3", "3.9.2")
    done = _make(tmp_path, "venv-python", path_dirs=(fakes,))
    assert done.returncode != 0
    for reason in ("python3.13: does not run", "python3.12: Python 3.10.13",
                   "python3.11 (Python 3.11.2) cannot make virtual environments",
                   "python3: Python 3.9.2", "make PYTHON=/path/to/python3.X"):
        assert reason in done.stderr
    assert not (tmp_path / ".venv").exists()


@needs_make
def test_make_refuses_a_venv_made_by_another_python_than_the_one_asked_for(tmp_path):
    _fake_python(tmp_path / ".venv" / "bin" / "python", "3.12.99", prefix="/opt/other")
    mine = _this_python(tmp_path / "bin" / "python")
    done = _make(tmp_path, "venv-python", f"PYTHON={mine}")
    assert done.returncode != 0
    assert ".venv was made by Python 3.12.99 (/opt/other)" in done.stderr
    assert "make clean" in done.stderr
    # Without PYTHON, the .venv there is kept, and make says the search found another one.
    fakes = tmp_path / "search"
    _this_python(fakes / "python3.11")
    done = _make(tmp_path, "venv-python", path_dirs=(fakes,))
    assert done.returncode == 0, done.stderr
    assert "keeping .venv (Python 3.12.99" in done.stderr


@needs_make
def test_make_refuses_a_venv_whose_python_no_longer_runs(tmp_path):
    _not_running(tmp_path / ".venv" / "bin" / "python")
    done = _make(tmp_path, "venv-python", path_dirs=())
    assert done.returncode != 0 and "make clean" in done.stderr


@needs_make
def test_make_demo_checks_the_machine_first():
    done = _make(REPO_ROOT, "-n", "demo")  # prints the steps, runs none
    steps = [line for line in done.stdout.splitlines() if line.startswith(".venv/bin/python -m ")
             and "pip" not in line]
    assert steps[0] == ".venv/bin/python -m autograder doctor", done.stdout


# --- the standard library of 3.11.0 to 3.13 -----------------------------------------------------

REMOVED_BY_3_13 = {  # PEP 594 (3.13) and 3.12's removals
    "aifc", "asynchat", "asyncore", "audioop", "cgi", "cgitb", "chunk", "crypt", "distutils",
    "imghdr", "imp", "lib2to3", "mailcap", "msilib", "nis", "nntplib", "ossaudiodev", "pipes",
    "smtpd", "sndhdr", "spwd", "sunau", "telnetlib", "uu", "xdrlib"}
NEWER_THAN_3_11_0 = {  # attribute or keyword -> the Python that brought it
    "batched": "3.12 (itertools)", "onexc": "3.12 (shutil.rmtree)",
    "walk_up": "3.12 (Path.relative_to)", "delete_on_close": "3.12 (tempfile)",
    "is_junction": "3.12 (pathlib, os.path)", "splitroot": "3.12 (os.path)",
    "process_cpu_count": "3.13 (os)", "from_uri": "3.13 (Path)", "full_match": "3.13 (Path)",
    "sumprod": "3.12 (math)", "data_filter": "3.11.4 (tarfile; use autograder.engine.safetar)",
    "filter": "3.11.4 as tarfile's extractall(filter=...) (use autograder.engine.safetar)",
}


def _python_files():
    for folder in ("autograder", "resnet_kit", "tests", "benchmarks"):
        yield from sorted((REPO_ROOT / folder).rglob("*.py"))


def test_no_code_uses_a_module_removed_by_python_3_13_or_a_call_newer_than_3_11_0():
    found = []
    for path in _python_files():
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel in ("autograder/engine/safetar.py", "tests/test_python_support.py"):
            continue  # the one place that asks for the data filter, and this list
        tree = ast.parse(path.read_text(), filename=rel)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module.split(".")[0]]
            else:
                names = []
            found += [f"{rel}:{node.lineno} imports {n} (removed by 3.13)"
                      for n in names if n in REMOVED_BY_3_13]
            if isinstance(node, ast.Attribute) and node.attr in NEWER_THAN_3_11_0 \
                    and node.attr != "filter":
                found.append(f"{rel}:{node.lineno} .{node.attr}: {NEWER_THAN_3_11_0[node.attr]}")
            if isinstance(node, ast.Attribute) and node.attr == "walk" and not (
                    isinstance(node.value, ast.Name) and node.value.id in ("os", "ast")):
                found.append(f"{rel}:{node.lineno} .walk() other than os.walk or ast.walk: "
                             "Path.walk needs 3.12 (use os.walk)")
            if isinstance(node, ast.Call):
                func = node.func
                called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                for kw in node.keywords:
                    if kw.arg in NEWER_THAN_3_11_0 and kw.arg != "filter" or \
                            kw.arg == "filter" and called in ("extractall", "extract"):
                        found.append(f"{rel}:{node.lineno} {called}({kw.arg}=...): "
                                     f"{NEWER_THAN_3_11_0[kw.arg]}")
    assert not found, "\n".join(found)
