"""Students per hour for a synthetic class, graded in each mode side by side in one run.

    .venv/bin/python benchmarks/grading_throughput.py [--correct 60 --bugs 25 --broken 15]
        [--epochs 3] [--notebooks 2_resnet50_signs] [--modes serial-nocache,serial,workers2,dask2]

The class (resnets assignment, built from the solutions like the demo class):

* ``--correct`` students with the solution, written in two ways that build the same network:
  as in the solution, and with the convolutional block's shortcut built before its main path
  (another layer-creation order, so other layer names and another order of creation);
* ``--bugs`` students with one classic bug per graded block (autograder.engine.democlass);
* ``--broken`` broken or hostile submissions in turn: a cell that raises, a syntax error, an
  infinite loop, a killed kernel, tests edited to pass, an empty notebook, not a notebook.

Modes (each grades the whole class into a fresh reports folder, so a cache starts empty):

* ``serial-nocache``: one student after the other, every network trained (the baseline);
* ``serial``: one after the other, with the caches (trained results, judged tests);
* ``workersN``: N local Dask worker processes (``grade --workers N``), with the cache;
* ``workersN-nocache``: the same without the cache;
* ``daskN``: ``dask scheduler`` + N ``dask worker`` started here, graded with ``--scheduler``.

It prints, per mode: total time, students per hour, speed-up over the first mode, cache hits
(trained results and judged tests reused), and whether every grade equals the first mode's. Then (unless ``--no-step-time``)
the ResNet-50 training step time of the kit's network against keras.applications.ResNet50
(weights=None, TensorFlow's defaults), and of the kit's in mixed_bfloat16 where the CPU has
bfloat16 support (benchmarks/resnet50_training.py steptime). The machine is shared: compare
modes within one run only. ``--notebooks`` restricts the class to some notebooks (notebook 2
alone is where training happens).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

import nbformat  # noqa: E402

from autograder.engine.course import Course  # noqa: E402
from autograder.engine.democlass import ClassBuilder  # noqa: E402

BROKEN_KINDS = ["raises", "syntax_error", "loops", "kills_kernel", "edited_tests", "empty",
                "not_a_notebook"]


def course_copy(dest: Path, notebooks: list[str] | None) -> Course:
    dest.mkdir(parents=True)
    shutil.copy(HERE / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(HERE / "solutions" / "resnets", dest / "solutions" / "resnets")
    if notebooks:
        for nb in (dest / "solutions" / "resnets").glob("*.ipynb"):
            if nb.stem not in notebooks:
                nb.unlink()
    return Course(dest, "resnets")


def shortcut_first(source: str) -> str:
    """The convolutional block with its shortcut path built before the main path: the same
    network, its layers created in another order (other auto-generated names too)."""
    import ast

    try:
        tree = ast.parse(source)
    except SyntaxError:
        return source
    lines = source.split("\n")
    for fn in ast.walk(tree):
        if not (isinstance(fn, ast.FunctionDef) and fn.name == "convolutional_block"):
            continue
        def assigns(stmt, name):
            return (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                    and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name
                    and isinstance(stmt.value, ast.Call))
        shortcut = [st for st in fn.body if assigns(st, "X_shortcut")]
        main = [st for st in fn.body if assigns(st, "X")]
        if not shortcut or not main or shortcut[0].lineno < main[0].lineno:
            return source
        moved = {i for st in shortcut for i in range(st.lineno - 1, st.end_lineno)}
        block = [lines[i] for i in sorted(moved)]
        out = []
        for i, line in enumerate(lines):
            if i == main[0].lineno - 1:
                out += block
            if i not in moved:
                out.append(line)
        return "\n".join(out)
    return source


def build_class(course: Course, dest: Path, correct: int, bugs: int, broken: int) -> dict:
    """Write the synthetic class under ``dest``; return {student: kind}."""
    release = course.scratch_release()
    builder = ClassBuilder(course, release)
    demo = dest.parent / "demo-class"
    builder.build(demo)
    kinds = {}

    def save(student, notebooks):
        (dest / student).mkdir(parents=True)
        for name, nb in notebooks.items():
            if isinstance(nb, bytes):
                (dest / student / f"{name}.ipynb").write_bytes(nb)
            else:
                nbformat.write(nb, dest / student / f"{name}.ipynb")

    ways = ["as in the solution", "shortcut built first"]
    for k in range(correct):
        way = ways[k % len(ways)]
        notebooks = {n: builder.solved(n) for n in builder.names}
        if way == "shortcut built first":
            for nb in notebooks.values():
                for cell in nb.cells:
                    if "def convolutional_block" in cell.source:
                        cell.source = shortcut_first(cell.source)
        save(f"correct{k:03d}", notebooks)
        kinds[f"correct{k:03d}"] = f"correct ({way})"
    for k in range(bugs):
        shutil.copytree(demo / "bugs", dest / f"bugs{k:03d}")
        kinds[f"bugs{k:03d}"] = "classic bugs"
    for k in range(broken):
        kind = BROKEN_KINDS[k % len(BROKEN_KINDS)]
        if (demo / kind).is_dir():
            shutil.copytree(demo / kind, dest / f"broken{k:03d}")
            for stray in (dest / f"broken{k:03d}").glob("*.ipynb"):
                if stray.stem not in builder.names:
                    stray.unlink()
            kinds[f"broken{k:03d}"] = kind
    return kinds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def grade(course: Course, cls: Path, reports: Path, epochs: int, mode: str) -> dict:
    from autograder.engine.grading import Grader, load_results

    workers = int(re.sub(r"\D", "", mode) or 1)
    cache = not mode.endswith("nocache")
    procs = []
    scheduler = None
    if mode.startswith("dask"):
        scheduler = f"tcp://127.0.0.1:{_free_port()}"
        dask = str(Path(sys.executable).parent / "dask")
        env = dict(os.environ, PYTHONPATH=str(HERE))
        procs.append(subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port",
                                       scheduler.rsplit(":", 1)[1], "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
        procs += [subprocess.Popen([dask, "worker", scheduler, "--nthreads", "1",
                                    "--no-dashboard"], stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env=env) for _ in range(workers)]
        from distributed import Client

        with Client(scheduler, timeout="60s") as client:
            client.wait_for_workers(workers, timeout=120)
    log = io.StringIO()
    try:
        started = time.perf_counter()
        Grader(course, reports, epochs=epochs, out=log, cache=cache,
               workers=1 if scheduler else workers, scheduler=scheduler).grade_source(cls)
        seconds = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
    results = {r["student"]: r for r in load_results(reports, course.assignment)}
    # Hits: judged tests reused from the verdict cache, and trained results reused from the
    # training cache (a test that ran and says so).
    verdicts = [json.loads(path.read_text())
                for path in reports.glob("resnets/runs/*/jobs/*/judge/verdicts.json")]
    cells = [cell for v in verdicts for nb in v.values() for cell in nb.values()]
    hits = {"verdicts": sum(bool(cell.get("reused")) for cell in cells),
            "trained": sum(not cell.get("reused") and "training cache" in json.dumps(cell["outputs"])
                           for cell in cells)}
    (reports / "grading.log").write_text(log.getvalue())
    return {"seconds": seconds, "results": results, "log": log.getvalue(), "hits": hits}


def grades(results: dict) -> dict:
    return {s: (r["total"], r["status"], {c: v["score"] for c, v in sorted(r["cells"].items())})
            for s, r in sorted(results.items())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--correct", type=int, default=60)
    p.add_argument("--bugs", type=int, default=25)
    p.add_argument("--broken", type=int, default=15)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--notebooks", default=None,
                   help="comma-separated notebooks to grade (default: all of the assignment)")
    p.add_argument("--modes", default="serial-nocache,serial,workers2,dask2")
    p.add_argument("--keep", type=Path, default=None, help="keep the work folder here")
    p.add_argument("--no-step-time", action="store_true",
                   help="skip the training step-time comparison")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="grading-throughput-"))
    notebooks = args.notebooks.split(",") if args.notebooks else None
    modes = args.modes.split(",")
    course = course_copy(work / "course", notebooks)
    cls = work / "class"
    kinds = build_class(course, cls, args.correct, args.bugs, args.broken)
    n = len(kinds)
    print(f"class: {n} students ({args.correct} correct, {args.bugs} with bugs, "
          f"{len(kinds) - args.correct - args.bugs} broken or hostile); notebooks: "
          f"{', '.join(notebooks) if notebooks else 'all'}; {args.epochs} epoch(s); "
          f"{os.cpu_count()} cores", flush=True)
    first = None
    for mode in modes:
        out = grade(course, cls, work / f"reports-{mode}", args.epochs, mode)
        same = "-" if first is None else ("yes" if grades(out["results"]) == grades(first["results"])
                                          else "NO")
        first = first or out
        speed = n / out["seconds"] * 3600
        print(f"{mode:16s} {out['seconds']:8.0f} s  {speed:7.1f} students/h  "
              f"x{first['seconds'] / out['seconds']:.2f} vs {modes[0]}  reused: "
              f"{out['hits']['trained']:3d} trained results, {out['hits']['verdicts']:3d} "
              f"judged tests  same grades as {modes[0]}: {same}", flush=True)
    totals = {s: r["total"] for s, r in first["results"].items()}
    print("points of the first mode by kind: " + json.dumps(
        {kind: sorted({totals[s] for s, k in kinds.items() if k == kind})
         for kind in sorted(set(kinds.values()))}))
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    if not args.no_step_time:
        sys.path.insert(0, str(HERE / "benchmarks"))
        from resnet50_training import step_times

        print("ResNet-50 training step (batch 32, oneDNN on), alternating:", flush=True)
        times = step_times(out=lambda line: print(line, flush=True))
        for label, values in times.items():
            print(f"  {label:52s} best {min(values):.3f} s/step")


if __name__ == "__main__":
    main()
