"""The pristine run, inside the sandbox: ``python -I pristine_calls.py STEPS.json OUT.jsonl``.

For each notebook, in a fresh namespace: execute the student's definitions (already filtered by
the coordinator, see :mod:`autograder.engine.pristine`), and at each graded cell make the
plan's plain-data calls, writing one JSON line per call as soon as it returns (a run stopped
by its limits keeps what it made). Nothing here decides a grade.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
from pathlib import Path

NAME_HINT = (" (while grading, your function is run in a fresh process that has only your "
             "notebook's imports, functions and constants: define what it needs that way)")


class CallTimeout(Exception):
    pass


@contextlib.contextmanager
def alarm(seconds: int):
    def stop(_signum, _frame):
        raise CallTimeout(f"no answer within {seconds} s")

    signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)


def call(fn, spec: dict, timeout: int) -> dict:
    from resnet_kit.capture import record_call

    try:
        with alarm(timeout):
            record = record_call(fn, spec)
    except BaseException as exc:  # noqa: BLE001 - SystemExit, a timeout that escaped, ...
        record = {"outcome": "raised", "type": type(exc).__name__[:80], "message": str(exc)[:2000]}
    if record.get("outcome") == "raised" and record.get("type") == "NameError":
        record["message"] = str(record.get("message", "")) + NAME_HINT
    return record


def main(steps_path: str, out_path: str) -> int:
    job = json.loads(Path(steps_path).read_text())
    timeout = int(job["timeout"])
    with open(out_path, "a", encoding="utf-8") as out, \
            open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
        for nb in job["notebooks"]:
            namespace: dict = {"__name__": "__main__"}
            for step in nb["steps"]:
                if "code" in step:
                    try:
                        with alarm(timeout):
                            exec(compile(step["code"], f"<{nb['name']}>", "exec"), namespace)  # noqa: S102
                    except BaseException:  # noqa: BLE001 - a failed import: its names stay unset
                        pass
                    continue
                for name, calls in step["calls"].items():
                    fn = namespace.get(name)
                    for index, spec in enumerate(calls):
                        if callable(fn):
                            record = call(fn, spec, timeout)
                        else:
                            record = {"outcome": "raised", "type": "NameError",
                                      "message": f"name '{name}' is not defined" + NAME_HINT}
                        line = json.dumps({"notebook": nb["name"], "grade_id": step["grade_id"],
                                           "name": name, "call": index, "record": record},
                                          default=str)
                        out.write(line.encode("utf-8", "replace").decode("utf-8") + "\n")
                        out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
