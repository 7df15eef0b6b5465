"""Find who submitted what, in any of the layouts instructors get submissions in.

Naming rule (also in ``python -m autograder grade --help``):

1. nbgrader tree: ``DIR/<student>/<assignment>/<notebook>.ipynb`` (``DIR`` is usually
   ``submitted/``). Used when any ``DIR/<x>/<assignment>/`` folder exists; a student's other
   folders there (other assignments) are not read.
2. One folder per student: ``DIR/<student>/...any depth.../<file>``; every file under the
   folder belongs to that student.
3. Flat (LMS export): ``DIR/<student>_<notebook>.ipynb``, e.g. ``alice_1_residual_blocks.ipynb``.
   The file name (case-insensitive, a trailing download counter such as ``-1`` or `` (2)``
   ignored) must END with a notebook name of the assignment; what comes before it, minus
   the ``_`` before the notebook name and trailing ``_``-separated tokens that are all digits
   or ``late`` (Canvas adds ``_late_12345_67890``), is the student's name. Files that match no
   notebook go to the longest student name their name starts with, spelled exactly (followed
   by neither a letter nor a digit), else to their first ``_``-token.

``DIR`` may also be a ``.zip`` of any of these, or a single file; ``<student>.zip`` files
directly in ``DIR`` are unpacked as that student's folder (``<student>_anything.zip`` too).
Zips are unpacked within limits (entries, bytes, compression ratio; see ``ZIP_*``); a refused
or unreadable zip, entry or file is still listed, with the reason, in its student's report.

Every file gets a report row: only ``__MACOSX/``, ``.ipynb_checkpoints/``, ``__pycache__/``,
``.DS_Store`` and ``Thumbs.db`` are skipped (counted in a note); dot-files count like any
file. Symbolic links are followed only to a file inside the student's own folder.

Student ids: only names spelled exactly alike (the same characters, code point for code
point) are one student; ``alice``, ``Alice``, ``ａｌｉｃｅ`` (full-width), ``аlice`` (Cyrillic а)
and ``José`` in NFC and in NFD are all different students. The id is the name NFKC-normalised
(full-width letters become ASCII) keeping ASCII letters, digits, ``.``, ``-`` and ``_``
(anything else becomes ``_``). Where two names give the same id (or ids equal but for case),
the name that is exactly that id keeps it and the others get ``-`` and 8 hex digits of a hash of the
name as written (``alice.`` -> ``alice-aa3bed7f``); a name that is not plain ASCII always gets
the hash (``José`` -> ``Jos-24c2ab65``, ``ｚｚ_ｖｉｃｔｉｍ`` -> ``zz_victim-…``), so a look-alike
never takes an honest student's id, whatever the order or dates of the files. The report notes
the name an id was made from. When a student has several files for one notebook, the highest
download counter wins, then the newest file (a file unpacked from a zip is dated when it is
unpacked: the dates inside a zip are not used); the others are listed in the report's details.
Only one student's own files are ever compared. A notebook over 50 MB is not read (status
``too large``).
"""

from __future__ import annotations

from . import _fastimport  # noqa: F401  (before nbformat/nbgrader)

import dataclasses
import hashlib
import os
import re
import stat
import tempfile
import unicodedata
import zipfile
from pathlib import Path

from . import repair

JUNK_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__"}
JUNK_FILES = {".DS_Store", "Thumbs.db"}
SKIP_NAMES = JUNK_DIRS | JUNK_FILES

# Zip limits, per archive (a class export or one student's zip). A class of notebooks with
# plots can be a few hundred MB; a bomb is caught by its ratio long before the total.
ZIP_MAX_ENTRIES = 10_000
ZIP_MAX_ENTRY_BYTES = 100 * 2**20
ZIP_MAX_TOTAL_BYTES = 2 * 2**30
ZIP_MAX_RATIO = 200  # uncompressed / compressed, for entries over ZIP_RATIO_FROM_BYTES
ZIP_RATIO_FROM_BYTES = 2**20
ZIP_BUDGET_BYTES = 4 * 2**30  # all archives of one collect() together
MAX_ID_LENGTH = 64

_COUNTER = re.compile(r"(?:-(\d+)| ?\((\d+)\))$")
_LMS_TOKEN = re.compile(r"^(?:\d+|late)$", re.IGNORECASE)
_LMS_TAIL = re.compile(r"[_\s]+(?:\d+|late)$", re.IGNORECASE)


@dataclasses.dataclass
class StudentFiles:
    student: str
    notebooks: dict[str, Path] = dataclasses.field(default_factory=dict)  # notebook -> file
    stray: list[Path] = dataclasses.field(default_factory=list)  # files matching no notebook
    timestamp: Path | None = None  # nbgrader's timestamp.txt (late penalties), if any
    notes: list[str] = dataclasses.field(default_factory=list)
    name: str = ""  # the name as written (folder or file name) the id was made from
    _candidates: dict[str, list[Path]] = dataclasses.field(default_factory=dict, repr=False)


class Collected(dict):
    """student id -> StudentFiles, plus ``notes`` about the input as a whole (skipped junk)."""

    def __init__(self, *args, notes: list[str] | None = None):
        super().__init__(*args)
        self.notes = notes or []


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


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def name_from_prefix(prefix: str) -> str | None:
    """The student's name in a flat file name's prefix (``alice_late_12_`` -> ``alice``)."""
    name = prefix.rstrip("_- \t")
    while True:
        m = _LMS_TAIL.search(name)
        if not m:
            break
        name = name[: m.start()].rstrip("_- \t")
    if not name or _LMS_TOKEN.match(name.lstrip("_- \t")):
        return None
    return name


def student_from_prefix(prefix: str) -> str | None:
    name = name_from_prefix(prefix)
    return clean_student_id(_nfkc(name)) if name is not None else None


def _hash(name: str, length: int = 8) -> str:
    return hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:length]


def assign_ids(names) -> dict[str, tuple[str, str]]:
    """Names as written -> (unique student id, why it is not the plain cleaned name, or "").

    Every distinct name gets its own id; only a name that is exactly its plain id may have
    it (a look-alike that NFKC or cleaning turns into the same id is hashed)."""
    def base(name):
        cleaned = clean_student_id(_nfkc(name))
        return cleaned[:MAX_ID_LENGTH].rstrip("._-") or "unknown"

    groups: dict[str, list[str]] = {}
    for name in sorted(set(names)):
        groups.setdefault(base(name).casefold(), []).append(name)
    out: dict[str, tuple[str, str]] = {}
    taken: set[str] = set()
    hashed = []
    for members in groups.values():
        # lower case first: "alice" keeps its id next to an "Alice"
        exact = sorted((n for n in members if base(n) == n), key=lambda n: (n != n.lower(), n))
        owner = exact[0] if exact else None
        if owner is None and len(members) == 1 and members[0].isascii():
            owner = members[0]  # only lossy ASCII cleaning ("Alice Smith"): nobody to confuse
        for name in members:
            if name == owner:
                out[name] = (base(name), "")
                taken.add(base(name).casefold())
            else:
                hashed.append((name, len(members) > 1))
    for name, clash in hashed:  # after the plain ids, so a hashed id never takes one
        if clash:
            why = f"other names clean to {base(name)!r} too, ignoring case"
        elif not name.isascii():
            why = "the name is not plain ASCII"
        else:
            why = "characters outside ASCII letters and digits replaced"
        if _nfkc(name) != name:
            why += f"; Unicode NFKC reads it as {_nfkc(name)!r}"
        sid, length = f"{base(name)}-{_hash(name)}", 8
        while sid.casefold() in taken:
            length += 4
            sid = f"{base(name)}-{_hash(name, length)}"
        taken.add(sid.casefold())
        out[name] = (sid, why)
    return out


def _unusable(path: Path, folder: Path | None) -> str | None:
    """Why ``path`` must not be read (None: a regular file, or a link to one in ``folder``)."""
    try:
        info = os.lstat(path)
        if stat.S_ISLNK(info.st_mode):
            if folder is None:
                return "a symbolic link; not followed"
            try:
                target = path.resolve(strict=True)
            except (OSError, RuntimeError):
                return "a broken symbolic link"
            if not target.is_relative_to(folder.resolve()):
                return "a symbolic link to outside its folder; not followed"
            info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            return "a symbolic link to a folder; not followed"
        if not stat.S_ISREG(info.st_mode):
            return "not a regular file; not read"
    except OSError as exc:
        return f"could not be read ({exc.strerror or exc})"
    return None


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _scan(folder: Path) -> tuple[list[tuple[Path, str | None]], int]:
    """Every file under ``folder`` as (path, why unusable or None), and the junk skipped."""
    found: list[tuple[Path, str | None]] = []
    junk = 0

    def failed(exc: OSError):
        found.append((Path(exc.filename or folder), f"could not be read ({exc.strerror})"))

    for here, dirs, files in os.walk(folder, onerror=failed):
        here = Path(here)
        keep = []
        for d in sorted(dirs):
            if d in JUNK_DIRS:
                junk += sum(len(f) for _, _, f in os.walk(here / d)) or 1
            elif (here / d).is_symlink():
                found.append((here / d, _unusable(here / d, folder)))
            else:
                keep.append(d)
        dirs[:] = keep
        for f in sorted(files):
            if f in JUNK_FILES:
                junk += 1
            else:
                found.append((here / f, _unusable(here / f, folder)))
    return sorted(found, key=lambda item: item[0]), junk


def _fit(part: str) -> str:
    """A file name the file system takes: long names keep their end (the notebook name)."""
    if len(part.encode("utf-8", "surrogatepass")) <= 200:
        return part
    tail = part
    while len(tail.encode("utf-8", "surrogatepass")) > 180:
        tail = tail[1:]
    return f"{_hash(part)}~{tail}"


class _Collector:
    def __init__(self, assignment: str, notebooks: list[str], workdir: Path):
        self.assignment, self.notebooks, self.workdir = assignment, notebooks, workdir
        # By the name exactly as written: a look-alike (NFKC-equal, other case, Cyrillic
        # letters) must never share, or replace, another student's files.
        self.students: dict[str, StudentFiles] = {}
        self.file_notes: dict[Path, str] = {}  # placeholders of zip entries not extracted
        self.unpacked: dict[Path, str] = {}  # folder a zip was unpacked to -> the zip's name
        self.root: Path | None = None
        self.notes: list[str] = []
        self.budget = ZIP_BUDGET_BYTES

    # -- students and files ----------------------------------------------------------------
    def student(self, name: str) -> StudentFiles:
        return self.students.setdefault(name, StudentFiles(student="", name=name))

    def add(self, name: str, path: Path, why: str | None = None, stray: bool = False) -> None:
        sf = self.student(name)
        why = self.file_notes.get(path, why)
        if why:
            sf.stray.append(path)
            sf.notes.append(f"{path.name}: {why}")
            return
        nb = match_notebook(path.name, self.notebooks)[0]
        if path.name == "timestamp.txt" and sf.timestamp is None:
            sf.timestamp = path
        elif nb is None or stray:
            sf.stray.append(path)
        else:
            sf._candidates.setdefault(nb, []).append(path)

    def add_folder(self, name: str, folder: Path, label: str) -> None:
        found, junk = _scan(folder)
        sf = self.student(name)
        if junk:
            sf.notes.append(f"skipped {junk} junk file(s) (__MACOSX, .DS_Store, checkpoints...) "
                            f"in {label}")
        if not found:
            sf.notes.append(f"{label} holds no files")
        for path, why in found:
            self.add(name, path, why)

    # -- zips ------------------------------------------------------------------------------
    def extract(self, archive: Path, notes: list[str]) -> tuple[Path | None, str]:
        """Unpack within the limits into a new folder: (folder, "") or (None, why not)."""
        try:
            with zipfile.ZipFile(archive) as zf:
                return self._extract(zf, archive, notes)
        except Exception as exc:  # noqa: BLE001 - corrupt archives fail in many ways
            return None, f"not a readable zip ({type(exc).__name__}: {str(exc)[:80]})"

    def _extract(self, zf: zipfile.ZipFile, archive: Path, notes: list[str]):
        infos = zf.infolist()
        if len(infos) > ZIP_MAX_ENTRIES:
            return None, f"zip refused: {len(infos)} entries (limit {ZIP_MAX_ENTRIES})"
        plan, skipped, junk, total = [], [], 0, 0
        for n, info in enumerate(infos, 1):
            if info.is_dir():
                continue
            parts = [p for p in info.filename.replace("\\", "/").split("/")
                     if p not in ("", ".", "..")]
            if not parts:
                skipped.append(([f"zip-entry-{n}"], f"a zip entry named {info.filename!r}; "
                                                    "not extracted"))
                continue
            if any(p in JUNK_DIRS for p in parts) or parts[-1] in JUNK_FILES:
                junk += 1
                continue
            parts = [_fit(p) for p in parts]
            mode = info.external_attr >> 16
            mb = info.file_size / 2**20
            why = None
            if stat.S_ISLNK(mode):
                why = "a symbolic link in the zip; not extracted"
            elif info.flag_bits & 0x1:
                why = "encrypted in the zip; not extracted"
            elif info.file_size > ZIP_MAX_ENTRY_BYTES:
                why = (f"{mb:.0f} MB unpacked, over the {ZIP_MAX_ENTRY_BYTES // 2**20} MB "
                       "limit for a zip entry; not extracted")
            elif (info.file_size > ZIP_RATIO_FROM_BYTES
                  and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1)):
                why = (f"compressed over {ZIP_MAX_RATIO} times ({mb:.0f} MB unpacked): "
                       "a zip bomb? not extracted")
            if why:
                skipped.append((parts, why))
            else:
                plan.append((parts, info))
                total += info.file_size
        if total > ZIP_MAX_TOTAL_BYTES:
            return None, (f"zip refused: {total / 2**20:.0f} MB unpacked, over the "
                          f"{ZIP_MAX_TOTAL_BYTES // 2**20} MB limit (a zip bomb?); unpack it "
                          "yourself if it is genuine")
        if total > self.budget:
            return None, "zip refused: this run's unpacking budget is spent"
        self.workdir.mkdir(parents=True, exist_ok=True)
        dest = Path(tempfile.mkdtemp(prefix="unzipped-", dir=self.workdir))
        self.unpacked[dest] = archive.name
        for parts, info in plan:
            target = self._place(dest, parts)
            if target.name != parts[-1]:  # listed, not graded: which copy is meant is unclear
                self.file_notes[target] = (f"zip entry {'/'.join(parts)!r} has the name of "
                                           f"another entry; kept as {target.name}, not graded")
            try:
                self.budget -= self._copy(zf, info, target)
            except Exception as exc:  # noqa: BLE001 - CRC errors, lying sizes, odd methods
                target.unlink(missing_ok=True)
                skipped.append((parts, f"could not be extracted ({type(exc).__name__}: "
                                       f"{str(exc)[:80]})"))
        for parts, why in skipped:  # an empty stand-in, so the entry gets its row and note
            try:
                placeholder = self._place(dest, parts)
                placeholder.touch()
                self.file_notes[placeholder] = why
            except OSError as exc:
                notes.append(f"{archive.name}: entry {'/'.join(parts)!r} {why} "
                             f"(and no stand-in: {exc.strerror})")
        if junk:
            notes.append(f"{archive.name}: skipped {junk} junk entries "
                         "(__MACOSX, .DS_Store, checkpoints...)")
        return dest, ""

    @staticmethod
    def _copy(zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> int:
        """Copy one entry, stopping as soon as it yields more than it declared."""
        written = 0
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with zf.open(info) as src, os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            while chunk := src.read(2**20):
                written += len(chunk)
                if written > info.file_size:
                    raise ValueError("holds more bytes than it declares: a zip bomb?")
                out.write(chunk)
        return written

    @staticmethod
    def _place(dest: Path, parts: list[str]) -> Path:
        """A new path for an entry under ``dest`` (never outside: no ``..``, no links)."""
        target = dest.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except OSError:  # a file where a folder should be: keep it, flattened
            target = dest / _fit("_".join(parts))
        n, free = 1, target
        while free.exists() or free.is_symlink():
            n += 1
            free = target.with_name(f"{target.name}~{n}")  # a duplicate entry name
        return free

    # -- layouts ---------------------------------------------------------------------------
    def read_dir(self, root: Path) -> None:
        if self.root is None:
            self.root = root
        try:
            children = sorted(root.iterdir())
        except OSError as exc:
            raise ValueError(f"cannot read {root}: {exc.strerror}") from exc
        junk = [p for p in children if p.name in SKIP_NAMES]
        if junk:
            self.notes.append(f"skipped {len(junk)} junk entries: "
                              + ", ".join(p.name for p in junk))
        # The work dir may sit inside the input (a test's tmp_path): it is not a student.
        children = [p for p in children if p.name not in SKIP_NAMES
                    and os.path.abspath(p) != os.path.abspath(self.workdir)]
        dirs = [p for p in children if _is_real_dir(p)]
        files = [p for p in children if not _is_real_dir(p)]
        tree = any(_is_real_dir(d / self.assignment) for d in dirs)
        for d in dirs:
            try:
                base = d / self.assignment
                if tree and _is_real_dir(base):
                    self.add_folder(d.name, base, f"{d.name}/{self.assignment}/")
                else:
                    self.add_folder(d.name, d, f"folder {d.name}/")
            except Exception as exc:  # noqa: BLE001 - one odd folder never stops the class
                self.student(d.name).notes.append(f"folder {d.name}/ could not be read: {exc}")
        pending = []
        for path in files:
            try:
                self.read_top_file(path, pending)
            except Exception as exc:  # noqa: BLE001
                pending.append((path, f"could not be read ({type(exc).__name__}: {exc})"))
        self.attribute(pending)

    def read_top_file(self, path: Path, pending: list) -> None:
        why = self.file_notes.get(path) or _unusable(path, None)
        if why is None and path.suffix.lower() == ".zip":
            stem = split_counter(path.stem)[0]
            name = stem.split("_")[0] or stem if "_" in stem else stem
            folder, why = self.extract(path, self.student(name).notes)
            if folder is None:
                self.add(name, path, why)
            else:
                self.add_folder(name, folder, path.name)
            return
        nb, prefix, _ = match_notebook(path.name, self.notebooks)
        name = name_from_prefix(prefix) if nb else None
        if name is not None:
            self.add(name, path, why)
        else:
            pending.append((path, why))

    def attribute(self, pending: list) -> None:
        """Files naming no notebook: the longest known name they start with, else 1st token."""
        known = sorted(self.students, key=len, reverse=True)
        for path, why in pending:
            # Exact names only: "ｚｚ_ｖｉｃｔｉｍ_notes.txt" is not zz_victim's file.
            stem = path.stem if path.suffix else path.name
            name = next((k for k in known if k and stem.startswith(k) and (
                len(stem) == len(k) or not stem[len(k)].isalnum())), None)
            if name is None:
                name = next((t for t in re.split(r"[_\s]+", stem) if t), stem)
            self.add(name, path, why, stray=True)

    # -- result ----------------------------------------------------------------------------
    def result(self) -> Collected:
        ids = assign_ids(self.students)
        out = {}
        for key, sf in self.students.items():
            sid, why = ids[key]
            sf.student = sid
            if why or sid != key:
                # ascii() shows look-alike letters (Cyrillic і, full-width ｉ) as escapes.
                shown = repr(key) + ("" if key.isascii() else f" = {ascii(key)}")
                sf.notes.insert(0, f"student id {sid!r} made from the name {shown}"
                                   + (f" ({why})" if why else ""))
            self.choose(sf)
            out[sid] = sf
        return Collected(sorted(out.items()), notes=self.notes)

    def choose(self, sf: StudentFiles) -> None:
        def rank(p: Path):
            try:
                mtime = p.stat().st_mtime
            except OSError:
                mtime = 0.0
            return (split_counter(p.stem)[1], mtime, p.name)

        # Candidates are this student's files only (one exact name), so no date, real or
        # crafted, can make another student's file replace theirs.
        for nb, paths in sorted(sf._candidates.items()):
            ordered = sorted(paths, key=rank)
            chosen = ordered[-1]
            sf.notebooks[nb] = self.capped(sf, chosen)
            if len(ordered) > 1:
                others = ", ".join(self.where(p) for p in ordered[:-1])
                sf.notes.append(f"{len(ordered)} files for {nb}: graded {self.where(chosen)}, "
                                f"ignored {others}")
        sf._candidates.clear()

    def where(self, path: Path) -> str:
        """Where a file came from, for the report (``collide.zip: squares.ipynb``)."""
        for dest, archive in self.unpacked.items():
            if dest in path.parents:
                return f"{archive}: {path.relative_to(dest)}"
        if self.root is not None and self.root in path.parents:
            return str(path.relative_to(self.root))
        return path.name

    def capped(self, sf: StudentFiles, path: Path) -> Path:
        """``path``, or a sparse stand-in of the same name when it is too large to read."""
        try:
            size = path.stat().st_size
        except OSError:
            return path
        if size <= repair.MAX_NOTEBOOK_BYTES:
            return path
        sf.notes.append(f"{path.name} is {size / 2**20:.0f} MB, over the "
                        f"{repair.MAX_NOTEBOOK_BYTES // 2**20} MB limit for a notebook; not read")
        # Grading reads the stand-in (one byte over the limit) and reports "too large".
        self.workdir.mkdir(parents=True, exist_ok=True)
        folder = Path(tempfile.mkdtemp(prefix="too-large-", dir=self.workdir))
        stand_in = folder / path.name
        with open(stand_in, "wb") as out:
            out.truncate(repair.MAX_NOTEBOOK_BYTES + 1)
        return stand_in


def _unwrap(folder: Path) -> Path:
    """A zip often wraps everything in one folder: descend through single-folder levels."""
    while True:
        entries = [p for p in folder.iterdir() if p.name not in SKIP_NAMES]
        if len(entries) == 1 and _is_real_dir(entries[0]):
            folder = entries[0]
        else:
            return folder


def collect(source: Path, assignment: str, notebooks: list[str],
            workdir: Path | None = None) -> dict[str, StudentFiles]:
    """Map student id -> their files, for a folder, a .zip or a file in any supported layout.

    Never raises for what the input holds (only when ``source`` does not exist): every file
    ends up in some student's notebooks, stray files or notes; the returned dict's ``notes``
    count what was skipped as junk."""
    source = Path(source)
    if not source.exists() and not source.is_symlink():
        raise ValueError(f"{source} does not exist")
    workdir = Path(workdir or tempfile.mkdtemp(prefix="resnet-kit-intake-"))
    c = _Collector(assignment, list(notebooks), workdir)
    if source.is_dir():
        c.read_dir(source)
    elif source.is_file() and (source.suffix.lower() == ".zip" or zipfile.is_zipfile(source)):
        folder, why = c.extract(source, c.notes)
        if folder is None:
            c.add(source.stem, source, why)
        else:
            c.read_dir(_unwrap(folder))
    else:  # one file: as if it were alone in a folder
        pending: list = []
        c.read_top_file(source, pending)
        c.attribute(pending)
    return c.result()
