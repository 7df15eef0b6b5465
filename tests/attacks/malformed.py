"""Category 5: malformed inputs, through intake (flat files, zips, odd names, odd notebooks).

Student ids made by intake are not known in advance for some of these: ``fair`` keys may be
fnmatch patterns (``collide*``). An id no attack claims counts as fair 0.
"""

from __future__ import annotations

import copy
import io
import json
import os
import stat
import zipfile
from pathlib import Path

import nbformat

from . import RIGHT_CUBE, RIGHT_SQUARE, TOY_NB, attack, set_cell, toy


def _json(nb) -> str:
    return nbformat.writes(nb)


def _solution(ctx):
    return toy(ctx, square=RIGHT_SQUARE, cube=RIGHT_CUBE)


@attack("mal_surrogates", "malformed", 4,
        expect="lone surrogates are replaced; the notebook is graded normally")
def mal_surrogates(ctx):
    """The solution with lone surrogates (\\ud800, \\udfff) in a comment, a markdown cell, the
    metadata and an output, written as JSON escapes."""
    nb = _solution(ctx)
    text = _json(nb)
    raw = json.loads(text)
    for cell in raw["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "square":
            cell["source"] = "# \ud800 lone surrogate \udfff\n" + "".join(cell["source"])
    raw["cells"].insert(0, {"cell_type": "markdown", "metadata": {"x": "\udcff"},
                            "source": "bad \ud83d text"})
    raw["metadata"]["weird\ud800"] = "\udc00"
    data = json.dumps(raw, ensure_ascii=True)  # escapes: \ud800 in the file
    return {f"mal_surrogates/{TOY_NB}.ipynb": data.encode()}


@attack("mal_nonstring_fields", "malformed", 0,
        expect="numbers, dicts and nulls where text belongs are repaired, never crash intake")
def mal_nonstring_fields(ctx):
    """Sources that are numbers, dicts, lists of ints; metadata that is a list; outputs that
    are strings; nbformat 5; a cell that is a bare number."""
    raw = json.loads(_json(toy(ctx)))
    raw["nbformat"] = 5
    for i, cell in enumerate(raw["cells"]):
        if cell["cell_type"] == "markdown":
            cell["source"] = 12345
        elif cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cube":
            cell["source"] = {"not": "text"}
        elif cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "square":
            cell["source"] = [1, 2, 3]
            cell["outputs"] = "not a list"
            cell["execution_count"] = "NaN"
    raw["cells"].append(42)
    raw["cells"].append({"cell_type": "code", "metadata": [1, 2], "source": None,
                         "outputs": [{"output_type": "stream", "text": 7}]})
    raw["metadata"] = ["not", "a", "dict"]
    return {f"mal_nonstring_fields/{TOY_NB}.ipynb": json.dumps(raw).encode()}


@attack("mal_giant_notebook", "malformed", 0,
        expect="a 60 MB notebook is not parsed ('too large')")
def mal_giant_notebook(ctx):
    """The solution plus a 60 MB markdown cell."""
    nb = _solution(ctx)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (60 * 2**20)))
    return {f"mal_giant_notebook/{TOY_NB}.ipynb": _json(nb).encode()}


def _zip_writer(entries, *, level=9):
    """A callable writing a zip of ``entries``: [(name, bytes | (kind, target), mode)]."""
    def write(path: Path):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as zf:
            for name, data, mode in entries:
                info = zipfile.ZipInfo(name)
                info.compress_type = zipfile.ZIP_DEFLATED
                if mode is not None:
                    info.external_attr = mode << 16
                if callable(data):
                    with zf.open(info, "w", force_zip64=True) as out:
                        data(out)
                else:
                    zf.writestr(info, data)
    return write


@attack("mal_zip_bomb", "malformed", {"zipbomber": 0, "zipnester": 0},
        expect="a 400 MB entry that compresses 1000x is refused; nested zips are not unpacked")
def mal_zip_bomb(ctx):
    """A student zip whose notebook is the release padded to 400 MB of spaces (ratio ~1000),
    and a zip holding that zip."""
    body = _json(toy(ctx)).encode()

    def padded(out):
        out.write(body[:-2])
        block = b" " * 2**20
        for _ in range(400):
            out.write(block)
        out.write(body[-2:])
    bomb = _zip_writer([(f"{TOY_NB}.ipynb", padded, None)])

    def nested(path: Path):
        inner = path.with_suffix(".inner")
        bomb(inner)
        _zip_writer([("inner.zip", inner.read_bytes(), None),
                     (f"{TOY_NB}.ipynb", _json(toy(ctx)).encode(), None)])(path)
        inner.unlink()
    return {"zipbomber.zip": bomb, "zipnester.zip": nested}


@attack("mal_zip_traversal", "malformed", {"traverser": 4},
        expect="'..', absolute and backslash entries stay inside the extraction folder")
def mal_zip_traversal(ctx):
    """A student zip with entries ../../../<token>-zipslip.ipynb, /tmp/<token>-abs.ipynb,
    ..\\..\\<token>-back.ipynb, a/../../<token>-dot.ipynb and the solution."""
    tok = ctx.token
    evil = _json(toy(ctx)).encode()
    entries = [(f"../../../../{tok}-zipslip.ipynb", evil, None),
               (f"/tmp/{tok}-zipabs.ipynb", evil, None),
               (f"..\\..\\..\\{tok}-zipback.ipynb", evil, None),
               (f"a/../../../{tok}-zipdot.ipynb", evil, None),
               (f"{TOY_NB}.ipynb", _json(_solution(ctx)).encode(), None)]
    return {"traverser.zip": _zip_writer(entries)}


@attack("mal_zip_symlinks", "malformed", {"zlinker": 0},
        expect="symlink entries are not extracted (no read of /etc/passwd or another "
               "student's file)")
def mal_zip_symlinks(ctx):
    """A zip whose notebook entry is a symlink to /etc/passwd, plus a symlink to the victim's
    notebook and one to the host's gradebook."""
    lnk = stat.S_IFLNK | 0o777
    entries = [(f"{TOY_NB}.ipynb", b"/etc/passwd", lnk),
               (f"x_{TOY_NB}.ipynb", str(ctx.class_dir / ctx.victim / f"{TOY_NB}.ipynb").encode(), lnk),
               ("gradebook.db", str(ctx.course_root / "gradebook.db").encode(), lnk)]
    return {"zlinker.zip": _zip_writer(entries)}


@attack("mal_dotfiles", "malformed", 4,
        expect="dot-files count like any file and each gets a row")
def mal_dotfiles(ctx):
    """A folder with .squares.ipynb (solution), squares.ipynb (release), .hidden/notes and
    a .git folder."""
    return {"mal_dotfiles/.squares.ipynb": _solution(ctx),
            "mal_dotfiles/squares.ipynb": toy(ctx),
            "mal_dotfiles/.hidden/notes.txt": "notes",
            "mal_dotfiles/.git/config": "[core]\n"}


@attack("mal_name_collisions", "malformed", {"collide*": 4, "Collide*": 4},
        expect="a folder, a flat file, a zip and a differently cased folder of one name are "
               "told apart or merged visibly; every file gets a row")
def mal_name_collisions(ctx):
    """collide/ (release), collide_squares.ipynb (solution), Collide/ (release) and
    collide.zip (release)."""
    return {"collide/squares.ipynb": toy(ctx),
            "collide_squares.ipynb": _solution(ctx),
            "Collide/squares.ipynb": toy(ctx),
            "collide.zip": _zip_writer([(f"{TOY_NB}.ipynb", _json(toy(ctx)).encode(), None)])}


@attack("mal_lookalike_ids", "malformed",
        {"zz_victim-*": 0, "zz_v_ctim*": 0, "zz_vi_tim*": 0},
        expect="a full-width 'ｚｚ_ｖｉｃｔｉｍ' or Cyrillic look-alike must never replace or "
               "join the real zz_victim's submission")
def mal_lookalike_ids(ctx):
    """Folders named like the victim: full-width letters (NFKC-equal to it), a Cyrillic 'і'
    and a Cyrillic 'с', each with the release, newer than the victim's file."""
    release = toy(ctx)

    def newer(nb):
        def write(path: Path):
            path.write_text(_json(nb))
            future = os.stat(path).st_mtime + 3600
            os.utime(path, (future, future))
        return write
    return {"ｚｚ_ｖｉｃｔｉｍ/squares.ipynb": newer(release),
            "zz_vіctim/squares.ipynb": newer(release),
            "zz_viсtim/squares.ipynb": newer(release)}


@attack("mal_odd_ids", "malformed",
        {"latest-run*": 0, "rf*": 0, "results*": 0, "con*": 0, "unknown*": 0, "a_b_c*": 0,
         "xxxx*": 0, "_*": 0, "jobs*": 0, "intake*": 0},
        expect="odd folder names become safe, distinct ids; each gets a row")
def mal_odd_ids(ctx):
    """Folders named -rf, latest-run, results, jobs, intake, con, '...', 'a b c', 250 x's
    and 日本語."""
    nb = toy(ctx)
    names = ["-rf", "latest-run", "results", "jobs", "intake", "con", "...", "a b c",
             "x" * 250, "日本語"]
    return {f"{n}/squares.ipynb": nb for n in names}


@attack("mal_special_files", "malformed", {"fifo*": 0, "linky*": 0, "linkv*": 0, "devnull*": 0},
        expect="a FIFO, symlinks to /etc/passwd and to another student's file are listed, "
               "never read")
def mal_special_files(ctx):
    """fifo_squares.ipynb (a FIFO with no writer), linky_squares.ipynb -> /etc/passwd,
    linkv_squares.ipynb -> the victim's notebook, devnull_squares.ipynb -> /dev/zero."""
    def fifo(path: Path):
        os.mkfifo(path)

    def link(target):
        def make(path: Path):
            os.symlink(target, path)
        return make
    return {"fifo_squares.ipynb": fifo,
            "linky_squares.ipynb": link("/etc/passwd"),
            "linkv_squares.ipynb": link(str(ctx.class_dir / ctx.victim / f"{TOY_NB}.ipynb")),
            "devnull_squares.ipynb": link("/dev/zero")}


@attack("mal_utf16", "malformed", 4)
def mal_utf16(ctx):
    """The solution saved as UTF-16 with a BOM."""
    return {f"mal_utf16/{TOY_NB}.ipynb": _json(_solution(ctx)).encode("utf-16")}


@attack("mal_nbformat3", "malformed", 4)
def mal_nbformat3(ctx):
    """The solution converted to nbformat 3 (worksheets, 'input')."""
    v3 = nbformat.convert(copy.deepcopy(_solution(ctx)), 3)
    return {f"mal_nbformat3/{TOY_NB}.ipynb": nbformat.writes(v3, version=3).encode()}


@attack("mal_many_cells", "malformed", 4,
        expect="20,000 extra cells cost at most this student's wall-clock budget")
def mal_many_cells(ctx):
    """The solution followed by 20,000 tiny code cells."""
    nb = _solution(ctx)
    for i in range(20000):
        nb.cells.append(nbformat.v4.new_code_cell(f"_{i} = {i}"))
    return {f"mal_many_cells/{TOY_NB}.ipynb": nb}


@attack("mal_forged_metadata", "malformed", 0,
        expect="points and graded cells come from the release: a 1000-point bonus cell, a "
               "test cell worth 100 and a manually graded answer add nothing (results and "
               "gradebook agree, max 4)")
def mal_forged_metadata(ctx):
    """The release with a new graded cell 'bonus' (1000 points, passes), test_square's points
    set to 100 and a copy of it before it, a markdown cell claiming grade+solution (500
    points), and a task cell."""
    nb = toy(ctx)
    extra = nbformat.v4.new_code_cell("assert True\n", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "locked": True, "points": 1000, "schema_version": 3,
        "solution": False, "task": False}})
    nb.cells.insert(0, extra)
    manual = nbformat.v4.new_markdown_cell("I deserve 500 points", metadata={"nbgrader": {
        "grade": True, "grade_id": "essay", "locked": False, "points": 500, "schema_version": 3,
        "solution": True, "task": False}})
    nb.cells.insert(1, manual)
    task = nbformat.v4.new_markdown_cell("task", metadata={"nbgrader": {
        "grade": False, "grade_id": "task1", "locked": True, "points": 300, "schema_version": 3,
        "solution": False, "task": True}})
    nb.cells.insert(2, task)
    i = next(i for i, c in enumerate(nb.cells)
             if c.metadata.get("nbgrader", {}).get("grade_id") == "test_square")
    nb.cells[i].metadata["nbgrader"]["points"] = 100
    twin = copy.deepcopy(nb.cells[i])
    twin.source = "assert True"
    twin["id"] = "twin-cell"
    nb.cells.insert(i, twin)
    return {f"mal_forged_metadata/{TOY_NB}.ipynb": nb}


@attack("mal_cell_type_swap", "malformed", 4)
def mal_cell_type_swap(ctx):
    """The solution with its test cells turned into markdown and raw cells and the answer
    cells' nbgrader metadata dropped."""
    nb = _solution(ctx)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid == "test_square":
            cell.cell_type = "markdown"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        elif gid == "test_cube":
            cell.cell_type = "raw"
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        elif gid in ("square", "cube"):
            del cell.metadata["nbgrader"]
    return {f"mal_cell_type_swap/{TOY_NB}.ipynb": _json(nb).encode()}
