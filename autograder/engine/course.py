"""The nbgrader course directory: configuration, nbgrader API and the release.

Everything nbgrader-related is configured in the course root's ``nbgrader_config.py``; this
module loads that file with traitlets (the same way ``nbgrader`` does) and hands the resulting
config to ``nbgrader.apps.NbGraderAPI``.
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import errno
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
import warnings
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
    # nbgrader's generate_assignment does two things: it writes the student notebooks and it
    # records the assignment's cells in the gradebook (SaveCells). The second refuses to add or
    # remove cells while the gradebook holds submissions of the assignment (nbgrader issues
    # #1646, #1699), and with force=True nbgrader has removed the old release folder before it
    # gets there. So the kit keeps them apart: the notebooks are generated in a scratch course
    # (the same sources and settings, a fresh gradebook) and replace the release folder only
    # once generation and the leak check succeeded; the course gradebook is brought to the
    # release's cells by sync_gradebook, which says what to do when it cannot be.
    def _coursedir(self):
        from nbgrader.coursedir import CourseDirectory

        coursedir = CourseDirectory(config=self.config)
        coursedir.root = str(self.root)
        return coursedir

    def db_url(self) -> str:
        """The course gradebook's URL, as nbgrader sees it (default: <root>/gradebook.db)."""
        return self._coursedir().db_url

    def gradebook(self):
        """nbgrader's Gradebook of the course (a context manager), as its API opens it."""
        from nbgrader.api import Gradebook

        coursedir = self._coursedir()
        return Gradebook(coursedir.db_url, coursedir.course_id)

    def gradebook_file(self) -> Path | None:
        """The course gradebook's file when it is SQLite (nbgrader's default), else None."""
        url = self.db_url()
        return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None

    def _generate(self, out: Path, db_url: str | None) -> Path:
        """nbgrader generate_assignment into ``out`` (``<release root>/<assignment>``), with
        the gradebook ``db_url`` (None: the course's). Raises GradingError when it fails."""
        section = {"release_directory": str(out.parent)}
        if db_url is not None:
            section["db_url"] = db_url
        cache_alembic_head()
        overrides = merge_overrides(self.overrides, {"CourseDirectory": section})
        api = Course(self.root, self.assignment, overrides).api()
        result = api.generate_assignment(self.assignment, force=True, create=True)
        if not result.get("success"):
            raise GradingError(
                "nbgrader generate_assignment failed:\n" + result.get("error", "")
                + result.get("log", "")
            )
        return out

    def _staging(self) -> Path:
        """A scratch folder under the course's build/ (gitignored, the course's own disk)."""
        build = self.root / "build"
        build.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{self.assignment}-", dir=build))

    def generate(self, release_dir: Path | None = None) -> Path:
        """Generate the release into ``release_dir`` (default: the configured release folder,
        ``assignments/<assignment>/``): nbgrader's generate_assignment in a scratch course
        with a fresh gradebook, the output normalised so it is byte-for-byte reproducible and
        checked for leaks, and only then put in place of the old folder. A failure leaves
        ``release_dir`` as it was; the course gradebook is never touched (see
        :meth:`sync_gradebook`)."""
        target = Path(release_dir) if release_dir else self.release_dir
        staging = self._staging()
        try:
            fresh = self._generate(staging / "release" / self.assignment,
                                   f"sqlite:///{staging / 'gradebook.db'}")
            for nb_path in sorted(fresh.glob("*.ipynb")):
                normalise_notebook_file(nb_path)
            problems = find_leaks(fresh, self.hidden_snippets())
            if problems:
                raise GradingError("release leaks instructor material (nothing was replaced):\n  "
                                   + "\n  ".join(problems))
            replace_folder(target, fresh)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def release(self) -> Path:
        return self.generate(None)

    def scratch_release(self) -> Path:
        """Generate a fresh release into ``build/`` (gitignored), leaving the committed
        ``assignments/`` and the course gradebook untouched."""
        return self.generate(self.root / "build" / "release" / self.assignment)

    def gradebook_conflict(self, release_dir: Path) -> "StaleGradebook | None":
        """Why the course gradebook cannot take the cells of the release in ``release_dir``
        (submissions recorded with other notebooks or cells: nbgrader's SaveCells and
        generate_assignment rules), or None when it can (or there is no gradebook yet)."""
        from nbgrader.api import MissingEntry

        path = self.gradebook_file()
        if path is not None and not path.is_file():
            return None
        layout = release_layout(release_dir)
        with warnings.catch_warnings():  # SQLAlchemy's session warnings from nbgrader's API
            warnings.simplefilter("ignore")
            with self.gradebook() as gb:
                try:
                    assignment = gb.find_assignment(self.assignment)
                except MissingEntry:
                    return None
                students = sorted(s.student.id for s in assignment.submissions)
                if not students:
                    return None
                changes = []
                old = {nb.name: nb for nb in assignment.notebooks}
                changes += [f"{name}: a notebook the gradebook does not have"
                            for name in sorted(set(layout) - set(old))]
                changes += [f"{name}: in the gradebook, no longer in the release"
                            for name in sorted(set(old) - set(layout))]
                for name in sorted(set(old) & set(layout)):
                    notebook = old[name]
                    if not notebook.submissions:
                        continue
                    was = {"grade": {c.name for c in notebook.grade_cells},
                           "solution": {c.name for c in notebook.solution_cells},
                           "task": {c.name for c in notebook.task_cells},
                           "source": {c.name for c in notebook.source_cells}}
                    change = layout_change(was, layout[name])
                    if change:
                        changes.append(f"{name}: {change}")
        if not changes:
            return None
        return StaleGradebook(self.assignment, self.db_url(), path, students, changes)

    def sync_gradebook(self, release_dir: Path, replaceable=()) -> list[str]:
        """Record the cells of the release in ``release_dir`` in the course gradebook
        (nbgrader's generate_assignment with the course gradebook, into a scratch folder), so
        autograde restores and scores the cells the notebooks now have. Raises
        :class:`StaleGradebook` when the gradebook holds submissions recorded with other
        cells: nbgrader cannot change the assignment then, and grading against the earlier
        cells would mix two layouts. Submissions of students in ``replaceable`` only (the
        demo class, graded again right after) are removed instead. Returns notes to show."""
        notes = []
        conflict = self.gradebook_conflict(release_dir)
        if conflict is not None:
            if not set(conflict.students) <= set(replaceable):
                raise conflict
            self.remove_submissions(conflict.students)
            notes.append(f"removed {len(conflict.students)} submission(s) of "
                         f"'{self.assignment}' recorded with earlier cells from "
                         f"{conflict.where} (students graded again now: "
                         f"{short_list(conflict.students)})")
        staging = self._staging()
        try:
            self._generate(staging / "release" / self.assignment, None)
        except GradingError as exc:
            raise GradingError(f"could not record '{self.assignment}' in the gradebook "
                               f"({self.db_url()}): {exc}") from None
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return notes

    def remove_submissions(self, students) -> None:
        """Remove ``students``' submissions of the assignment from the course gradebook."""
        from nbgrader.api import MissingEntry

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with self.gradebook() as gb:
                for student in students:
                    try:
                        gb.remove_submission(self.assignment, student)
                    except MissingEntry:
                        pass

    def hidden_snippets(self) -> list[str]:
        """Lines of hidden-test source (stripped, non-trivial) from the source notebooks."""
        return sorted(hidden_snippets(self.source_notebooks()))


def merge_overrides(a: dict | None, b: dict) -> dict:
    """Config overrides ``a`` with the sections of ``b`` laid over them (neither changed)."""
    out = {k: dict(v) for k, v in (a or {}).items()}
    for k, v in b.items():
        out.setdefault(k, {}).update(v)
    return out


# -- the release's place and the gradebook's cells -----------------------------------------

def cache_alembic_head() -> None:
    """Ask alembic for nbgrader's schema version once per process: nbgrader runs the
    ``alembic heads`` command (a second or more) for every new gradebook it creates, and each
    release now makes one (the scratch course's)."""
    import functools

    import nbgrader.api

    if not getattr(nbgrader.api.get_alembic_version, "kit_cached", False):
        cached = functools.lru_cache(maxsize=1)(nbgrader.api.get_alembic_version)
        cached.kit_cached = True
        nbgrader.api.get_alembic_version = cached


def replace_folder(target: Path, fresh: Path) -> None:
    """Put the folder ``fresh`` in place of ``target`` (which may be missing): both renames
    happen beside ``target``, and the old folder is put back if the second one fails."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    near = target.parent / f".{target.name}.new-{os.getpid()}"
    previous = target.parent / f".{target.name}.old-{os.getpid()}"
    try:
        os.rename(fresh, near)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.copytree(fresh, near)  # the scratch folder is on another disk
    try:
        if target.exists() or target.is_symlink():
            os.rename(target, previous)
        os.rename(near, target)
    except BaseException:
        if previous.exists() and not target.exists():
            os.rename(previous, target)
        shutil.rmtree(near, ignore_errors=True)
        raise
    if previous.is_symlink():
        previous.unlink()
    else:
        shutil.rmtree(previous, ignore_errors=True)


LAYOUT_KINDS = ("grade", "solution", "task", "source")


def release_layout(release_dir: Path) -> dict[str, dict[str, set]]:
    """The cells nbgrader records for each notebook of a release (its SaveCells rules):
    ``{notebook: {"grade"|"solution"|"task"|"source": {grade_id, ...}}}``."""
    from nbgrader import utils

    layout = {}
    for path in sorted(Path(release_dir).glob("*.ipynb")):
        kinds = {kind: set() for kind in LAYOUT_KINDS}
        for cell in nbformat.read(path, as_version=4).cells:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            flags = {"grade": utils.is_grade(cell), "solution": utils.is_solution(cell),
                     "task": utils.is_task(cell)}
            flags["source"] = any(flags.values()) or utils.is_locked(cell)
            for kind, on in flags.items():
                if on:
                    kinds[kind].add(grade_id)
        layout[path.stem] = kinds
    return layout


def layout_change(was: dict, now: dict) -> str:
    """How a notebook's recorded cells ``was`` differ from ``now`` ("" when they do not)."""
    old = set().union(*was.values())
    new = set().union(*now.values())
    parts = []
    if new - old:
        parts.append("cells added: " + ", ".join(sorted(map(str, new - old))))
    if old - new:
        parts.append("cells removed: " + ", ".join(sorted(map(str, old - new))))
    kind_of = [n for n in sorted(map(str, old & new))
               if any((n in was[k]) != (n in now[k]) for k in LAYOUT_KINDS)]
    if kind_of:
        parts.append("cells of another kind now: " + ", ".join(kind_of))
    return "; ".join(parts)


def short_list(names, limit: int = 8) -> str:
    names = list(names)
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")


class StaleGradebook(GradingError):
    """The course gradebook holds submissions of the assignment recorded with other cells
    than the release has: nbgrader cannot record the new cells, and grading against the old
    ones would mix two layouts. The message says what differs and how to go on."""

    def __init__(self, assignment: str, db_url: str, path: Path | None, students, changes):
        self.assignment, self.db_url, self.path = assignment, db_url, path
        self.students, self.changes = list(students), list(changes)
        self.where = str(path) if path is not None else db_url
        super().__init__(self.explain())

    def explain(self, doing: str = "nothing was graded") -> str:
        a = self.assignment
        if self.path is not None:
            aside = self.path.with_name(f"{self.path.stem}-before-{time.strftime('%Y%m%d')}"
                                        f"{self.path.suffix}")
            move = (f"move the gradebook aside (it keeps the earlier grades) and grade every "
                    f"student again:\n    mv {self.path} {aside}")
        else:
            move = ("point CourseDirectory.db_url (nbgrader_config.py) at a new database and "
                    "grade every student again")
        return (
            f"the gradebook {self.where} holds {len(self.students)} submission(s) of '{a}' "
            f"({short_list(self.students)}) recorded with other cells than the release has:\n  "
            + "\n  ".join(self.changes)
            + f"\nnbgrader keeps one set of cells per assignment and cannot add or remove cells "
            f"while submissions use them; grading against the earlier cells would drop the new "
            f"cells and put removed ones back, so {doing}.\n"
            f"To grade with the current notebooks, {move}\n"
            f"To keep the earlier cells instead, put solutions/{a}/ back as it was when those "
            f"submissions were graded (e.g. git checkout <commit> -- solutions/{a}) and release "
            f"again."
        )


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


# -- leak detection: markers, hidden tests and the course's secret files --------------------
# The release, the bundle and the feedback check what they ship against LEAK_MARKERS and the
# hidden-test lines; the feedback also against a Secrets fingerprint of the judging code,
# the thresholds and the hidden data (build_secrets). All marker parsing is split_marked.

HIDDEN_BEGIN, HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


def split_marked(source: str, begin=HIDDEN_BEGIN, end=HIDDEN_END, note: str | None = None):
    """The kit's one marker parser: ``(source less its begin..end regions, their lines)``.

    A marker counts anywhere in a line (as nbgrader's ClearHiddenTests matches it). Each
    region becomes ``note`` indented like its BEGIN line, or nothing when ``note`` is None.
    A region with no END runs to the end of the cell (unterminated means hidden); a stray
    END line is dropped like any marker line.
    """
    kept, hidden, inside = [], [], False
    for line in source.split("\n"):
        if not inside and begin in line:
            inside = True
            if note is not None:
                kept.append(line[: len(line) - len(line.lstrip())] + note)
        elif end in line:
            inside = False
        elif inside:
            hidden.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), hidden


def hidden_regions(source: str, begin=HIDDEN_BEGIN, end=HIDDEN_END) -> list[str]:
    return split_marked(source, begin, end)[1]


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


def find_leaks(folder: Path, snippets,
               extensions=(".ipynb", ".py", ".html", ".md", ".txt", ".json")) -> list[str]:
    """Files under ``folder`` that contain a marker or a hidden-test line."""
    problems = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or path.suffix not in extensions:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        problems += text_leaks(text, str(path), snippets)
    return problems


def text_leaks(text: str, where: str, snippets) -> list[str]:
    """Markers and secret lines in ``text``. ``snippets``: lines (hidden-test code), or a
    :class:`Secrets`, whose data (printed, base64, hex, bytes literals) is looked for too."""
    problems = [f"{where}: contains '{m}'" for m in LEAK_MARKERS if m in text]
    if isinstance(snippets, Secrets):
        return problems + snippets.leaks(text, where)
    found = lines_in(norm_space(text), {norm_space(s) for s in snippets})
    return problems + [f"{where}: contains hidden test code {s[:60]!r}" for s in found]


def norm_space(text: str) -> str:
    """Whitespace runs as one space: a re-indented or re-wrapped copy still matches."""
    return " ".join(text.split())


def lines_in(text: str, lines) -> list[str]:
    """``lines`` found in ``text``, also JSON-escaped (a notebook file, a json.dumps)."""
    return sorted(s for s in lines if s in text or json.dumps(s)[1:-1] in text)


# A line of a secret file is fingerprinted when it would identify the file: several words,
# no import, decorator or comment, 20 characters of text or 32 of code (shorter code such as
# `if bias is not None:` is in libraries whose lines a student's traceback may quote).
MIN_SECRET_TEXT, MIN_SECRET_CODE = 20, 32
_GENERIC_LINE = re.compile(r"(#|@|import\s|from\s+[\w.]+\s+import\s|[\W_]*$)")


def distinctive(line: str, code: bool = False) -> bool:
    return (len(line) >= (MIN_SECRET_CODE if code else MIN_SECRET_TEXT)
            and len(re.findall(r"\w+", line)) >= 3 and not _GENERIC_LINE.match(line))


def python_lines(source: str) -> dict[str, bool]:
    """Fingerprint candidates of a module, ``{line: is_code}``: code lines and docstrings.
    Lines only inside another string are left out: they may be a message the checks show
    students on purpose."""
    import ast
    import io
    import tokenize

    lines = source.split("\n")
    code, doc = set(), set()
    try:
        for node in ast.walk(ast.parse(source)):
            body = getattr(node, "body", None)
            first = body[0] if isinstance(body, list) and body else None
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                doc.update(range(first.lineno, first.end_lineno + 1))
        textual = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE,
                   tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
        textual |= {getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE",
                                                   "FSTRING_END") if hasattr(tokenize, n)}
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type not in textual:
                code.add(tok.start[0])
    except (SyntaxError, tokenize.TokenError, ValueError):
        doc = set(range(1, len(lines) + 1))  # not Python after all: every line, as text
    return {lines[n - 1]: n in code for n in sorted(code | doc) if n <= len(lines)}


def json_fingerprints(text: str) -> set[str]:
    """A JSON file's entries as json and Python print them (``"key": value``, ``'key':
    value``), its long strings, and its long numbers that are no simple fraction."""
    out = set()
    try:
        data = json.loads(text)
    except ValueError:
        return out

    def walk(node):
        for key, value in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(value, (dict, list)):
                walk(value)
                continue
            if isinstance(key, str):
                out.update((f"{json.dumps(key)}: {json.dumps(value)}", f"{key!r}: {value!r}"))
            if isinstance(value, str):
                out.add(value)
            elif isinstance(value, float) and len(repr(value)) >= 10 and not _ratio(value):
                out.add(repr(value))

    if isinstance(data, (dict, list)):
        walk(data)
    return {norm_space(s) for s in out}


def _ratio(value: float) -> bool:
    """k/n for n <= 2000 (to float32 precision): an accuracy any student may print too."""
    return 0 <= value <= 1 and any(abs(value - round(value * n) / n) < 1e-7
                                   for n in range(1, 2001))


def _plain_text(path: Path, text: str) -> str:
    """A notebook's cell sources (its JSON escapes every line); any other file as it is."""
    if path.suffix == ".ipynb":
        try:
            return "\n".join(c.source for c in nbformat.reads(text, as_version=4).cells)
        except Exception:  # not a notebook after all
            pass
    return text


_LONG_NUMBER = re.compile(r"-?\d+\.\d{8,}")


def file_lines(path: Path, text: str) -> set[str]:
    """Normalised lines that would identify the text file ``path`` (see :func:`distinctive`)."""
    text = _plain_text(path, text)
    if path.suffix == ".py":
        return {norm_space(line) for line, code in python_lines(text).items()
                if distinctive(norm_space(line), code)}
    found = {s for s in map(norm_space, text.split("\n")) if distinctive(s)}
    if path.suffix == ".json":
        found |= {s for s in json_fingerprints(text)
                  if distinctive(s) or _LONG_NUMBER.fullmatch(s)}
    return found


# Data fingerprints. Every secret byte stream (a file's bytes, an array's bytes, an integer
# array's values as bytes) gives the hashes of its WINDOW-long runs (every STRIDE-th); a
# page's candidate streams (printed numbers, base64, hex, bytes literals) are hashed at every
# offset and looked up. A hit counts when the run is informative (a constant or two-valued
# run may be in any data) and not also in the public data (e.g. an HDF5 header).
WINDOW, STRIDE = 24, 4  # so any leaked run of 27 values or more is caught
MIN_WINDOW_BITS = 40.0
_HASH_MUL = 0x100000001B3  # polynomial hash mod 2**64 (odd multiplier)


def window_hashes(data, stride: int = 1):
    """Hashes (numpy uint64) of the WINDOW-long runs of ``data`` every ``stride`` bytes."""
    import numpy as np

    values = np.frombuffer(bytes(data), dtype=np.uint8).astype(np.uint64) + np.uint64(1)
    n = (len(values) - WINDOW) // stride + 1
    if n <= 0:
        return np.zeros(0, dtype=np.uint64)
    h = values[: (n - 1) * stride + 1: stride].copy()
    mul = np.uint64(_HASH_MUL)
    for j in range(1, WINDOW):
        h *= mul
        h += values[j: j + (n - 1) * stride + 1: stride]
    return h


def _sorted_hits(index, hashes):
    """The values of ``hashes`` that are in the sorted array ``index``."""
    import numpy as np

    if not len(hashes) or index is None or not len(index):
        return hashes[:0]
    hashes = np.sort(hashes)  # sorted queries walk the index in order (cache friendly)
    pos = np.minimum(np.searchsorted(index, hashes), len(index) - 1)
    return hashes[index[pos] == hashes]


def _bits(window: bytes) -> float:
    """Order-0 information of a run (bits): low for constant or two-valued runs."""
    import math
    from collections import Counter

    n = len(window)
    return -sum(c * math.log2(c / n) for c in Counter(window).values())


def array_streams(array) -> list[bytes]:
    """How an array can be shown: its raw bytes (C order) and, for integers that fit a
    byte, its values as bytes (what printed numbers or decoded int64s give)."""
    import numpy as np

    array = np.ascontiguousarray(array)
    streams = [array.tobytes()]
    if array.dtype.kind in "iub" and array.size and array.itemsize > 1:
        if array.min() >= 0 and array.max() <= 255:
            streams.append(array.astype(np.uint8).tobytes())
    return streams


def file_streams(path: Path) -> list[bytes]:
    """A file's bytes, plus its arrays' streams when it holds data (HDF5, .npy, .npz)."""
    streams = [path.read_bytes()]
    suffix = path.suffix.lower()
    try:
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(path, "r") as f:
                found = []
                f.visititems(lambda _, o: found.append(o) if isinstance(o, h5py.Dataset) else None)
                for dataset in found:
                    streams += array_streams(dataset[()])
        elif suffix in (".npy", ".npz"):
            import numpy as np

            loaded = np.load(path, allow_pickle=False)
            for array in [loaded[k] for k in loaded.files] if suffix == ".npz" else [loaded]:
                streams += array_streams(array)
    except Exception:  # unreadable as data: its bytes still count
        pass
    return streams


TEXT_SUFFIXES = {".py", ".json", ".txt", ".md", ".rst", ".csv", ".cfg", ".toml", ".yaml",
                 ".yml", ".ipynb", ".html"}
_SKIPPED_PARTS = {"__pycache__", ".ipynb_checkpoints", ".git"}


def _files(paths) -> list[Path]:
    out = []
    for path in map(Path, paths):
        found = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        out += [p for p in found if p.is_file() and p.suffix != ".pyc"
                and not _SKIPPED_PARTS & set(p.parts)]
    return out


@dataclasses.dataclass
class Secrets:
    """What a student must never see, fingerprinted (see :func:`build_secrets`): hidden-test
    lines, distinctive lines of the secret files and hashes of their data. Iterating gives
    the lines, so a Secrets also serves where ``snippets`` are expected."""

    lines: frozenset = frozenset()  # of secret files
    hidden: frozenset = frozenset()  # hidden-test lines
    windows: object = None  # sorted numpy uint64 hashes, or None
    public_files: tuple = ()
    # Public data, read on the first hit; shared by the copies without() makes.
    _public: dict = dataclasses.field(default_factory=dict, repr=False)

    def __iter__(self):
        return iter(sorted(self.lines | self.hidden))

    def without(self, texts) -> "Secrets":
        """Less the secret-file lines found in ``texts``: what a student wrote in their own
        cells is no leak when the page shows it back (hidden-test lines always count)."""
        joined = norm_space("\n".join(texts))
        return dataclasses.replace(self, lines=frozenset(s for s in self.lines
                                                         if s not in joined))

    def leaks(self, text: str, where: str, limit: int = 5) -> list[str]:
        """Secret lines in ``text``, and secret data in its printed numbers or encodings."""
        problems = [f"{where}: contains secret text {s[:60]!r}"
                    for s in lines_in(norm_space(text), self.lines | self.hidden)]
        for label, stream in encoded_streams(text) if self.windows is not None else ():
            problems += self.data_leaks(stream, where, label)
            if len(problems) >= limit:
                break
        return problems

    def data_leaks(self, data, where: str, label: str = "data") -> list[str]:
        """Secret lines or data in decoded ``data`` (bytes, or the text they decoded to)."""
        if isinstance(data, str):
            found = [m for m in LEAK_MARKERS if m in data]
            found += lines_in(norm_space(data), self.lines | self.hidden)
            return [f"{where}: {label} holds secret text {s[:40]!r}" for s in found[:3]]
        return [f"{where}: {label} holds secret data"] if self._data_hit(data) else []

    def _data_hit(self, data: bytes) -> bool:
        import numpy as np

        hashes = window_hashes(data)
        found = _sorted_hits(self.windows, hashes)
        for pos in np.flatnonzero(np.isin(hashes, found))[:256] if len(found) else ():
            window = bytes(data[pos: pos + WINDOW])
            if _bits(window) >= MIN_WINDOW_BITS and not self._is_public(window):
                return True
        return False

    def _is_public(self, window: bytes) -> bool:
        if "streams" not in self._public:  # most pages have no hit: read it only then
            self._public["streams"] = [s for p in _files(self.public_files)
                                       for s in file_streams(p)]
        return any(window in stream for stream in self._public["streams"])


def build_secrets(secret_paths=(), public_paths=(), hidden_lines=(), public_texts=()) -> Secrets:
    """Fingerprint the files under ``secret_paths``. Their lines that are also in a text
    file under ``public_paths`` or in ``public_texts`` (what students are given or write)
    are not secret; neither is data also in ``public_paths``. ``hidden_lines`` count as are."""
    import numpy as np

    public = set()
    texts = list(public_texts) + [
        _plain_text(p, p.read_text(encoding="utf-8", errors="replace"))
        for p in _files(public_paths) if p.suffix in TEXT_SUFFIXES]
    for text in texts:
        public |= {norm_space(line) for line in text.split("\n")}
    lines, parts = set(), []
    for path in _files(secret_paths):
        if path.suffix in TEXT_SUFFIXES:
            lines |= file_lines(path, path.read_text(encoding="utf-8", errors="replace"))
        parts += [window_hashes(s, STRIDE) for s in file_streams(path)]
    hidden = frozenset(filter(None, map(norm_space, hidden_lines)))
    windows = np.sort(np.concatenate(parts)) if parts else None
    return Secrets(frozenset(lines - public), hidden, windows, tuple(map(str, public_paths)))


# How a page may carry data: numbers as NumPy/Python print them (integers, or floats in
# [0, 1] that are k/255: images scaled for training), base64 (also URL-safe), hex, and
# Python bytes literals. Decoded bytes are also tried as little-endian integers (an int64
# label array) and as text.
_NUM = r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?"
_NUM_RUN = re.compile(rf"{_NUM}(?:[\s,\[\]()]+{_NUM}){{{WINDOW - 1},}}")
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{32,}")
_HEX_RUN = re.compile(r"(?:[0-9a-fA-F]{2}){%d,}" % WINDOW)
_BYTES_LITERAL = re.compile(r"""\bb('|")(?:\\x[0-9a-fA-F]{2}|\\.|(?!\1)[^\\\n]){%d,}\1"""
                            % WINDOW)


def encoded_streams(text: str):
    """``(label, bytes or text)`` for each run of ``text`` that may encode data."""
    import ast

    for match in _NUM_RUN.finditer(text):
        yield "printed numbers", _number_bytes(match.group())
    for match in _BYTES_LITERAL.finditer(text):
        try:
            data = ast.literal_eval(match.group())
        except (ValueError, SyntaxError):
            continue
        yield from decoded_streams("a bytes literal", data)
    for match in _HEX_RUN.finditer(text):
        run = match.group()
        for phase in (0, 1):
            yield from decoded_streams("hex", bytes.fromhex(run[phase: len(run) - phase]))
    for match in _B64_RUN.finditer(text):
        run = match.group().replace("-", "+").replace("_", "/")
        # A run glued to a word starts mid-group: runs of printable size try every offset.
        for phase in range(4 if len(run) <= 1 << 16 else 1):
            data = b64_bytes(run[phase:])
            if data:
                yield from decoded_streams("base64", data)


def b64_bytes(run: str) -> bytes:
    import base64
    import binascii

    try:
        return base64.b64decode(run[: len(run) // 4 * 4], validate=True)
    except (binascii.Error, ValueError):
        return b""


def decoded_streams(label: str, data: bytes):
    """``data`` as it is, as small little-endian integers when it looks like them, and as
    text when it is text."""
    import numpy as np

    yield label, data
    if len(data) >= 2 * WINDOW and data.count(0) * 2 >= len(data):
        for size in (2, 4, 8):
            for phase in range(size):
                values = np.frombuffer(data[phase: phase + (len(data) - phase) // size * size],
                                       dtype=f"<i{size}")
                if len(values) >= WINDOW and values.min() >= 0 and values.max() <= 255:
                    yield f"{label} ({size}-byte integers)", values.astype(np.uint8).tobytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return
    if sum(c.isprintable() or c in "\n\r\t" for c in text) >= 0.95 * len(text):
        yield f"{label} text", text


def _number_bytes(run: str) -> bytes:
    """Printed numbers as byte values: integers 0..255 as they are, floats k/255 in [0, 1]
    as k, anything else as 0 (it keeps positions and matches no informative run)."""
    out = bytearray()
    for token in re.findall(_NUM, run):
        if token.strip("-").isdigit():
            value = int(token)
            out.append(value if 0 <= value <= 255 else 0)
        else:
            value = float(token) * 255
            ok = 0 <= value <= 255 and abs(value - round(value)) < 0.02
            out.append(round(value) if ok else 0)
    return bytes(out)


def temp_dir(prefix: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=prefix))
