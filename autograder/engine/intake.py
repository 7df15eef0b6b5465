"""Find who submitted what, in any of the layouts instructors get submissions in.

Naming rule (also in ``python -m autograder grade --help``):

1. nbgrader tree: ``DIR/<student>/<assignment>/<notebook>.ipynb`` (``DIR`` is usually
   ``submitted/``). Used when any ``DIR/<x>/<assignment>/`` folder exists.
2. One folder per student: ``DIR/<student>/...any depth.../<file>``; every file under the
   folder belongs to that student.
3. Flat (LMS export): ``DIR/<student>_<notebook>.ipynb``, e.g. ``alice_1_residual_blocks.ipynb``.
   The file name (case-insensitive, a trailing download counter such as ``-1`` or `` (2)``
   ignored) must END with a notebook name of the assignment; what comes before it, minus
   trailing ``_``-separated tokens that are all digits or ``late`` (Canvas adds
   ``_late_12345_67890``), is the student id. Files that match no notebook are attributed to
   the longest known student id they start with, else to their first ``_``-token.

``DIR`` may also be a ``.zip`` of any of these; ``<student>.zip`` files inside a folder are
unpacked as that student's folder. Dot-files, ``__MACOSX`` and ``.ipynb_checkpoints`` are
skipped. Student ids keep letters, digits, ``.``, ``-`` and ``_``; anything else becomes
``_``. When a student has several files for one notebook, the highest download counter wins,
then the newest file; the others are listed in the report's details.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import re
import shutil
import tempfile
import zipfile
from pathlib import Path

SKIP_NAMES = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
_COUNTER = re.compile(r"(?:-(\d+)| ?\((\d+)\))$")
_LMS_TOKEN = re.compile(r"^(?:\d+|late)$", re.IGNORECASE)


@dataclasses.dataclass
class StudentFiles:
    student: str
    notebooks: dict[str, Path] = dataclasses.field(default_factory=dict)  # notebook -> file
    stray: list[Path] = dataclasses.field(default_factory=list)  # files matching no notebook
    timestamp: Path | None = None  # nbgrader's timestamp.txt (late penalties), if any
    notes: list[str] = dataclasses.field(default_factory=list)
    _candidates: dict[str, list[Path]] = dataclasses.field(default_factory=dict, repr=False)


def clean_student_id(raw: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", raw.strip()).strip("._-")
    return cleaned or "unknown"


def split_counter(stem: str) -> tuple[str, int]:
    m = _COUNTER.search(stem)
    if not m:
        return stem, 0
    return stem[: m.start()], int(m.group(1) or m.group(2))


def match_notebook(filename: str, notebooks: list[str]) -> tuple[str | None, str, int]:
    """Return (notebook, prefix before it, download counter) for a file name."""
    path = Path(filename)
    if path.suffix.lower() != ".ipynb":
        stem = path.name
        base, counter = stem, 0
    else:
        base, counter = split_counter(path.stem)
    lowered = base.lower()
    for nb in sorted(notebooks, key=len, reverse=True):
        if lowered.endswith(nb.lower()):
            if path.suffix.lower() != ".ipynb":
                return None, base, counter
            prefix = base[: len(base) - len(nb)]
            return nb, prefix, counter
    return None, base, counter


def student_from_prefix(prefix: str) -> str | None:
    tokens = [t for t in re.split(r"[_\s]+", prefix.strip("_- .")) if t]
    while tokens and _LMS_TOKEN.match(tokens[-1]):
        tokens.pop()
    return clean_student_id("_".join(tokens)) if tokens else None


def _visible_files(folder: Path) -> list[Path]:
    out = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in SKIP_NAMES or part.startswith(".") for part in rel.parts):
            continue
        if path.is_file():
            out.append(path)
    return out


def _safe_extract(zip_path: Path, dest: Path) -> None:
    with zipfile.ZipFile(zip_path) as zf:
        for info in zf.infolist():
            name = info.filename.replace("\\", "/")
            parts = [p for p in name.split("/") if p not in ("", ".", "..")]
            if not parts or info.is_dir():
                continue
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def _unwrap(folder: Path) -> Path:
    """A zip often wraps everything in one folder: descend through single-folder levels."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in SKIP_NAMES and not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir():
            folder = entries[0]
        else:
            return folder


def collect(source: Path, assignment: str, notebooks: list[str], workdir: Path | None = None) -> dict[str, StudentFiles]:
    """Map student id -> their files, for a folder or .zip in any supported layout."""
    source = Path(source)
    workdir = Path(workdir or tempfile.mkdtemp(prefix="resnet-kit-intake-"))
    if source.is_file():
        if not zipfile.is_zipfile(source):
            raise ValueError(f"{source} is neither a folder nor a .zip")
        root = workdir / "unzipped"
        _safe_extract(source, root)
        source = _unwrap(root)
    if not source.is_dir():
        raise ValueError(f"{source} does not exist")

    students: dict[str, StudentFiles] = {}

    def entry(student: str) -> StudentFiles:
        return students.setdefault(student, StudentFiles(student))

    def add(student: str, path: Path, allow_any_name: bool) -> None:
        nb, prefix, counter = match_notebook(path.name, notebooks)
        sf = entry(student)
        if path.name == "timestamp.txt":
            sf.timestamp = path
        elif nb is None:
            sf.stray.append(path)
        else:
            sf._candidates.setdefault(nb, []).append(path)

    children = [p for p in sorted(source.iterdir()) if p.name not in SKIP_NAMES and not p.name.startswith(".")]
    dirs = [p for p in children if p.is_dir()]
    files = [p for p in children if p.is_file()]
    nbgrader_tree = any((d / assignment).is_dir() for d in dirs)

    for d in dirs:
        student = clean_student_id(d.name)
        base = d / assignment if nbgrader_tree and (d / assignment).is_dir() else d
        found = _visible_files(base)
        if not found:
            entry(student).notes.append(f"folder {d.name}/ holds no files")
        for path in found:
            add(student, path, True)

    # Flat files (and per-student zips).
    flat_known = set(students)
    pending_stray = []
    for path in files:
        if path.suffix.lower() == ".zip" and zipfile.is_zipfile(path):
            student = clean_student_id(split_counter(path.stem)[0].split("_")[0]) if "_" in path.stem else clean_student_id(path.stem)
            target = workdir / "students" / student
            _safe_extract(path, target)
            for inner in _visible_files(target):
                add(student, inner, True)
            continue
        nb, prefix, counter = match_notebook(path.name, notebooks)
        student = student_from_prefix(prefix) if nb else None
        if nb and student:
            add(student, path, False)
            flat_known.add(student)
        else:
            pending_stray.append(path)
    for path in pending_stray:
        stem = path.stem if path.suffix else path.name
        known = [s for s in flat_known if stem.lower().startswith(s.lower())]
        student = max(known, key=len) if known else clean_student_id(re.split(r"[_\s]+", stem)[0])
        entry(student).stray.append(path)

    for sf in students.values():
        for nb, paths in sf._candidates.items():
            def rank(p: Path):
                return (split_counter(p.stem)[1], p.stat().st_mtime, p.name)
            ordered = sorted(paths, key=rank)
            chosen = ordered[-1]
            sf.notebooks[nb] = chosen
            if len(ordered) > 1:
                others = ", ".join(p.name for p in ordered[:-1])
                sf.notes.append(f"{len(ordered)} files for {nb}: graded {chosen.name}, ignored {others}")
        sf._candidates.clear()
    return dict(sorted(students.items()))
