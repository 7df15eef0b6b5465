"""The autograder on the real ResNet notebooks (minutes on 2 CPU cores: all marked slow)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from autograder.engine.course import REPO_ROOT, Course
from autograder.engine.democlass import EXAMPLES_DIR, ClassBuilder
from autograder.engine.feedback import check_page, generate
from autograder.engine.grading import Grader

pytestmark = pytest.mark.slow

BLOCKS = "1_residual_blocks"


@pytest.fixture(scope="module")
def course_copy(tmp_path_factory):
    """A scratch course with the real source notebooks (the repo's gradebook stays untouched)."""
    root = tmp_path_factory.mktemp("resnets")
    shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
    shutil.copytree(REPO_ROOT / "solutions", root / "solutions")
    return Course(root, "resnets")


def test_committed_release_matches_a_fresh_generate_assignment():
    from autograder.engine.cli import main

    assert main(["--course", str(REPO_ROOT), "release", "--check"]) == 0


def test_committed_demo_class_matches_the_current_notebooks(course_copy, tmp_path):
    ClassBuilder(course_copy, course_copy.scratch_release()).build(tmp_path / "resnets")
    fresh = sorted(p.relative_to(tmp_path / "resnets") for p in (tmp_path / "resnets").rglob("*.ipynb"))
    committed = sorted(p.relative_to(EXAMPLES_DIR / "resnets") for p in (EXAMPLES_DIR / "resnets").rglob("*.ipynb"))
    assert fresh == committed
    stale = [str(p) for p in fresh
             if (tmp_path / "resnets" / p).read_bytes() != (EXAMPLES_DIR / "resnets" / p).read_bytes()]
    assert not stale, f"run `python -m autograder examples`: {stale}"


# What each demo student must get on notebook 1 (28 points; no training involved). The demo
# (`make demo`) grades notebook 2 as well; there every example but the solution submits it
# unfinished, which adds "cell errors" to their status and nothing to their points.
EXPECTED_BLOCKS_OUTCOME = {
    "solution": (28, "ok"),
    "bugs": (0, "ok"),
    "deleted_tests": (28, "missing cells"),
    "duplicated_tests": (28, "duplicate cells"),
    "edited_tests": (18, "tests edited"),
    "kills_kernel": (18, "kernel died"),
    "loops": (18, "timeout"),
    "raises": (18, "cell errors"),
    "syntax_error": (18, "cell errors"),
    "release": (0, "ok"),
    "empty": (0, "empty"),
    "not_a_notebook": (0, "not a notebook"),
}


def test_every_demo_example_gets_its_expected_score_and_status_on_the_blocks_notebook(
        course_copy, tmp_path):
    """Notebook 1 only (no training): the whole demo class, each example's score and status."""
    src = EXAMPLES_DIR / "resnets"
    cls = tmp_path / "class"
    for student in EXPECTED_BLOCKS_OUTCOME:
        (cls / student).mkdir(parents=True)
        for path in (src / student).glob(f"{BLOCKS}.ipynb"):
            shutil.copy(path, cls / student)
    # Grade notebook 1 only: hide notebook 2 from this scratch course.
    for nb in course_copy.source_dir.glob("*.ipynb"):
        if nb.stem != BLOCKS:
            nb.unlink()
    reports = tmp_path / "reports"
    results = {r["student"]: r for r in Grader(course_copy, reports, timeout=60, out=io.StringIO())
               .grade_source(cls)}
    outcome = {student: (r["total"], r["status"]) for student, r in results.items()}
    assert outcome == EXPECTED_BLOCKS_OUTCOME
    kill = results["kills_kernel"]
    assert kill["cells"][f"{BLOCKS}/test_identity_block_hidden"]["score"] > 0  # before the kill
    assert kill["cells"][f"{BLOCKS}/test_basic_block_hidden"]["score"] > 0  # after it
    pages = generate(course_copy, reports, list(results.values()))
    for files in pages.values():
        for page in files:
            assert not check_page(page, course_copy.hidden_snippets()), page
            assert "from autograder import" not in page.read_text()
