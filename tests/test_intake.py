"""Hostile submissions: intake and repair never raise, never drop or mix up a file.

Every test builds its input in ``tmp_path``; no notebook is executed (seconds in all).
"""

from __future__ import annotations

import copy
import json
import os
import random
import re
import struct
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.engine import intake, repair
from autograder.engine.course import REPO_ROOT

NOTEBOOKS = ["1_residual_blocks", "2_resnet50_signs"]
RELEASE = REPO_ROOT / "assignments" / "resnets" / "1_residual_blocks.ipynb"


@pytest.fixture(scope="module")
def release():
    return nbformat.read(RELEASE, as_version=4)


@pytest.fixture()
def release_json():
    return json.loads(RELEASE.read_text())


def collect(source: Path, workdir: Path):
    return intake.collect(source, "resnets", NOTEBOOKS, workdir)


def listed(found) -> dict[str, list[str]]:
    """student -> names of every file intake gave them (graded, stray, timestamp)."""
    out = {}
    for sid, sf in found.items():
        paths = list(sf.notebooks.values()) + list(sf.stray)
        paths += [sf.timestamp] if sf.timestamp else []
        out[sid] = sorted(p.name for p in paths)
    return out


def owner(found, filename: str) -> str:
    [sid] = [s for s, names in listed(found).items() if filename in names]
    return sid


def tree(root: Path, skip: Path | None = None) -> set[str]:
    """Every path under ``root`` (not following links), minus ``skip``."""
    out = set()
    for here, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(here) / name
            if skip is None or not (path == skip or skip in path.parents):
                out.add(str(path))
    return out


def assert_sane(found, inputs: list[str]):
    """Every input file is some student's (graded, stray, or named in a note such as "ignored
    older copy"); ids are unique, ASCII and path-safe."""
    names = [n for names in listed(found).values() for n in names]
    notes = "\n".join(n for sf in found.values() for n in sf.notes)
    for name in inputs:
        assert name in names or name in notes, (name, listed(found))
    ids = list(found)
    assert len({i.casefold() for i in ids}) == len(ids)
    for sid in ids:
        assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", sid) and len(sid) <= 80, sid
        assert found[sid].student == sid


def roundtrip(nb, path: Path) -> nbformat.NotebookNode:
    repair.write(nb, path)
    back = nbformat.read(path, as_version=4)
    nbformat.validate(back)
    return back


# -- repair: any field of any type ----------------------------------------------------------

def test_a_lone_surrogate_is_written_as_replacement_character(release, release_json, tmp_path):
    release_json["cells"][1]["source"] = "print('\ud800 and \udfff')"
    data = json.dumps(release_json).encode()  # JSON escapes the surrogates: valid bytes
    fixed = repair.repair(data, release)
    assert fixed.kinds == [repair.REPAIRED]
    back = roundtrip(fixed.notebook, tmp_path / "out.ipynb")
    assert "\ufffd and \ufffd" in back.cells[1].source
    # A notebook built in memory with a surrogate is written too.
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = '\udc80'")])
    assert roundtrip(nb, tmp_path / "mem.ipynb").cells[0].source == "x = '\ufffd'"


@pytest.mark.parametrize("source, text", [
    (42, "42"), (None, ""), ({"a": 1}, '{"a": 1}'), ([1, None, "x"], "1nullx"), (True, "true"),
    (["a\n", "b"], "a\nb"),
])
def test_a_source_that_is_not_text_is_converted(release, release_json, tmp_path, source, text):
    release_json["cells"][1]["source"] = source
    fixed = repair.repair(json.dumps(release_json).encode(), release)
    assert fixed.notebook.cells[1].source == text
    well_formed = isinstance(source, str) or isinstance(source, list) and \
        all(isinstance(s, str) for s in source)
    assert (fixed.kinds == []) == well_formed, fixed.problems
    assert roundtrip(fixed.notebook, tmp_path / "out.ipynb").cells[1].source == text


@pytest.mark.parametrize("damage, kind", [
    (lambda nb: nb.update(metadata=5), repair.REPAIRED),
    (lambda nb: nb["metadata"].update(language_info=3, title=[], authors=1), None),
    (lambda nb: nb.update(cells={"0": "x"}), repair.NOT_A_NOTEBOOK),
    (lambda nb: nb.update(cells=None), repair.NOT_A_NOTEBOOK),
    (lambda nb: nb["cells"].insert(0, "not a cell"), repair.REPAIRED),
    (lambda nb: nb["cells"].insert(0, None), repair.REPAIRED),
    (lambda nb: nb["cells"][6].update(outputs="oops"), repair.REPAIRED),
    (lambda nb: nb["cells"][6].update(outputs=[1, {"output_type": "stream", "text": 5},
                                               {"output_type": "magic"},
                                               {"output_type": "display_data", "data": 7}]),
     repair.REPAIRED),
    (lambda nb: nb["cells"][6].update(execution_count="seven"), None),
    (lambda nb: nb["cells"][2].update(metadata=[1, 2]), repair.REPAIRED),
    (lambda nb: nb["cells"][2]["metadata"].update(tags="a,b", collapsed="no", name=""),
     repair.REPAIRED),
    (lambda nb: nb["cells"][2].update(cell_type="sorcery"), repair.REPAIRED),
    (lambda nb: nb["cells"][2].update(id="bad id!" * 20), None),
    (lambda nb: nb["cells"][2]["metadata"].update(nbgrader="yes"), repair.REPAIRED),
    (lambda nb: nb.update(nbformat=5), repair.REPAIRED),
    (lambda nb: nb.update(nbformat="four"), repair.REPAIRED),
    (lambda nb: nb.pop("nbformat"), repair.REPAIRED),
    (lambda nb: nb.update(nbformat_minor="x"), None),
])
def test_malformed_fields_never_raise_and_give_a_valid_notebook(
        release, release_json, tmp_path, damage, kind):
    damage(release_json)
    fixed = repair.repair(json.dumps(release_json).encode(), release)
    assert (kind in fixed.kinds) if kind else fixed.kinds == [], fixed.problems
    if fixed.notebook is not None:
        roundtrip(fixed.notebook, tmp_path / "out.ipynb")


def test_nbformat_3_is_converted(release, tmp_path):
    v3 = {"nbformat": 3, "nbformat_minor": 0, "metadata": {"name": "old"}, "worksheets": [
        {"cells": [{"cell_type": "heading", "level": 1, "source": "Old"},
                   {"cell_type": "code", "input": "print(1)", "language": "python",
                    "outputs": [{"output_type": "pyout", "text": "1"}]}, 7]}]}
    fixed = repair.repair(json.dumps(v3).encode(), release)
    assert repair.REPAIRED in fixed.kinds
    back = roundtrip(fixed.notebook, tmp_path / "out.ipynb")
    sources = [c.source for c in back.cells]
    assert "# Old" in sources and "print(1)" in sources


@pytest.mark.parametrize("data, kind", [
    (b"\xff\xfe" + '{"cells": [{"cell_type": "code", "source": "x=1", "metadata": {}}]}'
     .encode("utf-16-le"), repair.REPAIRED),
    (b'{"cells": [{"cell_type": "code", "source": "x = \'\xe9\'", "metadata": {}}]}',
     repair.REPAIRED),
    (b"[" * 100_000, repair.NOT_A_NOTEBOOK),
    (b'{"cells": [], "n": ' + b"9" * 5000 + b"}", repair.NOT_A_NOTEBOOK),
    (b'{"cells": [{"cell_type": "code", "source": "x", "metadata": {"v": NaN}}]}',
     repair.REPAIRED),
    (b"\x00" * 100, repair.NOT_A_NOTEBOOK),
    (b"   \n\t ", repair.EMPTY),
])
def test_odd_bytes_are_classified(release, tmp_path, data, kind):
    fixed = repair.repair(data, release)
    assert kind in fixed.kinds, fixed.problems
    if fixed.notebook is not None:
        roundtrip(fixed.notebook, tmp_path / "out.ipynb")


def test_a_huge_notebook_is_reported_too_large_without_parsing(release):
    data = b'{"cells": [' + b" " * repair.MAX_NOTEBOOK_BYTES + b"]}"
    fixed = repair.repair(data, release)
    assert fixed.notebook is None and fixed.kinds == [repair.TOO_LARGE]


# -- repair: metadata slips are repaired from the release ------------------------------------

def _cell(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                == grade_id)


def _ids(nb) -> list[str]:
    """The grade_ids nbgrader tracks (a graded, answer, locked or task cell): a release cell
    with none of those flags (notebook 2's optional own_photo cell) is an ordinary cell, and
    repair drops its inert nbgrader metadata."""
    return [repair._grade_id(c) for c in nb.cells]


ANSWER = ("def identity_block(X, f, filters, training=None, initializer=random_uniform):\n"
          "    X = X + 1  # my answer\n    return X\n")


@pytest.mark.parametrize("slip", ["lost metadata", "lost flags", "markdown", "raw",
                                  "lost test metadata", "no kernelspec"])
def test_a_metadata_slip_is_repaired_not_zeroed(release, release_json, tmp_path, slip):
    answer = _cell(release_json, "identity_block")
    answer["source"] = ANSWER
    test = _cell(release_json, "test_identity_block_visible")
    if slip == "lost metadata":
        answer["metadata"] = {}
    elif slip == "lost flags":
        answer["metadata"]["nbgrader"] = {"grade_id": "identity_block"}
    elif slip in ("markdown", "raw"):
        answer["cell_type"] = slip
        answer.pop("outputs"), answer.pop("execution_count")
    elif slip == "lost test metadata":
        test["metadata"].pop("nbgrader")
    else:
        del release_json["metadata"]["kernelspec"]
    fixed = repair.repair(json.dumps(release_json).encode(), release)
    assert fixed.kinds == [repair.REPAIRED], fixed.problems
    nb = roundtrip(fixed.notebook, tmp_path / "out.ipynb")
    assert _ids(nb) == _ids(release)  # nothing re-added, nothing lost
    mine = nb.cells[_ids(nb).index("identity_block")]
    assert mine.source == ANSWER and mine.cell_type == "code"
    assert mine.metadata["nbgrader"] == _cell(json.loads(RELEASE.read_text()),
                                               "identity_block")["metadata"]["nbgrader"]
    assert nb.metadata["kernelspec"] == release.metadata["kernelspec"]


def test_an_answer_whose_stub_is_only_a_placeholder_is_found_by_position(tmp_path):
    release = nbformat.read(RELEASE.with_name("2_resnet50_signs.ipynb"), as_version=4)
    sub = json.loads(nbformat.writes(release))
    pasted = _cell(sub, "blocks_from_part1")
    pasted["source"], pasted["metadata"] = "def identity_block(X):\n    return X\n", {}
    fixed = repair.repair(json.dumps(sub).encode(), release)
    assert fixed.kinds == [repair.REPAIRED], fixed.problems
    nb = fixed.notebook
    assert _ids(nb) == _ids(release)
    assert nb.cells[_ids(nb).index("blocks_from_part1")].source.startswith("def identity_block")


def test_an_unrelated_cell_is_not_taken_for_a_deleted_test(release, release_json):
    test = _cell(release_json, "test_identity_block_visible")
    test["metadata"], test["source"] = {}, "print('my own check')"
    fixed = repair.repair(json.dumps(release_json).encode(), release)
    assert repair.MISSING_CELLS in fixed.kinds  # the release's test is put back instead
    nb = fixed.notebook
    assert _ids(nb).count("test_identity_block_visible") == 1
    assert any(c.source == "print('my own check')" for c in nb.cells)


def test_code_cells_over_the_limit_are_left_out_but_graded_cells_stay(release, release_json):
    extra = [{"cell_type": "code", "id": f"x{i}", "metadata": {}, "outputs": [],
              "execution_count": None, "source": f"_{i} = {i}"}
             for i in range(repair.MAX_CODE_CELLS + 50)]
    release_json["cells"] = extra[:10] + release_json["cells"] + extra[10:]
    fixed = repair.repair(json.dumps(release_json).encode(), release)
    nb = fixed.notebook
    assert set(_ids(release)) <= set(_ids(nb))  # every graded/read-only cell is still there
    own = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("_")]
    assert len(own) == repair.MAX_CODE_CELLS and own[0].source == "_0 = 0"
    assert any("50 code cells over the limit" in why for _, why in fixed.problems)


def _unknown_graded_cells(release_json) -> dict:
    """The release plus cells claiming nbgrader roles the release has no cell for."""
    test = _cell(release_json, "test_identity_block_visible")
    at = release_json["cells"].index(test) + 1

    def cell(cell_type, source, **nbg):
        out = {"cell_type": cell_type, "id": nbg.get("grade_id", "no-id"),
               "metadata": {"nbgrader": nbg}, "source": source}
        if cell_type == "code":
            out.update(outputs=[], execution_count=None)
        return out
    release_json["cells"][at:at] = [
        cell("code", "assert True  # my own test", grade=True, solution=False, locked=True,
             grade_id="my_own_test", points=5, schema_version=3),
        cell("markdown", "my notes", grade=False, solution=True, locked=False,
             grade_id="my_notes", schema_version=3),
        cell("code", "x = 1", grade=False, solution=False, locked=True, grade_id="cell-x"),
        cell("code", "y = 2", grade=False, solution=False, locked=False, grade_id="cell-y"),
        cell("code", "z = 3", schema_version=3),  # nbgrader metadata without any grade_id
    ]
    answer = _cell(release_json, "identity_block")  # an answer whose id was edited
    answer["source"] = ANSWER
    answer["metadata"]["nbgrader"]["grade_id"] = "identity_block_v2"
    return release_json


def test_graded_cell_with_unknown_grade_id_is_made_ungraded(release, release_json, tmp_path):
    sub = _unknown_graded_cells(release_json)
    fixed = repair.repair(json.dumps(sub).encode(), release)
    assert fixed.kinds == [repair.REPAIRED], fixed.problems
    nb = roundtrip(fixed.notebook, tmp_path / "out.ipynb")
    graded = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert [c.metadata.nbgrader["grade_id"] for c in graded] == [i for i in _ids(release) if i]
    for source in ("assert True  # my own test", "my notes", "x = 1", "y = 2", "z = 3"):
        [mine] = [c for c in nb.cells if c.source == source]
        assert "nbgrader" not in mine.metadata  # kept, as an ordinary cell
    answer = nb.cells[_ids(nb).index("identity_block")]  # found again by its content
    assert answer.source == ANSWER
    claims = [d for _, d in fixed.problems if "release does not have" in d]
    assert len(claims) == 4, fixed.problems  # the flagless one changes nothing graded


def test_nbgrader_autograde_accepts_a_repaired_unknown_grade_id(release, release_json,
                                                                 tmp_path, monkeypatch):
    """nbgrader's own OverwriteCells (add_missing_cells, as in nbgrader_config.py) raised
    KeyError 'grade_id' on these cells: the student got no gradebook entry."""
    from nbgrader import api
    from nbgrader.api import Gradebook
    from nbgrader.preprocessors import OverwriteCells, SaveCells

    # A new gradebook runs `alembic heads` in a subprocess (~10 s); its answer is not needed.
    monkeypatch.setattr(api, "get_alembic_version", lambda: "test")
    db = f"sqlite:///{tmp_path / 'gradebook.db'}"
    resources = {"nbgrader": {"db_url": db, "assignment": "resnets",
                              "notebook": "1_residual_blocks"}}
    with Gradebook(db) as gb:
        gb.add_assignment("resnets")
    SaveCells().preprocess(copy.deepcopy(release), copy.deepcopy(resources))
    sub = _unknown_graded_cells(release_json)
    overwrite = OverwriteCells(add_missing_cells=True)
    with pytest.raises(KeyError):  # what autograde did before repair stripped them
        overwrite.preprocess(nbformat.reads(json.dumps(sub), as_version=4),
                            copy.deepcopy(resources))
    fixed = repair.repair(json.dumps(sub).encode(), release)
    nb, _ = overwrite.preprocess(fixed.notebook, copy.deepcopy(resources))
    assert [i for i in _ids(nb) if i] == [i for i in _ids(release) if i]


# -- repair: fuzz -----------------------------------------------------------------------------

WORDS = ["cells", "source", "metadata", "nbgrader", "outputs", "cell_type", "code", "markdown",
         "raw", "grade_id", "solution", "grade", "locked", "points", "nbformat", "worksheets",
         "output_type", "stream", "text", "data", "execution_count", "tags", "id", "kernelspec",
         "identity_block", "test_identity_block_visible", "name", "traceback", "attachments"]


def _random_value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 5 or roll < 0.3:
        return rng.choice([None, True, False, 0, -1, 2**70, 1.5, float("nan"), "",
                           rng.choice(WORDS), "\ud800", "x\n" * rng.randint(0, 3), "a,b",
                           "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(5))])
    if roll < 0.65:
        return {rng.choice(WORDS): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 6))}
    return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 5))]


def _random_notebook(rng: random.Random, base: dict):
    """The release with a few values, mostly inside cells, replaced by random ones."""
    nb = copy.deepcopy(base)
    for _ in range(rng.randint(1, 6)):
        cells = nb.get("cells")
        target = rng.choice(cells) if rng.random() < 0.8 and isinstance(cells, list) \
            and cells else nb
        path = []
        while isinstance(target, (dict, list)) and target and (not path or rng.random() < 0.6):
            key = rng.choice(list(target)) if isinstance(target, dict) else \
                rng.randrange(len(target))
            path.append((target, key))
            target = target[key]
        if path:
            parent, key = path[-1]
            parent[key] = _random_value(rng)
    return nb if rng.random() < 0.95 else _random_value(rng)


def test_fuzz_repair_and_write_never_raise(release, release_json, tmp_path):
    rng = random.Random(20240607)
    out = tmp_path / "fuzz.ipynb"
    kinds = set()
    for n in range(300):
        if n % 4 == 0:
            data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 300)))
            if n % 8 == 0:
                data = b'{"cells": [' + data + b"]}"
        else:
            data = json.dumps(_random_notebook(rng, release_json)).encode()
        fixed = repair.repair(data, release)
        kinds.update(fixed.kinds)
        if fixed.notebook is not None:
            back = roundtrip(fixed.notebook, out)
            assert len(back.cells) >= 1
    assert {repair.NOT_A_NOTEBOOK, repair.REPAIRED} <= kinds


# -- intake: names -----------------------------------------------------------------------------

def test_names_that_clean_to_the_same_id_stay_distinct_students(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    files = ["alice_1_residual_blocks.ipynb", "alice._1_residual_blocks (2).ipynb",
             "alice._notes.txt", "Alice_2_resnet50_signs.ipynb", "alice!_2_resnet50_signs.ipynb"]
    for name in files:
        (src / name).write_text("{}")
    found = collect(src, tmp_path / "work")
    assert_sane(found, files)
    assert owner(found, "alice_1_residual_blocks.ipynb") == "alice"  # the exact name keeps it
    others = {owner(found, f) for f in files[1:]} - {"alice"}
    assert len(others) == 3 and all(re.fullmatch(r"alice-[0-9a-f]{8}", s, re.I) for s in others)
    assert owner(found, "alice._notes.txt") == owner(found, "alice._1_residual_blocks (2).ipynb")
    for sid in others:
        assert any("made from the name" in n for n in found[sid].notes), found[sid].notes
    for sf in found.values():
        assert len(sf.notebooks) == 1 or sf.student == "alice"
    assert collect(src, tmp_path / "again").keys() == found.keys()  # deterministic


def test_unicode_look_alikes_never_share_or_lose_a_file(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    files = {
        "alice_1_residual_blocks.ipynb": "latin",
        "\u0430lice_1_residual_blocks.ipynb": "cyrillic a",
        "al\u200bice_1_residual_blocks.ipynb": "zero-width space",
        "\uff41\uff4c\uff49\uff43\uff45_2_resnet50_signs.ipynb": "full-width: NFKC alice",
        "Jose\u0301_1_residual_blocks.ipynb": "NFD",
        "Jos\u00e9_2_resnet50_signs.ipynb": "NFC",
    }
    for name in files:
        (src / name).write_text("{}")
    found = collect(src, tmp_path / "work")
    assert_sane(found, list(files))
    alice = owner(found, "alice_1_residual_blocks.ipynb")
    assert alice == "alice" and set(found[alice].notebooks) == {"1_residual_blocks"}
    wide = owner(found, "\uff41\uff4c\uff49\uff43\uff45_2_resnet50_signs.ipynb")
    assert any("NFKC" in n for n in found[wide].notes), found[wide].notes
    cyr = owner(found, "\u0430lice_1_residual_blocks.ipynb")
    zw = owner(found, "al\u200bice_1_residual_blocks.ipynb")
    # Only names spelled alike code point for code point are one student: NFC and NFD too.
    nfd = owner(found, "Jose\u0301_1_residual_blocks.ipynb")
    nfc = owner(found, "Jos\u00e9_2_resnet50_signs.ipynb")
    assert len({alice, wide, cyr, zw, nfd, nfc}) == 6
    for sid in (wide, cyr, zw, nfd, nfc):
        assert re.fullmatch(r"[A-Za-z_]+-[0-9a-f]{8}", sid) and found[sid].notes
        assert len(found[sid].notebooks) == 1
    assert list(collect(src, tmp_path / "again")) == list(found)


def _write(path: Path, text: str, age: float = 0.0) -> Path:
    """Write ``text``; ``age`` seconds in the past (negative: in the future)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    when = path.stat().st_mtime - age
    os.utime(path, (when, when))
    return path


def _graded_text(found, sid: str, nb: str = "1_residual_blocks") -> str:
    return found[sid].notebooks[nb].read_text()


VICTIM = "zz_victim"
WIDE_VICTIM = "\uff5a\uff5a_\uff56\uff49\uff43\uff54\uff49\uff4d"  # NFKC: zz_victim
CYRILLIC_VICTIMS = ["zz_v\u0456ctim", "zz_vi\u0441tim"]  # Cyrillic i, Cyrillic es


@pytest.mark.parametrize("victim_age", [3600, -3600])  # the victim's file older, or newer
def test_fullwidth_lookalike_folder_never_replaces_the_real_student(tmp_path, victim_age):
    src = tmp_path / "in"
    _write(src / VICTIM / "1_residual_blocks.ipynb", "honest", age=victim_age)
    _write(src / WIDE_VICTIM / "1_residual_blocks.ipynb", "look-alike folder")
    _write(src / f"{WIDE_VICTIM}_2_resnet50_signs.ipynb", "look-alike flat file", age=-7200)
    _write(src / f"{WIDE_VICTIM}_notes.txt", "look-alike stray file")
    found = collect(src, tmp_path / "work")
    assert_sane(found, ["1_residual_blocks.ipynb", f"{WIDE_VICTIM}_2_resnet50_signs.ipynb",
                        f"{WIDE_VICTIM}_notes.txt"])
    assert set(found) == {VICTIM, owner(found, f"{WIDE_VICTIM}_notes.txt")}
    victim = found[VICTIM]
    assert _graded_text(found, VICTIM) == "honest"
    assert list(victim.notebooks) == ["1_residual_blocks"] and not victim.stray
    assert not victim.notes, victim.notes  # nothing merged into the honest student
    [wide] = set(found) - {VICTIM}
    assert re.fullmatch(r"zz_victim-[0-9a-f]{8}", wide)
    assert _graded_text(found, wide) == "look-alike folder"
    assert set(found[wide].notebooks) == set(NOTEBOOKS) and len(found[wide].stray) == 1
    assert any("made from the name" in n and "\\uff5a" in n for n in found[wide].notes)
    # Alone, the look-alike still never gets the honest id (another batch, the same gradebook).
    (src / VICTIM / "1_residual_blocks.ipynb").unlink()
    (src / VICTIM).rmdir()
    assert list(collect(src, tmp_path / "alone")) == [wide]


def test_cyrillic_lookalikes_get_their_own_ids(tmp_path):
    src = tmp_path / "in"
    _write(src / VICTIM / "1_residual_blocks.ipynb", "honest", age=3600)
    for n, name in enumerate(CYRILLIC_VICTIMS + [WIDE_VICTIM]):
        _write(src / name / "1_residual_blocks.ipynb", f"look-alike {n}")
    found = collect(src, tmp_path / "work")
    assert len(found) == 4
    assert _graded_text(found, VICTIM) == "honest" and not found[VICTIM].notes
    ids = {sf.name: sid for sid, sf in found.items()}
    assert re.fullmatch(r"zz_v_ctim-[0-9a-f]{8}", ids[CYRILLIC_VICTIMS[0]])
    assert re.fullmatch(r"zz_vi_tim-[0-9a-f]{8}", ids[CYRILLIC_VICTIMS[1]])
    for n, name in enumerate(CYRILLIC_VICTIMS + [WIDE_VICTIM]):
        assert _graded_text(found, ids[name]) == f"look-alike {n}"
    assert any("\\u0456" in n for n in found[ids[CYRILLIC_VICTIMS[0]]].notes)


def test_ids_do_not_depend_on_the_order_names_are_listed_in():
    names = [VICTIM, WIDE_VICTIM, *CYRILLIC_VICTIMS, "zz victim", "ZZ_victim", "Zz_Victim"]
    first = intake.assign_ids(names)
    assert first[VICTIM] == (VICTIM, "")
    assert len({sid.casefold() for sid, _ in first.values()}) == len(names)
    rng = random.Random(3)
    for _ in range(20):
        rng.shuffle(names)
        assert intake.assign_ids(names) == first


def test_a_lookalike_zip_with_a_crafted_date_never_replaces_the_real_student(tmp_path):
    inner = tmp_path / "inner.zip"
    with zipfile.ZipFile(inner, "w") as zf:
        zf.writestr(zipfile.ZipInfo("1_residual_blocks.ipynb", (2107, 12, 31, 23, 59, 58)),
                    "look-alike zip")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(zipfile.ZipInfo(f"export/{VICTIM}_1_residual_blocks.ipynb",
                                    (1980, 1, 1, 0, 0, 0)), "honest")
        for name in [WIDE_VICTIM, *CYRILLIC_VICTIMS]:
            zf.writestr(zipfile.ZipInfo(f"export/{name}_1_residual_blocks.ipynb",
                                        (2107, 12, 31, 23, 59, 58)), "look-alike flat")
        zf.writestr(f"export/{WIDE_VICTIM}.zip", inner.read_bytes())  # <student>_any.zip
        zf.writestr(f"export/{VICTIM[:2]}.zip", inner.read_bytes())  # "zz", not zz_victim
    found = collect(archive, tmp_path / "work")
    names = {sf.name: sid for sid, sf in found.items()}
    assert set(names) == {VICTIM, WIDE_VICTIM, *CYRILLIC_VICTIMS, "\uff5a\uff5a", "zz"}
    assert _graded_text(found, VICTIM) == "honest" and not found[VICTIM].notes
    assert all(_graded_text(found, sid).startswith("look-alike") for sid in found
               if sid != VICTIM)
    assert re.fullmatch(r"zz-[0-9a-f]{8}", names["\uff5a\uff5a"]) and names["zz"] == "zz"


def test_a_folder_flat_file_and_zip_of_one_name_merge_visibly_and_case_tells_apart(tmp_path):
    src = tmp_path / "in"
    _write(src / "collide" / "1_residual_blocks.ipynb", "folder", age=60)
    _write(src / "collide_1_residual_blocks.ipynb", "flat", age=30)
    _write(src / "Collide" / "1_residual_blocks.ipynb", "other case")
    _zip(src / "collide.zip", {"1_residual_blocks.ipynb": "zip",
                               "2_resnet50_signs.ipynb": "zip 2"})
    found = collect(src, tmp_path / "work")
    assert_sane(found, ["1_residual_blocks.ipynb", "collide_1_residual_blocks.ipynb",
                        "2_resnet50_signs.ipynb"])
    [other] = set(found) - {"collide"}
    assert re.fullmatch(r"Collide-[0-9a-f]{8}", other)
    assert _graded_text(found, other) == "other case" and len(found[other].notebooks) == 1
    collide = found["collide"]
    assert set(collide.notebooks) == set(NOTEBOOKS)
    [note] = [n for n in collide.notes if n.startswith("3 files for 1_residual_blocks")]
    for where in ("collide/1_residual_blocks.ipynb", "collide_1_residual_blocks.ipynb",
                  "collide.zip: 1_residual_blocks.ipynb"):
        assert where in note, note


def test_dot_files_get_a_row_and_junk_is_counted(tmp_path):
    src = tmp_path / "in"
    (src / "bob" / ".ipynb_checkpoints").mkdir(parents=True)
    (src / "bob" / ".ipynb_checkpoints" / "1_residual_blocks-checkpoint.ipynb").write_text("{}")
    (src / "bob" / ".DS_Store").write_text("")
    (src / "bob" / ".secret.py").write_text("")
    (src / "bob" / "1_residual_blocks.ipynb").write_text("{}")
    (src / "__MACOSX").mkdir()
    (src / "Thumbs.db").write_text("")
    files = [".hidden_1_residual_blocks.ipynb", ".profile", "._carl_1_residual_blocks.ipynb"]
    for name in files:
        (src / name).write_text("{}")
    found = collect(src, tmp_path / "work")
    assert_sane(found, files + [".secret.py", "1_residual_blocks.ipynb"])
    assert "1_residual_blocks" in found[owner(found, ".hidden_1_residual_blocks.ipynb")].notebooks
    assert any("junk" in n and "2" in n for n in found["bob"].notes), found["bob"].notes
    assert any("__MACOSX" in n and "Thumbs.db" in n for n in found.notes), found.notes


def test_fuzz_file_names_every_file_lands_somewhere(tmp_path):
    rng = random.Random(7)
    alphabet = "aAbB._- (1)\u0430\u00e9\uff41\u200b\u0301" + "0123456789"
    src = tmp_path / "in"
    src.mkdir()
    names = set()
    for _ in range(150):
        stem = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        name = stem + rng.choice(["_1_residual_blocks.ipynb", "_2_resnet50_signs-2.ipynb",
                                  ".txt", "", "_late_1_2_1_residual_blocks.ipynb"])
        if name in (".", "..") or name in intake.SKIP_NAMES or "/" in name:
            continue
        names.add(name)
        (src / name).write_text("{}")
    found = collect(src, tmp_path / "work")
    assert_sane(found, sorted(names))
    ignored = [int(m.group(1)) - 1 for sf in found.values() for n in sf.notes
               if (m := re.match(r"(\d+) files for ", n))]
    assert sum(len(v) for v in listed(found).values()) + sum(ignored) == len(names)


# -- intake: links, zips -----------------------------------------------------------------------

def test_symlinks_are_not_followed_out_of_a_students_folder(tmp_path):
    secret = tmp_path / "solutions.ipynb"
    secret.write_text('{"cells": []}')
    src = tmp_path / "in"
    (src / "mallory").mkdir(parents=True)
    (src / "bob").mkdir()
    (src / "bob" / "2_resnet50_signs.ipynb").write_text("{}")
    os.symlink(secret, src / "mallory" / "1_residual_blocks.ipynb")
    os.symlink(src / "bob" / "2_resnet50_signs.ipynb", src / "mallory" / "2_resnet50_signs.ipynb")
    os.symlink(tmp_path, src / "mallory" / "everything")
    (src / "carol").mkdir()
    (src / "carol" / "real.ipynb").write_text("{}")
    os.symlink("real.ipynb", src / "carol" / "1_residual_blocks.ipynb")  # inside: fine
    os.symlink(secret, src / "trent_1_residual_blocks.ipynb")
    os.mkfifo(src / "fifo_1_residual_blocks.ipynb")
    found = collect(src, tmp_path / "work")
    assert_sane(found, ["1_residual_blocks.ipynb", "2_resnet50_signs.ipynb", "everything",
                        "trent_1_residual_blocks.ipynb", "fifo_1_residual_blocks.ipynb"])
    assert found["mallory"].notebooks == {}
    assert len(found["mallory"].notes) == 3 and len(found["mallory"].stray) == 3
    assert found["carol"].notebooks["1_residual_blocks"].name == "1_residual_blocks.ipynb"
    assert found["trent"].notebooks == {} and found["fifo"].notebooks == {}


def _zip(path: Path, entries: dict, compress=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compress) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def _lie_about_size(path: Path, entry: str, declared: int) -> None:
    """Rewrite the entry's uncompressed size in the local and central headers."""
    data = bytearray(path.read_bytes())
    name = entry.encode()
    for sig, offset, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        at = data.find(sig)
        while at != -1:
            if data[at + name_at: at + name_at + len(name)] == name:
                data[at + offset: at + offset + 4] = struct.pack("<I", declared)
            at = data.find(sig, at + 1)
    path.write_bytes(bytes(data))


def test_zip_slip_absolute_and_symlink_entries_stay_in_the_workdir(tmp_path):
    archive = tmp_path / "export.zip"
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/dee_1_residual_blocks.ipynb", "{}")
        zf.writestr("export/../../escape_1_residual_blocks.ipynb", "{}")
        zf.writestr("/export/absolute_1_residual_blocks.ipynb", "{}")
        zf.writestr("export\\..\\..\\win_1_residual_blocks.ipynb", "{}")
        link = zipfile.ZipInfo("export/link_1_residual_blocks.ipynb")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        link = zipfile.ZipInfo("export/bob.zip")  # a student zip that is a link: not unpacked
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/")
        zf.writestr("export/dee_1_residual_blocks.ipynb", "{ second copy }")
        zf.writestr("export/__MACOSX/._dee_1_residual_blocks.ipynb", "junk")
    work = tmp_path / "deep" / "work"
    found = collect(archive, work)
    assert tree(tmp_path, skip=work) == {str(archive), str(work.parent)}
    for name in ("escape", "absolute", "win"):
        for where in (tmp_path.parent, tmp_path.parent.parent, Path("/"), Path("/export")):
            assert not (where / f"{name}_1_residual_blocks.ipynb").exists()
    assert set(found) == {"dee", "escape", "absolute", "win", "link", "bob"}
    for sid in ("link", "bob"):
        assert found[sid].notebooks == {} and "symbolic link" in found[sid].notes[0]
    dee = found["dee"]
    assert dee.notebooks["1_residual_blocks"].read_text() == "{}"
    assert len(dee.stray) == 1 and "another entry" in dee.notes[0]
    assert any("junk" in n for n in found.notes)
    for sf in found.values():
        for path in list(sf.notebooks.values()) + sf.stray:
            assert work.resolve() in path.resolve().parents


@pytest.mark.parametrize("case", ["ratio", "declared size", "entries", "total", "lying size",
                                  "corrupt", "not a zip", "encrypted flag"])
def test_zip_bombs_and_broken_zips_become_rows_with_a_note(tmp_path, monkeypatch, case):
    src = tmp_path / "in"
    src.mkdir()
    (src / "alice_1_residual_blocks.ipynb").write_text("{}")
    bomb = src / "mallory.zip"
    entries = {"mallory/1_residual_blocks.ipynb": "{}"}
    if case == "ratio":
        entries["mallory/zeros.txt"] = b"\0" * (4 << 20)
    elif case == "entries":
        monkeypatch.setattr(intake, "ZIP_MAX_ENTRIES", 50)
        entries.update({f"mallory/f{i}.txt": "x" for i in range(60)})
    elif case == "total":
        monkeypatch.setattr(intake, "ZIP_MAX_TOTAL_BYTES", 10_000)
        entries.update({f"mallory/f{i}.bin": os.urandom(4000) for i in range(3)})
    elif case in ("declared size", "lying size"):
        entries["mallory/data.bin"] = os.urandom(200_000)
    _zip(bomb, entries)
    if case == "declared size":
        _lie_about_size(bomb, "mallory/data.bin", 2**31)
    elif case == "lying size":
        _lie_about_size(bomb, "mallory/data.bin", 1000)
    elif case == "corrupt":
        bomb.write_bytes(bomb.read_bytes()[:60] + b"\0" * 50 + bomb.read_bytes()[110:])
    elif case == "not a zip":
        bomb.write_bytes(b"PK\x03\x04 this is not really a zip")
    elif case == "encrypted flag":
        data = bytearray(bomb.read_bytes())
        for sig, at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            i = data.find(sig)
            data[i + at] |= 1
        bomb.write_bytes(bytes(data))
    work = tmp_path / "work"
    before = tree(tmp_path)
    found = collect(src, work)
    assert tree(tmp_path, skip=work) == before
    assert set(found) == {"alice", "mallory"}
    mallory = found["mallory"]
    assert mallory.notes, mallory
    if case in ("entries", "total", "not a zip"):  # the whole zip is refused
        assert [p.name for p in mallory.stray] == ["mallory.zip"] and not mallory.notebooks
        assert re.search(r"refused|not a readable zip", mallory.notes[0]), mallory.notes
    elif case != "corrupt":  # one entry refused, the rest graded
        assert "1_residual_blocks" in mallory.notebooks or case == "encrypted flag"
        assert any(re.search(r"zip bomb|limit|not extracted|could not be extracted", n)
                   for n in mallory.notes), mallory.notes
    total = sum(p.stat().st_size for p in work.rglob("*") if p.is_file()) if work.exists() else 0
    assert total < 1 << 20  # never unpacked the bomb


def test_a_zip_bomb_given_as_the_whole_class_is_one_row(tmp_path, monkeypatch):
    monkeypatch.setattr(intake, "ZIP_MAX_TOTAL_BYTES", 1 << 20)
    archive = _zip(tmp_path / "class.zip", {f"s{i}_1_residual_blocks.ipynb": b" " * (300 << 10)
                                            for i in range(5)})
    found = collect(archive, tmp_path / "work")
    assert list(found) == ["class"]
    assert found["class"].stray == [archive] and "refused" in found["class"].notes[0]
    garbage = tmp_path / "broken.zip"
    garbage.write_bytes(b"definitely not a zip")
    found = collect(garbage, tmp_path / "work2")
    assert list(found) == ["broken"] and "not a readable zip" in found["broken"].notes[0]


def test_a_notebook_over_the_size_limit_is_not_read(release, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    big = src / "zed_1_residual_blocks.ipynb"
    with open(big, "wb") as out:  # sparse: costs no disk
        out.truncate(repair.MAX_NOTEBOOK_BYTES + 10 * 2**20)
    found = collect(src, tmp_path / "work")
    path = found["zed"].notebooks["1_residual_blocks"]
    assert path.name == big.name and path.stat().st_size == repair.MAX_NOTEBOOK_BYTES + 1
    assert "limit" in found["zed"].notes[0]
    assert repair.repair(path.read_bytes(), release).kinds == [repair.TOO_LARGE]
