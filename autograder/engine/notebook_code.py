"""Run the code of a source notebook's solution cells outside Jupyter.

The solution notebooks are the one source of the reference Keras code (blocks, ResNet-50).
Benchmarks and tests that need it take it from there, so it is never copied into a module.
"""

from __future__ import annotations

from pathlib import Path

import nbformat

SOLUTIONS_DIR = Path(__file__).resolve().parents[2] / "solutions" / "resnets"


def _nbgrader(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


def cells_by_grade_id(notebook_path: str | Path) -> dict[str, str]:
    """Map grade_id -> source for every nbgrader cell of a notebook."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    return {
        _nbgrader(cell)["grade_id"]: cell.source
        for cell in notebook.cells
        if "grade_id" in _nbgrader(cell)
    }


def solution_namespace(notebook_path: str | Path, setup_cell: str = "setup") -> dict:
    """Execute the set-up cell and every solution code cell; return the resulting namespace."""
    notebook = nbformat.read(str(notebook_path), as_version=4)
    namespace: dict = {"__name__": "__solution__"}
    for cell in notebook.cells:
        meta = _nbgrader(cell)
        if cell.cell_type != "code":
            continue
        if meta.get("grade_id") == setup_cell or meta.get("solution"):
            exec(compile(cell.source, f"<{Path(notebook_path).name}:{meta['grade_id']}>", "exec"), namespace)
    return namespace
