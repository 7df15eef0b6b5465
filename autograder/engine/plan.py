"""The capture plan: which calls of each student function the graded tests make.

The sandbox cannot run the checks (they are the instructor's), so before grading, the
grader runs every graded cell's test code once on the *solution* (the source notebooks'
set-up and solution cells), with each function wrapped in a recorder. The calls recorded
are the plan: the sandbox makes exactly those calls on the student's functions and saves what
they returned; the judge then answers the checks' calls from those records. A check that
stops early on a wrong submission makes a prefix of the same calls.

``python -m autograder.engine.plan OUT.json NOTEBOOK...`` writes ``{name: [call, ...]}``.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat)

import contextlib
import io
import json
import sys
from pathlib import Path

from .judge import call_spec, free_names, graded_cells
from .notebook_code import solution_namespace


class Recorder:
    """Calls the solution's function and remembers each call as plan data."""

    def __init__(self, fn, calls: list):
        self.fn, self.calls = fn, calls
        self.__name__ = getattr(fn, "__name__", "function")

    def __call__(self, *args, **kwargs):
        spec = call_spec(args, kwargs)
        if spec not in self.calls:
            self.calls.append(spec)
        return self.fn(*args, **kwargs)


def plan_for(notebooks: list[Path]) -> dict[str, list[dict]]:
    plan: dict[str, list[dict]] = {}
    for path in notebooks:
        cells = graded_cells(path)
        if not cells:
            continue
        solution = solution_namespace(path)
        for grade_id, code in cells:
            names = free_names(code)
            functions = [n for n in names if callable(solution.get(n))
                         and not isinstance(solution.get(n), type(sys))]
            if not functions or any(n not in solution for n in names):
                continue  # nothing to call, or it needs state only the notebook's run makes
            ns = dict(solution)
            for name in functions:
                ns[name] = Recorder(solution[name], plan.setdefault(name, []))
            with contextlib.redirect_stdout(io.StringIO()):
                exec(compile(code, f"<{path.stem}:{grade_id}>", "exec"), ns)  # noqa: S102
    return plan


def fingerprint(notebooks: list[Path], assignment: str) -> str:
    """A hash of what a plan depends on: the source notebooks, the engine, the student
    package and the assignment's judging code."""
    import hashlib

    import resnet_kit

    here = Path(__file__).resolve().parent
    files = [Path(p) for p in notebooks]
    for folder in (here, Path(resnet_kit.__file__).resolve().parent, here.parent / assignment):
        files += sorted(folder.glob("*.py")) if folder.is_dir() else []
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:20]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    out, notebooks = Path(argv[0]), [Path(p) for p in argv[1:]]
    out.write_text(json.dumps(plan_for(notebooks), indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
