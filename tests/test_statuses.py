"""A report's status comes from what the grader's executor saw, never from what student code wrote.

The executor (autograder/engine/inside) runs in the sandbox next to the student's kernel, with
the same uid; the executed notebook it leaves in the writable folder is the kernel's to rewrite.
So statuses come from the executor's own report on its stdout (the job's sandbox.log), which
the kernel can neither write into nor forge. The first tests check the report's format and
how it is read (no sandbox); the rest grade toy submissions end to end, as
tests/test_autograder.py does.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
from pathlib import Path

import nbformat
import pytest

from autograder.engine import jobs
from autograder.engine.democlass import ClassBuilder
from autograder.engine.grading import Grader, executor_report, scan_executed
from autograder.engine.inside.nbexec import (
    RECORD_BYTES, REPORT_PREFIX, ExecutorReport, parse_report,
)
from autograder.engine.toy import TOY_NOTEBOOK

TIMEOUT, TRAINING_TIMEOUT = 10, 30  # as tests/test_autograder.py: a shared, loaded machine
FAKE_KEY = "00" * 32


from conftest import needs_sandbox  # noqa: E402


def forged_line(seq: int, key: str = FAKE_KEY, **fields) -> str:
    body = json.dumps({"seq": seq, **fields}, sort_keys=True)
    mac = hmac.new(bytes.fromhex(key), body.encode(), hashlib.sha256).hexdigest()
    return f"{REPORT_PREFIX} {mac} {body}"


def report_text(records: list[dict]) -> tuple[str, ExecutorReport]:
    """What an executor writes for ``records``, as the host's log holds it."""
    read, write = os.pipe()
    try:
        report = ExecutorReport(write, drain_seconds=0)
        for record in records:
            report.record(**record)
        os.close(write)
        write = None
        with os.fdopen(read, "rb") as fh:
            read = None
            return fh.read().decode(), report
    finally:
        for fd in (read, write):
            if fd is not None:
                os.close(fd)


TIMED_OUT_CELL = {"event": "cell", "notebook": "squares", "index": 6, "status": "timeout",
                  "grade_id": None, "graded": False, "errors": [], "limit": 10}


# -- the report and how it is read (no sandbox) ------------------------------------------------

def test_only_lines_signed_with_the_executors_key_count():
    text, _ = report_text([{"event": "notebook", "notebook": "squares", "cells": 8}])
    forged = [f"{REPORT_PREFIX} hello {FAKE_KEY}",  # a second hello: ignored
              forged_line(2, **TIMED_OUT_CELL),  # signed with a key the host never accepted
              f"{REPORT_PREFIX} {'0' * 64} " + json.dumps({"seq": 2, **TIMED_OUT_CELL}),
              json.dumps({"seq": 2, **TIMED_OUT_CELL})]
    parsed = parse_report(text + "\n".join(forged) + "\n")
    assert [r["event"] for r in parsed["records"]] == ["notebook"]
    assert parsed["started"] and parsed["missing"] == 0


def test_a_swallowed_record_leaves_a_gap_and_a_replayed_one_is_ignored():
    text, _ = report_text([
        {"event": "notebook", "notebook": "squares", "cells": 8},
        TIMED_OUT_CELL,
        {"event": "done", "notebook": "squares", "sha256": "x"},
    ])
    lines = [line for line in text.split("\n") if line]
    hello, first, timeout, done = lines
    parsed = parse_report("\n".join([hello, first, done, first, timeout]))  # timeout swallowed
    assert [r["event"] for r in parsed["records"]] == ["notebook", "done"]
    assert parsed["missing"] == 1


def test_a_record_fits_in_one_atomic_pipe_write_however_long_the_errors():
    huge = [["E" * 5000, "v" * 5000]] * 50
    text, _ = report_text([{**TIMED_OUT_CELL, "status": "ran", "errors": huge}])
    record_line = [line for line in text.split("\n") if line][-1]
    assert len(record_line) + 2 <= 4096 and len(record_line) < RECORD_BYTES + 200
    [record] = parse_report(text)["records"]
    assert record["status"] == "ran" and record["errors"]


def test_an_exception_named_like_a_grader_error_is_a_cell_error_in_the_scan():
    cells = [{"event": "cell", "index": i, "status": "ran", "graded": False, "grade_id": None,
              "errors": [[name, "spoofed"]]}
             for i, name in enumerate(("CellTimeoutError", "DeadKernelError", "CellNotExecuted"))]
    scanned = scan_executed({"cells": cells, "restarts": 0, "done": {}})
    assert scanned["flags"] == ["cell errors"]
    assert scanned["cell_errors"][0] == "cell '#1' CellTimeoutError: spoofed"


def test_the_executors_own_observations_make_timeout_and_dead_kernel_flags():
    cells = [dict(TIMED_OUT_CELL, restarted=True),
             {"event": "cell", "index": 7, "status": "kernel died", "graded": True,
              "grade_id": "test_cube", "errors": []}]
    scanned = scan_executed({"cells": cells, "restarts": 2, "done": {}})
    assert scanned["flags"] == ["timeout", "kernel died"]
    assert scanned["cell_errors"] == [
        "cell '#7' CellTimeoutError: stopped at the grader's time limit (10 s); it ignored the "
        "interrupt, so the kernel was restarted"]  # graded cells: the judge reports on them


def test_a_missing_or_foreign_log_yields_no_report(tmp_path):
    (tmp_path / "sandbox.log").write_text("Traceback: something broke\n" + forged_line(1, event="end"))
    assert executor_report(tmp_path / "sandbox.log") == {"started": False, "missing": 0,
                                                         "notebooks": {}}
    assert executor_report(tmp_path / "nothing.log")["started"] is False


# -- end to end: toy submissions graded in the sandbox ----------------------------------------

from test_autograder import edit_cell, toy_course  # noqa: E402  (the same toy course)


def with_training(nb, prefix: str):
    for cell in nb.cells:
        if "training" in cell.metadata.get("tags", []):
            cell.source = prefix + cell.source
    return nb


SPOOF_NAMES = {
    "square": "DeadKernelError",
    "cube": "CellTimeoutError",
}
LOOP = "while True:\n    pass\n"
# Every way the kernel has to write somewhere: none may reach the executor's log. Each route
# writes its own marker plus a forged report (hello with a known key, then "timeouts").
FORGE = r'''
import glob, json, os, subprocess, sys
_forged = {forged!r}
_routes = {{}}
def _try(route, fn):
    try:
        fn(f"\nROUTE-{{route}}\n" + _forged)
        _routes[route] = "ok"
    except Exception as exc:
        _routes[route] = type(exc).__name__
def _fd(fd):
    return lambda text: os.write(fd, text.encode())
def _path(path):
    def write(text):
        with open(path, "w") as fh:
            fh.write(text)
    return write
_try("sys-stdout", lambda t: (sys.__stdout__.write(t), sys.__stdout__.flush()))
_try("sys-stderr", lambda t: (sys.__stderr__.write(t), sys.__stderr__.flush()))
for _n in os.listdir("/proc/self/fd"):
    try:
        _target = os.readlink(f"/proc/self/fd/{{_n}}")
    except OSError:
        continue
    if _target.startswith("pipe:") or _target == "/dev/null":
        _try(f"own-fd-{{_n}}", _fd(int(_n)))
_try("subprocess", lambda t: subprocess.run(["/bin/sh", "-c", 'printf "%s" "$T"; printf "%s" "$T" >&2'],
                                            env={{"T": t}}, check=False))
for _n in ("1", "2"):
    _try(f"executor-fd-{{_n}}", _path(f"/proc/{{os.getppid()}}/fd/{{_n}}"))
    _try(f"pid1-fd-{{_n}}", _path(f"/proc/1/fd/{{_n}}"))
def _read_mem(t):
    open(f"/proc/{{os.getppid()}}/mem", "rb").close()
_try("executor-mem", _read_mem)
print("ROUTES " + json.dumps(_routes))
'''


def forge_text() -> str:
    lines = [f"{REPORT_PREFIX} hello {FAKE_KEY}"]
    lines += [forged_line(seq, **dict(TIMED_OUT_CELL, index=seq % 8)) for seq in range(1, 30)]
    return "\n".join(lines) + "\n"


def executed_notebook(cells_errors: list[tuple[str, str]]):
    nb = nbformat.v4.new_notebook()
    for ename, evalue in cells_errors:
        cell = nbformat.v4.new_code_cell("pass")
        cell.outputs = [nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[])]
        nb.cells.append(cell)
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the hostile toy class once; returns (results, grader)."""
    root = tmp_path_factory.mktemp("statuses")
    course = toy_course(root)
    release_dir = course.release()
    builder = ClassBuilder(course, release_dir)

    def save(folder, student, nb):
        (folder / student).mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, folder / student / f"{TOY_NOTEBOOK}.ipynb")

    plain = root / "plain"
    spoof = builder.solved(TOY_NOTEBOOK)
    for grade_id, name in SPOOF_NAMES.items():
        edit_cell(spoof, grade_id, lambda s, name=name: (
            s + f"\n\nclass {name}(Exception):\n    pass\n\nraise {name}('spoofed')\n"))
    save(plain, "spoofs_grader_names", spoof)
    save(plain, "forges_the_log", edit_cell(builder.solved(TOY_NOTEBOOK), "square", lambda s: (
        s + "\n" + FORGE.format(forged=forge_text()))))
    save(plain, "kills_the_executor", edit_cell(builder.solved(TOY_NOTEBOOK), "cube", lambda s: (
        s + "\nimport os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n")))
    save(plain, "honest_rewritten", builder.solved(TOY_NOTEBOOK))
    save(plain, "loops_rewritten", with_training(builder.solved(TOY_NOTEBOOK), LOOP))
    # Stand-ins for a daemon that rewrites work/out after the executor wrote it (a race the
    # daemon may win): the copied-out notebooks are replaced before the results are merged.
    rewrites = {
        "honest_rewritten": executed_notebook([("CellTimeoutError", ""), ("DeadKernelError", "")]),
        "loops_rewritten": executed_notebook([]),
    }

    big = root / "big"
    save(big, "loops_too_large", with_training(builder.solved(TOY_NOTEBOOK), (
        "print('x' * 5000)\n" + LOOP)))

    real_run = jobs.run

    def run_then_rewrite(spec):
        outcome = real_run(spec)
        if spec["student"] in rewrites:
            target = Path(outcome["executed_dir"]) / f"{TOY_NOTEBOOK}.ipynb"
            assert target.is_file()
            nbformat.write(rewrites[spec["student"]], target)
        return outcome

    grader = Grader(course, root / "reports", timeout=TIMEOUT, training_timeout=TIMEOUT,
                    out=io.StringIO())
    results = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(jobs, "run", run_then_rewrite)
        results.update({r["student"]: r for r in grader.grade_source(plain)})
        # Too large to copy out: as a notebook grown past MAX_NOTEBOOK_FILE (50 MiB), cheaply.
        mp.setattr(jobs, "MAX_NOTEBOOK_FILE", 4096)
        results.update({r["student"]: r for r in grader.grade_source(big)})
    return results, grader


def _log(grader, student) -> str:
    return (grader.run_dir / "jobs" / student / "sandbox.log").read_text(errors="replace")


@needs_sandbox
def test_an_exception_named_like_the_timeout_is_not_a_timeout(graded):
    result = graded[0]["spoofs_grader_names"]
    assert "timeout" not in result["flags"] and "kernel died" not in result["flags"], result
    assert result["status"] == "cell errors", result
    assert any("CellTimeoutError: spoofed" in d for d in result["details"]), result["details"]
    assert result["total"] == 4  # the functions were defined before the raise


@needs_sandbox
def test_a_rewritten_executed_notebook_does_not_change_the_flags(graded):
    honest, loops = graded[0]["honest_rewritten"], graded[0]["loops_rewritten"]
    assert (honest["total"], honest["status"]) == (4, "ok"), honest
    assert loops["status"] == "timeout", loops
    for result in (honest, loops):
        assert any("changed after the grader wrote it" in d for d in result["details"]), result


@needs_sandbox
def test_a_real_timeout_is_flagged_even_when_the_notebook_is_too_large_to_copy(graded):
    result = graded[0]["loops_too_large"]
    assert result["status"] == "timeout", result
    assert any("executed notebook not returned" in d and "over 4096" in d
               for d in result["details"]), result["details"]
    assert any("CellTimeoutError" in d for d in result["details"]), result["details"]


@needs_sandbox
def test_the_kernel_cannot_write_to_the_executor_log(graded):
    results, grader = graded
    result = results["forges_the_log"]
    assert (result["total"], result["status"]) == (4, "ok"), result
    log = _log(grader, "forges_the_log")
    report = executor_report(grader.run_dir / "jobs" / "forges_the_log" / "sandbox.log")
    assert report["started"] and report["notebooks"][TOY_NOTEBOOK]["done"], log[-2000:]
    executed = nbformat.read(grader.run_dir / "jobs" / "forges_the_log" / "trusted" / "executed"
                             / f"{TOY_NOTEBOOK}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in executed.cells for o in c.get("outputs", []))
    routes = json.loads(printed.split("ROUTES ", 1)[1].splitlines()[0])
    assert len(routes) > 5, routes
    # The executor is not dumpable: its fds and memory are closed to the kernel.
    assert routes["executor-fd-1"] != "ok" and routes["executor-mem"] != "ok", routes
    for route in routes:
        if not route.startswith("pid1-"):
            assert f"ROUTE-{route}\n" not in log, (route, routes)
    # bwrap's own pid 1 holds the pipe too; when it is reachable (bwrap run as a plain user),
    # what is written through it still does not count.
    assert [c["status"] for c in report["notebooks"][TOY_NOTEBOOK]["cells"]] == ["ran"] * len(
        report["notebooks"][TOY_NOTEBOOK]["cells"])


@needs_sandbox
def test_a_kernel_that_kills_the_executor_gets_a_status_of_its_own_not_ok(graded):
    """The kernel shares the executor's uid, so killing it is the student's doing: a student
    status, never the grader's error (that one would fail the whole `grade` command)."""
    result = graded[0]["kills_the_executor"]
    assert "runner killed" in result["flags"], result
    assert "grader error" not in result["flags"], result
    assert any("did not finish" in d for d in result["details"]), result["details"]
    assert any("runner was killed (signal 9)" in d for d in result["details"]), result["details"]
    assert result["cells"][f"{TOY_NOTEBOOK}/test_square"]["score"] == 2  # judged before
