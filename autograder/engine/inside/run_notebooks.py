"""Execute one student's prepared notebooks inside the sandbox: ``python run_notebooks.py JOB``.

The coordinator prepares ``in/<notebook>.ipynb`` (the repaired submission with every graded
cell replaced by a capture call, see :mod:`autograder.engine.jobs`) and ``job.json`` with the
timeouts, in a read-only folder; the current folder is the job's only writable one. Each
notebook runs in its own kernel with :class:`nbexec.GradingExecute` (per-cell
timeouts, recovery from dead or hung kernels); what it captures lands in
``captures/<notebook>/`` and the executed notebook in ``out/<notebook>.ipynb``. Nothing here
decides a grade: the judge does, outside the sandbox, from the captures.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nbformat  # noqa: E402

from nbexec import JOURNAL_ENV, GradingExecute  # noqa: E402

CAPTURE_DIR_ENV = "RESNET_KIT_CAPTURE_DIR"  # read by resnet_kit.capture in the kernel


def main(job_path: str) -> int:
    job = json.loads(Path(job_path).read_text())
    work = Path.cwd()  # the job's writable folder (the sandbox starts here)
    os.environ[JOURNAL_ENV] = str(work / "journal")
    for name in job["notebooks"]:
        started = time.monotonic()
        os.environ[CAPTURE_DIR_ENV] = str(work / "captures" / name)
        nb = nbformat.read(work / "in" / f"{name}.ipynb", as_version=4)
        executor = GradingExecute(
            timeout=job["timeout"], training_timeout=job["training_timeout"],
            training_tags=job.get("training_tags", ["training"]),
            max_kernel_restarts=job.get("max_kernel_restarts", 4),
            interrupt_on_timeout=True, allow_errors=True, kernel_name="python3",
            **{k: job[k] for k in ("iopub_timeout", "replay_timeout") if k in job},
        )
        executor.preprocess(nb, {"metadata": {"path": str(work)}, "nbgrader": {"notebook": name}})
        (work / "out").mkdir(exist_ok=True)
        nbformat.write(nb, work / "out" / f"{name}.ipynb")
        print(f"{name}: executed in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
