"""Grade a batch of attacks with honest students and collect the evidence the tests assert on.

:func:`run_batch` builds a scratch course (toy or resnets), writes every attack's files into
the instructor's input folder, snapshots the course and the host, starts the listeners the
network attacks aim at, grades the whole input in one ``grade`` run, then gathers:

* every student's result, and what the same honest students get graded alone;
* the probes the attacks wrote in their own work folders (``breach:*`` ok=True = a breach);
* processes left behind (sandbox uids whose mounts name the course, or with the token in
  their command line);
* changes to the course outside the grader's own folders, files with the token in their
  name or content anywhere the attacks aimed at, contacts on the listeners;
* gradebook totals, feedback pages and the active content / leaks found in them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import html
import io
import json
import os
import re
import secrets
import shutil
import socket
import stat
import sys
import threading
import time
from html.parser import HTMLParser
from pathlib import Path

import nbformat

from . import REGISTRY, Attack, Ctx

REPO_ROOT = Path(__file__).resolve().parents[2]
GRADER_OWNED = {"reports", "submitted", "autograded", "feedback", "build", "gradebook.db",
                "gradebook.db-journal", "gradebook.db-wal", "gradebook.db-shm"}
# Flags a student must (not) get: spoofed grader errors, a forged executed notebook.
FORBIDDEN_FLAGS = {"fb_spoof_grader_errors": ["timeout", "kernel died"]}
REQUIRED_FLAGS = {"forge_journal_and_out": ["cell errors"],
                  # the memory cap is hit, and the row says so (the writers' probe checks
                  # the disk cap: it empties the disk before it reports)
                  "harm_memory_many_processes": ["limit exceeded"]}
# Cells an attack's students must score exactly, "<notebook>/<grade_id>": (points, text the
# cell's error must hold, or None): a fair maximum alone cannot say that the points come from
# the right test, nor that a student is told why there are none.
NB2 = "2_resnet50_signs"
REQUIRED_CELLS = {
    "r_model_small_cnn": {
        f"{NB2}/test_trained_model_hidden": (0, "ResNet50 is not written yet, so there is "
                                                "nothing to train and no accuracy points")},
    "r_model_small_cnn_resnet50_written": {  # the visible check calls ResNet50 (issue 19)
        f"{NB2}/test_resnet50_visible": (3, None),
        f"{NB2}/test_resnet50_hidden": (7, None),
        f"{NB2}/test_trained_model_hidden": (10, None)},
    "r_resnet50_small_cnn": {
        f"{NB2}/test_trained_model_hidden": (0, "ResNet50() does not build a ResNet-50, so it "
                                                "earns no accuracy points")},
}


# --- listeners on the host ---------------------------------------------------------------------

class Listeners:
    """TCP+UDP on every interface, an abstract and a filesystem unix socket; every contact
    is recorded. A poker thread also tries to reach a listener inside a sandbox (port+1)."""

    def __init__(self, token: str, folder: Path):
        self.token = token
        self.contacts: list[str] = []
        self.poked: list[str] = []
        self._stop = threading.Event()
        self.socks = []
        for _ in range(50):
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind(("0.0.0.0", 0))
            port = tcp.getsockname()[1]
            probe = socket.socket()
            try:
                probe.bind(("0.0.0.0", port + 1))
                udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                udp.bind(("0.0.0.0", port))
                break
            except OSError:
                tcp.close()
                continue
            finally:
                probe.close()
        else:  # pragma: no cover
            raise RuntimeError("no free port pair")
        tcp.listen(16)
        self.port = port
        self.socks += [("tcp", tcp), ("udp", udp)]
        with contextlib.suppress(OSError):
            tcp6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            tcp6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            tcp6.bind(("::", port))
            tcp6.listen(16)
            self.socks.append(("tcp6", tcp6))
        self.abstract = f"{token}-abstract"
        ab = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ab.bind("\0" + self.abstract)
        ab.listen(16)
        self.unix_path = folder / "sock"
        ux = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        ux.bind(str(self.unix_path))
        ux.listen(16)
        self.socks += [("abstract", ab), ("unix", ux)]
        for _, s in self.socks:
            s.setblocking(False)
        self.threads = [threading.Thread(target=self._serve, daemon=True),
                        threading.Thread(target=self._poke, daemon=True)]
        for t in self.threads:
            t.start()

    def _serve(self):
        import selectors
        sel = selectors.DefaultSelector()
        for kind, s in self.socks:
            sel.register(s, selectors.EVENT_READ, kind)
        while not self._stop.is_set():
            for key, _ in sel.select(timeout=0.2):
                kind, s = key.data, key.fileobj
                try:
                    if kind == "udp":
                        data, addr = s.recvfrom(4096)
                        self.contacts.append(f"udp from {addr}: {data[:80]!r}")
                    else:
                        conn, addr = s.accept()
                        conn.settimeout(1)
                        with contextlib.suppress(OSError):
                            data = conn.recv(4096)
                        self.contacts.append(f"{kind} from {addr!r}: {data[:80]!r}")
                        conn.close()
                except (BlockingIOError, OSError):
                    continue

    def _poke(self):
        # Only the attack's listener answers with the batch's token: another program that
        # happens to listen on the port (a kernel of a test run next door) is not a breach.
        while not self._stop.is_set():
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", self.port + 1), timeout=0.3) as s:
                    s.settimeout(1.0)
                    if self.token.encode() in s.recv(256):
                        self.poked.append(
                            f"connected to 127.0.0.1:{self.port + 1} at {time.time():.0f}")
            self._stop.wait(0.5)

    def close(self):
        self._stop.set()
        for t in self.threads:
            t.join(timeout=5)
        for _, s in self.socks:
            s.close()


def host_ips() -> list[str]:
    ips = set()
    with contextlib.suppress(OSError):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(("192.0.2.200", 9))
        ips.add(s.getsockname()[0])
        s.close()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/fib_trie").read_text().splitlines():
            pass
    with contextlib.suppress(OSError):
        ips.update(socket.gethostbyname_ex(socket.gethostname())[2])
    ips.discard("127.0.0.1")
    return sorted(ips)


# --- snapshots and host checks -------------------------------------------------------------

def _sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(2**20), b""):
            h.update(block)
    return h.hexdigest()


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry of ``root`` but the grader's own folders: (type, size, sha | target)."""
    out = {}
    for dirpath, dirs, files in os.walk(root, followlinks=False):
        here = Path(dirpath)
        rel = here.relative_to(root)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in GRADER_OWNED]
            files = [f for f in files if f not in GRADER_OWNED]
        for name in list(dirs) + list(files):
            p = here / name
            try:
                st = os.lstat(p)
            except OSError:
                continue
            key = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[key] = ("link", os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[key] = ("dir", stat.S_IMODE(st.st_mode))
            elif stat.S_ISREG(st.st_mode):
                out[key] = ("file", st.st_size, _sha(p), stat.S_IMODE(st.st_mode))
            else:
                out[key] = ("special", stat.S_IFMT(st.st_mode))
    return out


def diff_snapshots(before: dict, after: dict) -> list[str]:
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            what = ("added" if key not in before else "removed" if key not in after
                    else "changed")
            changes.append(f"{what}: {key}")
    return changes


def repo_targets(ctx: Ctx) -> list[Path]:
    """Files the attacks try to write (their content must never gain the token)."""
    import resnet_kit

    kit = Path(resnet_kit.__file__).resolve().parent
    return [REPO_ROOT / "autograder" / "resnets" / "thresholds.json",
            REPO_ROOT / "autograder" / "engine" / "judge.py",
            REPO_ROOT / "autograder" / "engine" / "inside" / "nbexec.py",
            REPO_ROOT / "data" / "signs" / "README.md",
            kit / "capture.py", ctx.pwn_dir / "victim.txt",
            ctx.course_root / "gradebook.db", REPO_ROOT / "gradebook.db"]


def token_hits(ctx: Ctx, run_dirs: list[Path], attackers: set[str]) -> list[str]:
    """Files named with (or, for known targets, holding) the token outside attackers' own
    work/trusted folders."""
    tok = ctx.token
    hits = []
    for base in (Path("/tmp"), Path("/root"), Path("/var/tmp"), Path("/dev/shm"), REPO_ROOT,
                 Path(sys.prefix), Path("/etc"), Path("/usr/local/lib")):
        with contextlib.suppress(OSError):
            for p in base.iterdir():
                if tok in p.name and p != ctx.pwn_dir:
                    hits.append(f"{p}")
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"), None)
    if site is not None:
        hits += [str(p) for p in site.glob(f"*{tok}*")]
    allowed = [str(d / "jobs") for d in run_dirs] + [str(d / "intake") for d in run_dirs]
    for p in ctx.course_root.rglob(f"*{tok}*"):
        if not any(str(p).startswith(a) for a in allowed):
            hits.append(str(p))
    for d in run_dirs:  # inside jobs: only in the attacker's own work/ and trusted/
        for p in (d / "jobs").glob(f"*/*/**/*{tok}*"):
            parts = p.relative_to(d / "jobs").parts
            if parts[1] not in ("work", "trusted"):
                hits.append(str(p))
    for target in repo_targets(ctx):
        with contextlib.suppress(OSError):
            if target.is_file() and tok.encode() in target.read_bytes():
                hits.append(f"{target} (content)")
    # Content of what the grader wrote (results, pointers, specs, verdicts, other students'
    # jobs): only an attacker's own work/ and trusted/ copies may hold the token.
    for d in run_dirs:
        for dirpath, dirs, files in os.walk(d, followlinks=False):
            rel = Path(dirpath).relative_to(d).parts
            if rel[:1] == ("intake",) or (len(rel) >= 3 and rel[0] == "jobs"
                                          and rel[1] in attackers and rel[2] != "control"):
                dirs[:] = []
                continue
            for f in files:
                p = Path(dirpath) / f
                own = (len(rel) == 2 and rel[0] == "jobs" and rel[1] in attackers
                       and f != "spec.json") or (rel == ("results",) and f[:-5] in attackers)
                if own:  # the attacker's own logs and result quote its own file names
                    continue
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(p).st_mode) and p.stat().st_size < 64 * 2**20 \
                            and tok.encode() in p.read_bytes():
                        hits.append(f"{p} (content)")
    latest = ctx.reports / ctx.assignment / "latest-run"
    with contextlib.suppress(OSError):
        if tok.encode() in latest.read_bytes():
            hits.append(f"{latest} (content)")
    return sorted(set(hits))


def leftover_processes(markers: list[str]) -> list[str]:
    """Live processes of the sandbox uids whose mounts mention ``markers``, or any process
    whose command line does."""
    from autograder.engine.sandbox import HOST_UIDS

    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            status = Path(f"/proc/{name}/status").read_text()
            cmd = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(
                errors="replace")
        except OSError:
            continue
        uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
        state = re.search(r"^State:\s+(\S)", status, re.M).group(1)
        mine = any(m in cmd for m in markers)
        if not mine and uid in HOST_UIDS:
            with contextlib.suppress(OSError):
                mounts = Path(f"/proc/{name}/mountinfo").read_text()
                mine = any(m in mounts for m in markers)
        if mine:
            found.append(f"pid {name} uid {uid} state {state}: {cmd[:160]}")
    return found


# --- feedback scanning ----------------------------------------------------------------------

ACTIVE_TAGS = {"script", "iframe", "object", "embed", "form", "base", "frame", "frameset",
               "applet", "link"}


class _Active(HTMLParser):
    """Active content planted by the attacks (their markers: PWNED, evil.example, alert)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            low = value.strip().lower()
            if name.startswith("on") and ("pwned" in low or "alert" in low):
                self.found.append(f"<{tag} {name}={value[:60]!r}>")
            if low.startswith(("javascript:", "vbscript:")) or (
                    name in ("href", "src", "action", "data", "xlink:href", "formaction")
                    and "javascript:" in low.replace(" ", "")):
                self.found.append(f"<{tag} {name}={value[:60]!r}>")
            if "evil.example" in low:
                self.found.append(f"<{tag} {name}={value[:60]!r}>")
            if name == "style" and "javascript:" in low:
                self.found.append(f"<{tag} style={value[:60]!r}>")
        if tag == "meta" and any(n == "http-equiv" for n, _ in attrs):
            self.found.append(f"<meta {attrs!r}>"[:120])
        if tag == "script":
            self._in_script = True

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script and ("PWNED" in data or "alert(" in data):
            self.found.append(f"<script>{data[:60]}")


def planted_active_content(page_text: str) -> list[str]:
    parser = _Active()
    parser.feed(page_text)
    parser.close()
    return parser.found


# --- the batch ---------------------------------------------------------------------------------

@dataclasses.dataclass
class Batch:
    assignment: str
    ctx: Ctx
    attacks: list[Attack]
    results: dict
    seconds: float
    per_student_seconds: dict
    solo: dict
    solo_seconds: float
    probes: dict
    leftovers: list
    leftovers_late: list
    course_changes: list
    host_hits: list
    contacts: list
    poked: list
    gradebook: dict
    pages: dict
    page_problems: dict
    input_files: list
    uncovered_inputs: list
    late_writes: dict
    log: str
    run_dirs: list
    canary_hits: list = dataclasses.field(default_factory=list)  # the grading shell's variable
    probing: list = dataclasses.field(default_factory=list)  # students whose files hold probes

    # -- derived -------------------------------------------------------------------------
    def fair_of(self, student: str) -> tuple[Attack | None, float]:
        for a in self.attacks:
            if student in a.fair:
                return a, a.fair[student]
        for a in self.attacks:
            for pattern, points in a.fair.items():
                if fnmatch.fnmatchcase(student, pattern):
                    return a, points
        return None, 0.0

    def rows(self) -> list[dict]:
        out = []
        for sid, r in sorted(self.results.items()):
            a, fair = self.fair_of(sid)
            breaches = [p for p in self.probes.get(sid, []) if str(p.get("key", "")).startswith(
                "breach:") and p.get("ok")]
            out.append({"student": sid, "attack": a.name if a else None,
                        "category": a.category if a else None, "total": r["total"],
                        "fair": fair, "unfair": round(r["total"] - fair, 4) if r["total"] > fair + 1e-9 else 0,
                        "status": r["status"], "seconds": self.per_student_seconds.get(sid),
                        "breaches": [p["key"] for p in breaches]})
        return out

    def violations(self, name: str) -> list[str]:
        """Every broken rule for the attack ``name``."""
        a = next(x for x in self.attacks if x.name == name)
        out = []
        mine = [sid for sid in self.results if self.fair_of(sid)[0] is a]
        for sid in mine:
            r = self.results[sid]
            fair = self.fair_of(sid)[1]
            if r["total"] > fair + 1e-9:
                out.append(f"{sid}: {r['total']:g} points, fair is {fair:g} "
                           f"(cells: { {k: v['score'] for k, v in r['cells'].items()} })")
            if r.get("max") not in (None, self.max_points):
                out.append(f"{sid}: max {r.get('max')} != {self.max_points}")
            for p in self.probes.get(sid, []):
                if str(p.get("key", "")).startswith("breach:") and p.get("ok"):
                    out.append(f"{sid}: {p['key']} succeeded ({p.get('result', '')[:120]})")
            for flag in FORBIDDEN_FLAGS.get(a.name, []):
                if flag in r["flags"]:
                    out.append(f"{sid}: flagged {flag!r} though no such thing happened "
                               f"(status {r['status']!r})")
            for flag in REQUIRED_FLAGS.get(a.name, []):
                if flag not in r["flags"]:
                    out.append(f"{sid}: flag {flag!r} missing (status {r['status']!r})")
            for cell, (points, says) in REQUIRED_CELLS.get(a.name, {}).items():
                got = r["cells"].get(cell)
                if got is None or abs(float(got["score"]) - points) > 1e-9:
                    out.append(f"{sid}: {cell} scored {got and got['score']}, must score "
                               f"{points:g} (error: {got and got.get('error')})")
                elif says is not None and says not in str(got.get("error") or ""):
                    out.append(f"{sid}: {cell}'s error does not say {says!r}: "
                               f"{got.get('error')!r}")
            gb = self.gradebook.get(sid)
            if gb is not None and gb[0] is not None and abs(gb[0] - r["total"]) > 1e-6:
                out.append(f"{sid}: gradebook says {gb[0]:g}/{gb[1]:g}, results say "
                           f"{r['total']:g}/{r['max']:g}")
            if gb is not None and gb[1] is not None and gb[1] > self.max_points + 1e-9:
                out.append(f"{sid}: gradebook max score {gb[1]:g} > {self.max_points:g}")
            for problem in self.page_problems.get(sid, []):
                out.append(f"{sid}: feedback: {problem}")
            if sid in self.late_writes:
                out.append(f"{sid}: files in its work folder changed after its result was "
                           f"written: {self.late_writes[sid][:3]}")
        if a.honest:
            for sid in a.fair:
                solo = self.solo.get(sid)
                got = self.results.get(sid)
                if solo is None or got is None:
                    out.append(f"{sid}: missing ({'solo' if solo is None else 'batch'})")
                    continue
                cells = {k: v["score"] for k, v in got["cells"].items()}
                solo_cells = {k: v["score"] for k, v in solo["cells"].items()}
                if cells != solo_cells or got["status"] != solo["status"]:
                    out.append(f"{sid}: in the batch {got['total']:g} {got['status']!r} "
                               f"{cells}, alone {solo['total']:g} {solo['status']!r} {solo_cells}")
        if not mine and not a.honest:
            out.append(f"{a.name}: no result attributed to it (ids: {sorted(self.results)})")
        return out

    @property
    def max_points(self) -> float:
        return max((r["max"] for r in self.results.values()), default=0.0)


def _write_files(folder: Path, files: dict) -> list[Path]:
    written = []
    for rel, content in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, nbformat.NotebookNode):
            nbformat.write(content, path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif isinstance(content, str):
            path.write_text(content)
        elif callable(content):
            content(path)
        else:
            raise TypeError(f"{rel}: {type(content).__name__}")
        written.append(path)
    return written


def _input_entries(class_dir: Path) -> list[Path]:
    out = []
    for dirpath, dirs, files in os.walk(class_dir, followlinks=False):
        for name in files + [d for d in dirs if (Path(dirpath) / d).is_symlink()]:
            out.append(Path(dirpath) / name)
    return sorted(out)


def _covered(entry: Path, class_dir: Path, results: dict, blob: str) -> bool:
    if entry.name in blob:
        return True
    rel = entry.relative_to(class_dir)
    if entry.suffix == ".zip" and len(rel.parts) == 1:
        stem = entry.stem.split("_")[0]
        return any(sid == stem or sid.startswith(stem) for sid in results)
    return False


def make_course(root: Path, assignment: str):
    from autograder.engine.course import Course

    if assignment == "toy":
        from autograder.engine.toy import TOY_ASSIGNMENT, make_toy_course

        make_toy_course(root)
        course = Course(root, TOY_ASSIGNMENT, overrides={"GradingExecute": {"iopub_timeout": 10}})
    else:
        root.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / "nbgrader_config.py", root)
        shutil.copytree(REPO_ROOT / "solutions" / assignment, root / "solutions" / assignment)
        course = Course(root, assignment)
    return course, course.release()


# Where the attacks' probes come out of a job (attacks.PROBE_LIB writes them under captures/
# of the notebooks' and the pristine calls' work folders; the grader copies those out).
PROBE_FILES = ("trusted/captures/attack-probe.jsonl",
               "trusted/pristine/captures/attack-probe.jsonl")


# A variable of the grading shell, as an instructor's token would be: it must not reach any
# job's output, result or feedback (set while the batch is graded).
CANARY_VARIABLE = "RESNET_KIT_TEST_SHELL_SECRET"


def canary_hits(canary: str, folders: list[Path]) -> list[str]:
    """Files under ``folders`` that hold ``canary``."""
    found = []
    for folder in folders:
        for path in Path(folder).rglob("*"):
            with contextlib.suppress(OSError):
                if path.is_file() and not path.is_symlink() and canary.encode() in path.read_bytes():
                    found.append(str(path))
    return found


def run_batch(tmp: Path, attacks: list[Attack], assignment: str, *, timeout: int,
              training_timeout: int, student_timeout: int | None = None,
              epochs: int | None = None, victim: str, feedback: bool = True,
              extra: dict | None = None, workers: int = 1, say=print) -> Batch:
    from autograder.engine.democlass import ClassBuilder
    from autograder.engine.grading import Grader

    tmp = Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    token = "atk" + secrets.token_hex(5)
    root = tmp / "course"
    course, release_dir = make_course(root, assignment)
    builder = ClassBuilder(course, release_dir)
    pwn_dir = Path(f"/tmp/{token}-targets")
    pwn_dir.mkdir()
    (pwn_dir / "victim.txt").write_text("untouched\n")
    listeners = Listeners(token, pwn_dir)
    class_dir = root / "incoming"
    class_dir.mkdir()
    ctx = Ctx(token=token, assignment=assignment, course_root=root, class_dir=class_dir,
              reports=root / "reports", repo_root=REPO_ROOT,
              release={n: builder.released(n) for n in builder.names},
              solved={n: builder.solved(n) for n in builder.names}, pwn_dir=pwn_dir,
              tcp_port=listeners.port, host_ips=host_ips(),
              abstract_socket=listeners.abstract, unix_socket=listeners.unix_path,
              victim=victim, host_pid=os.getpid(), extra=dict(extra or {}))
    try:
        for a in attacks:
            _write_files(class_dir, a.build(ctx))
        inputs = _input_entries(class_dir)
        before = snapshot(root)
        victim_before = (pwn_dir / "victim.txt").read_bytes()
        log = io.StringIO()

        class Tee(io.TextIOBase):
            def write(self, s):
                log.write(s)
                if say:
                    sys.__stdout__.write(s)
                    sys.__stdout__.flush()
                return len(s)

        kwargs = dict(timeout=timeout, training_timeout=training_timeout,
                      student_timeout=student_timeout, epochs=epochs)
        canary = f"{token}-shell-secret-{secrets.token_hex(6)}"
        started = time.monotonic()
        grader = Grader(course, root / "reports", out=Tee(), workers=workers, **kwargs)
        os.environ[CANARY_VARIABLE] = canary
        try:
            results = {r["student"]: r for r in grader.grade_source(class_dir)}
        finally:
            del os.environ[CANARY_VARIABLE]
        seconds = time.monotonic() - started
        run_dirs = [grader.run_dir]
        markers = [str(root), token]
        leftovers = leftover_processes(markers)
        time.sleep(3)
        leftovers_late = leftover_processes(markers)
        after = snapshot(root)
        changes = diff_snapshots(before, after)
        if (pwn_dir / "victim.txt").read_bytes() != victim_before:
            changes.append(f"changed: {pwn_dir / 'victim.txt'}")
        listeners_contacts, poked = list(listeners.contacts), list(listeners.poked)

        probes, late = {}, {}
        per_student = {}
        for sid, r in results.items():
            per_student[sid] = r.get("seconds")
            job = grader.run_dir / "jobs" / sid
            for probe_file in PROBE_FILES:
                if (job / probe_file).is_file():
                    for line in (job / probe_file).read_text(errors="replace").splitlines():
                        with contextlib.suppress(ValueError):
                            probes.setdefault(sid, []).append(json.loads(line))
            result_file = grader.run_dir / "results" / f"{sid}.json"
            if job.is_dir() and result_file.is_file():
                written = result_file.stat().st_mtime
                newer = []
                for dirpath, _, files in os.walk(job / "work"):
                    for f in files:
                        with contextlib.suppress(OSError):
                            if os.lstat(os.path.join(dirpath, f)).st_mtime > written + 1:
                                newer.append(os.path.join(dirpath, f))
                if newer:
                    late[sid] = newer

        gradebook = {}
        with contextlib.suppress(Exception):
            from nbgrader.api import Gradebook, MissingEntry

            with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id="resnet-kit") as gb:
                for sid in results:
                    try:
                        sub = gb.find_submission(course.assignment, sid)
                        gradebook[sid] = (float(sub.score), float(sub.max_score))
                    except MissingEntry:
                        gradebook[sid] = None

        pages, page_problems = {}, {}
        if feedback:
            pages, page_problems = _feedback(course, root / "reports", results, assignment)

        blob = json.dumps(list(results.values()), ensure_ascii=False)
        uncovered = [str(p.relative_to(class_dir)) for p in inputs
                     if not _covered(p, class_dir, results, blob)]

        honest = [a for a in attacks if a.honest]
        solo, solo_seconds = {}, 0.0
        if honest:
            solo_dir = tmp / "solo-input"
            solo_dir.mkdir()
            for a in honest:
                _write_files(solo_dir, a.build(ctx))
            t0 = time.monotonic()
            solo_grader = Grader(course, root / "reports", out=Tee(), **kwargs)
            solo = {r["student"]: r for r in solo_grader.grade_source(solo_dir)}
            solo_seconds = time.monotonic() - t0
            run_dirs.append(solo_grader.run_dir)
        attackers = {sid for sid in results
                     if not any(a.honest and sid in a.fair for a in attacks)}
        host_hits = token_hits(ctx, run_dirs, attackers)
        hits = canary_hits(canary, [root])  # the course: jobs, results, feedback, gradebook
        probing = sorted({Path(p).relative_to(class_dir).parts[0] for p in inputs
                          if p.is_file() and b"attack-probe.jsonl" in p.read_bytes()})
        return Batch(assignment=assignment, ctx=ctx, attacks=list(attacks), results=results,
                     seconds=seconds, per_student_seconds=per_student, solo=solo,
                     solo_seconds=solo_seconds, probes=probes, leftovers=leftovers,
                     leftovers_late=leftovers_late, course_changes=changes,
                     host_hits=host_hits, contacts=listeners_contacts, poked=poked,
                     gradebook=gradebook, pages=pages, page_problems=page_problems,
                     input_files=[str(p.relative_to(class_dir)) for p in inputs],
                     uncovered_inputs=uncovered, late_writes=late, log=log.getvalue(),
                     run_dirs=run_dirs, canary_hits=hits, probing=probing)
    finally:
        listeners.close()
        shutil.rmtree(pwn_dir, ignore_errors=True)


def _feedback(course, reports: Path, results: dict, assignment: str):
    from autograder.engine.feedback import active_content, check_page, generate

    pages, problems = {}, {}
    try:
        generated = generate(course, reports, list(results.values()))
    except Exception as exc:  # noqa: BLE001 - a crash here is a finding of its own
        return {}, {sid: [f"feedback generation crashed: {type(exc).__name__}: {exc}"]
                    for sid in results}
    hidden = course.hidden_snippets()
    plan_markers = ['"args": [-4]', '"args": [-3]'] if assignment == "toy" else []
    for sid, files in generated.items():
        pages[sid] = [str(p) for p in files]
        found = []
        for page in files:
            text = page.read_text(encoding="utf-8", errors="replace")
            for item in planted_active_content(text):
                found.append(f"{page.name}: active content {item}")
            found += [f"{page.name}: {p}" for p in check_page(page, hidden)]
            plain = html.unescape(text)
            for marker in plan_markers:
                if marker in plain:
                    found.append(f"{page.name}: shows the capture plan's hidden-test call "
                                 f"{marker}")
            with contextlib.suppress(Exception):
                found += [f"{page.name}: active content (kit's own scan) {a}"
                          for a in active_content(text)]
        if found:
            problems[sid] = sorted(set(found))
    return pages, problems


def registry_names() -> list[str]:
    return [a.name for a in REGISTRY]


def summary(batch: Batch) -> dict:
    """A JSON-able summary (rows + global findings) for the report."""
    return {
        "assignment": batch.assignment, "seconds": round(batch.seconds, 1),
        "solo_seconds": round(batch.solo_seconds, 1), "rows": batch.rows(),
        "violations": {a.name: batch.violations(a.name) for a in batch.attacks},
        "leftovers": batch.leftovers, "leftovers_late": batch.leftovers_late,
        "course_changes": batch.course_changes, "host_hits": batch.host_hits,
        "contacts": batch.contacts, "poked": batch.poked,
        "uncovered_inputs": batch.uncovered_inputs, "gradebook": batch.gradebook,
        "probes": batch.probes,
        "results": {sid: {k: r.get(k) for k in ("total", "max", "status", "flags", "details",
                                                "cells", "seconds")}
                    for sid, r in batch.results.items()},
        "page_problems": batch.page_problems,
    }
