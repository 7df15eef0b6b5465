"""Grading overhead: one submission through the autograder vs. the same notebook executed bare.

    .venv/bin/python benchmarks/grading_overhead.py [--notebook 1_residual_blocks] [--repeat 2]

Runs, side by side and alternating (the machine is shared, so compare within one run):

* bare: nbclient executes the solved notebook (what a student's "Run All" costs);
* graded: ``autograder`` grades a one-student class holding that notebook (intake, repair,
  a child process running nbgrader autograde through its API, gradebook, result JSON).

The difference is the grading overhead. Default notebook: the real ``1_residual_blocks``
(no training); ``--toy`` uses the toy assignment instead (no TensorFlow).
"""

from __future__ import annotations

import argparse
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.engine import _fastimport  # noqa: E402,F401
import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from autograder.engine.course import REPO_ROOT, Course  # noqa: E402
from autograder.engine.democlass import ClassBuilder  # noqa: E402
from autograder.engine.grading import Grader  # noqa: E402
from autograder.engine.toy import TOY_ASSIGNMENT, TOY_NOTEBOOK, make_toy_course  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notebook", default="1_residual_blocks")
    p.add_argument("--toy", action="store_true", help="grade the toy assignment instead")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()

    work = Path(tempfile.mkdtemp(prefix="grading-overhead-"))
    if args.toy:
        course = Course(make_toy_course(work / "course"), TOY_ASSIGNMENT)
        notebook = TOY_NOTEBOOK
        course.release()
        release_dir = course.release_dir
    else:
        # Grade in a scratch copy of the course so the real gradebook and reports stay untouched.
        root = work / "course"
        root.mkdir()
        for name in ("nbgrader_config.py",):
            shutil.copy(REPO_ROOT / name, root / name)
        shutil.copytree(REPO_ROOT / "solutions", root / "solutions")
        course = Course(root, "resnets")
        notebook = args.notebook
        release_dir = course.scratch_release()
    builder = ClassBuilder(course, release_dir)
    solved = builder.solved(notebook)
    cls = work / "class" / "student"
    cls.mkdir(parents=True)
    nbformat.write(solved, cls / f"{notebook}.ipynb")
    # Only the benchmarked notebook: hide the others from the grader's release.
    for other in builder.names:
        if other != notebook:
            (course.source_dir / f"{other}.ipynb").rename(work / f"{other}.ipynb.off")
    grader = Grader(course, work / "reports", out=io.StringIO())
    grader.prepare()

    bare, graded, scores = [], [], []
    for _ in range(args.repeat):
        nb = nbformat.read(cls / f"{notebook}.ipynb", as_version=4)
        t0 = time.perf_counter()
        NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(cls)}}).execute()
        bare.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        [result] = grader.grade_source(cls.parent)
        graded.append(time.perf_counter() - t0)
        scores.append(f"{result['total']:g}/{result['max']:g} {result['status']}")
    b, g = statistics.median(bare), statistics.median(graded)
    print(f"notebook: {notebook} ({'toy' if args.toy else 'real'}), {args.repeat} run(s) each, medians")
    print(f"execute without nbgrader: {b:.1f} s   (runs: {', '.join(f'{x:.1f}' for x in bare)})")
    print(f"grade one submission:     {g:.1f} s   (runs: {', '.join(f'{x:.1f}' for x in graded)})")
    print(f"grades: {', '.join(scores)}")
    print(f"overhead:                 {g - b:.1f} s  ({g / b:.2f}x)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
