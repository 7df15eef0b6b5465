"""Execute one student's prepared notebooks inside the sandbox: ``python run_notebooks.py JOB``.

The coordinator prepares ``in/<notebook>.ipynb`` (the repaired submission with every graded
cell replaced by a capture call, see :mod:`autograder.engine.jobs`) and ``job.json`` with the
timeouts, in a read-only folder; the current folder is the job's only writable one. Each
notebook runs in its own kernel with :class:`nbexec.GradingExecute` (per-cell
timeouts, recovery from dead or hung kernels); what it captures lands in
``captures/<notebook>/`` and the executed notebook in ``out/<notebook>.ipynb``. Nothing here
decides a grade: the judge does, outside the sandbox, from the captures.

What happened to each notebook (timeouts, dead kernels, errors, whether it finished) goes to
the host as this process's :class:`nbexec.ExecutorReport` on stdout, out of the kernel's
reach; ``out/`` is for showing outputs only, since the kernel can rewrite it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat  # noqa: E402

from nbexec import JOURNAL_ENV, ExecutorReport, GradingExecute, make_undumpable  # noqa: E402

CAPTURE_DIR_ENV = "RESNET_KIT_CAPTURE_DIR"  # read by resnet_kit.capture in the kernel


def write_executed(nb, work: Path, name: str) -> str:
    """Write ``out/<name>.ipynb`` without following links (the kernel may have planted one,
    e.g. to /proc/self/fd/1, this process's stdout); return the sha256 of what was written."""
    data = nbformat.writes(nb).encode()
    with contextlib.suppress(FileExistsError):
        os.mkdir(work / "out")
    folder = os.open(work / "out", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{name}.ipynb", dir_fd=folder)
        fd = os.open(f"{name}.ipynb", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                     0o644, dir_fd=folder)
    finally:
        os.close(folder)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return hashlib.sha256(data).hexdigest()


def main(job_path: str) -> int:
    make_undumpable()  # first, before any student code exists
    report = ExecutorReport(sys.stdout.fileno())
    job = json.loads(Path(job_path).read_text())
    work = Path.cwd()  # the job's writable folder (the sandbox starts here)
    os.environ[JOURNAL_ENV] = str(work / "journal")
    # All read now: a notebook's code could rewrite a later notebook's file.
    notebooks = {name: nbformat.read(work / "in" / f"{name}.ipynb", as_version=4)
                 for name in job["notebooks"]}
    # One budget for the whole job, from the moment the first kernel is asked for: kernel
    # restarts replay cells within it, so they cannot multiply the job's time.
    budget = job.get("budget_seconds")
    deadline = None if budget is None else time.monotonic() + float(budget)
    for name, nb in notebooks.items():
        started = time.monotonic()
        os.environ[CAPTURE_DIR_ENV] = str(work / "captures" / name)
        executor = GradingExecute(
            timeout=job["timeout"], training_timeout=job["training_timeout"],
            training_tags=job.get("training_tags", ["training"]),
            max_kernel_restarts=job.get("max_kernel_restarts", 4),
            interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
            **{k: job[k] for k in ("iopub_timeout", "replay_timeout") if k in job},
        )
        executor.report = report
        executor.budget_deadline, executor.budget_seconds = deadline, budget
        executor.preprocess(nb, {"metadata": {"path": str(work)}, "nbgrader": {"notebook": name}})
        try:
            written = {"sha256": write_executed(nb, work, name)}
        except OSError as exc:
            written = {"error": f"{type(exc).__name__}: {exc.strerror or exc}"}
        seconds = round(time.monotonic() - started, 1)
        report.record("done", notebook=name, seconds=seconds, **written)
        print(f"{name}: executed in {seconds:.1f} s", flush=True)
    report.record("end")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
