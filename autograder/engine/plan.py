"""The capture plan: which calls of each student function the graded tests make.

The sandbox cannot run the checks (they are the instructor's), so before grading, the
grader runs every graded cell's test code once on the *solution* (the source notebooks'
set-up and solution cells), with each function wrapped in a recorder. The calls recorded
are the plan: the sandbox makes exactly those calls on the student's functions and saves what
they returned; the judge then answers the checks' calls from those records. A check that
stops early on a wrong submission makes a prefix of the same calls.

A call whose solution result is plain data (a number, a list...) is marked ``"pristine": true``.
Such a result proves nothing when the student's kernel reports it (any code in the notebook
could have written the record), so the sandbox never sees these calls: after the notebook ran,
a fresh process that runs only the student's definitions makes them (see
:mod:`autograder.engine.pristine`). Calls that build Keras graphs stay in the kernel: the judge
recomputes what those graphs do itself.

Test code is planned one statement at a time, with a stand-in for names only the notebook's
run makes (``history``), so a check like ``history == [square(i) for i in range(3)]`` still
plans its calls of ``square``. Nothing is trained while planning: a training cache that stops
the statement where it would train is installed (:class:`trainingcache.PlanningStop`), so a
test that trains the network a student's function builds (the accuracy test, on ``ResNet50``)
plans its calls in seconds.

``python -m autograder.engine.plan OUT.json NOTEBOOK...`` writes ``{name: [call, ...]}``.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat)

import ast
import contextlib
import io
import json
import sys
from pathlib import Path

from resnet_kit.capture import is_plain

from . import trainingcache
from .judge import call_key, call_spec, free_names, graded_cells
from .notebook_code import solution_namespace


class Recorder:
    """Calls the solution's function and remembers each call as plan data."""

    def __init__(self, fn, calls: list):
        self.fn, self.calls = fn, calls
        self.__name__ = getattr(fn, "__name__", "function")

    def __call__(self, *args, **kwargs):
        spec = call_spec(args, kwargs)
        known = next((c for c in self.calls if call_key(c) == call_key(spec)), None)
        if known is None:
            self.calls.append(spec)
        result = self.fn(*args, **kwargs)
        if known is None and is_plain(result):
            spec["pristine"] = True
        return result


class NotebookValue:
    """Stands in, while planning, for a value only the notebook's run makes (``history``):
    every operation gives another stand-in, so the statement goes on to make its calls."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        return NotebookValue()

    def __call__(self, *args, **kwargs):
        return NotebookValue()

    def __getitem__(self, key):
        return NotebookValue()

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __bool__(self):
        return True

    def __eq__(self, other):
        return True

    __hash__ = object.__hash__
    __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __getitem__
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __mod__ = __neg__ = __getitem__


def _run_statements(code: str, ns: dict, filename: str, stand_ins: set[str]) -> None:
    """Each top-level statement on its own: one that fails because it met a stand-in does not
    keep the next from planning its calls. Any other failure is the grader's and is raised."""
    for statement in ast.parse(code).body:
        module = ast.Module(body=[statement], type_ignores=[])
        try:
            exec(compile(module, filename, "exec"), ns)  # noqa: S102 - the instructor's code
        except trainingcache.PlanningStop:
            continue  # it made its calls before it would train
        except Exception:
            if not stand_ins & set(free_names(ast.unparse(statement))):
                raise


def plan_for(notebooks: list[Path], grader_values: dict | None = None) -> dict[str, list[dict]]:
    """The plan; ``grader_values`` are the names the judge pins (``EPOCHS``), as it pins them."""
    previous = trainingcache.install(trainingcache.TrainingCache(None, planning=True))
    try:
        return _plan_for(notebooks, grader_values)
    finally:
        trainingcache.install(previous)


def _plan_for(notebooks: list[Path], grader_values: dict | None) -> dict[str, list[dict]]:
    plan: dict[str, list[dict]] = {}
    for path in notebooks:
        cells = graded_cells(path)
        if not cells:
            continue
        solution = {**solution_namespace(path), **(grader_values or {})}
        for grade_id, code in cells:
            names = free_names(code)
            functions = [n for n in names if callable(solution.get(n))
                         and not isinstance(solution.get(n), type(sys))]
            if not functions:
                continue  # nothing to call
            ns = dict(solution)
            stand_ins = {name for name in names if name not in solution}
            ns.update({name: NotebookValue() for name in stand_ins})
            for name in functions:
                ns[name] = Recorder(solution[name], plan.setdefault(name, []))
            with contextlib.redirect_stdout(io.StringIO()):
                _run_statements(code, ns, f"<{path.stem}:{grade_id}>", stand_ins)
    return plan


def fingerprint(notebooks: list[Path], assignment: str, grader_values: dict | None = None) -> str:
    """A hash of what a plan depends on: the source notebooks, the engine, the student
    package, the assignment's judging code and the pinned values."""
    import hashlib

    import resnet_kit

    here = Path(__file__).resolve().parent
    files = [Path(p) for p in notebooks]
    for folder in (here, Path(resnet_kit.__file__).resolve().parent, here.parent / assignment):
        files += sorted(folder.glob("*.py")) if folder.is_dir() else []
    digest = hashlib.sha256(json.dumps(grader_values or {}, sort_keys=True).encode())
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m autograder.engine.plan")
    parser.add_argument("out", type=Path)
    parser.add_argument("notebooks", type=Path, nargs="+")
    parser.add_argument("--values", default="{}", help="pinned names as JSON, e.g. {\"EPOCHS\": 3}")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    plan = plan_for(args.notebooks, json.loads(args.values))
    args.out.write_text(json.dumps(plan, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
