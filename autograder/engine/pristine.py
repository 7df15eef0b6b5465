"""Calls whose answers are plain data, made where no earlier student code has run.

A record from the student's kernel can say anything: code in any cell may have replaced the
capture, written the record file itself, or installed an input transformer. For a call that
builds a Keras graph that does not matter, since the judge recomputes what the graph does. For a
call that returns a number or a list it does: the judge cannot recompute ``square(-4)``
without running the student's code. So those calls (marked ``"pristine"`` in the plan, see
:mod:`autograder.engine.plan`) are made after the notebook has run, in a second sandboxed
process (``inside/pristine_calls.py``) that executes only the student's *definitions*:

* ``import`` / ``from ... import`` lines,
* ``def`` statements without decorators, their defaults plain constants or (dotted) names,
  annotations dropped (they would run at definition time),
* assignments of constants or (dotted) names to names (``N = 3``, ``relu = keras.ops.relu``),
* the same, for ``name = lambda ...``.

Every other top-level statement is left out, so no top-level student code runs there; a
function body runs only when the judge's call reaches it, with arguments the notebook never saw
(the kernel's plan holds only the Keras calls). To answer such a call correctly the code has to
compute the answer: that is the work being graded.
"""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

from .judge import free_names, split_plan

INSIDE = Path(__file__).resolve().parent / "inside"
RUNNER = INSIDE / "pristine_calls.py"
RESULTS = "results.jsonl"


def _plain_expression(node) -> bool:
    """A constant, a literal container of constants, or a dotted name: nothing runs."""
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, ast.Attribute):
        return _plain_expression(node.value) and not isinstance(node.value, ast.Call)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return isinstance(node.operand, ast.Constant)
    try:
        ast.literal_eval(node)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _plain_signature(args: ast.arguments) -> bool:
    return all(_plain_expression(d) for d in args.defaults + [d for d in args.kw_defaults if d])


def _drop_annotations(node) -> None:
    for sub in ast.walk(node):
        if isinstance(sub, ast.arg):
            sub.annotation = None
        elif isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef)):
            sub.returns = None
        elif isinstance(sub, ast.AnnAssign):
            sub.annotation = ast.Constant(value=None)


def _python(source: str) -> str | None:
    """The cell as Python (IPython magics turned into calls), or None if it does not parse."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager

        source = TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - a cell IPython cannot read has no definitions for us
        return None
    try:
        ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    return source


def definitions_only(source: str) -> str:
    """The cell's definitions, as listed in the module docstring; '' when it has none."""
    python = _python(source if isinstance(source, str) else "")
    if python is None:
        return ""
    kept = []
    for node in ast.parse(python).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if not node.decorator_list and _plain_signature(node.args):
                _drop_annotations(node)
                kept.append(node)
        elif isinstance(node, ast.Assign) and all(isinstance(t, ast.Name) for t in node.targets):
            value = node.value
            if _plain_expression(value) or (
                    isinstance(value, ast.Lambda) and _plain_signature(value.args)):
                kept.append(node)
    if not kept:
        return ""
    return ast.unparse(ast.Module(body=kept, type_ignores=[]))


def steps_for(nb, tests: dict[str, str], pristine_plan: dict) -> list[dict]:
    """What the pristine run does for one notebook, in cell order: definitions to execute,
    and at each graded cell the calls its test makes that return plain data."""
    steps: list[dict] = []
    for cell in nb.cells:
        if cell.get("cell_type") != "code":
            continue
        nbg = cell.get("metadata", {}).get("nbgrader")
        nbg = nbg if isinstance(nbg, dict) else {}
        if nbg.get("grade") and nbg.get("grade_id") in tests:
            grade_id = nbg["grade_id"]
            calls = {name: pristine_plan[name] for name in free_names(tests[grade_id])
                     if name in pristine_plan}
            if calls:
                steps.append({"grade_id": grade_id, "calls": calls})
            continue
        code = definitions_only(cell.get("source", ""))
        if code:
            steps.append({"code": code})
    return steps


def prepare(folder: Path, notebooks: dict, tests: dict[str, dict[str, str]], plan: dict,
            timeout: int) -> bool:
    """Write ``folder/in/steps.json`` for the student's ``notebooks``; False when no test makes
    a pristine call (nothing to run)."""
    _kernel, pristine_plan = split_plan(plan)
    if folder.exists():
        shutil.rmtree(folder)
    if not pristine_plan:  # no test makes such a call (resnets): skip parsing every cell
        return False
    work = []
    for name, nb in notebooks.items():
        steps = steps_for(nb, tests.get(name, {}), pristine_plan)
        if any("calls" in step for step in steps):
            work.append({"name": name, "steps": steps})
    if not work:
        return False
    (folder / "in").mkdir(parents=True)
    (folder / "work").mkdir()
    (folder / "in" / "steps.json").write_text(json.dumps({"timeout": timeout, "notebooks": work}))
    return True


def wall_seconds(folder: Path, timeout: int) -> float:
    """Every call and every cell of definitions gets the cell timeout, plus start-up."""
    job = json.loads((folder / "in" / "steps.json").read_text())
    steps = sum(len(nb["steps"]) + sum(len(c) for s in nb["steps"] for c in s.get("calls", {}).values())
                for nb in job["notebooks"])
    return 60.0 + timeout * steps
