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
# nbgrader 0.9.6's Autograde runs two chains (nbgrader/converters/autograde.py):
#   sanitize_preprocessors: ClearOutput, DeduplicateIds, OverwriteKernelspec, OverwriteCells,
#                           CheckCellMetadata
#   autograde_preprocessors: Execute, IgnorePattern, ClearMetadataPreprocessor, LimitOutput,
#                            SaveAutoGrades, AssignLatePenalties, CheckCellMetadata
# We keep both chains and change two links of the second one:
#  * Execute -> autograder.engine.nbexec.GradingExecute: per-cell timeouts through nbclient's
#    `timeout_func(cell)` hook (longer for cells tagged `training`), and a dead or wedged
#    kernel no longer throws the notebook away: the offending cell gets an error, a fresh
#    kernel replays the cells above it, and grading goes on after it.
#  * DropPassingStderr, inserted before SaveAutoGrades: `nbgrader.utils.determine_grade`
#    scores a code cell 0 if it has ANY stderr stream output, and TensorFlow/Keras log there.
#    Cells that did not raise lose their stderr outputs before grades are saved; cells that
#    raised keep them (they score 0 anyway, and the text helps the student).
c.Autograde.autograde_preprocessors = [
    "autograder.engine.nbexec.GradingExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "autograder.engine.nbexec.DropPassingStderr",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Per-cell timeout (seconds). The slowest ungraded-but-needed cells of the ResNet notebooks
# (building ResNet-50, evaluating on the hidden split) take well under a minute on 2 CPU cores;
# 300 s leaves room for a loaded shared machine while an infinite loop costs 5 minutes at most.
c.GradingExecute.timeout = 300
# Cells tagged `training` (model.fit with RESNET_KIT_EPOCHS epochs, 10 by default) get their own
# budget: ResNet-50 on the hand-signs set runs roughly 1-2 min per epoch on 2 CPU cores.
c.GradingExecute.training_timeout = 3600
c.GradingExecute.training_tags = ["training"]
# A dead kernel or a cell that ignores the interrupt gets a fresh kernel (cells above replayed);
# after this many restarts the rest of the notebook is marked "not executed".
c.GradingExecute.max_kernel_restarts = 4
# After a timeout the kernel is interrupted; if it has not gone idle within this many seconds
# it is treated as wedged and restarted.
c.GradingExecute.iopub_timeout = 15
c.GradingExecute.allow_errors = True

# Grade cells deleted by a student are put back before nbgrader sees the notebook
# (autograder.engine.repair, from the release), so OverwriteCells' own re-adding is a fallback only.
c.OverwriteCells.add_missing_cells = True

# Long outputs (a training log, a print in a loop) are cut before they reach the gradebook.
c.LimitOutput.max_lines = 1000
c.LimitOutput.max_traceback = 100

# --- Feedback ----------------------------------------------------------------------------
# nbgrader renders the autograded notebook, whose test cells contain the hidden tests again
# (issue #917). HideHiddenTests replaces each hidden region with a comment and drops traceback
# frames that quote hidden code or instructor-only modules, keeping the error message.
# `python -m autograder feedback` also checks every page for leaks before keeping it.
c.GenerateFeedback.preprocessors = [
    "nbgrader.preprocessors.GetGrades",
    "autograder.engine.feedback.HideHiddenTests",
    "nbconvert.preprocessors.CSSHTMLHeaderPreprocessor",
]
