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
reported for that student, and the batch goes on. At most one job per worker thread is in
flight: the next one is submitted when one comes back, so it starts with the training cache as
it is then (a class's first correct network trains once; the rest reuse it).
"""

from __future__ import annotations

import os
import time
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


# (job, outcome or None, the last error or None)
Finished = tuple[Job, "dict | None", "str | None"]


class SerialRunner:
    """Each job in this process, one after the other."""

    description = "serially, here"

    def run(self, queue: list[Job], before: Callable[[Job], None],
            say: Callable[[str], None]) -> Iterator[Finished]:
        from . import jobs

        for job in queue:
            before(job)
            try:
                yield job, jobs.run(job.spec), None
            except Exception as exc:  # noqa: BLE001 - one student never stops the batch
                yield job, None, f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        pass


class DaskRunner:
    """Jobs on a Dask cluster: a running one (``scheduler``) or a LocalCluster of ``workers``."""

    def __init__(self, scheduler: str | None = None, workers: int = 2,
                 heartbeat: float = 60.0):
        from distributed import Client, LocalCluster

        self.cluster = None
        if scheduler:
            self.client = Client(scheduler, timeout="30s")
            self.description = f"on the Dask cluster at {scheduler}"
        else:
            self.cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None)
            self.client = Client(self.cluster)
            self.description = f"on {workers} local Dask worker processes"
        self.heartbeat = heartbeat

    def slots(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def run(self, queue: list[Job], before: Callable[[Job], None],
            say: Callable[[str], None]) -> Iterator[Finished]:
        from distributed import as_completed

        from . import jobs

        waiting = list(queue)
        in_flight: dict = {}
        done = as_completed()

        def submit(job: Job) -> None:
            job.attempts += 1
            if job.attempts == 1:
                before(job)  # the training cache as it is now, and the start line
            future = self.client.submit(jobs.run_packed, jobs.pack(job.spec), pure=False,
                                        key=f"grade-{job.student}-try{job.attempts}-{time.time_ns()}")
            in_flight[future.key] = (future, job)
            done.add(future)

        while waiting and len(in_flight) < self.slots():
            submit(waiting.pop(0))
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
                job.errors.append(f"{type(exc).__name__}: {str(exc)[:500]}")
                if job.attempts <= RETRIES:
                    say(f"{job.student}: the job failed ({job.errors[-1][:200]}); "
                        "submitting it once more")
                    submit(job)
                    continue
                yield job, None, "; ".join(job.errors)
            else:
                yield job, outcome, None
            while waiting and len(in_flight) < self.slots():
                submit(waiting.pop(0))

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


def runner_for(workers: int | None, scheduler: str | None):
    """The runner a ``grade`` command asks for: serial for one worker and no scheduler."""
    if scheduler:
        return DaskRunner(scheduler=scheduler)
    if workers and workers > 1:
        return DaskRunner(workers=workers)
    return SerialRunner()
