"""nbgrader settings for the course directory (this repository's root).

Run nbgrader (or `python -m autograder`) from this folder.
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
