"""The nbgrader course directory: configuration, nbgrader API and the release.

Everything nbgrader-related is configured in the course root's ``nbgrader_config.py``; this
module loads that file with traitlets (the same way ``nbgrader`` does) and hands the resulting
config to ``nbgrader.apps.NbGraderAPI``.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import json
import logging
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import nbformat

REPO_ROOT = Path(__file__).resolve().parents[2]


def ensure_tools_on_path() -> None:
    """nbgrader shells out to ``alembic`` (gradebook migrations) and jupyter finds kernels
    from PATH: put this interpreter's bin folder first, as an activated venv would."""
    bindir = str(Path(sys.executable).parent)
    parts = os.environ.get("PATH", "").split(os.pathsep)
    if bindir not in parts:
        os.environ["PATH"] = os.pathsep.join([bindir, *parts])


ensure_tools_on_path()
DEFAULT_ASSIGNMENT = "resnets"

# Text that must never reach a student (release, bundle, feedback).
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


class GradingError(RuntimeError):
    """A problem the instructor must fix (bad course layout, nbgrader failure, a leak)."""


def load_config(root: Path, overrides: dict | None = None):
    """Load ``root/nbgrader_config.py`` (as nbgrader would) plus ``{Class: {trait: value}}``."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    path = root / "nbgrader_config.py"
    if path.exists():
        cfg = PyFileConfigLoader(path.name, path=str(root)).load_config()
    else:
        cfg = Config()
    # The course is wherever we were pointed at, even if the config was copied from elsewhere.
    cfg.CourseDirectory.root = str(root)
    for section, values in (overrides or {}).items():
        for trait, value in values.items():
            cfg[section][trait] = value
    return cfg


@dataclasses.dataclass
class Course:
    root: Path
    assignment: str = DEFAULT_ASSIGNMENT
    overrides: dict | None = None

    def __post_init__(self):
        self.root = Path(self.root).resolve()
        self.config = load_config(self.root, self.overrides)
        cd = self.config.CourseDirectory
        self.source_dir = self.root / cd.get("source_directory", "source") / self.assignment
        self.release_dir = self.root / cd.get("release_directory", "release") / self.assignment
        self.submitted_root = self.root / "submitted"
        self.autograded_root = self.root / "autograded"
        self.feedback_root = self.root / "feedback"

    def api(self):
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory

        # Quiet: NbGraderAPI lists the (absent) exchange on start-up.
        logging.getLogger("traitlets").setLevel(logging.ERROR)
        coursedir = CourseDirectory(config=self.config)
        coursedir.root = str(self.root)
        api = NbGraderAPI(coursedir=coursedir, config=self.config)
        api.log.setLevel(logging.ERROR)
        return api

    def source_notebooks(self) -> list[Path]:
        nbs = sorted(self.source_dir.glob("*.ipynb"))
        if not nbs:
            raise GradingError(f"no source notebooks in {self.source_dir}")
        return nbs

    def notebook_names(self) -> list[str]:
        return [p.stem for p in self.source_notebooks()]

    # -- release ------------------------------------------------------------------------
    def generate(self, release_dir: Path | None = None) -> Path:
        """Run nbgrader's generate_assignment (which also records the assignment in the
        gradebook) into ``release_dir`` (default: the configured release folder); normalise
        the output so it is byte-for-byte reproducible; check it for leaks."""
        target_root = release_dir.parent if release_dir else self.release_dir.parent
        overrides = {"CourseDirectory": {"release_directory": str(target_root)}}
        api = Course(self.root, self.assignment, _merge(self.overrides, overrides)).api()
        result = api.generate_assignment(self.assignment, force=True, create=True)
        out = target_root / self.assignment
        if not result.get("success"):
            raise GradingError(
                "nbgrader generate_assignment failed:\n" + result.get("error", "")
                + result.get("log", "")
            )
        for nb_path in sorted(out.glob("*.ipynb")):
            normalise_notebook_file(nb_path)
        problems = find_leaks(out, self.hidden_snippets())
        if problems:
            raise GradingError("release leaks instructor material:\n  " + "\n  ".join(problems))
        return out

    def release(self) -> Path:
        return self.generate(None)

    def scratch_release(self) -> Path:
        """Generate a fresh release into ``build/`` (gitignored) and register the
        assignment in the gradebook, leaving the committed ``assignments/`` untouched."""
        target = self.root / "build" / "release" / self.assignment
        if target.exists():
            shutil.rmtree(target)
        return self.generate(target)

    def hidden_snippets(self) -> list[str]:
        """Lines of hidden-test source (stripped, non-trivial) from the source notebooks."""
        return sorted(hidden_snippets(self.source_notebooks()))


def _merge(a: dict | None, b: dict) -> dict:
    out = {k: dict(v) for k, v in (a or {}).items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


# -- helpers shared by release, bundle and feedback ----------------------------------------

def normalise_notebook_file(path: Path) -> None:
    """Rewrite a generated notebook deterministically: sorted keys, no execution timing,
    stable trailing newline (nbformat's own writer, indent 1)."""
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        cell.get("metadata", {}).pop("execution", None)
        if cell.cell_type == "code":
            cell.execution_count = None
            cell.outputs = []
    mode = path.stat().st_mode
    os.chmod(path, mode | 0o200)
    nbformat.write(nb, path)


_MARKER_LINE = re.compile(r"^\s*#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\b")


def hidden_regions(source: str, begin="BEGIN HIDDEN TESTS", end="END HIDDEN TESTS") -> list[str]:
    lines, out, inside = source.split("\n"), [], False
    for line in lines:
        if begin in line:
            inside = True
        elif end in line:
            inside = False
        elif inside:
            out.append(line)
    return out


def hidden_snippets(notebooks) -> set[str]:
    """Non-trivial lines of hidden-test code (used to prove none of it reaches a student)."""
    snippets = set()
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            for line in hidden_regions(cell.source):
                text = line.strip()
                if len(text) >= 12 and not text.startswith("#"):
                    snippets.add(text)
    return snippets


def find_leaks(folder: Path, snippets, extensions=(".ipynb", ".py", ".html", ".md", ".txt", ".json")) -> list[str]:
    """Files under ``folder`` that contain a marker or a hidden-test line."""
    problems = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix not in extensions:
            continue
        problems += text_leaks(path.read_text(encoding="utf-8", errors="replace"), str(path), snippets)
    return problems


def text_leaks(text: str, where: str, snippets) -> list[str]:
    problems = [f"{where}: contains '{m}'" for m in LEAK_MARKERS if m in text]
    # JSON-escaped notebooks: compare against both raw and JSON-encoded snippets.
    for snippet in snippets:
        if snippet in text or json.dumps(snippet)[1:-1] in text:
            problems.append(f"{where}: contains hidden test code {snippet[:60]!r}")
    return problems


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
