"""nbgrader settings for the course directory (this repository's root).

Run nbgrader (or `python -m autograder`) from this folder. This is the ONE nbgrader config of
the kit: `nbgrader ...` on the command line and the `autograder` package (which loads this file
through traitlets) both read it. Grading-time overrides (the demo's shorter timeouts) are
applied on top by `autograder` from its command-line options, never by editing this file.
"""

from pathlib import Path

c = get_config()  # noqa: F821 - injected by traitlets when nbgrader loads this file

COURSE_ROOT = Path(__file__).resolve().parent

c.CourseDirectory.root = str(COURSE_ROOT)
c.CourseDirectory.course_id = "resnet-kit"
# Source notebooks (solutions + hidden tests) and the generated student release.
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# The release holds notebooks only; data and helpers come from the installed kit.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__"]

c.ClearSolutions.code_stub = {
    "python": "# YOUR CODE HERE\nraise NotImplementedError()",
}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# --- Autograding -------------------------------------------------------------------------
# Student code never runs in nbgrader's process: `python -m autograder grade` executes each
# submission in a sandbox (autograder/engine/sandbox.py) and judges what it captured in a
# separate process (autograder/engine/judge.py). nbgrader 0.9.6's Autograde keeps its
# sanitize chain (ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
# CheckCellMetadata) and its bookkeeping, but its Execute step is replaced by InjectResults,
# which fills in the sandbox's outputs and, for every graded cell, the judge's. Without a job
# to read (plain `nbgrader autograde`) it refuses instead of running student code.
c.Autograde.autograde_preprocessors = [
    "autograder.engine.gradebook.InjectResults",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Per-cell timeout (seconds) in the sandbox, for an assignment whose judging package sets no
# CELL_TIMEOUT of its own (resnets sets 60 s, measured: autograder/resnets/__init__.py);
# `grade --timeout` overrides both. 300 s leaves room for a loaded shared machine while an
# infinite loop costs 5 minutes at most.
c.GradingExecute.timeout = 300
# Cells tagged `training` get their own budget where an assignment runs them while grading
# (the resnets judge trains the student's architecture itself and skips them).
c.GradingExecute.training_timeout = 3600
c.GradingExecute.training_tags = ["training"]
# A dead kernel or a cell that ignores the interrupt gets a fresh kernel (cells above replayed);
# after this many restarts the rest of the notebook is marked "not executed".
c.GradingExecute.max_kernel_restarts = 4

# Grade cells deleted by a student are put back before nbgrader sees the notebook
# (autograder.engine.repair, from the release), so OverwriteCells' own re-adding is a fallback only.
c.OverwriteCells.add_missing_cells = True

# Long outputs (a training log, a print in a loop) are cut before they reach the gradebook.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# --- Feedback ----------------------------------------------------------------------------
# nbgrader renders the autograded notebook, whose test cells contain the hidden tests again
# (issue #917) and whose outputs student code produced. HideHiddenTests replaces each hidden
# region with a comment and drops traceback frames that quote hidden code or instructor-only
# modules, keeping the error message. SanitizeOutputs makes outputs inert (HTML, Markdown and
# SVG cleaned with bleach; JavaScript, widgets and unknown mimetypes dropped) and
# FeedbackExporter cleans what Markdown cells render to. (HTMLExporter.sanitize_html stays
# off: its allowlist escapes pandas' <thead>/<th>, and nbgrader's template ignores it for
# Markdown cells.) `python -m autograder feedback` forces these steps again and withholds any
# page with active content left, a hidden-test line or a fingerprint of the secrets below.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.engine.feedback.HideHiddenTests",
    "autograder.engine.feedback.SanitizeOutputs",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
c.GenerateFeedback.exporter_class = "autograder.engine.feedback.FeedbackExporter"
# What a student's feedback must never show (judging code, thresholds, hidden split) and what
# they are given anyway (lines and data also there are no secret), from the course root.
c.FeedbackSecrets.secret_paths = ["autograder/{assignment}"]
c.FeedbackSecrets.public_paths = ["{release}", "resnet_kit", "data/signs"]
