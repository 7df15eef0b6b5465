"""Check and repair a submitted notebook before nbgrader sees it.

nbgrader 0.9.6 copes badly with some things students do to notebooks:

* duplicated cells (copy/paste, "split cell") repeat a ``grade_id``; its ``DeduplicateIds``
  then leaves an empty ``nbgrader`` dict that fails metadata validation, and the whole
  notebook is dropped with a misleading "old metadata format" error (issues #1083, #1941);
* deleted grade cells are re-added by ``OverwriteCells.add_missing_cells`` only next to a
  grade/solution cell that is still there (a KeyError otherwise), and without it the cell's
  points silently disappear and formgrader says "needs manual grading" forever (#1682);
* a file that is not a notebook, or an empty one, aborts autograde for the student.

:func:`repair` compares the submission with the release (the student version nbgrader
generated from ``solutions/``) and returns a notebook nbgrader can always grade, plus the
list of problems it found. Test cells edited by the student are detected here (nbgrader
silently restores their source from the gradebook in ``OverwriteCells``).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import copy
import dataclasses
import json
import warnings
from pathlib import Path

import nbformat

# Problem kinds (also used as report statuses).
NOT_A_NOTEBOOK = "not a notebook"
EMPTY = "empty"
MISSING_CELLS = "missing cells"
DUPLICATE_CELLS = "duplicate cells"
TESTS_EDITED = "tests edited"


@dataclasses.dataclass
class Repair:
    notebook: nbformat.NotebookNode | None
    problems: list[tuple[str, str]]  # (kind, human-readable detail)

    @property
    def kinds(self) -> list[str]:
        out = []
        for kind, _ in self.problems:
            if kind not in out:
                out.append(kind)
        return out


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    nbg = _nbg(cell)
    if nbg.get("grade") or nbg.get("solution") or nbg.get("locked") or nbg.get("task"):
        return nbg.get("grade_id")
    return None


def _is_test(cell) -> bool:
    nbg = _nbg(cell)
    return bool(nbg.get("grade")) and not nbg.get("solution")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def read_submission(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """Parse bytes as a v4 notebook; on failure return (None, why)."""
    if not data.strip():
        return None, "the file is empty (0 bytes)"  # reported as EMPTY by repair()
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not valid notebook JSON ({exc.__class__.__name__}: {str(exc)[:80]})"
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return None, "JSON, but not a Jupyter notebook (no cells)"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # duplicate cell ids etc.: repaired below
            nb = nbformat.reads(json.dumps(raw), as_version=4)
    except Exception as exc:  # noqa: BLE001 - nbformat raises many kinds
        return None, f"not a readable notebook ({exc.__class__.__name__}: {str(exc)[:80]})"
    # Keep going with notebooks that fail strict schema validation (an odd output, a missing
    # field): nbgrader only needs cells, sources and metadata.
    for cell in nb.cells:
        cell.setdefault("metadata", {})
        if not isinstance(cell.get("source", ""), str):
            cell["source"] = "".join(cell.get("source") or [])
        if cell.get("cell_type") == "code":
            cell.setdefault("outputs", [])
            cell.setdefault("execution_count", None)
    return nb, ""


def repair(data: bytes, release: nbformat.NotebookNode) -> Repair:
    """Return a gradeable copy of the submission ``data`` against the ``release`` notebook."""
    nb, why = read_submission(data)
    if nb is None:
        return Repair(None, [(EMPTY if not data.strip() else NOT_A_NOTEBOOK, why)])
    if not any(cell.get("source", "").strip() for cell in nb.cells):
        return Repair(None, [(EMPTY, "the notebook has no cells with content")])

    problems: list[tuple[str, str]] = []
    release_cells = [c for c in release.cells if _grade_id(c)]
    release_by_id = {_grade_id(c): c for c in release_cells}

    # 1. Duplicated grade_ids: keep one cell per id, strip the nbgrader metadata of the rest
    #    (their code still runs, as the student wrote it). For a test cell keep the copy that
    #    matches the release (else the first); for other cells keep the first.
    positions: dict[str, list[int]] = {}
    for i, cell in enumerate(nb.cells):
        gid = _grade_id(cell)
        if gid is not None:
            positions.setdefault(gid, []).append(i)
    for gid, idxs in positions.items():
        if len(idxs) < 2:
            continue
        keep = idxs[0]
        ref = release_by_id.get(gid)
        if ref is not None and _is_test(ref):
            for i in idxs:
                if _norm(nb.cells[i].source) == _norm(ref.source):
                    keep = i
                    break
        for i in idxs:
            if i != keep:
                meta = nb.cells[i].metadata
                meta.pop("nbgrader", None)
                meta.pop("deletable", None)
                meta.pop("editable", None)
        problems.append((DUPLICATE_CELLS, f"cell '{gid}' appears {len(idxs)} times; graded one copy"))

    # Unknown grade ids (not in the release) are left to nbgrader, which ignores them.

    # 2. Test cells edited by the student (nbgrader restores the original source itself).
    for cell in nb.cells:
        gid = _grade_id(cell)
        ref = release_by_id.get(gid)
        if ref is not None and _is_test(ref) and _norm(cell.source) != _norm(ref.source):
            problems.append((TESTS_EDITED, f"test cell '{gid}' was edited; graded with the original tests"))

    # 3. Missing graded/locked cells: put the release's copy back after the nearest earlier
    #    release cell that is present (or at the top).
    present = {_grade_id(c) for c in nb.cells if _grade_id(c)}
    for pos, ref in enumerate(release_cells):
        gid = _grade_id(ref)
        if gid in present:
            continue
        insert_at = 0
        for earlier in reversed(release_cells[:pos]):
            eid = _grade_id(earlier)
            idx = next((i for i, c in enumerate(nb.cells) if _grade_id(c) == eid), None)
            if idx is not None:
                insert_at = idx + 1
                break
        restored = copy.deepcopy(ref)
        if restored.cell_type == "code":
            restored.outputs = []
            restored.execution_count = None
        restored.pop("id", None)
        nb.cells.insert(insert_at, restored)
        present.add(gid)
        nbg = _nbg(ref)
        what = "test" if _is_test(ref) else ("answer" if nbg.get("solution") else "read-only")
        problems.append((MISSING_CELLS, f"{what} cell '{gid}' was deleted; put back from the release"))

    # nbformat >= 4.5 wants unique cell ids; copies and re-added cells may clash.
    seen = set()
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in seen:
            cell["id"] = f"cell-{i}"
            while cell["id"] in seen:
                cell["id"] += "x"
        seen.add(cell["id"])
    nb.nbformat, nb.nbformat_minor = 4, max(int(nb.get("nbformat_minor", 5)), 5)
    # Execution uses the release's kernel, whatever the student switched to.
    nb.metadata["kernelspec"] = copy.deepcopy(release.metadata.get("kernelspec", {}))
    return Repair(nb, problems)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
