"""A tiny nbgrader course used by the fast tests and the grading-overhead benchmark.

``make_toy_course(root)`` writes a course directory with the repository's own
``nbgrader_config.py`` and one source notebook, ``solutions/toy/squares.ipynb``: two functions
to write (``square``, ``cube``), each with a visible and a hidden test, plus a cell tagged
``training`` that reads ``RESNET_KIT_EPOCHS`` like the real notebooks do. It runs in about a
second, so every failure kind can be graded end to end in the tests.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import shutil
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

REPO_ROOT = Path(__file__).resolve().parents[2]
TOY_ASSIGNMENT = "toy"
TOY_NOTEBOOK = "squares"


def _nbg(grade_id, *, solution=False, grade=False, locked=False, points=0):
    meta = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked,
        "schema_version": 3,
        "solution": solution,
        "task": False,
    }
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def toy_source_notebook() -> nbformat.NotebookNode:
    cells = [
        new_markdown_cell("# Squares\nWrite `square` and `cube`.", metadata=_nbg("intro", locked=True)),
        new_code_cell(
            "import os\nEPOCHS = int(os.environ.get(\"RESNET_KIT_EPOCHS\", 3))",
            metadata=_nbg("setup", locked=True),
        ),
        new_code_cell(
            "def square(x):\n    ### BEGIN SOLUTION\n    return x * x\n    ### END SOLUTION",
            metadata=_nbg("square", solution=True),
        ),
        new_code_cell(
            "assert square(3) == 9, \"square(3) should be 9\"\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert square(-4) == 16, \"square(-4) should be 16\"  # HIDDEN-SQUARE-CHECK\n"
            "### END HIDDEN TESTS",
            metadata=_nbg("test_square", grade=True, locked=True, points=2),
        ),
        new_code_cell(
            "def cube(x):\n    ### BEGIN SOLUTION\n    return x ** 3\n    ### END SOLUTION",
            metadata=_nbg("cube", solution=True),
        ),
        new_code_cell(
            "assert cube(2) == 8, \"cube(2) should be 8\"\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert cube(-3) == -27, \"cube(-3) should be -27\"  # HIDDEN-CUBE-CHECK\n"
            "### END HIDDEN TESTS",
            metadata=_nbg("test_cube", grade=True, locked=True, points=1),
        ),
        new_code_cell(
            "history = [square(i) for i in range(EPOCHS)]\nprint(len(history), \"epochs\")",
            metadata={"tags": ["training"]},
        ),
        new_code_cell(
            "assert len(history) == EPOCHS\n"
            "### BEGIN HIDDEN TESTS\n"
            "assert history == [square(i) for i in range(EPOCHS)], \"history should come from square\"\n"
            "assert history[-1] == (EPOCHS - 1) ** 2  # HIDDEN-TRAINING-CHECK\n"
            "### END HIDDEN TESTS",
            metadata=_nbg("test_training", grade=True, locked=True, points=1),
        ),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    # Stable cell ids, so releases are byte-for-byte reproducible.
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"toy-{i:02d}"
    return nb


def make_toy_course(root: Path | str) -> Path:
    """Create a course directory with the toy assignment under ``root``; return ``root``."""
    root = Path(root)
    (root / "solutions" / TOY_ASSIGNMENT).mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    nbformat.write(toy_source_notebook(), root / "solutions" / TOY_ASSIGNMENT / f"{TOY_NOTEBOOK}.ipynb")
    return root
