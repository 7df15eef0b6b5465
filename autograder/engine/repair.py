"""Check and repair a submitted notebook before nbgrader sees it.

nbgrader 0.9.6 copes badly with some things students do to notebooks:

* duplicated cells (copy/paste, "split cell") repeat a ``grade_id``; its ``DeduplicateIds``
  then leaves an empty ``nbgrader`` dict that fails metadata validation, and the whole
  notebook is dropped with a misleading "old metadata format" error (issues #1083, #1941);
* deleted grade cells are re-added by ``OverwriteCells.add_missing_cells`` only next to a
  grade/solution cell that is still there (a KeyError otherwise), and without it the cell's
  points silently disappear and formgrader says "needs manual grading" forever (#1682);
* a cell with nbgrader metadata whose ``grade_id`` the release does not have (a student's
  own copy of a test, an id edited by hand, a cell pasted from another notebook) loses its
  ``grade_id`` in ``OverwriteCells`` and then crashes ``add_missing_cells`` with a KeyError:
  the student gets no gradebook entry;
* a file that is not a notebook, or an empty one, aborts autograde for the student.

:func:`repair` compares the submission with the release (the student version nbgrader
generated from ``solutions/``) and returns a notebook nbgrader can always grade, plus the
list of problems it found. Test cells edited by the student are detected here (nbgrader
silently restores their source from the gradebook in ``OverwriteCells``).

Any field of a submission may be malformed (a number as a cell's source, metadata that is not
a dict, lone surrogates, nbformat 3 or 5...): the notebook is rebuilt field by field into a
valid nbformat 4.5 notebook, and what had to be fixed is reported as ``repaired``. A graded
cell whose editor dropped or changed its nbgrader metadata or cell type gets them back from
the release: matched by ``grade_id``, else (metadata lost) by its content or position. Any
other cell with nbgrader metadata (an unknown ``grade_id``, or grade/solution/locked/task
flags the release has no cell for) is made an ordinary, ungraded cell: its code still runs.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import copy
import dataclasses
import json
import math
import re
from pathlib import Path

import nbformat

# Problem kinds (also used as report statuses).
NOT_A_NOTEBOOK = "not a notebook"
EMPTY = "empty"
TOO_LARGE = "too large"
MISSING_CELLS = "missing cells"
DUPLICATE_CELLS = "duplicate cells"
TESTS_EDITED = "tests edited"
REPAIRED = "repaired"  # malformed fields or lost nbgrader metadata fixed; graded normally

MAX_NOTEBOOK_BYTES = 50 * 2**20  # larger files are not parsed (memory, and no real notebook is)
MAX_CODE_CELLS = 1000  # code cells of the student's own, run at most (the release has ~20)
_MAX_DEPTH = 100  # JSON nesting kept; deeper values become null
_MAX_FIX_DETAILS = 10
_SURROGATE = re.compile("[\ud800-\udfff]")
_CELL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_JSON_MIME = re.compile(r"^application/(.*\+)?json$")
_NBG_FLAGS = ("grade", "solution", "locked", "task")


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
    meta = cell.get("metadata", {})
    meta = meta.get("nbgrader") if isinstance(meta, dict) else None
    return meta if isinstance(meta, dict) else {}


def _grade_id(cell) -> str | None:
    nbg = _nbg(cell)
    if any(nbg.get(flag) for flag in _NBG_FLAGS):
        gid = nbg.get("grade_id")
        return gid if isinstance(gid, str) and gid else None
    return None


def _is_test(cell) -> bool:
    nbg = _nbg(cell)
    return bool(nbg.get("grade")) and not nbg.get("solution")


def _norm(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


# -- turning any JSON into a valid nbformat 4.5 notebook ---------------------------------------

class _Fixes(list):
    """What had to be fixed, once per message, plus counters for the repetitive ones."""

    def __init__(self):
        super().__init__()
        self.surrogates = 0
        self.too_deep = 0

    def add(self, message: str) -> None:
        if message not in self:
            self.append(message)


def _clean(value, fixes: _Fixes, depth: int = 0):
    """A JSON-safe copy: lone surrogates (not writable as UTF-8) -> U+FFFD, NaN -> null."""
    if isinstance(value, str):
        if not value.isascii() and _SURROGATE.search(value):
            fixes.surrogates += len(_SURROGATE.findall(value))
            return _SURROGATE.sub("\ufffd", value)
        return value
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= _MAX_DEPTH:
        fixes.too_deep += 1
        return None
    if isinstance(value, dict):
        return {_clean(str(k), fixes): _clean(v, fixes, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, fixes, depth + 1) for v in value]
    return _clean(str(value), fixes)  # not JSON at all (only from callers building notebooks)


def _text(value) -> tuple[str, bool]:
    """(text, was it well-formed): a string, or a list of strings, as nbformat allows."""
    if isinstance(value, str):
        return value, True
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(value), True
    if value is None:
        return "", False
    if isinstance(value, list):
        return "".join(v if isinstance(v, str) else json.dumps(v) for v in value), False
    return json.dumps(value), False


def _kind(value) -> str:
    """A JSON value's type, in words, for the report."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    names = {int: "a number", float: "a number", str: "text", dict: "an object"}
    return names.get(type(value), "a list with non-text items")


def _bundle(value) -> dict:
    if not isinstance(value, dict):
        return {}
    out = {}
    for mime, data in value.items():
        out[mime] = data if _JSON_MIME.match(mime) else _text(data)[0]
    return out


def _output(out) -> dict | None:
    if not isinstance(out, dict):
        return None
    kind = out.get("output_type")
    if kind == "stream":
        name = out.get("name")
        return {"output_type": kind, "name": name if isinstance(name, str) else "stdout",
                "text": _text(out.get("text"))[0]}
    if kind in ("display_data", "execute_result"):
        meta = out.get("metadata")
        fixed = {"output_type": kind, "data": _bundle(out.get("data")),
                 "metadata": meta if isinstance(meta, dict) else {}}
        if kind == "execute_result":
            fixed["execution_count"] = _count(out.get("execution_count"))
        return fixed
    if kind == "error":
        tb = out.get("traceback")
        return {"output_type": kind, "ename": _text(out.get("ename"))[0],
                "evalue": _text(out.get("evalue"))[0],
                "traceback": [_text(t)[0] for t in tb] if isinstance(tb, list) else []}
    return None


def _count(value) -> int | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
    return value if ok else None


def _cell_metadata(meta: dict) -> bool:
    """Drop standard keys of the wrong type, in place; True if anything was dropped."""
    before = len(meta)
    for key in ("collapsed", "deletable", "editable"):
        if key in meta and not isinstance(meta[key], bool):
            del meta[key]
    if "scrolled" in meta and meta["scrolled"] not in (True, False, "auto"):
        del meta["scrolled"]
    for key in ("name", "format"):
        if key in meta and not (isinstance(meta[key], str) and meta[key]):
            del meta[key]
    for key in ("jupyter", "execution", "nbgrader"):
        if key in meta and not isinstance(meta[key], dict):
            del meta[key]
    if "execution" in meta and not all(isinstance(v, str) for v in meta["execution"].values()):
        meta["execution"] = {k: v for k, v in meta["execution"].items() if isinstance(v, str)}
    if "jupyter" in meta:
        jup = meta["jupyter"]
        for key in ("source_hidden", "outputs_hidden"):
            if key in jup and not isinstance(jup[key], bool):
                del jup[key]
    changed = len(meta) != before
    if "tags" in meta:
        tags = meta["tags"]
        good = list(dict.fromkeys(t for t in tags if isinstance(t, str) and t and "," not in t)) \
            if isinstance(tags, list) else []
        changed = changed or good != tags
        meta["tags"] = good
    return changed


def _set_type(cell: dict, cell_type: str) -> None:
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell.pop("attachments", None)
        cell.setdefault("outputs", [])
        cell.setdefault("execution_count", None)
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


def _v3_cells(raw: dict, fixes: _Fixes) -> list:
    """nbformat 3 keeps cells in worksheets, code in ``input``; outputs are dropped (re-run)."""
    cells = []
    sheets = raw.get("worksheets")
    for sheet in sheets if isinstance(sheets, list) else []:
        for cell in (sheet.get("cells") if isinstance(sheet, dict) else None) or []:
            if not isinstance(cell, dict):
                cells.append(cell)  # reported below
                continue
            cell = dict(cell)
            if cell.get("cell_type") == "code":
                cell["source"] = cell.pop("input", "")
                cell["outputs"] = []
            elif cell.get("cell_type") == "heading":
                level = cell.get("level")
                level = level if isinstance(level, int) and 1 <= level <= 6 else 1
                cell["cell_type"] = "markdown"
                cell["source"] = "#" * level + " " + _text(cell.get("source"))[0]
            cells.append(cell)
    fixes.add("nbformat 3 notebook converted to nbformat 4 (outputs dropped)")
    return cells


def _build(raw: dict, fixes: _Fixes) -> tuple[dict | None, str]:
    """A valid nbformat 4.5 dict from parsed JSON, or (None, why it is not a notebook)."""
    version = raw.get("nbformat")
    if "worksheets" in raw and not isinstance(raw.get("cells"), list):
        raw_cells = _v3_cells(raw, fixes)
    else:
        raw_cells = raw.get("cells")
        if not isinstance(raw_cells, list):
            return None, "JSON, but not a Jupyter notebook ('cells' is not a list)"
        if version != 4 or isinstance(version, bool):
            fixes.add(f"nbformat version {version!r} read as 4" if "nbformat" in raw
                      else "no nbformat version; read as 4")
    meta = raw.get("metadata")
    if not isinstance(meta, dict):
        if "metadata" in raw:
            fixes.add("the notebook's metadata was not a dict; replaced")
        meta = {}
    meta = dict(meta)
    info = meta.get("language_info")
    if "language_info" in meta and not (isinstance(info, dict)
                                        and isinstance(info.get("name"), str)):
        del meta["language_info"]
    elif isinstance(info, dict):
        meta["language_info"] = info = dict(info)
        if not isinstance(info.get("codemirror_mode", ""), (str, dict)):
            del info["codemirror_mode"]
        for key in ("file_extension", "mimetype", "pygments_lexer"):
            if key in info and not isinstance(info[key], str):
                del info[key]
    if "orig_nbformat" in meta and _count(meta["orig_nbformat"]) in (None, 0):
        del meta["orig_nbformat"]
    if "title" in meta and not isinstance(meta["title"], str):
        del meta["title"]
    if "authors" in meta and not isinstance(meta["authors"], list):
        del meta["authors"]

    cells = []
    for n, cell in enumerate(raw_cells, 1):
        if not isinstance(cell, dict):
            fixes.add(f"cell {n} was {_kind(cell)}, not a cell; dropped")
            continue
        cell_type = cell.get("cell_type")
        if cell_type not in ("code", "markdown", "raw"):
            cell_type = "code" if "outputs" in cell or "execution_count" in cell else "raw"
            fixes.add(f"cell {n} had cell type {cell.get('cell_type')!r}; read as {cell_type}")
        source, ok = _text(cell.get("source"))
        if not ok:
            fixes.add(f"cell {n}'s source was {_kind(cell.get('source'))}, not text; converted")
        cmeta = cell.get("metadata")
        if not isinstance(cmeta, dict):
            if "metadata" in cell:
                fixes.add(f"cell {n}'s metadata was not a dict; replaced")
            cmeta = {}
        cmeta = dict(cmeta)
        if _cell_metadata(cmeta):
            fixes.add(f"cell {n}'s metadata had malformed fields; dropped them")
        out = {"cell_type": cell_type, "metadata": cmeta, "source": source}
        if isinstance(cell.get("id"), str) and _CELL_ID.fullmatch(cell["id"]):
            out["id"] = cell["id"]
        if cell_type == "code":
            outputs = cell.get("outputs")
            outputs = outputs if isinstance(outputs, list) else []
            out["outputs"] = [o for o in map(_output, outputs) if o is not None]
            if len(out["outputs"]) != len(outputs) or "outputs" in cell and \
                    not isinstance(cell["outputs"], list):
                fixes.add(f"cell {n} had malformed outputs; dropped them")
            out["execution_count"] = _count(cell.get("execution_count"))
        elif isinstance(cell.get("attachments"), dict):
            out["attachments"] = {k: _bundle(v) for k, v in cell["attachments"].items()}
        cells.append(out)
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": meta, "cells": cells}, ""


def _read(data: bytes) -> tuple[nbformat.NotebookNode | None, str, _Fixes]:
    fixes = _Fixes()
    if not data.strip():
        return None, "the file is empty (0 bytes)", fixes  # reported as EMPTY by repair()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            if data[:2] not in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 BOM: some Windows editors
                raise UnicodeError
            text = data.decode("utf-16")
            fixes.add("the file was UTF-16; read and written as UTF-8")
        except UnicodeError:
            text = data.decode("utf-8", "replace")
            fixes.add("bytes that are not UTF-8 replaced by U+FFFD")
    try:
        raw = json.loads(text, parse_constant=lambda _: None)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, int digit limit, nesting
        return None, f"not valid notebook JSON ({exc.__class__.__name__}: {str(exc)[:80]})", fixes
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        return None, "JSON, but not a Jupyter notebook (no cells)", fixes
    raw = _clean(raw, fixes)
    built, why = _build(raw, fixes)
    if built is None:
        return None, why, fixes
    if fixes.surrogates:
        fixes.add(f"{fixes.surrogates} lone surrogate character(s) replaced by U+FFFD")
    if fixes.too_deep:
        fixes.add(f"{fixes.too_deep} value(s) nested over {_MAX_DEPTH} deep dropped")
    return nbformat.from_dict(built), "", fixes


def read_submission(data: bytes) -> tuple[nbformat.NotebookNode | None, str]:
    """Parse bytes as a v4 notebook (any malformed field fixed); on failure (None, why)."""
    nb, why, _ = _read(data)
    return nb, why


# -- matching against the release ----------------------------------------------------------------

def _valid_nbg(nbg: dict) -> bool:
    """Would nbgrader accept this metadata (else its validator drops the whole notebook)?"""
    if not any(nbg.get(flag) for flag in _NBG_FLAGS):
        return True  # nbgrader ignores cells that are none of these
    if not isinstance(nbg.get("grade_id"), str) or not nbg["grade_id"]:
        return False
    if any(not isinstance(nbg.get(flag, False), bool) for flag in _NBG_FLAGS):
        return False
    points = nbg.get("points", 0)
    number = isinstance(points, (int, float)) and not isinstance(points, bool)
    return number or not nbg.get("grade")


def _adopt(cell, ref) -> list[str]:
    """Give ``cell`` the release cell's nbgrader metadata and type; what differed."""
    changed = []
    if cell.cell_type != ref.cell_type:
        changed.append(f"its type was changed from {ref.cell_type} to {cell.cell_type}")
        _set_type(cell, ref.cell_type)
    mine, theirs = _nbg(cell), _nbg(ref)
    # Points and checksums may differ after a re-release: restored, but not the student's doing.
    if mine.get("grade_id") != theirs.get("grade_id") or any(
            bool(mine.get(flag)) != bool(theirs.get(flag)) for flag in _NBG_FLAGS):
        changed.append("its nbgrader metadata differed from the release")
    cell.metadata["nbgrader"] = copy.deepcopy(theirs)
    return changed


def _skeleton(source: str) -> list[str]:
    """The lines of a release answer cell a student keeps (signature, docstring, return)."""
    out = []
    for line in source.splitlines():
        line = line.strip()
        if line and not line.startswith("#") and line not in (
                "raise NotImplementedError()", "YOUR ANSWER HERE"):
            out.append(line)
    return out


def _find_lost(ref, cells, candidates: list[int], taken: set[str]) -> tuple[int, str] | None:
    """The candidate cell that is ``ref`` with its metadata lost: (index, how) or None."""
    target = _norm(ref.source)
    sources = {i: _norm(cells[i].source) for i in candidates}
    exact = [i for i in candidates if sources[i] == target]
    if exact:
        return exact[0], "content"
    if not _nbg(ref).get("solution"):
        return None  # a test or read-only cell only by its exact text (nbgrader restores it)
    free = [i for i in candidates if sources[i] not in taken]  # not another release cell
    skeleton = _skeleton(ref.source)
    if skeleton:
        best, best_score = None, 0.0
        for i in free:
            lines = {line.strip() for line in cells[i].source.splitlines()}
            score = sum(line in lines for line in skeleton) / len(skeleton)
            score += skeleton[0] in lines  # the signature alone is enough
            if score >= 0.5 and score > best_score:
                best, best_score = i, score
        return (best, "content") if best is not None else None
    same = [i for i in free if cells[i].cell_type == ref.cell_type]
    return (same[0], "position") if same else None


def repair(data: bytes, release: nbformat.NotebookNode) -> Repair:
    """Return a gradeable copy of the submission ``data`` against the ``release`` notebook."""
    data = bytes(data) if not isinstance(data, str) else data.encode("utf-8", "replace")
    if len(data) > MAX_NOTEBOOK_BYTES:
        return Repair(None, [(TOO_LARGE, f"the file is {len(data) / 2**20:.0f} MB, over the "
                                         f"{MAX_NOTEBOOK_BYTES // 2**20} MB limit; not read")])
    nb, why, fixes = _read(data)
    if nb is None:
        return Repair(None, [(EMPTY if not data.strip() else NOT_A_NOTEBOOK, why)])
    if not any(cell.source.strip() for cell in nb.cells):
        return Repair(None, [(EMPTY, "the notebook has no cells with content")])

    problems: list[tuple[str, str]] = [(REPAIRED, fix) for fix in fixes[:_MAX_FIX_DETAILS]]
    if len(fixes) > _MAX_FIX_DETAILS:
        problems.append((REPAIRED, f"... and {len(fixes) - _MAX_FIX_DETAILS} more fixes"))
    release_cells = [c for c in release.cells if _grade_id(c)]
    release_by_id = {_grade_id(c): c for c in release_cells}

    # 0. Cells the release knows by grade_id get its metadata and type back (an editor may have
    #    dropped a flag or turned code into markdown). Any other nbgrader metadata goes:
    #    malformed, nbgrader rejects the whole notebook; with a grade_id unknown to the release
    #    (or none), OverwriteCells drops the id and add_missing_cells then fails (KeyError),
    #    leaving the student without a gradebook entry. A stripped cell may still be found
    #    again by its content in step 2.
    for n, cell in enumerate(nb.cells, 1):
        nbg = _nbg(cell)
        gid = nbg.get("grade_id")
        ref = release_by_id.get(gid) if isinstance(gid, str) else None
        if ref is not None:
            changed = _adopt(cell, ref)
            if changed:
                problems.append((REPAIRED, f"cell '{gid}': {' and '.join(changed)}; "
                                           "restored from the release"))
        elif "nbgrader" in cell.metadata:
            del cell.metadata["nbgrader"]
            if not _valid_nbg(nbg):
                problems.append((REPAIRED, f"cell {n} had malformed nbgrader metadata; removed"))
            elif any(nbg.get(flag) for flag in _NBG_FLAGS):
                claims = "/".join(f for f in _NBG_FLAGS if nbg.get(f))
                problems.append((REPAIRED, f"cell {n} claimed to be a {claims} cell "
                                           f"{str(gid)[:40]!r} that the release does not have; "
                                           "graded as an ordinary cell"))

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
        problems.append((DUPLICATE_CELLS,
                         f"cell '{gid}' appears {len(idxs)} times; graded one copy"))

    # 2. Release cells whose metadata the student's editor lost: find the cell between the
    #    neighbouring release cells that are still there, by its text (a test or read-only
    #    cell: exactly; an answer: the lines of the release's stub it keeps) or, for an answer
    #    whose stub is only a placeholder, as the first cell of its type there.
    index: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        index.setdefault(_grade_id(cell), i)
    index.pop(None, None)
    release_texts = {_norm(c.source) for c in release.cells}
    for pos, ref in enumerate(release_cells):
        gid = _grade_id(ref)
        if gid in index:
            continue
        before = [index[_grade_id(c)] for c in release_cells[:pos] if _grade_id(c) in index]
        after = [index[_grade_id(c)] for c in release_cells[pos + 1:] if _grade_id(c) in index]
        lo, hi = max(before, default=-1), min(after, default=len(nb.cells))
        candidates = [i for i in range(lo + 1, hi) if _grade_id(nb.cells[i]) is None]
        found = _find_lost(ref, nb.cells, candidates, release_texts - {_norm(ref.source)})
        if found is None:
            continue
        i, how = found
        _adopt(nb.cells[i], ref)
        index[gid] = i
        problems.append((REPAIRED, f"cell '{gid}' had lost its nbgrader metadata; recognised "
                                   f"by its {how} and restored from the release"))

    # 3. Test cells edited by the student (nbgrader restores the original source itself).
    for cell in nb.cells:
        gid = _grade_id(cell)
        ref = release_by_id.get(gid)
        if ref is not None and _is_test(ref) and _norm(cell.source) != _norm(ref.source):
            problems.append((TESTS_EDITED,
                             f"test cell '{gid}' was edited; graded with the original tests"))

    # 4. Missing graded/locked cells: put the release's copy back after the nearest earlier
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
        problems.append((MISSING_CELLS,
                         f"{what} cell '{gid}' was deleted; put back from the release"))

    # 5. A notebook may hold at most MAX_CODE_CELLS code cells besides the release's own:
    #    20,000 tiny cells would otherwise cost the class a whole wall-clock budget.
    extra = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and _grade_id(c) is None]
    if len(extra) > MAX_CODE_CELLS:
        dropped = set(extra[MAX_CODE_CELLS:])
        nb.cells = [c for i, c in enumerate(nb.cells) if i not in dropped]
        problems.append((REPAIRED, f"{len(dropped)} code cells over the limit of "
                                   f"{MAX_CODE_CELLS} were left out (not run)"))

    # nbformat >= 4.5 wants unique cell ids; copies and re-added cells may clash.
    seen = set()
    for i, cell in enumerate(nb.cells):
        cid = cell.get("id")
        if not cid or cid in seen:
            cell["id"] = f"cell-{i}"
            while cell["id"] in seen:
                cell["id"] += "x"
        seen.add(cell["id"])
    nb.nbformat, nb.nbformat_minor = 4, 5
    # Execution uses the release's kernel, whatever the student switched to.
    spec = nb.metadata.get("kernelspec")
    if not (isinstance(spec, dict) and isinstance(spec.get("name"), str)):
        problems.append((REPAIRED, "the notebook's kernelspec was missing or malformed; "
                                   "the release's is used"))
    nb.metadata["kernelspec"] = copy.deepcopy(release.metadata.get("kernelspec", {}))
    return Repair(nb, problems)


def write(nb: nbformat.NotebookNode, path: Path) -> None:
    """Write ``nb`` as UTF-8 whatever its strings hold (lone surrogates become U+FFFD)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean = _clean(nb, _Fixes())
    try:
        text = nbformat.writes(nbformat.from_dict(clean))
    except Exception:  # noqa: BLE001 - a notebook a caller built by hand: still write it
        text = json.dumps(clean, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    path.write_bytes(text.encode("utf-8", "replace"))
