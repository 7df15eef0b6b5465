"""Time per student, before and after trusted grading, side by side in one run.

    .venv/bin/python benchmarks/grading_time.py [--before ed20017] [--epochs 3] [--repeat 1]

"before" is the grader at a git commit (default: the last one that ran hidden tests inside the
student's kernel), checked out into a temporary worktree; "after" is this checkout. Each grades
the same one-student class (the demo class's full solution) through its own command line, in a
scratch copy of its course, alternating, for:

* notebook 1 only (the blocks: no training);
* both notebooks with ``--epochs N`` (before: the notebook trains N epochs in the kernel;
  after: the sandbox skips training and the judge trains the captured architecture N epochs).

The machine is shared: compare numbers within one run only.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
BLOCKS = "1_residual_blocks"


def course_copy(code_root: Path, dest: Path, notebooks: list[str] | None) -> Path:
    dest.mkdir(parents=True)
    shutil.copy(code_root / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(code_root / "solutions" / "resnets", dest / "solutions" / "resnets")
    if notebooks is not None:
        for nb in (dest / "solutions" / "resnets").glob("*.ipynb"):
            if nb.stem not in notebooks:
                nb.unlink()
    return dest


def student_class(dest: Path, notebooks: list[str] | None) -> Path:
    src = HERE / "autograder" / "examples" / "resnets" / "solution"
    (dest / "solution").mkdir(parents=True)
    for nb in src.glob("*.ipynb"):
        if notebooks is None or nb.stem in notebooks:
            shutil.copy(nb, dest / "solution" / nb.name)
    return dest


def grade(code_root: Path, work: Path, notebooks, epochs) -> tuple[float, str]:
    course = course_copy(code_root, work / "course", notebooks)
    cls = student_class(work / "class", notebooks)
    cmd = [sys.executable, "-m", "autograder", "--course", str(course), "--reports",
           str(work / "reports"), "grade", str(cls)]
    if epochs is not None:
        cmd += ["--epochs", str(epochs)]
    env = {"PYTHONPATH": str(code_root), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=code_root, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    results = sorted((work / "reports" / "resnets").rglob("results/solution.json"))
    if done.returncode != 0 or not results:
        return seconds, f"FAILED rc={done.returncode}: {done.stderr[-300:]}"
    result = json.loads(results[-1].read_text())
    return seconds, f"{result['total']:g}/{result['max']:g} {result['status']}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", default="ed20017", help="git commit of the old grader")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--skip-training", action="store_true", help="notebook 1 only")
    args = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="grading-time-"))
    old = tmp / "before"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(old), args.before],
                   check=True, capture_output=True)
    try:
        cases = [("notebook 1 only", [BLOCKS], None)]
        if not args.skip_training:
            cases.append((f"both notebooks, {args.epochs} epochs", None, args.epochs))
        for label, notebooks, epochs in cases:
            times = {"before": [], "after": []}
            for r in range(args.repeat):
                for name, root in (("before", old), ("after", HERE)):
                    seconds, outcome = grade(root, tmp / f"{name}-{label[:4]}-{r}", notebooks, epochs)
                    times[name].append(seconds)
                    print(f"{label:28s} {name:6s} run {r + 1}: {seconds:7.1f} s  {outcome}", flush=True)
            b, a = statistics.median(times["before"]), statistics.median(times["after"])
            print(f"{label:28s} median per student: before {b:.1f} s, after {a:.1f} s "
                  f"({a - b:+.1f} s)", flush=True)
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(old)],
                       capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
