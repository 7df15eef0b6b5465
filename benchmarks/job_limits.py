"""Do a job's hard limits hold, and does a job keep its CPU beside a greedy neighbour?

    .venv/bin/python benchmarks/job_limits.py [disk] [memory] [cpu]
        (no argument: all three; about 3 minutes on 2 cores; as root, where cgroups exist)

* disk: 32 writers at once, 128 MiB each (4 GiB), against a 1 GiB disk cap: what lands on
  disk with the polled watchdog (the workdir a plain folder) and with the job's own
  fixed-size filesystem (a tmpfs in the job process's mount namespace).
* memory: 16 processes at once each touching 256 MiB (4 GiB, each under RLIMIT_AS) against
  a 1 GiB total cap: the cgroup's peak and how many processes it stopped.
* cpu: an "honest" job (one process doing a fixed amount of pure-Python work) timed alone,
  beside a neighbour job running 16 busy processes, and beside 16 busy processes of the host
  (outside any job), each busy process in a session of its own: each with and without the
  job cgroups (their CPU weight), side by side in one run. The machine is shared and noisy:
  compare rows of one run only.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.engine import cgroups, sandbox  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MiB, GiB = 2**20, 2**30
ENV = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1"}
LIMITS = dataclasses.replace(sandbox.DEFAULT_LIMITS, disk_bytes=1 * GiB, wall_seconds=300,
                             total_memory_bytes=1 * GiB)

WRITERS = """
for i in $(seq 32); do dd if=/dev/zero of=file$i bs=1M count=128 2>/dev/null & done; wait
"""

def _one_job(work: Path, limits, script: str, fixed: bool) -> dict:
    """The script as a job's phase runs it: with its own fixed-size folder, or polled."""
    def phase():
        with sandbox.fixed_size_folder(work, limits.disk_bytes) as not_fixed:
            if fixed and not_fixed:
                raise SystemExit("no fixed-size folder here: " + not_fixed)
            r = sandbox.run(["/bin/sh", "-c", script], workdir=work, env={}, limits=limits,
                            log=work.parent / "log", disk_is_fixed=not not_fixed)
            files = sum(p.stat().st_size for p in work.rglob("*") if p.is_file())
        return {"files": files, "killed": r.killed_reason, "seconds": r.seconds}

    return sandbox.with_own_mounts(phase) if fixed else phase()


def disk() -> None:
    print("disk: 32 writers x 128 MiB against a 1 GiB cap")
    for mode in ("polled", "fixed"):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            seen = _one_job(work, LIMITS, WRITERS, fixed=mode == "fixed")
            print(f"  {mode:7} on disk at the end {seen['files'] / MiB:7.1f} MiB "
                  f"(cap {LIMITS.disk_bytes / MiB:.0f} MiB, over by "
                  f"{max(0, seen['files'] - LIMITS.disk_bytes) / MiB:.1f} MiB); "
                  f"stopped: {seen['killed']}; {seen['seconds']:.1f} s")


MANY_PROCESSES = """
import os, time
children = []
for _ in range(16):
    pid = os.fork()
    if pid == 0:
        block = bytearray(256 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        time.sleep(3)
        os._exit(0)
    children.append(pid)
print("stopped", sum(os.WIFSIGNALED(os.waitpid(p, 0)[1]) for p in children))
"""


def memory() -> None:
    print("memory: 16 processes x 256 MiB against a 1 GiB total cap (RLIMIT_AS 8 GiB each)")
    for cap in (0, LIMITS.total_memory_bytes):
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            work = Path(tmp) / "work"
            work.mkdir()
            limits = dataclasses.replace(LIMITS, total_memory_bytes=cap)
            r = sandbox.run([sys.executable, "-c", MANY_PROCESSES], workdir=work, env=ENV,
                            limits=limits, log=Path(tmp) / "log")
            text = (Path(tmp) / "log").read_text().strip()
            peak = f"{r.memory_peak / MiB:.0f} MiB" if r.memory_peak else "not measured"
            print(f"  total cap {'none' if not cap else f'{cap / MiB:.0f} MiB':9} "
                  f"{text}; cgroup peak {peak}; OOM kills {r.oom_kills}")


HONEST = "n = 0\nfor i in range(25_000_000):\n    n += i\nprint('done')"
# Each busy process in a session of its own: the kernel's autogroup scheduling (on in Debian's
# and Ubuntu's kernels) shares the CPU per session, which a single session of 16 would not beat.
GREEDY = "for i in $(seq 16); do setsid sh -c 'while :; do :; done' & done; sleep 600"


def _timed_job(limits, out: dict, key: str) -> None:
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        r = sandbox.run([sys.executable, "-c", HONEST], workdir=work, env=ENV, limits=limits,
                        log=Path(tmp) / "log")
        out[key] = r.seconds


def _greedy_job(limits, stop: threading.Event) -> None:
    """A neighbour job of 16 busy processes, until ``stop`` (then its processes are killed)."""
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        runner = threading.Thread(target=sandbox.run, args=(["/bin/sh", "-c", GREEDY],),
                                  kwargs=dict(workdir=work, env=ENV, log=Path(tmp) / "log",
                                              limits=limits))
        runner.start()
        stop.wait()
        _kill_busy_loops()
        runner.join()


def _kill_busy_loops() -> None:
    for entry in Path("/proc").iterdir():
        try:
            command = (entry / "cmdline").read_bytes()
            if entry.name.isdigit() and (b"sleep 600" in command or b"sleep\x00600" in command
                                         or b"while :" in command):
                os.kill(int(entry.name), 9)
        except OSError:
            pass


def cpu() -> None:
    found = cgroups.support()
    print(f"cpu: an honest job's seconds (pure-Python work) -- cgroups here: "
          f"{found.version or 'none (' + found.why_not + ')'}")
    rows = {}
    for grouped in (False, True):
        limits = dataclasses.replace(LIMITS, total_memory_bytes=LIMITS.total_memory_bytes
                                     if grouped else 0)
        name = "with job cgroups" if grouped else "without cgroups"
        times: dict = {}
        _timed_job(limits, times, "alone")
        stop = threading.Event()
        greedy = threading.Thread(target=_greedy_job, args=(limits, stop))
        greedy.start()
        time.sleep(2)
        _timed_job(limits, times, "beside a job of 16 busy processes")
        stop.set()
        greedy.join()
        hog = subprocess.Popen(["/bin/sh", "-c", GREEDY], start_new_session=True)
        time.sleep(2)
        _timed_job(limits, times, "beside 16 busy host processes")
        _kill_busy_loops()
        hog.wait()
        rows[name] = times
    for name, times in rows.items():
        base = times["alone"]
        print(f"  {name}: " + "; ".join(f"{k} {v:.1f} s ({v / base:.1f}x)"
                                        for k, v in times.items()))


if __name__ == "__main__":
    wanted = sys.argv[1:] or ["disk", "memory", "cpu"]
    for part in wanted:
        {"disk": disk, "memory": memory, "cpu": cpu}[part]()
