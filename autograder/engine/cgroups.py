"""One control group per sandbox: hard caps on the job's total memory and processes, a CPU
share of its own, and what it used (CPU seconds, peak memory, OOM kills).

Why: rlimits hold per process (RLIMIT_AS) or per uid (RLIMIT_NPROC), so a job of 256
processes could use 256 x 8 GiB, and CPU is shared by whoever asks most: a neighbour that
starts many busy processes slows an honest job until its cells time out. A cgroup caps the
job's processes together, and its CPU weight makes jobs share the cores equally, however
many processes each starts (and before other work on the machine: see ``CPU_WEIGHT``).

Both hierarchies are handled:
- cgroup v2 (most current distributions): one folder with ``memory.max``, ``memory.swap.max``,
  ``pids.max`` and ``cpu.weight``; the grader's own cgroup must let it enable those
  controllers for children (root does; a user needs systemd's delegation, e.g. ``systemd-run
  --user --scope -p Delegate=yes python -m autograder grade ...``). Under v2's rule that a
  group with processes has no controlled children, the grader moves itself into a leaf
  ``grader`` child of its group when it is alone there.
- cgroup v1 (older distributions, these machines): a folder in each of the memory, pids, cpu
  and cpuacct hierarchies (``memory.limit_in_bytes``, ``memory.memsw.limit_in_bytes`` where
  swap is accounted, ``pids.max``, ``cpu.shares``, ``cpuacct.usage``).
Where neither is writable (a user without delegation, most containers), :func:`support`
says why and the sandbox falls back to rlimits alone; ``doctor`` and the README say what then
holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
import uuid
from pathlib import Path

V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
V2_CONTROLLERS = ("memory", "pids", "cpu")
# A job's CPU weight against a process of default priority elsewhere on the machine (v1:
# cpu.shares, 1024 = one nice-0 process; v2: cpu.weight, 100 = the default): jobs share the
# cores equally among themselves, and each outweighs 8 busy processes of other work, so a
# compile or a notebook beside the grader barely slows a job. Measured with
# benchmarks/cgroup_fairness.py.
CPU_WEIGHT = 8
GROUP_PREFIX = "resnet-kit"


@dataclasses.dataclass(frozen=True)
class Support:
    version: str | None  # "v1", "v2" or None: no usable hierarchy
    why_not: str = ""    # when version is None: what is missing and how to fix it
    parents: tuple[Path, ...] = ()  # where job groups are made (one per v1 controller)


@dataclasses.dataclass
class Usage:
    cpu_seconds: float | None
    memory_peak: int | None
    oom_kills: int | None


def _mountinfo() -> list[tuple[str, str, str, set[str]]]:
    """(root within the hierarchy, mount point, fs type, super options) of cgroup mounts."""
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                found.append((fields[3], fields[4].replace("\\040", " "), tail[0],
                              set(tail[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's cgroup path per v1 controller, and under "" its v2 path."""
    own = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _inside(mount_root: str, mount_point: str, path: str) -> Path:
    relative = path[len(mount_root):] if path.startswith(mount_root) else path
    return Path(mount_point) / relative.lstrip("/")


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK | os.X_OK)


def support() -> Support:
    """Which hierarchy job groups can be made in, here and now (v1 wins where both are)."""
    mounts, own = _mountinfo(), _own_groups()
    v1 = {}
    for root, point, fstype, options in mounts:
        if fstype == "cgroup":
            for name in V1_CONTROLLERS:
                if name in options and name in own:
                    v1[name] = _inside(root, point, own[name])
    if v1:
        missing = [n for n in V1_CONTROLLERS if n not in v1]
        unwritable = [n for n, p in v1.items() if not _writable(p)]
        if not missing and not unwritable:
            return Support("v1", parents=tuple(v1[n] for n in V1_CONTROLLERS))
        why = (f"cgroup v1 lacks the {', '.join(missing)} controller(s)" if missing else
               f"cgroup v1: {', '.join(str(v1[n]) for n in unwritable)} not writable by this "
               "user (grade as root)")
        if not any(m[2] == "cgroup2" for m in mounts):
            return Support(None, why)
    for root, point, fstype, _ in mounts:
        if fstype == "cgroup2" and "" in own:
            group = _inside(root, point, own[""])
            return _v2_support(group)
    return Support(None, "no cgroup filesystem is mounted (mount cgroup2 on /sys/fs/cgroup)")


def _v2_support(group: Path) -> Support:
    try:
        available = set((group / "cgroup.controllers").read_text().split())
    except OSError as exc:
        return Support(None, f"cgroup v2: cannot read {group}/cgroup.controllers ({exc.strerror})")
    missing = [n for n in V2_CONTROLLERS if n not in available]
    if missing:
        return Support(None, f"cgroup v2: the {', '.join(missing)} controller(s) are not "
                             f"delegated to {group} (as a user: start the grader with "
                             "`systemd-run --user --scope -p Delegate=yes ...`; as root: "
                             "enable them in the parent's cgroup.subtree_control)")
    if not _writable(group):
        return Support(None, f"cgroup v2: {group} is not writable by this user (grade as root, "
                             "or start the grader in a delegated scope: `systemd-run --user "
                             "--scope -p Delegate=yes ...`)")
    enabled = set((group / "cgroup.subtree_control").read_text().split())
    if not set(V2_CONTROLLERS) <= enabled:
        why = _enable_v2(group)
        if why:
            return Support(None, why)
    return Support("v2", parents=(group,))


def _enable_v2(group: Path) -> str:
    """Enable the controllers for ``group``'s children; "" when done, else why not."""
    want = " ".join(f"+{n}" for n in V2_CONTROLLERS)
    try:
        (group / "cgroup.subtree_control").write_text(want)
        return ""
    except OSError as exc:
        if exc.errno != 16:  # EBUSY: processes in the group itself (v2's leaf rule)
            return f"cgroup v2: cannot enable {want} in {group} ({exc.strerror})"
    procs = [p for p in (group / "cgroup.procs").read_text().split() if p]
    if procs != [str(os.getpid())]:
        return (f"cgroup v2: {group} holds other processes than the grader ({len(procs)}), so "
                "no controller can be enabled for its children: start the grader in a cgroup "
                "of its own (`systemd-run --scope -p Delegate=yes ...`)")
    leaf = group / "grader"
    try:
        leaf.mkdir(exist_ok=True)
        (leaf / "cgroup.procs").write_text(str(os.getpid()))
        (group / "cgroup.subtree_control").write_text(want)
    except OSError as exc:
        return f"cgroup v2: cannot move the grader into {leaf} ({exc.strerror})"
    return ""


class JobGroup:
    """The cgroup (v2) or cgroups (v1, one per controller) of one sandbox."""

    def __init__(self, version: str, folders: dict[str, Path]):
        self.version, self.folders = version, folders

    @classmethod
    def create(cls, found: Support, *, memory_bytes: int, processes: int) -> "JobGroup":
        name = f"{GROUP_PREFIX}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if found.version == "v2":
            folders = {c: found.parents[0] / name for c in V2_CONTROLLERS}
            settings = [("memory", "memory.max", memory_bytes, False),
                        ("memory", "memory.swap.max", 0, True),  # no swap: the cap is RAM
                        ("pids", "pids.max", processes, False),
                        ("cpu", "cpu.weight", 100 * CPU_WEIGHT, False)]
        else:
            folders = {c: p / name for c, p in zip(V1_CONTROLLERS, found.parents)}
            settings = [("memory", "memory.limit_in_bytes", memory_bytes, False),
                        # where swap is accounted: memory and swap together
                        ("memory", "memory.memsw.limit_in_bytes", memory_bytes, True),
                        ("pids", "pids.max", processes, False),
                        ("cpu", "cpu.shares", 1024 * CPU_WEIGHT, False)]
        group = cls(found.version, folders)
        try:
            for folder in dict.fromkeys(folders.values()):  # cpu and cpuacct may share one
                folder.mkdir()
            for controller, file, value, optional in settings:
                group._write(controller, file, value, optional)
        except BaseException:
            group.remove()
            raise
        return group

    def _write(self, controller: str, name: str, value, optional: bool = False) -> None:
        try:
            (self.folders[controller] / name).write_text(str(value))
        except OSError:
            if not optional:
                raise

    def _read(self, controller: str, name: str) -> str | None:
        try:
            return (self.folders[controller] / name).read_text()
        except (OSError, KeyError):
            return None

    def procs_files(self) -> list[str]:
        """The files a new process writes its pid to, to join this group (every hierarchy)."""
        return sorted({str(f / "cgroup.procs") for f in self.folders.values()})

    def pids(self) -> list[int]:
        found = set()
        for path in self.procs_files():
            with contextlib.suppress(OSError):
                found.update(int(p) for p in Path(path).read_text().split())
        return sorted(found)

    def usage(self) -> Usage:
        cpu = peak = ooms = None
        if self.version == "v2":
            for line in (self._read("cpu", "cpu.stat") or "").splitlines():
                if line.startswith("usage_usec "):
                    cpu = int(line.split()[1]) / 1e6
            text = self._read("memory", "memory.peak")
            peak = int(text) if text and text.strip().isdigit() else None
            for line in (self._read("memory", "memory.events") or "").splitlines():
                if line.startswith("oom_kill "):
                    ooms = int(line.split()[1])
        else:
            text = self._read("cpuacct", "cpuacct.usage")
            cpu = int(text) / 1e9 if text and text.strip().isdigit() else None
            text = self._read("memory", "memory.max_usage_in_bytes")
            peak = int(text) if text and text.strip().isdigit() else None
            for line in (self._read("memory", "memory.oom_control") or "").splitlines():
                if line.startswith("oom_kill "):
                    ooms = int(line.split()[1])
        return Usage(cpu_seconds=cpu, memory_peak=peak, oom_kills=ooms)

    def kill(self, seconds: float = 10.0) -> None:
        """Kill every process in the group and wait until none is left."""
        if self.version == "v2":
            self._write("memory", "cgroup.kill", 1, optional=True)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            alive = self.pids()
            if not alive:
                return
            for pid in alive:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)

    def remove(self) -> None:
        """Remove the group's folders (after :meth:`kill`); the charges go to the parent."""
        for folder in set(self.folders.values()):
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # EBUSY while the last processes are reaped
                    time.sleep(0.05)


def join(procs_files: list[str]) -> None:
    """In the child between fork and exec: move this process into the job's group."""
    pid = str(os.getpid())
    for path in procs_files:
        with open(path, "w") as fh:
            fh.write(pid)
