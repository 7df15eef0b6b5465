"""The autograder on the real ResNet notebooks (minutes on 2 CPU cores: all marked slow)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from autograder.course import REPO_ROOT, Course
from autograder.democlass import EXAMPLES_DIR, ClassBuilder
from autograder.feedback import check_page, generate
from autograder.grading import Grader

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
    from autograder.cli import main

    assert main(["--course", str(REPO_ROOT), "release", "--check"]) == 0


def test_committed_demo_class_matches_the_current_notebooks(course_copy, tmp_path):
    ClassBuilder(course_copy, course_copy.scratch_release()).build(tmp_path / "resnets")
    fresh = sorted(p.relative_to(tmp_path / "resnets") for p in (tmp_path / "resnets").rglob("*.ipynb"))
    committed = sorted(p.relative_to(EXAMPLES_DIR / "resnets") for p in (EXAMPLES_DIR / "resnets").rglob("*.ipynb"))
    assert fresh == committed
    stale = [str(p) for p in fresh
             if (tmp_path / "resnets" / p).read_bytes() != (EXAMPLES_DIR / "resnets" / p).read_bytes()]
    assert not stale, f"run `python -m autograder examples`: {stale}"


def test_real_blocks_notebook_grades_solution_bugs_and_failures(course_copy, tmp_path):
    """Notebook 1 only (no training): full marks, bugs lose points, failures keep earlier points."""
    src = EXAMPLES_DIR / "resnets"
    cls = tmp_path / "class"
    for student in ("solution", "bugs", "kills_kernel", "edited_tests"):
        (cls / student).mkdir(parents=True)
        shutil.copy(src / student / f"{BLOCKS}.ipynb", cls / student)
    # Grade notebook 1 only: hide notebook 2 from this scratch course.
    for nb in course_copy.source_dir.glob("*.ipynb"):
        if nb.stem != BLOCKS:
            nb.unlink()
    reports = tmp_path / "reports"
    results = {r["student"]: r for r in Grader(course_copy, reports, timeout=300, out=io.StringIO())
               .grade_source(cls)}
    assert results["solution"]["total"] == results["solution"]["max"] > 0
    assert results["solution"]["status"] == "ok"
    assert results["bugs"]["total"] < results["solution"]["total"]
    kill = results["kills_kernel"]
    assert kill["status"] == "kernel died"
    assert kill["cells"][f"{BLOCKS}/test_identity_block_hidden"]["score"] > 0  # before the kill
    assert kill["cells"][f"{BLOCKS}/test_basic_block_hidden"]["score"] > 0  # after it
    assert "tests edited" in results["edited_tests"]["status"]
    pages = generate(course_copy, reports, list(results.values()))
    for files in pages.values():
        for page in files:
            assert not check_page(page, course_copy.hidden_snippets()), page
            assert "from autograder import" not in page.read_text()
