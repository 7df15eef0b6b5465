"""Where the jobs of a class run: one after the other here, or on a Dask cluster.

Grading is a set of independent jobs (one student = one job: :mod:`autograder.engine.jobs`).
The coordinator prepares each job, hands it to a runner, and merges what comes back; it alone
writes the gradebook, the results and the training cache. A runner only decides where jobs run:

* :class:`SerialRunner`: one job at a time, in this process's machine (``--workers 1``).
* :class:`DaskRunner`: on a Dask cluster, either one it starts here (``--workers N``: a
  ``LocalCluster`` of N single-threaded worker processes) or a running one
  (``--scheduler tcp://HOST:PORT``, started with Dask's own ``dask scheduler`` and
  ``dask worker`` commands from the kit's environment). Jobs travel as packed folders
  (:func:`jobs.pack`), so workers need the kit installed, not the coordinator's disk.

A job that raises, or whose worker is lost, is submitted once more; a second failure is
reported for that student (a :class:`JobFailure`: what failed and its whole traceback, from
the worker and the job process), and the batch goes on. At most one job per worker thread is in
flight: the next one is submitted when one comes back, so it starts with the training cache as
it is then (a class's first correct network trains once; the rest reuse it).
"""

from __future__ import annotations

import logging
import os
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

# One job per core: with the caches on, most of a job is single-threaded (starting the
# sandbox, a kernel, the judge), so a second job on the same cores fills the gaps. Measured on
# the kit's 2-core machine, 30 students at 3 epochs (benchmarks/grading_throughput.py):
# --workers 2 graded 1.33x and 1.43x (two runs) the students per hour of --workers 1, with
# identical grades; with 2 jobs on 2 cores each TensorFlow gets one thread (threads_per_job).
# A job needs up to ~4 GB (ResNet-50 training, batch 32, plus the judge), which caps it where
# memory is short.
CORES_PER_JOB = 1
MEMORY_PER_JOB = 4 * 2**30
RETRIES = 1


def default_workers(cores: int | None = None, memory: int | None = None) -> int:
    """The rule for ``--workers`` when not given: one job per CORES_PER_JOB cores, and no
    more than MEMORY_PER_JOB of RAM each; at least 1."""
    cores = cores or _cores()
    if memory is None:
        try:
            memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            memory = MEMORY_PER_JOB
    return max(1, min(cores // CORES_PER_JOB, memory // MEMORY_PER_JOB))


def threads_per_job(workers: int, cores: int | None = None) -> int:
    """TensorFlow op threads for each of ``workers`` jobs sharing this machine's cores."""
    return max(1, (cores or _cores()) // max(1, workers))


def _cores() -> int:
    """The cores this process may use (its CPU affinity, which containers and Slurm set)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class Job:
    """A prepared job: ``spec`` (from :func:`jobs.prepare`) and the coordinator's own state."""

    student: str
    spec: dict
    state: object = None
    attempts: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass
class JobFailure:
    """Why a job gave no outcome: ``summary`` (one line per attempt) and ``traceback`` (the
    whole traceback text: the job process's own where it crashed, as its stderr holds it, and
    where it was raised on the worker or here). Always the grader's failure, never the
    student's: student code runs only in the job's sandbox, whose every ending (timeouts,
    limits, dead kernels) is part of an outcome."""

    summary: str
    traceback: str = ""

    def __str__(self) -> str:
        return self.summary


class JobError(RuntimeError):
    """Raised on a worker in place of a job's exception, with the worker's traceback text in
    it (``args``: summary, traceback), so the coordinator gets it whatever Dask keeps of
    remote tracebacks."""

    def __init__(self, summary: str, traceback_text: str):
        super().__init__(summary, traceback_text)
        self.summary, self.traceback = summary, traceback_text

    def __str__(self) -> str:
        return self.summary


def run_packed(data: bytes) -> bytes:
    """What a Dask worker runs: :func:`jobs.run_packed`, any exception turned into a
    :class:`JobError` that carries its traceback (which holds the job process's stderr)."""
    from . import jobs

    try:
        return jobs.run_packed(data)
    except Exception as exc:  # noqa: BLE001 - sent back whole to the coordinator
        raise JobError(summarize(exc), traceback.format_exc()) from None


def summarize(exc: BaseException, limit: int = 500) -> str:
    """An exception on one line: its type and first line, and where its message holds a
    traceback (a job process's stderr), that traceback's last line, the error itself."""
    header = "Traceback (most recent call last):"
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    if len(lines) > 1 and header in str(exc):
        text = text.removesuffix(header).rstrip() + f" ... {lines[-1]}"
    text = text.rstrip(": ")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def failure_of(exc: BaseException) -> tuple[str, str]:
    """(one-line summary, whole traceback text) of an exception a job raised."""
    if isinstance(exc, JobError):
        return exc.summary, exc.traceback
    return summarize(exc), "".join(traceback.format_exception(type(exc), exc,
                                                              exc.__traceback__)).rstrip()


class StopDispatch(Exception):
    """Raised by a runner's ``before`` hook: start no more jobs (the message says why). The
    jobs already running finish; each job not started comes back failed with that reason."""


NOT_GRADED = "not graded"  # how the failure of a job that never started begins


def _not_started(job: "Job", why: str) -> "Finished":
    return job, None, JobFailure(f"{NOT_GRADED}: {why}", "")


# (job, outcome or None, why it failed or None)
Finished = tuple[Job, "dict | None", "JobFailure | None"]


class SerialRunner:
    """Each job in this process, one after the other."""

    description = "serially, here"

    def run(self, queue: list[Job], before: Callable[[Job], None],
            say: Callable[[str], None]) -> Iterator[Finished]:
        from . import jobs

        for index, job in enumerate(queue):
            try:
                before(job)
            except StopDispatch as stop:
                for rest in queue[index:]:
                    yield _not_started(rest, str(stop))
                return
            try:
                outcome = jobs.run(job.spec)
            except Exception as exc:  # noqa: BLE001 - one student never stops the batch
                yield job, None, JobFailure(*failure_of(exc))
            else:
                yield job, outcome, None

    def close(self) -> None:
        pass


# Where the dashboard listens when `--dashboard` names no address: this machine only.
DEFAULT_DASHBOARD = "127.0.0.1:8787"


def local_cluster_options(workers: int, dashboard: str | None = None) -> dict:
    """LocalCluster's settings for ``--workers N``: single-threaded worker processes, quiet.

    Without ``dashboard`` the scheduler still serves HTTP (health and metrics routes), and on
    Dask's default port 8787 on every interface: where that port is taken (a second `grade`,
    a notebook's cluster) Dask warns "Port 8787 is already in use". So it gets a free port on
    loopback and no dashboard. Dask's own log lines (a retried task's "Compute Failed", a
    restarted worker, each at ERROR or WARNING) are kept quiet: the runner reports every failed
    job itself, with its traceback."""
    options = {"n_workers": workers, "threads_per_worker": 1, "processes": True,
               "silence_logs": logging.CRITICAL}
    if dashboard:
        options["dashboard_address"] = dashboard
    else:
        options.update(dashboard_address=None,
                       scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"})
    return options


def dashboard_note() -> str:
    """What to add to the dashboard's link where it cannot show Dask's pages."""
    try:
        import bokeh  # noqa: F401
    except ImportError:
        return (" (Dask's dashboard needs bokeh, which this environment lacks: "
                "`pip install 'bokeh>=3.1'` for its pages)")
    return ""


class DaskRunner:
    """Jobs on a Dask cluster: a running one (``scheduler``) or a LocalCluster of ``workers``.
    ``dashboard``: an address for the local cluster's dashboard (None: no dashboard); its
    link, or the running cluster's, is in :attr:`dashboard_link`."""

    def __init__(self, scheduler: str | None = None, workers: int = 2,
                 heartbeat: float = 60.0, dashboard: str | None = None):
        from distributed import Client, LocalCluster

        self.cluster = None
        self.dashboard_link = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self.description = f"on the Dask cluster at {scheduler}"
            if dashboard:
                self.dashboard_link = self.client.dashboard_link
        else:
            self.cluster = LocalCluster(**local_cluster_options(workers, dashboard))
            self.client = Client(self.cluster)
            self.description = f"on {workers} local Dask worker processes"
            if dashboard:
                self.dashboard_link = self.cluster.dashboard_link
        self.heartbeat = heartbeat

    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def sandbox_failures(self) -> dict[str, str | None]:
        """Each worker's answer to the sandbox preflight: None where it starts, else why not
        (run on the workers themselves: the coordinator may be a machine that cannot)."""
        return self.client.run(_sandbox_failure)

    def run(self, queue: list[Job], before: Callable[[Job], None],
            say: Callable[[str], None]) -> Iterator[Finished]:
        from distributed import as_completed

        from . import jobs

        waiting = list(queue)
        in_flight: dict = {}
        tracebacks: dict[str, list[str]] = {}  # student -> each failed attempt's traceback
        done = as_completed()

        def submit(job: Job) -> None:
            job.attempts += 1
            if job.attempts == 1:
                before(job)  # the training cache as it is now, and the start line
            future = self.client.submit(run_packed, jobs.pack(job.spec), pure=False,
                                        key=f"grade-{job.student}-try{job.attempts}-{time.time_ns()}")
            in_flight[future.key] = (future, job)
            done.add(future)

        stopped = ""  # why no more jobs start (StopDispatch from ``before``)

        def fill() -> None:
            nonlocal stopped
            while waiting and not stopped and len(in_flight) < self.slots():
                try:
                    submit(waiting[0])
                except StopDispatch as stop:
                    stopped = str(stop)
                    return
                waiting.pop(0)

        fill()
        last_report = time.monotonic()
        while in_flight:
            future = self._next(done)
            if future is None:  # nothing came back for a while: say what is running
                if time.monotonic() - last_report >= self.heartbeat:
                    say("running: " + self.running(in_flight))
                    last_report = time.monotonic()
                continue
            _future, job = in_flight.pop(future.key)
            try:
                outcome = jobs.unpack_outcome(future.result(), job.spec)
            except Exception as exc:  # noqa: BLE001 - a failed job or a lost worker
                summary, text = failure_of(exc)
                job.errors.append(summary)
                earlier = tracebacks.setdefault(job.student, [])
                same = any(text.strip() in seen for seen in earlier)
                earlier.append(f"--- attempt {job.attempts}" + (
                    ": the same traceback as before ---" if same else f" ---\n{text.strip()}"))
                if job.attempts <= RETRIES:
                    say(f"{job.student}: the job failed ({job.errors[-1][:200]}); "
                        "submitting it once more")
                    submit(job)
                    continue
                errors = list(dict.fromkeys(job.errors))
                yield job, None, JobFailure("; ".join(errors) + (
                    (" (both tries)" if len(job.errors) == 2 else f" (all {len(job.errors)} tries)")
                    if len(errors) < len(job.errors) else ""),
                                            "\n".join(tracebacks.pop(job.student)))
            else:
                yield job, outcome, None
            fill()
        for job in waiting:  # only when dispatching stopped
            yield _not_started(job, stopped)

    @staticmethod
    def _next(done):
        """The next finished job's future, or None when none finished within a few seconds."""
        return next(done) if _wait(done, 5.0) else None

    def running(self, in_flight: dict) -> str:
        where = {}
        try:
            for worker, keys in self.client.processing().items():
                for key in keys:
                    where[key] = worker
        except Exception:  # noqa: BLE001 - a progress line only
            pass
        return ", ".join(f"{job.student}" + (f" @ {where[key]}" if key in where else " (queued)")
                         for key, (_f, job) in in_flight.items())

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def _wait(done, seconds: float) -> bool:
    """True when a result is ready within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if done.has_ready():
            return True
        time.sleep(0.2)
    return done.has_ready()


def _sandbox_failure() -> str | None:
    """On a worker: None when the sandbox starts there, else the cause and its fix."""
    from .sandbox import SandboxUnavailable, preflight

    try:
        preflight()
    except SandboxUnavailable as exc:
        return str(exc)
    return None


def runner_for(workers: int | None, scheduler: str | None, dashboard: str | None = None):
    """The runner a ``grade`` command asks for: serial for one worker and no scheduler."""
    if scheduler:
        return DaskRunner(scheduler=scheduler, dashboard=dashboard)
    if workers and workers > 1:
        return DaskRunner(workers=workers, dashboard=dashboard)
    return SerialRunner()
