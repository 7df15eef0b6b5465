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
  says which cells ran.

This module runs INSIDE the sandbox (see :mod:`autograder.engine.sandbox`), which mounts only
this folder of the grader: it imports nothing else from ``autograder``.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # as autograder.engine._fastimport: fast start

import copy
import json
import os
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

    @default("timeout_func")
    def _timeout_func_default(self):
        return self.cell_timeout

    def cell_timeout(self, cell) -> int | None:
        """nbclient's ``timeout_func`` hook: a longer budget for training cells."""
        tags = cell.get("metadata", {}).get("tags", []) or []
        if any(tag in tags for tag in self.training_tags):
            return self.training_timeout
        return self.timeout

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
            "errors": errors,
            "stderr": stderr,
        }
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()

    # -- execution -----------------------------------------------------------------------
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
        cells = self.nb.cells
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
                if restarts and not self._replay(executed):
                    fatal = "not executed: the cells before it could not be replayed after a kernel restart"
                    break
                while index < len(cells):
                    cell = cells[index]
                    started = time.monotonic()
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
                            what = (f"This cell ran longer than {self.cell_timeout(cell)} s and "
                                    "did not stop when interrupted.")
                        cell.outputs.append(error_output(
                            ename,
                            what + " The grader restarted the kernel, re-ran the cells above "
                            "and went on after this one.",
                        ))
                        self._journal(journal, index, cell, status, time.monotonic() - started)
                        restarts += 1
                        index += 1
                        self._kill_kernel()
                        break
                    else:
                        cell = self.nb.cells[index]
                        if cell.cell_type == "code" and cell.source.strip():
                            executed.append(index)
                            timed_out = any(
                                o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME
                                for o in cell.outputs
                            )
                            self._journal(
                                journal, index, cell, "timeout" if timed_out else "ran",
                                time.monotonic() - started,
                            )
                        index += 1
        if fatal:
            for rest in range(index, len(cells)):
                cell = cells[rest]
                if cell.cell_type == "code" and cell.source.strip():
                    cell.outputs = [error_output(NOT_RUN_ENAME, fatal)]
                    self._journal(journal, rest, cell, "not run", 0.0)
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
