"""Command-line parsing of ``python -m autograder`` / ``resnet-kit-grade``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograder.engine.cli import DEMO_EPOCHS, DEMO_TRAINING_TIMEOUT, build_parser, main
from autograder.engine.course import REPO_ROOT


def parse(*argv):
    return build_parser().parse_args(list(argv))


def test_every_subcommand_uses_nbgraders_vocabulary():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert set(sub.choices) == {"release", "grade", "feedback", "report", "bundle", "examples", "demo",
                                "doctor", "export"}


def test_grade_takes_the_submissions_and_optional_budget():
    args = parse("grade", "submitted")
    assert args.submissions == Path("submitted")
    assert (args.timeout, args.training_timeout, args.epochs) == (None, None, None)  # config's
    args = parse("grade", "class.zip", "--timeout", "30", "--training-timeout", "600", "--epochs", "2")
    assert (args.timeout, args.training_timeout, args.epochs) == (30, 600, 2)


def test_grade_without_submissions_is_an_error(capsys):
    with pytest.raises(SystemExit):
        parse("grade")


def test_demo_defaults_to_the_small_grading_budget():
    args = parse("demo")
    # The ordinary cells' timeout is the assignment's own, as for `grade` (None: Grader decides).
    assert (args.timeout, args.training_timeout, args.epochs) == (None, DEMO_TRAINING_TIMEOUT, DEMO_EPOCHS)
    assert DEMO_EPOCHS == 1


def test_global_options_come_before_the_subcommand():
    args = parse("--course", "/c", "--assignment", "toy", "--reports", "/r", "report")
    assert (args.course, args.assignment, args.reports, args.command) == (Path("/c"), "toy", Path("/r"), "report")
    assert parse("release").assignment == "resnets"


def test_release_check_and_feedback_students_parse():
    assert parse("release", "--check").check is True
    assert parse("feedback", "alice", "bob").students == ["alice", "bob"]
    assert parse("bundle", "-o", "x.zip").output == Path("x.zip")


def test_unknown_subcommand_is_rejected():
    with pytest.raises(SystemExit):
        parse("publish")


def test_help_documents_the_submission_naming_rule(capsys):
    with pytest.raises(SystemExit):
        parse("grade", "--help")
    text = capsys.readouterr().out
    assert "alice_1_residual_blocks.ipynb" in text and "late" in text


def test_grade_of_a_missing_folder_fails_cleanly(tmp_path, capsys):
    assert main(["--course", str(REPO_ROOT), "grade", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_autograder_runs():
    done = subprocess.run([sys.executable, "-m", "autograder", "--help"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0 and "release" in done.stdout


def test_grade_stops_with_the_reason_when_the_sandbox_cannot_start(tmp_path, capsys, monkeypatch):
    from autograder.engine import sandbox

    monkeypatch.setattr(sandbox, "bwrap_path", lambda: str(tmp_path / "no-such-bwrap"))
    (tmp_path / "class").mkdir()
    assert main(["--reports", str(tmp_path / "r"), "grade", str(tmp_path / "class")]) == 2
    err = capsys.readouterr().err
    assert "sandbox" in err and "--no-sandbox" in err and "no-such-bwrap" in err


@pytest.mark.parametrize("command", ["release", "grade", "feedback", "report", "bundle",
                                     "examples", "demo"])
def test_every_commands_help_says_what_it_writes(command, capsys):
    with pytest.raises(SystemExit):
        parse(command, "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "Writes:" in text, text


def test_help_names_the_files_feedback_and_report_write(capsys):
    with pytest.raises(SystemExit):
        parse("feedback", "--help")
    assert "feedback/<student>/index.html" in " ".join(capsys.readouterr().out.split())
    with pytest.raises(SystemExit):
        parse("report", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "grades.csv" in text and "totals.png" in text


def test_budget_help_states_the_defaults(capsys):
    from autograder.engine.cli import budget_defaults
    from autograder.engine.course import load_config
    from autograder.resnets import CELL_TIMEOUT, DEFAULT_EPOCHS

    config = load_config(REPO_ROOT).GradingExecute
    known = budget_defaults()
    assert (known["timeout"], known["cell_timeout"], known["training_timeout"], known["epochs"],
            known["seed"]) == (config.timeout, CELL_TIMEOUT, config.training_timeout,
                               DEFAULT_EPOCHS, 1234)
    with pytest.raises(SystemExit):
        parse("grade", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert f"CELL_TIMEOUT: {CELL_TIMEOUT} s for resnets" in text
    assert f"GradingExecute.timeout: {config.timeout} s" in text
    assert f"GradingExecute.training_timeout: {config.training_timeout} s" in text
    assert f"DEFAULT_EPOCHS: {DEFAULT_EPOCHS} for resnets" in text and "(default: 1234)" in text
    assert "the rule: one job per core and per 4 GB of RAM" in text  # parallel.default_workers
    with pytest.raises(SystemExit):
        parse("demo", "--help")
    text = " ".join(capsys.readouterr().out.split())
    assert f"CELL_TIMEOUT: {CELL_TIMEOUT} s for resnets" in text
    assert f"(default: {DEMO_TRAINING_TIMEOUT} s)" in text and f"(default: {DEMO_EPOCHS})" in text


def test_ordinary_cell_timeout_comes_from_the_option_then_the_assignment_then_the_config(tmp_path):
    from autograder.engine.course import Course, load_config
    from autograder.engine.grading import Grader
    from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course
    from autograder.resnets import CELL_TIMEOUT

    resnets = Course(REPO_ROOT, "resnets")
    assert Grader(resnets, tmp_path / "r").timeout == CELL_TIMEOUT
    assert Grader(resnets, tmp_path / "r", timeout=7).timeout == 7
    # The toy assignment sets no CELL_TIMEOUT: nbgrader_config.py's GradingExecute.timeout.
    make_toy_course(tmp_path / "toy")
    toy = Course(tmp_path / "toy", TOY_ASSIGNMENT)
    assert Grader(toy, tmp_path / "r").timeout == load_config(REPO_ROOT).GradingExecute.timeout
    assert CELL_TIMEOUT < load_config(REPO_ROOT).GradingExecute.timeout
