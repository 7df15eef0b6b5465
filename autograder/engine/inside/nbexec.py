"""Execution preprocessors for ``nbgrader autograde`` that lose nothing.

nbgrader's ``Execute`` preprocessor runs a submission in one kernel. When that kernel dies
(``os._exit``, a segfault, the OOM killer) or a cell cannot be interrupted after its timeout,
nbclient raises, nbgrader drops the whole autograded notebook and the student's grades for it
are never saved. :class:`GradingExecute` instead:

* gives every cell a timeout from the ``timeout_func`` hook: ``timeout`` for ordinary cells,
  ``training_timeout`` for cells tagged ``training`` (the tag names come from
  ``training_tags``);
* on a timeout, interrupts the kernel (nbgrader's behaviour) and records a
  ``CellTimeoutError`` in the cell, then goes on in the same kernel;
* when the kernel dies, or a timed-out cell ignores the interrupt, records an error in the
  offending cell (``DeadKernelError`` / ``CellTimeoutError``), starts a fresh kernel, replays
  the cells that had already run (their recorded outputs are kept, the replay's thrown away)
  and carries on after the offending cell, so later answers still earn their points;
* after each cell, appends what happened to a journal (JSON lines) when the environment
  variable ``RESNET_KIT_GRADING_JOURNAL`` names a folder, so a job stopped from outside still
  says which cells ran;
* reports what it observed itself (cells timed out, kernel deaths and restarts, cells not
  run, errors, notebooks finished) to an :class:`ExecutorReport`: authenticated JSON lines on
  its own stdout, which the host captures. Reports' statuses come from these lines, never from
  the executed notebook, which the kernel (same uid, same writable folder) can rewrite. The
  kernel gets neither this process's stdout nor stderr, and :func:`make_undumpable` keeps it
  from reaching them through ``/proc`` or ptrace.

This module runs INSIDE the sandbox (see :mod:`autograder.engine.sandbox`), which mounts only
this folder of the grader: it imports nothing else from ``autograder``.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # as autograder.engine._fastimport: fast start

import copy
import ctypes
import hashlib
import hmac
import json
import math
import os
import secrets
import stat
import subprocess
import time
from pathlib import Path

from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbclient.util import run_sync
from nbconvert.preprocessors.execute import ExecutePreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbclient.client import NotebookClient
from traitlets import Integer, List, Unicode, default

JOURNAL_ENV = "RESNET_KIT_GRADING_JOURNAL"

# Error names the grader itself writes into cells; reports turn them into statuses.
TIMEOUT_ENAME = "CellTimeoutError"
DEAD_KERNEL_ENAME = "DeadKernelError"
NOT_RUN_ENAME = "CellNotExecuted"
GRADER_ENAMES = {TIMEOUT_ENAME, DEAD_KERNEL_ENAME, NOT_RUN_ENAME}
BUDGET_USED_UP = "not executed: the job's time budget"  # how such a "not run" reason starts

# The executor's report: "<prefix> hello <key>" once, then "<prefix> <hmac> <json>" lines.
REPORT_PREFIX = "@@resnet-kit-executor"
RECORD_BYTES = 3500  # under PIPE_BUF (4096): a record reaches the pipe in one piece
_PR_SET_DUMPABLE = 4


def make_undumpable() -> bool:
    """prctl(PR_SET_DUMPABLE, 0): a process of the same uid (the kernel) can then neither
    ptrace this one nor open its /proc/<pid>/fd, mem or environ. Linux only; False if not."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except Exception:  # noqa: BLE001 - not Linux, no libc: nothing to harden
        return False


def _clip(text, size: int) -> str:
    text = str(text)
    return text if len(text) <= size else text[: size - 3] + "..."


class ExecutorReport:
    """What the executor itself saw, as JSON lines on ``fd`` (its stdout, the host's log).

    The key is written once, before any kernel exists, and the executor waits until the host
    has read it; every later line carries an HMAC of its JSON and a sequence number. A process
    that can write into the same pipe (in some sandbox modes bwrap's pid 1 holds it and is
    reachable) can neither forge nor replay a record, and one it swallows leaves a gap the
    host sees."""

    def __init__(self, fd: int = 1, drain_seconds: float = 10.0):
        self.fd, self.seq = fd, 0
        self.key = secrets.token_bytes(32)
        self._write(f"{REPORT_PREFIX} hello {self.key.hex()}")
        self._wait_drained(drain_seconds)

    def record(self, event: str, **fields) -> None:
        self.seq += 1
        body = json.dumps({"seq": self.seq, "event": event, **fields}, sort_keys=True)
        if len(body) > RECORD_BYTES:  # only a cell's errors can be long: keep the count
            fields["errors"] = [["(errors)", f"{len(fields.get('errors') or [])} errors"]]
            body = json.dumps({"seq": self.seq, "event": event, **fields}, sort_keys=True)
        mac = hmac.new(self.key, body.encode(), hashlib.sha256).hexdigest()
        self._write(f"{REPORT_PREFIX} {mac} {body}")

    def _write(self, line: str) -> None:
        # Leading newline: a partial line someone else left in the pipe cannot swallow ours.
        data = f"\n{line}\n".encode()
        try:
            while data:
                data = data[os.write(self.fd, data):]
        except OSError:  # the host stopped reading: nothing left to tell
            pass

    def _wait_drained(self, seconds: float) -> None:
        """Until the host has read the key out of the pipe (so no kernel can ever read it)."""
        try:
            if not stat.S_ISFIFO(os.fstat(self.fd).st_mode):
                return
            import fcntl
            import termios

            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                pending = ctypes.c_int(0)
                fcntl.ioctl(self.fd, termios.FIONREAD, pending)
                if pending.value == 0:
                    return
                time.sleep(0.01)
        except OSError:
            pass


def parse_report(text: str) -> dict:
    """The executor's records in its log ``text``: only lines carrying its key's HMAC count.

    Returns ``{"started": bool, "records": [...], "missing": n}``; ``missing`` counts records
    whose sequence numbers never arrived (swallowed, or the log was cut before them)."""
    key, expected, missing, records = None, 1, 0, []
    for line in text.split("\n"):
        if not line.startswith(REPORT_PREFIX + " "):
            continue
        parts = line.rstrip("\r").split(" ", 2)
        if len(parts) != 3:
            continue
        _, tag, body = parts
        if key is None:  # the first line of the prefix: written before any kernel existed
            if tag == "hello":
                try:
                    key = bytes.fromhex(body.strip())
                except ValueError:
                    return {"started": False, "records": [], "missing": 0}
            continue
        good = hmac.new(key, body.encode("utf-8", "replace"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(tag.encode(), good.encode()):
            continue
        try:
            record = json.loads(body)
        except ValueError:
            continue
        seq = record.get("seq") if isinstance(record, dict) else None
        if not isinstance(seq, int) or seq < expected:
            continue  # a replayed copy
        missing += seq - expected
        expected = seq + 1
        records.append(record)
    return {"started": key is not None, "records": records, "missing": missing}


def error_output(ename: str, evalue: str) -> NotebookNode:
    return NotebookNode(
        output_type="error",
        ename=ename,
        evalue=evalue,
        traceback=[f"\x1b[0;31m{ename}\x1b[0m: {evalue}"],
    )


def cell_has_error(cell) -> bool:
    return any(o.get("output_type") == "error" for o in cell.get("outputs", []))


class GradingExecute(Execute):
    """nbgrader's Execute, with per-cell timeouts by tag and recovery from dead kernels."""

    training_timeout = Integer(
        1800,
        help="Timeout (s) for cells carrying one of `training_tags` (model training).",
    ).tag(config=True)

    training_tags = List(
        Unicode(), ["training"], help="Cell metadata tags that get `training_timeout`."
    ).tag(config=True)

    max_kernel_restarts = Integer(
        4,
        help="Fresh kernels started for one notebook after deaths/hangs; past this, the "
        "remaining cells are marked as not executed.",
    ).tag(config=True)

    replay_timeout = Integer(
        None,
        allow_none=True,
        help="Timeout (s) for each cell replayed into a fresh kernel; None uses the cell's "
        "own timeout.",
    ).tag(config=True)

    # The job's whole time budget (all its notebooks' cells, replays after kernel restarts
    # included): a time.monotonic() deadline shared by the job's executors, and its size in
    # seconds for messages. None: no budget (each cell has its timeout only).
    budget_deadline: float | None = None
    budget_seconds: float | None = None

    # Where this executor reports what it saw (None: nowhere); see ExecutorReport.
    report: ExecutorReport | None = None
    _timed_out = False  # set when nbclient's own timer expired on the current cell

    @default("timeout_func")
    def _timeout_func_default(self):
        return self.cell_timeout

    def cell_timeout(self, cell) -> int | None:
        """nbclient's ``timeout_func`` hook: a longer budget for training cells, never past
        what is left of the job's budget."""
        tags = cell.get("metadata", {}).get("tags", []) or []
        limit = self.training_timeout if any(t in tags for t in self.training_tags) else self.timeout
        left = self.budget_left()
        if left is not None and (limit is None or left < limit):
            return max(1, math.ceil(left))
        return limit

    def budget_left(self) -> float | None:
        if self.budget_deadline is None:
            return None
        return self.budget_deadline - time.monotonic()

    def budget_used_up(self) -> str | None:
        """Why no more cell may start (the job's budget is spent), or None."""
        left = self.budget_left()
        if left is None or left > 0:
            return None
        return (f"{BUDGET_USED_UP} ({self.budget_seconds:g} s for all its cells, cells "
                "replayed after a kernel restart included) was used up")

    # -- journal -------------------------------------------------------------------------
    def _journal_path(self, resources) -> Path | None:
        folder = os.environ.get(JOURNAL_ENV)
        if not folder:
            return None
        notebook = (resources or {}).get("nbgrader", {}).get("notebook") or "notebook"
        path = Path(folder) / f"{notebook}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _journal(self, path: Path | None, index: int, cell, event: str, seconds: float) -> None:
        if path is None:
            return
        nbg = cell.get("metadata", {}).get("nbgrader", {}) or {}
        errors = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        stderr = any(
            o.get("output_type") == "stream" and o.get("name") == "stderr"
            for o in cell.get("outputs", [])
        )
        record = {
            "index": index,
            "event": event,
            "seconds": round(seconds, 3),
            "grade_id": nbg.get("grade_id"),
            "grade": bool(nbg.get("grade")),
            "points": nbg.get("points"),
            "errors": [_clip(e, 100) for e in errors[:10]],
            "stderr": stderr,
        }
        # The kernel may have put a link here (say to /proc/self/fd/1, this process's stdout):
        # never follow one, write only into a plain file.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        except OSError:
            return
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            if stat.S_ISREG(os.fstat(fd).st_mode):
                fh.write(json.dumps(record) + "\n")

    # -- report --------------------------------------------------------------------------
    def _report(self, event: str, **fields) -> None:
        if self.report is not None:
            self.report.record(event, **fields)

    def _report_cell(self, notebook: str, index: int, cell, status: str, seconds: float,
                     **extra) -> None:
        """One code cell as this process saw it: ``status`` is its own observation; the
        errors are the kernel's (name, first line of the message), student-controlled text."""
        nbg = cell.get("metadata", {}).get("nbgrader", {}) or {}
        errors = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                value = str(out.get("evalue", "")).strip().splitlines()
                errors.append([_clip(out.get("ename"), 100), _clip(value[0] if value else "", 200)])
        grade_id = nbg.get("grade_id")
        self._report("cell", notebook=notebook, index=index, status=status,
                     grade_id=None if grade_id is None else _clip(grade_id, 100),
                     graded=bool(nbg.get("grade")), errors=errors[:5],
                     seconds=round(seconds, 3), **extra)

    # -- execution -----------------------------------------------------------------------
    async def async_start_new_kernel(self, **kwargs) -> None:
        # The kernel runs student code: it must not inherit this process's stdout/stderr,
        # which carry the report to the host.
        kwargs.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await super().async_start_new_kernel(**kwargs)

    start_new_kernel = run_sync(async_start_new_kernel)

    async def _async_handle_timeout(self, timeout, cell=None):
        if cell is not None:  # our own timer fired on this cell (not the kernel's say-so)
            self._timed_out = True
        return await super()._async_handle_timeout(timeout, cell)

    def _kill_kernel(self) -> None:
        """Stop the current kernel now, however wedged it is.

        ``setup_kernel``'s clean-up then forgets the manager and client, so the next
        ``setup_kernel`` starts a fresh kernel.
        """
        try:
            if self.km is not None:
                run_sync(self.km.shutdown_kernel)(now=True)
        except Exception as exc:  # noqa: BLE001 - a dead kernel may refuse anything
            self.log.warning("Could not shut the kernel down cleanly: %s", exc)

    def _replay(self, executed: list[int]) -> bool:
        """Re-run already executed cells in a fresh kernel; keep their recorded outputs."""
        saved_timeout_func = self.timeout_func
        if self.replay_timeout is not None:
            self.timeout_func = lambda cell: self.replay_timeout
        try:
            for index in executed:
                if self.budget_used_up():
                    return False
                original = self.nb.cells[index]
                scratch = copy.deepcopy(original)
                try:
                    self.execute_cell(scratch, index, store_history=False)
                finally:
                    self.nb.cells[index] = original
        except (DeadKernelError, CellTimeoutError) as exc:
            self.log.error("Replaying cells into a fresh kernel failed: %s", exc)
            return False
        finally:
            self.timeout_func = saved_timeout_func
        return True

    def preprocess(self, nb, resources=None, km=None):
        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        journal = self._journal_path(resources)
        name = (resources or {}).get("nbgrader", {}).get("notebook") or "notebook"
        cells = self.nb.cells
        self._report("notebook", notebook=name, cells=len(cells))
        executed: list[int] = []  # code cells that ran to completion (error or not)
        restarts = 0
        index = 0
        fatal = None
        while index < len(cells):
            if restarts > self.max_kernel_restarts:
                fatal = (
                    f"not executed: the kernel died or hung {restarts} times, the grader's "
                    "limit"
                )
                break
            with self.setup_kernel():
                info_msg = self.wait_for_reply(self.kc.kernel_info())
                if info_msg:
                    self.nb.metadata["language_info"] = info_msg["content"]["language_info"]
                if restarts:
                    self._report("restart", notebook=name, restarts=restarts, before=index)
                if restarts and not self._replay(executed):
                    fatal = self.budget_used_up() or (
                        "not executed: the cells before it could not be replayed after a "
                        "kernel restart")
                    break
                while index < len(cells):
                    cell = cells[index]
                    fatal = self.budget_used_up() if cell.cell_type == "code" else None
                    if fatal:
                        break
                    limit = self.cell_timeout(cell)  # as the cell starts (the budget shrinks)
                    started = time.monotonic()
                    self._timed_out = False
                    try:
                        self.preprocess_cell(cell, resources, index)
                    except (DeadKernelError, CellTimeoutError) as failure:
                        cell = self.nb.cells[index]
                        if isinstance(failure, DeadKernelError):
                            ename, status = DEAD_KERNEL_ENAME, "kernel died"
                            what = ("The kernel died while running this cell (for example "
                                    "os._exit(), a crash or running out of memory).")
                        else:
                            ename, status = TIMEOUT_ENAME, "timeout"
                            what = (f"This cell ran longer than {limit} s and did not stop "
                                    "when interrupted.")
                        cell.outputs.append(error_output(
                            ename,
                            what + " The grader restarted the kernel, re-ran the cells above "
                            "and went on after this one.",
                        ))
                        self._journal(journal, index, cell, status, time.monotonic() - started)
                        self._report_cell(name, index, cell, status, time.monotonic() - started,
                                          limit=limit, restarted=True)
                        restarts += 1
                        index += 1
                        self._kill_kernel()
                        break
                    else:
                        cell = self.nb.cells[index]
                        if cell.cell_type == "code" and cell.source.strip():
                            executed.append(index)
                            status = "timeout" if self._timed_out else "ran"
                            seconds = time.monotonic() - started
                            self._journal(journal, index, cell, status, seconds)
                            self._report_cell(name, index, cell, status, seconds, limit=limit)
                        index += 1
                if fatal:
                    break
        if fatal:
            for rest in range(index, len(cells)):
                cell = cells[rest]
                if cell.cell_type == "code" and cell.source.strip():
                    cell.outputs = [error_output(NOT_RUN_ENAME, fatal)]
                    self._journal(journal, rest, cell, "not run", 0.0)
                    self._report_cell(name, rest, cell, "not run", 0.0, reason=fatal,
                                      out_of_time=fatal.startswith(BUDGET_USED_UP))
        self.set_widgets_metadata()
        return self.nb, self.resources

    def preprocess_cell(self, cell, resources, index):
        return ExecutePreprocessor.preprocess_cell(self, cell, resources, index)

    @default("error_on_timeout")
    def _error_on_timeout_default(self):
        return {
            "ename": TIMEOUT_ENAME,
            "evalue": "",
            "traceback": [
                f"\x1b[0;31m{TIMEOUT_ENAME}\x1b[0m: this cell ran past the grader's time limit "
                "and was interrupted"
            ],
        }
