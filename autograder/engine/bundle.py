"""The zip a student receives, checked to hold no solution, hidden test or grader code."""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import zipfile
from pathlib import Path

from .course import Course, GradingError, text_leaks

STUDENT_README = """# ResNets course kit: {assignment}

## Set up (once)

With conda:

    conda env create -f environment.yml
    conda activate resnet-kit

or with plain Python 3.11:

    python -m venv .venv
    . .venv/bin/activate          # Windows: .venv\\Scripts\\activate
    pip install -e .

## Work

    jupyter lab assignments/{assignment}/

Work through the notebooks in order ({notebooks}). Write your code where it says
`# YOUR CODE HERE` (delete the `raise NotImplementedError()` line), and run the test cell
below each exercise: an `AssertionError` tells you what is wrong. Do not edit, delete or
copy the read-only test cells; when grading, more (hidden) tests are run on your code.

`data/signs/` holds the hand-signs data set; the `resnet_kit` package loads it for you.

## Hand in

Submit the notebooks under their original names ({files}), after
"Kernel > Restart & Run All" runs without errors from top to bottom.
"""

TEXT_SUFFIXES = {".ipynb", ".py", ".md", ".txt", ".yml", ".yaml", ".toml", ".cfg", ".json", ".html"}
FORBIDDEN_PREFIXES = ("autograder/", "solutions/", "tests/", "benchmarks/", "submitted/", "autograded/", "feedback/", "reports/")


def members(course: Course) -> list[tuple[str, Path]]:
    root = course.root
    out: list[tuple[str, Path]] = []
    release = sorted(course.release_dir.glob("*.ipynb"))
    if not release:
        raise GradingError(f"no release in {course.release_dir}: run `python -m autograder release`")
    out += [(f"assignments/{course.assignment}/{p.name}", p) for p in release]
    for folder in ("resnet_kit", "data/signs"):
        base = root / folder
        if not base.is_dir():
            continue
        for p in sorted(base.rglob("*")):
            rel = p.relative_to(root).as_posix()
            if p.is_file() and "__pycache__" not in rel and not p.name.endswith(".pyc") and ".egg-info" not in rel:
                out.append((rel, p))
    for name in ("environment.yml", "pyproject.toml"):
        if (root / name).is_file():
            out.append((name, root / name))
    return out


def build(course: Course, dest: Path) -> tuple[Path, list[str]]:
    """Write the bundle; return (path, warnings). Raises GradingError if it would leak."""
    warnings = []
    entries = members(course)
    names = [n for n, _ in entries]
    for needed in ("environment.yml", "pyproject.toml", "resnet_kit/__init__.py"):
        if needed not in names:
            warnings.append(f"{needed} not found; not in the bundle")
    if not any(n.startswith("data/signs/") for n in names):
        warnings.append("data/signs/ is empty; not in the bundle")
    nbs = [p.stem for p in sorted(course.release_dir.glob("*.ipynb"))]
    readme = STUDENT_README.format(
        assignment=course.assignment,
        notebooks=", ".join(nbs),
        files=", ".join(f"`{n}.ipynb`" for n in nbs),
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    top = f"resnet-kit-{course.assignment}"
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        def add(name: str, data: bytes):
            info = zipfile.ZipInfo(f"{top}/{name}", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
        add("README.md", readme.encode())
        for name, path in entries:
            add(name, path.read_bytes())
    problems = verify(dest, course.hidden_snippets())
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
            if Path(name).suffix in TEXT_SUFFIXES:
                text = zf.read(info).decode("utf-8", errors="replace")
                problems += text_leaks(text, name, snippets)
    return problems
