"""One student = one job: files in, a verdict file out.

:func:`prepare` (coordinator) writes the job folder::

    <job>/control/job.json      timeouts and notebook order (read-only in the sandbox)
    <job>/control/plan.json     the Keras calls the capture makes (see autograder.engine.plan)
    <job>/work/in/<nb>.ipynb    the repaired submission; graded cells -> capture calls
    <job>/pristine/in/          the plain-data calls and the student's definitions
    <job>/spec.json             everything :func:`run` needs

:func:`run` (any worker) executes the notebooks in the sandbox (student code, writes only
``work/``), then the pristine calls in a second, fresh sandbox (see
:mod:`autograder.engine.pristine`), copies what both produced out without following links,
deletes the work folders (a student may fill them up to the disk limit), then runs the judge
(no student code; also sandboxed, read-only) and returns a JSON-able result: the judge's
verdicts, the executed notebooks and how the sandbox ended. Nothing in a job writes the
gradebook or the reports: the coordinator merges results (one writer).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import copy
import dataclasses
import io
import json
import os
import shutil
import stat
import sys
import tarfile
import time
from pathlib import Path

import nbformat

from . import pristine, safetar
from .judge import VERDICT_CACHE_OUT, free_names, split_plan

INSIDE = Path(__file__).resolve().parent / "inside"
REPO_ROOT = Path(__file__).resolve().parents[2]
CAPTURE_CALL = ("from resnet_kit import capture as _grader_capture\n"
                "_grader_capture.capture({grade_id!r}, {names!r}, globals())")
SKIPPED_NOTE = ("# (not run while grading: {why})")
# What may come out of the sandbox, and how much of it.
MAX_CAPTURE_FILE = 32 * 2**20
MAX_NOTEBOOK_FILE = 50 * 2**20
MAX_COPIED_FILES = 500
TRAINING_CACHE_OUT = "training_cache.json"  # the judge's new trained results


@dataclasses.dataclass
class Settings:
    timeout: int
    training_timeout: int
    epochs: int | None
    seed: int
    sandbox: bool = True
    limits: dict | None = None  # autograder.engine.sandbox.Limits fields
    job_budget: int | None = None  # the assignment's cap on a job's time budget (seconds)


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def sandbox_notebook(nb, source_cells: dict[str, str], skip_tags=(), skip_after_tags=()):
    """The notebook the sandbox runs: graded cells capture instead of testing.

    ``source_cells`` maps grade_id -> the instructor's test code (hidden tests included),
    whose free names are what the capture records. Cells tagged ``skip_tags`` do not run, and
    after the first of them only graded and solution cells do (the rest reports on a trained
    model the grader trains itself).
    """
    nb = copy.deepcopy(nb)
    skipping = False
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        nbg, tags = _nbg(cell), cell.get("metadata", {}).get("tags", []) or []
        if nbg.get("grade") and nbg.get("grade_id") in source_cells:
            names = free_names(source_cells[nbg["grade_id"]])
            cell.source = CAPTURE_CALL.format(grade_id=nbg["grade_id"], names=names)
            continue
        if any(t in tags for t in skip_tags):
            skipping = skipping or any(t in tags for t in skip_after_tags)
            cell.source = SKIPPED_NOTE.format(why="the grader trains your model itself")
        elif skipping and not nbg.get("solution"):
            cell.source = SKIPPED_NOTE.format(why="it reports on the model trained above")
    return nb


# The job's time budget: each cell that runs, once, at its own timeout; a skipped cell (a
# comment by then) a few seconds; and a kernel start per notebook. Kernel restarts replay
# cells within it: they spend the budget, never add to it.
KERNEL_START_SECONDS = 60
SKIPPED_CELL_SECONDS = 5
# The sandbox's wall clock past the budget: the runner's start-up and writing its results.
BUDGET_MARGIN_SECONDS = 120


def time_budget(notebooks, timeout: int, training_timeout: int, training_tags=("training",)) -> int:
    """Seconds for the whole job running ``notebooks`` (the sandbox's, skipped cells already
    replaced by :data:`SKIPPED_NOTE`)."""
    skipped = SKIPPED_NOTE.split("{", 1)[0]
    total = 0
    for nb in notebooks:
        total += KERNEL_START_SECONDS
        for cell in nb.cells:
            if cell.cell_type != "code" or not cell.source.strip():
                continue
            tags = cell.get("metadata", {}).get("tags", []) or []
            if cell.source.startswith(skipped):
                total += SKIPPED_CELL_SECONDS
            elif any(t in tags for t in training_tags):
                total += training_timeout
            else:
                total += timeout
    return total


def prepare(job_dir: Path, *, student: str, assignment: str, notebooks: dict,
            source_notebooks: list[Path], plan: dict, settings: Settings,
            skip_tags=(), env: dict | None = None, executor: dict | None = None) -> dict:
    """Write the job folder for ``notebooks`` ({name: repaired NotebookNode}); return its spec.

    ``executor`` holds further GradingExecute settings for the sandbox (e.g. iopub_timeout)."""
    if job_dir.exists():
        shutil.rmtree(job_dir)
    (job_dir / "control").mkdir(parents=True)
    (job_dir / "work" / "in").mkdir(parents=True)
    sources = {p.stem: p for p in source_notebooks}
    tests_of, prepared = {}, []
    for name, nb in notebooks.items():
        src = nbformat.read(sources[name], as_version=4)
        tests = {_nbg(c)["grade_id"]: c.source for c in src.cells
                 if c.cell_type == "code" and _nbg(c).get("grade") and _nbg(c).get("grade_id")}
        tests_of[name] = tests
        prepared.append(sandbox_notebook(nb, tests, skip_tags, skip_tags))
        nbformat.write(prepared[-1], job_dir / "work" / "in" / f"{name}.ipynb")
    (job_dir / "control" / "job.json").write_text(json.dumps({
        "notebooks": list(notebooks), "timeout": settings.timeout,
        "training_timeout": settings.training_timeout, **(executor or {}),
        "budget_seconds": min(time_budget(prepared, settings.timeout, settings.training_timeout),
                              settings.job_budget or float("inf")),
    }))
    # The kernel sees only the Keras calls: the plain-data calls' arguments stay out of its view.
    kernel_plan, _pristine = split_plan(plan)
    (job_dir / "control" / "plan.json").write_text(json.dumps(kernel_plan))
    pristine.prepare(job_dir / "pristine", notebooks, tests_of, plan, settings.timeout)
    spec = {
        "student": student, "assignment": assignment, "job_dir": str(job_dir),
        "notebooks": list(notebooks), "source_notebooks": [str(p) for p in source_notebooks],
        "plan": plan, "settings": dataclasses.asdict(settings), "env": dict(env or {}),
    }
    (job_dir / "spec.json").write_text(json.dumps(spec, indent=1))
    return spec


# --- after the sandbox: take out only plain files, never through links ------------------------

def copy_out(src_root: Path, dest_root: Path, max_file: int) -> list[str]:
    """Copy regular files under ``src_root`` to ``dest_root``; links, devices, oversized files
    and anything that resolves outside ``src_root`` are left behind (and listed)."""
    skipped, copied = [], 0
    if not src_root.is_dir() or src_root.is_symlink():
        return skipped
    base = src_root.resolve()
    for folder, dirs, files in os.walk(src_root, followlinks=False):
        dirs[:] = [d for d in dirs if not (Path(folder) / d).is_symlink()]
        for name in files:
            path = Path(folder) / name
            rel = path.relative_to(src_root)
            try:
                info = path.lstat()
                if not stat.S_ISREG(info.st_mode) or base not in path.resolve().parents:
                    skipped.append(f"{rel} (not a plain file)")
                    continue
                if info.st_size > max_file:
                    skipped.append(f"{rel} ({info.st_size} bytes, over {max_file})")
                    continue
                if copied >= MAX_COPIED_FILES:
                    skipped.append(f"{rel} (more than {MAX_COPIED_FILES} files)")
                    continue
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as fh:
                    data = fh.read(max_file + 1)
                target = dest_root / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data[:max_file])
                copied += 1
            except OSError as exc:
                skipped.append(f"{rel} ({exc.strerror})")
    return skipped


# --- running a job ---------------------------------------------------------------------------

def _python() -> str:
    return sys.executable


def _sandbox_env(spec: dict) -> dict:
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "JUPYTER_RUNTIME_DIR": "/tmp/jupyter-runtime", "IPYTHONDIR": "/tmp/ipython",
        "MPLCONFIGDIR": "/tmp/matplotlib", "MPLBACKEND": "agg",
        "RESNET_KIT_CAPTURE_PLAN": str(Path(spec["job_dir"]) / "control" / "plan.json"),
        "RESNET_KIT_DATA": str(_data_dir()),  # the shipped data, mounted read-only
    }
    epochs = spec["settings"].get("epochs")
    if epochs is not None:
        env["RESNET_KIT_EPOCHS"] = str(epochs)
    env.update(spec.get("env", {}))
    return env


def _gpu_env() -> dict:
    """Which of the worker's GPUs the judge may use (the sandbox clears the environment)."""
    return {name: os.environ[name] for name in ("CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES")
            if name in os.environ}


def _data_dir() -> Path:
    from resnet_kit import data

    return data.default_data_dir().resolve()


def _limits(spec: dict):
    from . import sandbox

    values = spec["settings"].get("limits") or {}
    return dataclasses.replace(sandbox.DEFAULT_LIMITS, **values)


def _run_student_process(spec: dict, argv: list[str], work: Path, readonly: list[Path],
                         limits, log: Path) -> dict:
    """``argv`` with student code in it: sandboxed unless the run says --no-sandbox. The
    work folder is a fixed-size filesystem while it runs, where this process can make one."""
    from . import sandbox

    started = time.monotonic()
    if spec["settings"].get("sandbox", True):
        def sandboxed():
            with sandbox.fixed_size_folder(work, limits.disk_bytes) as not_fixed:
                result = sandbox.run(argv, workdir=work, readonly=readonly,
                                     hidden=sandbox.hidden_packages(), env=_sandbox_env(spec),
                                     limits=limits, log=log, disk_is_fixed=not not_fixed)
                # Out before the folder goes: it lives only as long as this block.
                return result, _disk_state(work, limits.disk_bytes, not_fixed), \
                    _take_out(spec, work)

        result, disk, copied = sandbox.with_own_mounts(sandboxed)
        ended = {"returncode": result.returncode, "timed_out": result.timed_out,
                 "killed": result.killed_reason, "log_truncated": result.log_truncated,
                 "cpu_seconds": result.cpu_seconds, "memory_peak": result.memory_peak,
                 "oom_kills": result.oom_kills, "cgroup": result.cgroup, "disk": disk,
                 "skipped_files": copied}
    else:  # --no-sandbox: same process layout, no isolation (marked in the report)
        import subprocess

        with open(log, "wb") as out:
            env = {**os.environ, **_sandbox_env(spec), "HOME": str(work)}
            try:
                proc = subprocess.run(argv, cwd=work, env=env, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=limits.wall_seconds,
                                      check=False)
                ended = {"returncode": proc.returncode, "timed_out": False, "killed": None}
            except subprocess.TimeoutExpired:
                ended = {"returncode": None, "timed_out": True,
                         "killed": f"wall-clock limit {limits.wall_seconds:g} s"}
        ended["skipped_files"] = _take_out(spec, work)
    ended["seconds"] = round(time.monotonic() - started, 2)
    return ended


def _disk_state(work: Path, cap: int, not_fixed: str) -> dict:
    """How the work folder's size was held, and whether it was full at the end."""
    if not_fixed:
        return {"fixed": False, "why": not_fixed}
    room = os.statvfs(work)
    full = room.f_bavail * room.f_frsize < 2**20 or room.f_favail == 0  # bytes or files
    return {"fixed": True, "bytes": cap, "full": full}


def _take_out(spec: dict, work: Path) -> list[str]:
    """Copy what the sandbox produced to the job's trusted folders (plain files, capped)."""
    job = Path(spec["job_dir"])
    trusted = job / "trusted"
    if work == job / "work":
        skipped = copy_out(work / "captures", trusted / "captures", MAX_CAPTURE_FILE)
        skipped += copy_out(work / "out", trusted / "executed", MAX_NOTEBOOK_FILE)
        skipped += copy_out(work / "journal", trusted / "journal", MAX_CAPTURE_FILE)
    else:  # the pristine calls' folder
        skipped = copy_out(work, trusted / "pristine", MAX_CAPTURE_FILE)
    shutil.rmtree(work, ignore_errors=True)  # what the student left may be gigabytes
    return skipped


def run_student_code(spec: dict) -> dict:
    """Phase 1: the notebooks in the sandbox. Returns how it ended."""
    job = Path(spec["job_dir"])
    argv = [_python(), str(INSIDE / "run_notebooks.py"), str(job / "control" / "job.json")]
    # The executor reports every cell as it ends: a job silent for twice the longest cell
    # budget (plus start-up) is stopped, not left to the whole-job wall clock.
    settings = spec["settings"]
    idle = 2 * max(settings["timeout"], settings["training_timeout"]) + 60
    limits = dataclasses.replace(_limits(spec), idle_seconds=float(idle))
    budget = json.loads((job / "control" / "job.json").read_text()).get("budget_seconds")
    if budget is not None:  # the executor spends the budget; this clock is its backstop
        limits = dataclasses.replace(limits, wall_seconds=min(
            limits.wall_seconds, float(budget) + BUDGET_MARGIN_SECONDS))
    return _run_student_process(spec, argv, job / "work", student_view(job), limits,
                                job / "sandbox.log")


def run_pristine_calls(spec: dict) -> dict | None:
    """Phase 1b: the plain-data calls on the student's definitions, in a fresh sandbox (after
    every process of phase 1 is gone). None when no test makes such a call."""
    folder = Path(spec["job_dir"]) / "pristine"
    if not (folder / "in" / "steps.json").is_file():
        return None
    timeout = int(spec["settings"]["timeout"])
    limits = _limits(spec)
    limits = dataclasses.replace(
        limits, wall_seconds=min(limits.wall_seconds, pristine.wall_seconds(folder, timeout)))
    argv = [_python(), "-I", str(pristine.RUNNER), str(folder / "in" / "steps.json"),
            pristine.RESULTS]
    readonly = [p for p in student_view(folder) if p != folder / "control"] + [folder / "in"]
    return _run_student_process(spec, argv, folder / "work", readonly, limits,
                                folder / "pristine.log")


def student_view(job: Path) -> list[Path]:
    """What the sandbox may read besides Python: the student package, the shipped data, the
    executor and the job's control files. Not the judging code, the solutions or the reports."""
    import resnet_kit
    from resnet_kit import data

    paths = [Path(resnet_kit.__file__).resolve().parent, INSIDE, job / "control"]
    if data.default_data_dir().exists():
        paths.append(data.default_data_dir().resolve())
    return paths


def run_judge(spec: dict, captured: Path) -> dict:
    """Phase 2: the judge, in its own process, on the copied captures."""
    from . import sandbox

    job = Path(spec["job_dir"])
    judge_dir = job / "judge"
    judge_dir.mkdir(exist_ok=True)
    judge_spec = {
        "assignment": spec["assignment"], "notebooks": spec["source_notebooks"],
        "captures": str(captured), "plan": spec["plan"], "settings": spec["settings"],
        "pristine": str(captured.parent / "pristine" / pristine.RESULTS),
        "verdicts": "verdicts.json",  # in the judge's (writable) current folder
        # The trained results so far (None: --no-cache); what the judge adds comes back in
        # training_cache.json, and the coordinator alone writes the cache file.
        "training_cache": spec.get("training_cache"),
        "training_cache_out": TRAINING_CACHE_OUT,
        "verdict_cache": spec.get("verdict_cache"),  # the same for verdicts
        "verdict_cache_out": VERDICT_CACHE_OUT,
    }
    (judge_dir / "spec.json").write_text(json.dumps(judge_spec))
    argv = [_python(), "-I", "-m", "autograder.engine.judge", str(judge_dir / "spec.json")]
    started = time.monotonic()
    if spec["settings"].get("sandbox", True):
        # The judge runs no student code, so it may train on the worker's GPU, if it has one.
        result = sandbox.run(
            argv, workdir=judge_dir, readonly=judge_view(spec, captured),
            env={**_sandbox_env(spec), **_gpu_env(), "PYTHONPATH": str(REPO_ROOT)},
            limits=_limits(spec), log=job / "judge.log", devices=sandbox.gpu_devices(),
        )
        ended = {"returncode": result.returncode, "timed_out": result.timed_out,
                 "killed": result.killed_reason}
    else:
        import subprocess

        with open(job / "judge.log", "wb") as log:
            proc = subprocess.run(argv, cwd=judge_dir, stdout=log, stderr=subprocess.STDOUT,
                                  env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
                                  timeout=_limits(spec).wall_seconds, check=False)
        ended = {"returncode": proc.returncode, "timed_out": False, "killed": None}
    ended["seconds"] = round(time.monotonic() - started, 2)
    verdicts_path = judge_dir / "verdicts.json"
    verdicts = json.loads(verdicts_path.read_text()) if verdicts_path.is_file() else {}
    return {"ended": ended, "verdicts": verdicts,
            "training_cache": _read_json(judge_dir / TRAINING_CACHE_OUT),
            "verdict_cache": _read_json(judge_dir / VERDICT_CACHE_OUT)}


def _read_json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def judge_view(spec: dict, captured: Path) -> list[Path]:
    """The judge reads the grader's code and data, the source notebooks (read-only) and the
    copied captures."""
    sources = {Path(p).resolve().parent for p in spec["source_notebooks"]}
    data = [_data_dir()] if _data_dir().exists() else []
    return [REPO_ROOT, *sorted(sources), *data, captured, captured.parent / "pristine"]


def run(spec: dict) -> dict:
    """Run one job end to end; the result is plain JSON for the coordinator."""
    job = Path(spec["job_dir"])
    started = time.monotonic()
    trusted = job / "trusted"
    if trusted.exists():
        shutil.rmtree(trusted)
    sandbox_ended = run_student_code(spec)
    skipped = sandbox_ended.pop("skipped_files", [])
    pristine_ended = run_pristine_calls(spec)
    if pristine_ended is not None:
        skipped += pristine_ended.pop("skipped_files", [])
    for folder in (trusted / "captures", trusted / "executed", trusted / "pristine"):
        folder.mkdir(parents=True, exist_ok=True)  # the judge mounts them even when empty
    judged = run_judge(spec, trusted / "captures")
    return {"student": spec["student"], "sandbox": sandbox_ended, "pristine": pristine_ended,
            "judge": judged["ended"], "verdicts": judged["verdicts"], "skipped_files": skipped,
            "training_cache": judged["training_cache"], "verdict_cache": judged["verdict_cache"],
            "seconds": round(time.monotonic() - started, 2),
            "executed_dir": str(trusted / "executed"), "journal_dir": str(trusted / "journal")}


# --- a job on another machine: files in, files out ---------------------------------------------
#
# A Dask worker may not share the coordinator's disk. The job folder (with the instructor's
# source notebooks, which the judge needs) travels as one tar archive; the worker runs it in a
# folder of its own, in a fresh process (its own signals and process group, and no threads of
# the worker's around the sandbox's fork), and sends the finished folder back the same way.

SOURCES = "sources"  # the source notebooks, inside a packed job folder
OUTCOME = "outcome.json"


def pack(spec: dict) -> bytes:
    """The job folder of ``spec`` and its source notebooks as a .tar.gz, paths made relative."""
    job = Path(spec["job_dir"])
    portable = dict(spec, job_dir=".",
                    source_notebooks=[f"{SOURCES}/{Path(p).name}" for p in spec["source_notebooks"]])
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path in sorted(job.rglob("*")):  # folders too: the sandbox needs the empty ones
            if (path.is_dir() or path.is_file()) and not path.is_symlink() \
                    and path.relative_to(job).as_posix() != "spec.json":
                tar.add(path, arcname=path.relative_to(job).as_posix(), recursive=False)
        for source in spec["source_notebooks"]:
            tar.add(source, arcname=f"{SOURCES}/{Path(source).name}", recursive=False)
        _add_bytes(tar, "spec.json", json.dumps(portable, indent=1).encode())
    return buffer.getvalue()


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), int(time.time()), 0o644
    tar.addfile(info, io.BytesIO(data))


def _unpack(data: bytes, folder: Path) -> None:
    # Files and folders only, nothing outside `folder`, sane modes; on every supported Python
    # (tarfile's filter="data" needs 3.11.4+: safetar checks the same itself before 3.11.4).
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        safetar.extract(tar, folder)


def run_in_fresh_process(spec_path: Path, python: str | None = None) -> dict:
    """Run the prepared job of ``spec_path`` in a new process (:func:`main`) and return its
    outcome: its own signals and process group, and none of the caller's threads around the
    sandbox's fork (a Dask worker's)."""
    import subprocess

    job = Path(json.loads(Path(spec_path).read_text())["job_dir"])
    (job / OUTCOME).unlink(missing_ok=True)
    done = subprocess.run([python or _python(), "-m", "autograder.engine.jobs", str(spec_path)],
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not (job / OUTCOME).is_file():
        raise RuntimeError(f"the job process exited {done.returncode}: "
                           + (done.stderr or done.stdout)[-2000:])
    return json.loads((job / OUTCOME).read_text())


def run_packed(data: bytes, python: str | None = None) -> bytes:
    """On a worker: unpack a job, run it in a fresh process, return the finished job folder
    (``outcome.json`` in it) packed the same way. The work folders are gone by then."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="resnet-kit-job-") as tmp:
        job = Path(tmp) / "job"
        job.mkdir()
        _unpack(data, job)
        spec = json.loads((job / "spec.json").read_text())
        spec["job_dir"] = str(job)
        spec["source_notebooks"] = [str(job / p) for p in spec["source_notebooks"]]
        (job / "spec.json").write_text(json.dumps(spec, indent=1))
        outcome = run_in_fresh_process(job / "spec.json", python)
        for key in ("executed_dir", "journal_dir"):  # relative, for the coordinator's folder
            outcome[key] = os.path.relpath(outcome[key], job)
        (job / OUTCOME).write_text(json.dumps(outcome))
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for path in sorted(job.rglob("*")):
                relative = path.relative_to(job)
                if path.is_file() and not path.is_symlink() and relative.parts[0] != SOURCES:
                    tar.add(path, arcname=relative.as_posix(), recursive=False)
        return buffer.getvalue()


def unpack_outcome(data: bytes, spec: dict) -> dict:
    """On the coordinator: the finished job folder of :func:`run_packed` in place of the local
    one; its outcome, with paths in that folder."""
    job = Path(spec["job_dir"])
    keep = (job / "spec.json").read_bytes()
    shutil.rmtree(job, ignore_errors=True)
    job.mkdir(parents=True)
    _unpack(data, job)
    (job / "spec.json").write_bytes(keep)  # the coordinator's own, with its paths
    outcome = json.loads((job / OUTCOME).read_text())
    for key in ("executed_dir", "journal_dir"):
        outcome[key] = str(job / outcome[key])
    return outcome


def _die_with_parent() -> None:
    """A job process whose worker is killed goes too (Linux), instead of running on unseen."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv=None) -> int:
    """``python -m autograder.engine.jobs SPEC.json``: run one prepared job, write its outcome
    to ``outcome.json`` in the job folder."""
    argv = sys.argv[1:] if argv is None else argv
    _die_with_parent()
    spec = json.loads(Path(argv[0]).read_text())
    outcome = run(spec)
    (Path(spec["job_dir"]) / OUTCOME).write_text(json.dumps(outcome))
    return 0


if __name__ == "__main__":
    sys.exit(main())
