"""The instructor autograder, end to end on a tiny toy assignment (seconds per student).

One module-scoped class is graded once (every failure kind the autograder must survive); the
tests then check what each student got, the CSV, the feedback and the determinism rules.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import types
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.engine import intake, repair
from autograder.engine.course import Course, GradingError, find_leaks
from autograder.engine.democlass import ClassBuilder, classic_bug
from autograder.engine.feedback import HIDDEN_NOTE, HideHiddenTests, check_page, generate
from autograder.engine.grading import Grader, load_results, scan_executed
from autograder.engine.inside.nbexec import GradingExecute
from autograder.engine.report import histogram, table, write_csv
from autograder.engine.toy import TOY_ASSIGNMENT, TOY_NOTEBOOK, make_toy_course

GRADING_NOTES = ["NOTE: the first line of the assignment's notes", "NOTE: the second"]
HIDDEN_LINES = ("assert square(-4) == 16", "assert cube(-3) == -27", "HIDDEN-SQUARE-CHECK",
                "HIDDEN-CUBE-CHECK", "HIDDEN-TRAINING-CHECK")
# Grading budget for the toy: 10 s per cell (a cell starts a sandboxed kernel's work on a shared,
# loaded machine); 30 s for the cell tagged `training`.
TIMEOUT, TRAINING_TIMEOUT = 10, 30


def toy_course(root: Path) -> Course:
    make_toy_course(root)
    return Course(root, TOY_ASSIGNMENT, overrides={"GradingExecute": {"iopub_timeout": 4}})


def solved(builder: ClassBuilder):
    return builder.solved(TOY_NOTEBOOK)


def edit_cell(nb, grade_id, fn):
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = fn(cell.source)
            return nb
    raise KeyError(grade_id)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade a class with every failure kind once; return (course, reports, results, log)."""
    root = tmp_path_factory.mktemp("course")
    course = toy_course(root)
    release_dir = course.release()
    builder = ClassBuilder(course, release_dir)
    cls = root / "incoming"
    builder.build(cls)  # solution, release, bugs, raises, syntax_error, loops, kills_kernel, ...

    def save(student, nb):
        (cls / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, cls / student / f"{TOY_NOTEBOOK}.ipynb")

    save("exits", edit_cell(solved(builder), "cube", lambda s: "import os\nos._exit(1)\n" + s))
    save("ignores_interrupt", edit_cell(solved(builder), "cube", lambda s: (
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n" + s)))
    save("noisy_stderr", edit_cell(solved(builder), "cube", lambda s: (
        "import sys, warnings\nprint('a TensorFlow-style warning', file=sys.stderr)\n" + s)))
    save("fails_hidden", edit_cell(solved(builder), "square", lambda s: s.replace("x * x", "x * abs(x)")))
    slow = solved(builder)
    for cell in slow.cells:
        if "training" in cell.metadata.get("tags", []):
            cell.source = "import time\ntime.sleep(15)\n" + cell.source
    save("slow_training", slow)
    # LMS-style flat files next to the folders: a late, renamed resubmission and a stray file.
    nbformat.write(solved(builder), cls / f"zoe_late_1234_5678_{TOY_NOTEBOOK}-1.ipynb")
    (cls / f"zoe_late_1234_5678_{TOY_NOTEBOOK}.ipynb").write_text("{ broken")
    (cls / "yan_essay.pdf").write_bytes(b"%PDF-1.4 not a notebook")

    reports = root / "reports"
    log = io.StringIO()
    grader = Grader(course, reports, timeout=TIMEOUT, training_timeout=TRAINING_TIMEOUT, out=log)
    # The toy has no judging package; one that only has notes changes nothing else.
    grader.judging = types.SimpleNamespace(grading_notes=lambda: list(GRADING_NOTES))
    results = {r["student"]: r for r in grader.grade_source(cls)}
    return course, reports, results, log.getvalue(), cls


def test_every_student_in_the_input_gets_a_result(graded):
    _, reports, results, _, cls = graded
    expected = {p.name for p in cls.iterdir() if p.is_dir()} | {"zoe", "yan"}
    assert set(results) == expected
    assert {r["student"] for r in load_results(reports, TOY_ASSIGNMENT)} == expected


@pytest.mark.parametrize("student, total, status", [
    ("solution", 4, "ok"),
    ("release", 0, "unfinished"),  # the training cell calls the unwritten answers
    ("bugs", 0, "ok"),
    ("raises", 3, "cell errors"),
    ("syntax_error", 1, "cell errors"),
    ("loops", 3, "timeout"),
    ("ignores_interrupt", 3, "timeout"),
    ("kills_kernel", 3, "kernel died"),
    ("exits", 3, "kernel died"),
    ("edited_tests", 1, "unfinished; tests edited"),  # its undone answer breaks training
    ("deleted_tests", 4, "missing cells"),
    ("duplicated_tests", 4, "duplicate cells"),
    ("empty", 0, "empty"),
    ("not_a_notebook", 0, "not a notebook"),
    ("noisy_stderr", 4, "ok"),
    ("fails_hidden", 2, "ok"),
    ("slow_training", 4, "ok"),
    ("zoe", 4, "ok"),
    ("yan", 0, "not a notebook"),
])
def test_each_failure_kind_gets_the_points_earned_and_a_status(graded, student, total, status):
    result = graded[2][student]
    assert (result["total"], result["status"]) == (total, status), result


@pytest.mark.parametrize("student, where", [
    ("raises", "cell 'cube' "),
    ("syntax_error", "SyntaxError"),
    ("kills_kernel", "DeadKernelError"),
    ("loops", "CellTimeoutError"),
])
def test_report_details_say_which_cell_failed_and_how(graded, student, where):
    assert any(where in detail for detail in graded[2][student]["details"]), graded[2][student]["details"]


def test_points_before_a_dead_kernel_are_kept_and_later_cells_still_run(graded):
    cells = graded[2]["kills_kernel"]["cells"]
    assert cells["squares/test_square"]["score"] == 2  # before the kill
    assert cells["squares/test_cube"]["score"] == 0  # its answer never ran
    assert cells["squares/test_training"]["score"] == 1  # after the kill, in a fresh kernel


def test_a_hang_costs_only_the_hanging_cell(graded):
    cells = graded[2]["loops"]["cells"]
    assert [cells[k]["score"] for k in ("squares/test_square", "squares/test_cube", "squares/test_training")] == [2, 0, 1]


def test_training_tagged_cell_gets_the_longer_timeout(graded):
    # sleeps 15 s: longer than the 10 s cell timeout, within the 30 s training timeout
    assert graded[2]["slow_training"]["flags"] == []


def test_timeout_func_gives_training_cells_their_own_budget():
    ex = GradingExecute(timeout=7, training_timeout=99)
    assert ex.timeout_func(nbformat.v4.new_code_cell("x", metadata={"tags": ["training"]})) == 99
    assert ex.timeout_func(nbformat.v4.new_code_cell("x")) == 7


def test_stderr_from_a_passing_cell_does_not_zero_it(graded):
    assert graded[2]["noisy_stderr"]["total"] == 4


def test_lms_resubmission_counter_wins_and_the_broken_copy_is_noted(graded):
    zoe = graded[2]["zoe"]
    assert any("ignored" in d and "-1" not in d.split("ignored")[1] for d in zoe["details"]), zoe["details"]


def test_progress_reports_done_left_elapsed_and_eta(graded):
    log = graded[3]
    assert "done 1, left" in log and "ETA" in log and "elapsed" in log


def test_progress_says_who_is_being_graded_before_their_job_runs(graded):
    _, _, results, log, _ = graded
    lines = log.splitlines()
    n = len(results)
    starts = [i for i, line in enumerate(lines) if line.endswith(": grading ...")]
    ran = [r for r in results.values() if r["seconds"] > 0]  # had a notebook to run
    assert len(starts) == len(ran) > 0
    for i in starts:
        k, student = lines[i].split("] ", 1)[0] + "]", lines[i].split("] ", 1)[1][:-len(": grading ...")]
        assert lines[i + 1].startswith(f"{k} {student}: ") and "ETA" in lines[i + 1], lines[i:i + 2]
        assert k.startswith("[") and k.endswith(f"/{n}]")


def test_the_assignments_grading_notes_are_said_once_before_grading(graded):
    log = graded[3]
    for note in GRADING_NOTES:
        assert log.count(note) == 1, log[:2000]
    assert log.index(GRADING_NOTES[1]) < log.index("Grading ")


def test_an_unwritten_exercise_is_unfinished_not_a_crash(graded):
    release = graded[2]["release"]
    assert "cell errors" not in release["flags"], release
    assert any("NotImplementedError" in d for d in release["details"]), release["details"]
    raises = graded[2]["raises"]
    assert "unfinished" not in raises["flags"] and "cell errors" in raises["flags"]


def test_scan_tells_an_unfinished_exercise_from_a_crash():
    def cell(index, *errors, graded=False):
        return {"event": "cell", "index": index, "status": "ran", "graded": graded,
                "grade_id": "t" if graded else None, "errors": [list(e) for e in errors]}

    scanned = scan_executed({"cells": [cell(2, ("NotImplementedError", "")),
                                       cell(4, ("NotImplementedError", ""), graded=True)]})
    assert scanned == {"flags": ["unfinished"], "cell_errors": ["cell '#3' NotImplementedError"]}
    scanned = scan_executed({"cells": [cell(1, ("ValueError", "bad\n  shape")),
                                       cell(2, ("NotImplementedError", "later"))]})
    assert scanned["flags"] == ["cell errors", "unfinished"]
    assert scanned["cell_errors"][0] == "cell '#2' ValueError: bad shape"


def test_results_list_the_tests_in_notebook_order(graded):
    _, reports, results, _, _ = graded
    in_notebook = ["squares/test_square", "squares/test_cube", "squares/test_training"]
    assert list(results["solution"]["cells"]) == in_notebook  # not alphabetical
    for result in load_results(reports, TOY_ASSIGNMENT):
        assert list(result["cells"]) == in_notebook, result["student"]
    header = next(csv.reader(write_csv(list(results.values()), reports / "order.csv").open()))
    assert header[1:4] == ["test_square", "test_cube", "test_training"]


def test_every_submission_is_in_the_gradebook_and_its_average_is_the_reports(graded):
    from nbgrader.api import Gradebook

    course, _, results, _, _ = graded
    api = course.api()
    with Gradebook(api.coursedir.db_url, api.course_id) as gb:
        scores = {s.student.id: s.score for s in gb.assignment_submissions(TOY_ASSIGNMENT)}
        average = gb.average_assignment_score(TOY_ASSIGNMENT)
    for student in ("empty", "not_a_notebook", "yan"):  # nothing the grader could run
        assert scores.get(student) == 0, (student, scores)
    assert {s: scores.get(s) for s in results} == {s: r["total"] for s, r in results.items()}
    if set(scores) == set(results):  # no later test added a student to this gradebook yet
        assert average == pytest.approx(sum(r["total"] for r in results.values()) / len(results))


def test_csv_has_a_row_per_student_with_per_cell_points_total_and_status(graded):
    _, reports, results, _, _ = graded
    path = write_csv(list(results.values()), reports / "grades.csv")
    rows = list(csv.DictReader(path.open()))
    assert len(rows) == len(results)
    assert set(rows[0]) >= {"student", "test_square", "test_cube", "test_training", "total", "max", "status"}
    row = next(r for r in rows if r["student"] == "kills_kernel")
    assert (row["test_square"], row["test_cube"], row["total"], row["status"]) == ("2", "0", "3", "kernel died")
    assert "kills_kernel" in table(list(results.values()))


def test_histogram_is_a_png(graded):
    _, reports, results, _, _ = graded
    png = histogram(list(results.values()), reports / "totals.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_feedback_shows_failures_and_messages_but_never_hidden_test_code(graded):
    course, reports, results, _, _ = graded
    pages = generate(course, reports, list(results.values()))
    assert set(pages) == set(results)
    for student, files in pages.items():
        for page in files:
            text = page.read_text()
            assert not [h for h in HIDDEN_LINES if h in text], (student, page)
            assert not check_page(page, course.hidden_snippets()), (student, page)
    notebook_page = reports / TOY_ASSIGNMENT / "feedback" / "fails_hidden" / f"{TOY_NOTEBOOK}.html"
    text = notebook_page.read_text()
    assert "square(-4) should be 16" in text  # the hidden test's message reaches the student
    assert "hidden tests ran here" in text
    index = (reports / TOY_ASSIGNMENT / "feedback" / "kills_kernel" / "index.html").read_text()
    assert "kernel died" in index and "NameError" in index
    index = (reports / TOY_ASSIGNMENT / "feedback" / "release" / "index.html").read_text()
    assert "<b>unfinished</b>" in index and "NotImplementedError" in index


def test_hide_hidden_tests_drops_frames_quoting_hidden_code():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell(
        "visible()\n### BEGIN HIDDEN TESTS\nsecret_check_of(answer)\n### END HIDDEN TESTS",
        metadata={"nbgrader": {"grade": True, "grade_id": "t", "points": 1}})
    cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="wrong size", traceback=[
        "----", "Cell In[3], line 3\n----> 3 secret_check_of(answer)", "File /x/autograder/resnets/checks.py:10",
        "AssertionError: wrong size"])]
    nb.cells.append(cell)
    nb, _ = HideHiddenTests().preprocess(nb, {})
    out = nb.cells[0]
    assert "secret_check_of" not in out.source and HIDDEN_NOTE in out.source
    tb = "\n".join(out.outputs[0].traceback)
    assert "secret_check_of" not in tb and "autograder" not in tb
    assert tb.endswith("AssertionError: wrong size")


def test_regrading_the_same_input_gives_the_same_scores(graded, tmp_path):
    course, reports, results, _, cls = graded
    again = tmp_path / "again"
    for student in ("kills_kernel", "loops", "duplicated_tests"):
        shutil.copytree(cls / student, again / student)
    grader = Grader(course, reports, timeout=TIMEOUT, training_timeout=TRAINING_TIMEOUT, out=io.StringIO())
    second = {r["student"]: r for r in grader.grade_source(again)}
    for student, result in second.items():
        assert result["cells"] == results[student]["cells"]
        assert result["status"] == results[student]["status"]


def test_a_late_submission_is_a_run_of_its_own_and_touches_no_earlier_result(graded, tmp_path):
    course, reports, _, _, cls = graded
    runs = reports / TOY_ASSIGNMENT / "runs"
    before = {p: p.read_bytes() for p in runs.glob("*/results/*.json")}
    late = tmp_path / "late"
    shutil.copytree(cls / "solution", late / "newcomer")
    Grader(course, reports, timeout=TIMEOUT, training_timeout=TRAINING_TIMEOUT,
           out=io.StringIO()).grade_source(late)
    assert {p: p.read_bytes() for p in before} == before
    latest = load_results(reports, TOY_ASSIGNMENT)
    assert [(r["student"], r["total"]) for r in latest] == [("newcomer", 4)]


def test_grading_nbgraders_own_submitted_tree_reads_it_before_rewriting_it(graded, tmp_path):
    course, _reports, results, _, _ = graded
    # A course of its own whose submitted/ tree holds three of the graded class's repaired
    # notebooks (a passing, a failing and a crashing student), graded in place.
    again_course = toy_course(tmp_path / "course")
    again_course.release()
    tree = again_course.submitted_root
    students = ["solution", "fails_hidden", "exits"]
    for student in students:
        shutil.copytree(course.submitted_root / student, tree / student)
    (tree / "solution" / TOY_ASSIGNMENT / "timestamp.txt").write_text("2030-01-01 00:00:00 UTC")
    grader = Grader(again_course, tmp_path / "reports", timeout=TIMEOUT,
                    training_timeout=TRAINING_TIMEOUT, out=io.StringIO())
    again = {r["student"]: r["total"] for r in grader.grade_source(tree)}
    assert again == {s: results[s]["total"] for s in students}
    assert (tree / "solution" / TOY_ASSIGNMENT / "timestamp.txt").exists()  # kept for nbgrader


def test_a_job_stopped_at_its_time_limit_keeps_the_points_judged_before(tmp_path):
    course = toy_course(tmp_path / "c")
    course.release()
    builder = ClassBuilder(course, course.release_dir)
    nb = builder.solved(TOY_NOTEBOOK)
    for cell in nb.cells:
        if "training" in cell.metadata.get("tags", []):
            cell.source = "import time\ntime.sleep(600)\n" + cell.source
    (tmp_path / "in" / "stuck").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "in" / "stuck" / f"{TOY_NOTEBOOK}.ipynb")
    grader = Grader(course, tmp_path / "reports", timeout=TIMEOUT, training_timeout=600,
                    student_timeout=40, out=io.StringIO())
    [result] = grader.grade_source(tmp_path / "in")
    assert "timeout" in result["status"]
    assert any("wall-clock" in d for d in result["details"]), result["details"]
    assert result["cells"]["squares/test_square"]["score"] == 2
    assert result["cells"]["squares/test_cube"]["score"] == 1
    assert result["total"] == 3


# -- release, intake, repair, bundle: no notebook execution ---------------------------------

@pytest.fixture(scope="module")
def released(tmp_path_factory):
    course = toy_course(tmp_path_factory.mktemp("rel"))
    return course, course.release()


def test_release_is_reproducible_and_leak_free(released):
    course, out = released
    first = (out / f"{TOY_NOTEBOOK}.ipynb").read_bytes()
    course.release()
    assert (out / f"{TOY_NOTEBOOK}.ipynb").read_bytes() == first
    assert find_leaks(out, course.hidden_snippets()) == []
    text = first.decode()
    assert "raise NotImplementedError" in text and "HIDDEN-SQUARE-CHECK" not in text


def test_release_check_detects_a_stale_release(released):
    from autograder.engine.cli import main

    course, out = released
    assert main(["--course", str(course.root), "--assignment", TOY_ASSIGNMENT, "release", "--check"]) == 0
    path = out / f"{TOY_NOTEBOOK}.ipynb"
    original = path.read_text()
    try:
        path.write_text(original.replace("Write `square`", "Write `sq`"))
        assert main(["--course", str(course.root), "--assignment", TOY_ASSIGNMENT, "release", "--check"]) == 1
    finally:
        path.write_text(original)


def test_leak_check_finds_markers_and_hidden_lines(tmp_path):
    (tmp_path / "a.ipynb").write_text('{"x": "### BEGIN SOLUTION"}')
    (tmp_path / "b.py").write_text("assert square(-4) == 16\n")
    problems = find_leaks(tmp_path, ["assert square(-4) == 16"])
    assert len(problems) == 2


@pytest.mark.parametrize("name, student, notebook", [
    ("alice_squares.ipynb", "alice", "squares"),
    ("Alice_Smith_squares.ipynb", "Alice_Smith", "squares"),
    ("bob_late_123_4567_squares.ipynb", "bob", "squares"),
    ("carol_squares-2.ipynb", "carol", "squares"),
    ("dave_SQUARES (1).ipynb", "dave", "squares"),
])
def test_flat_lms_file_names_map_to_student_and_notebook(tmp_path, name, student, notebook):
    (tmp_path / name).write_text("{}")
    found = intake.collect(tmp_path, "toy", ["squares"], tmp_path / "work")
    assert list(found) == [student]
    assert notebook in found[student].notebooks


def test_intake_reads_nbgrader_tree_student_folders_and_zips(tmp_path):
    tree = tmp_path / "submitted"
    (tree / "ann" / "toy").mkdir(parents=True)
    (tree / "ann" / "toy" / "squares.ipynb").write_text("{}")
    assert list(intake.collect(tree, "toy", ["squares"], tmp_path / "w1")) == ["ann"]
    flat = tmp_path / "flat"
    (flat / "ben" / "sub").mkdir(parents=True)
    (flat / "ben" / "sub" / "squares.ipynb").write_text("{}")
    (flat / "cid_squares.ipynb").write_text("{}")
    (flat / "cid_notes.txt").write_text("hi")
    (flat / ".DS_Store").write_text("")
    found = intake.collect(flat, "toy", ["squares"], tmp_path / "w2")
    assert set(found) == {"ben", "cid"}
    assert [p.name for p in found["cid"].stray] == ["cid_notes.txt"]
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("export/dee_squares.ipynb", "{}")
        zf.writestr("export/__MACOSX/._dee_squares.ipynb", "junk")
        zf.writestr("export/../../evil_squares.ipynb", "{}")
    found = intake.collect(archive, "toy", ["squares"], tmp_path / "w3")
    assert set(found) == {"dee", "evil"}
    assert not (tmp_path / "evil_squares.ipynb").exists()  # no writing outside the work dir


def test_repair_keeps_one_copy_of_duplicated_ids_and_restores_deleted_tests(released):
    course, out = released
    release_nb = nbformat.read(out / f"{TOY_NOTEBOOK}.ipynb", as_version=4)
    nb = nbformat.read(out / f"{TOY_NOTEBOOK}.ipynb", as_version=4)
    test_idx = next(i for i, c in enumerate(nb.cells) if c.metadata["nbgrader"].get("grade_id") == "test_square")
    nb.cells.insert(test_idx, nbformat.from_dict(json.loads(json.dumps(nb.cells[test_idx]))))
    cube_test = next(i for i, c in enumerate(nb.cells) if c.metadata["nbgrader"].get("grade_id") == "test_cube")
    del nb.cells[cube_test]
    fixed = repair.repair(nbformat.writes(nb).encode(), release_nb)
    ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in fixed.notebook.cells]
    assert ids.count("test_square") == 1
    assert ids.index("test_cube") == ids.index("cube") + 1  # back where it belongs
    assert set(fixed.kinds) == {repair.DUPLICATE_CELLS, repair.MISSING_CELLS}


@pytest.mark.parametrize("data, kind", [
    (b"", repair.EMPTY),
    (b"{ not json", repair.NOT_A_NOTEBOOK),
    (b'{"hello": 1}', repair.NOT_A_NOTEBOOK),
    (b"%PDF-1.4", repair.NOT_A_NOTEBOOK),
])
def test_repair_classifies_unreadable_files(released, data, kind):
    _, out = released
    release_nb = nbformat.read(out / f"{TOY_NOTEBOOK}.ipynb", as_version=4)
    fixed = repair.repair(data, release_nb)
    assert fixed.notebook is None and fixed.kinds == [kind]


def test_classic_bug_changes_the_answer_and_drops_solution_markers():
    src = "def f(X):\n    ### BEGIN SOLUTION\n    X = layers.Add()([X, X_shortcut])\n    ### END SOLUTION\n    return X"
    mutated, name = classic_bug(src)
    assert name == "no shortcut" and "Add()" not in mutated and "SOLUTION" not in mutated


def test_bundle_holds_release_and_kit_but_no_grader_code(tmp_path):
    from autograder.engine import bundle
    from autograder.engine.course import REPO_ROOT

    course = Course(REPO_ROOT, "resnets")
    if not course.release_dir.is_dir():
        pytest.skip("no release of resnets yet")
    path, _ = bundle.build(course, tmp_path / "b.zip")
    names = zipfile.ZipFile(path).namelist()
    assert any(n.endswith("assignments/resnets/1_residual_blocks.ipynb") for n in names)
    assert any("/resnet_kit/" in n for n in names) and any("/data/signs/" in n for n in names)
    assert any(n.endswith("/README.md") for n in names)
    assert not [n for n in names if "/autograder/" in n or "/solutions/" in n]
    assert bundle.verify(path, course.hidden_snippets()) == []


def test_bundle_refuses_a_release_with_a_leak(released, tmp_path):
    from autograder.engine import bundle

    course, out = released
    root = tmp_path / "leaky"
    shutil.copytree(course.root, root, ignore=shutil.ignore_patterns("gradebook.db"))
    leaky = Course(root, TOY_ASSIGNMENT)
    nb_path = leaky.release_dir / f"{TOY_NOTEBOOK}.ipynb"
    nb_path.write_text(nb_path.read_text().replace("YOUR CODE HERE", "### BEGIN SOLUTION"))
    with pytest.raises(GradingError):
        bundle.build(leaky, tmp_path / "leak.zip")
    assert not (tmp_path / "leak.zip").exists()
