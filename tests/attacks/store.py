"""Category 2: reaching the stores (gradebook, reports, results, other students' jobs, the
instructor's input and sources, the grader's code) from the sandbox.

Every attempt is a probe: ``breach:*`` with ok=True means the sandbox allowed it. Writes
append the batch token, so the harness also finds them on the host afterwards.
"""

from __future__ import annotations

import sys

from . import attack, one, probe_code, toy

# Paths the kernel derives itself: the job folder from the plan path in its environment.
LOCATE = r'''
import os, glob
from pathlib import Path
_plan = Path(os.environ.get("RESNET_KIT_CAPTURE_PLAN", "/nonexistent/control/plan.json"))
_job = _plan.parent.parent
_run = _job.parent.parent
_probe("info:paths", plan=str(_plan), job=str(_job), run=str(_run), cwd=os.getcwd(),
       home=os.environ.get("HOME"), uid=os.getuid(), exists_job=_job.exists(),
       exists_run=_run.exists())
def _append(path, token):
    with open(path, "a") as fh:
        fh.write(token)
    return path
def _create(path, token):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(token)
    return path
def _read(path):
    return Path(path).read_bytes()[:64]
'''


def _writes(targets: dict[str, str], token: str, mode: str = "_append") -> str:
    return "".join(f"_try({('breach:write:' + k)!r}, lambda: {mode}({v}, {token!r}))\n"
                   for k, v in targets.items())


def _reads(targets: dict[str, str]) -> str:
    return "".join(f"_try({('breach:read:' + k)!r}, lambda: _read({v}))\n"
                   for k, v in targets.items())


@attack("store_gradebook_and_reports", "store", 0,
        expect="gradebook.db, reports/, results/ and the job's other folders are invisible")
def store_gradebook_and_reports(ctx):
    """Append to gradebook.db (and open it with sqlite), write results JSON for itself and
    the victim, the latest-run pointer, the judge's verdicts and the trusted copies."""
    root, rep = ctx.course_root, ctx.reports
    body = LOCATE + _writes({
        "gradebook": repr(str(root / "gradebook.db")),
        "latest-run": repr(str(rep / ctx.assignment / "latest-run")),
        "job-spec": "_job / 'spec.json'",
        "plan-ro": "_plan",
        "job-json-ro": "_job / 'control' / 'job.json'",
    }, ctx.token) + _writes({
        "results-self": "_run / 'results' / 'store_gradebook_and_reports.json'",
        "results-victim": f"_run / 'results' / {ctx.victim + '.json'!r}",
        "judge-verdicts": "_job / 'judge' / 'verdicts.json'",
        "trusted-capture": "_job / 'trusted' / 'captures' / 'squares' / 'test_square.json'",
        "reports-root": repr(str(rep / f"{ctx.token}-planted.txt")),
        "course-root": repr(str(root / f"{ctx.token}-planted.txt")),
    }, ctx.token, "_create") + (
        "import sqlite3\n"
        f"def _sql():\n"
        f"    con = sqlite3.connect({str(root / 'gradebook.db')!r})\n"
        "    con.execute('create table if not exists pwned (x text)')\n"
        f"    con.execute('insert into pwned values (?)', ({ctx.token!r},))\n"
        "    con.commit()\n"
        "_try('breach:write:gradebook-sqlite', _sql)\n")
    return one(ctx, "store_gradebook_and_reports", toy(ctx, before=probe_code(body)))


@attack("store_read_secrets", "store", 0, fast=True,
        expect="solutions/, autograder/ (judging code, thresholds, hidden split), the "
               "gradebook and other submissions are not readable")
def store_read_secrets(ctx):
    """Read the hidden tests (solutions/), thresholds.json, the judge, the hidden split,
    gradebook.db, other students' submissions and the instructor's input."""
    root, repo = ctx.course_root, ctx.repo_root
    body = LOCATE + _reads({
        "solutions": repr(str(root / "solutions" / "toy" / "squares.ipynb")),
        "repo-solutions": repr(str(repo / "solutions" / "resnets" / "1_residual_blocks.ipynb")),
        "thresholds": repr(str(repo / "autograder" / "resnets" / "thresholds.json")),
        "checks": repr(str(repo / "autograder" / "resnets" / "checks.py")),
        "judge": repr(str(repo / "autograder" / "engine" / "judge.py")),
        "hidden-split": repr(str(repo / "autograder" / "resnets" / "data" / "signs_hidden.h5")),
        "gradebook": repr(str(root / "gradebook.db")),
        "repo-gradebook": repr(str(repo / "gradebook.db")),
        "incoming-victim": repr(str(ctx.class_dir / ctx.victim / "squares.ipynb")),
        "submitted-victim": repr(str(root / "submitted" / ctx.victim / "toy" / "squares.ipynb")),
        "autograded-any": "next(iter(glob.glob(" + repr(str(root / "autograded" / "*" / "toy" / "*.ipynb")) + ")))",
        "other-jobs": "next(p for p in (_run / 'jobs').glob('*/work/captures/*/*.json') if _job.name not in str(p))",
        "shadow": "'/etc/shadow'",
        "root-home": "next(iter(glob.glob('/root/*')))",
        "site-autograder": "next(iter(glob.glob('" + sys.prefix + "/lib/python3*/site-packages/autograder/**/*.py', recursive=True)))",
    }) + (
        "_try('info:listing', lambda: {p: sorted(os.listdir(p))[:40] for p in "
        f"['/', {str(root)!r}, {str(repo)!r}, '/tmp', '/work'] if os.path.isdir(p)}})\n")
    return one(ctx, "store_read_secrets", toy(ctx, before=probe_code(body)))


@attack("store_other_students", "store", 0,
        expect="another student's job, submitted/ and autograded/ folders are unreachable")
def store_other_students(ctx):
    """Plant forged captures in the victim's (future) job folder, overwrite its submitted
    and input notebooks, and try every job folder of the run."""
    root = ctx.course_root
    victim_cap = f"_run / 'jobs' / {ctx.victim!r} / 'work' / 'captures' / 'squares' / 'test_square.json'"
    body = LOCATE + _writes({
        "victim-capture": victim_cap,
        "victim-job-control": f"_run / 'jobs' / {ctx.victim!r} / 'control' / 'plan.json'",
        "victim-submitted": repr(str(root / "submitted" / ctx.victim / "toy" / "squares.ipynb")),
        "victim-autograded": repr(str(root / "autograded" / ctx.victim / "toy" / "squares.ipynb")),
        "victim-input": repr(str(ctx.class_dir / ctx.victim / "squares.ipynb")),
        "victim-feedback": repr(str(ctx.reports / "toy" / "feedback" / ctx.victim / "index.html")),
    }, ctx.token, "_create") + (
        "def _all_jobs():\n"
        "    hit = []\n"
        "    for p in (_run / 'jobs').iterdir():\n"
        "        if p.name != _job.name:\n"
        f"            _create(p / 'work' / 'pwned.txt', {ctx.token!r}); hit.append(p.name)\n"
        "    if not hit: raise FileNotFoundError('no other job folder is visible')\n"
        "    return hit\n"
        "_try('breach:write:all-jobs', _all_jobs)\n")
    return one(ctx, "store_other_students", toy(ctx, before=probe_code(body)))


@attack("store_grader_code", "store", 0,
        expect="the kit, the executor, Python and the venv are read-only; the judging code "
               "is invisible")
def store_grader_code(ctx):
    """Write into resnet_kit/capture.py, the executor (inside/), the venv's site-packages
    (a .pth file), the grader's judging code, data/signs and solutions/."""
    repo = ctx.repo_root
    import resnet_kit
    kit = resnet_kit.__file__.rsplit("/", 1)[0]
    body = LOCATE + _writes({
        "kit-capture": repr(kit + "/capture.py"),
        "executor": repr(str(repo / "autograder" / "engine" / "inside" / "nbexec.py")),
        "judge": repr(str(repo / "autograder" / "engine" / "judge.py")),
        "thresholds": repr(str(repo / "autograder" / "resnets" / "thresholds.json")),
        "solutions": repr(str(ctx.course_root / "solutions" / "toy" / "squares.ipynb")),
        "data-signs": repr(str(repo / "data" / "signs" / "README.md")),
    }, ctx.token) + _writes({
        "site-pth": "next(iter(glob.glob('" + sys.prefix + "/lib/python3*/site-packages'))) + "
                    f"'/{ctx.token}.pth'",
        "usr-local": f"'/usr/local/lib/{ctx.token}.pth'",
        "base-python": repr(sys.base_prefix + f"/lib/{ctx.token}.py"),
        "etc": f"'/etc/{ctx.token}'",
    }, "import os; os.system('touch /tmp/" + ctx.token + "-pth-ran')\n", "_create")
    return one(ctx, "store_grader_code", toy(ctx, before=probe_code(body)))


@attack("store_proc_and_mounts", "store", 0,
        expect="/proc shows only the sandbox's own processes; no host root reachable")
def store_proc_and_mounts(ctx):
    """Escape attempts through /proc: /proc/1/root, other pids' cwd/root/environ, the host
    pytest pid, mountinfo, /proc/self/fd, ptrace of the executor, unshare/mount syscalls."""
    body = LOCATE + (
        f"_try('breach:read:host-pid-environ', lambda: open('/proc/{ctx.host_pid}/environ','rb').read()[:80])\n"
        f"_try('breach:read:host-pid-root', lambda: os.listdir('/proc/{ctx.host_pid}/root/'))\n"
        "_try('info:pids', lambda: sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "_try('info:pid1-cmdline', lambda: open('/proc/1/cmdline','rb').read()[:200])\n"
        "_try('info:mountinfo', lambda: open('/proc/self/mountinfo').read()[:3000])\n"
        "def _root_escape():\n"
        "    hits = []\n"
        "    for p in os.listdir('/proc'):\n"
        "        if p.isdigit():\n"
        "            for q in ('root/' + " + repr(str(ctx.course_root / 'solutions').lstrip('/')) + ", 'root/etc/shadow',\n"
        "                      'root/' + " + repr(str(ctx.repo_root / 'autograder' / 'resnets').lstrip('/')) + "):\n"
        "                if os.path.exists(f'/proc/{p}/{q}'): hits.append((p, q))\n"
        "    if not hits: raise FileNotFoundError('no /proc/*/root leads to the host')\n"
        "    return hits\n"
        "_try('breach:read:proc-root-escape', _root_escape)\n"
        "import ctypes, ctypes.util\n"
        "_libc = ctypes.CDLL(None, use_errno=True)\n"
        "def _sys(name, *args):\n"
        "    rc = getattr(_libc, name)(*args)\n"
        "    if rc != 0: raise OSError(ctypes.get_errno(), name)\n"
        "    return rc\n"
        "_try('breach:syscall:unshare-user', lambda: _sys('unshare', 0x10000000))\n"
        "_try('breach:syscall:unshare-mount', lambda: _sys('unshare', 0x00020000))\n"
        "_try('breach:syscall:mount-proc', lambda: _sys('mount', b'proc', b'/sandbox/p', b'proc', 0, None))\n"
        "_try('breach:syscall:chroot', lambda: _sys('chroot', b'/'))\n"
        "_try('breach:syscall:setuid0', lambda: os.setuid(0))\n"
        "def _ptrace():\n"
        "    _libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n"
        "    pid = os.getppid()\n"
        "    if _libc.ptrace(16, pid, None, None) != 0:\n"
        "        raise OSError(ctypes.get_errno(), 'PTRACE_ATTACH')\n"
        "    os.waitpid(pid, 0x40000000)\n"
        "    _libc.ptrace(17, pid, None, None)\n"
        "    return 'attached to the executor (same uid) and detached'\n"
        "_try('info:ptrace-parent', _ptrace)\n")
    return one(ctx, "store_proc_and_mounts", toy(ctx, before=probe_code(body)))
