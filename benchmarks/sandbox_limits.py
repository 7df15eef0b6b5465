"""What the sandbox costs and which limits a real job needs (autograder/engine/sandbox.py).

    .venv/bin/python benchmarks/sandbox_limits.py [startup] [resnet] [kernel] [bombs]
        (no argument: all four; about 6 minutes on 2 cores)

* startup: median wall time of ``python -c pass`` in the sandbox (a whole ``sandbox.run``)
  and bare, 10 runs each, alternating.
* resnet: a Python process in the sandbox imports TensorFlow and trains
  ``keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=6)`` for 5
  steps of batch 32: peak VmHWM, VmPeak and thread counts (of the process and of the whole
  sandbox); then the smallest RLIMIT_AS in whole GiB under which it still runs, and what the
  student sees one GiB below. Also with 16 TensorFlow threads (a bigger machine's defaults).
* kernel: nbclient and an ipykernel in the sandbox under DEFAULT_LIMITS; a cell imports
  TensorFlow and reports the kernel's peaks.
* bombs: a 20 GiB bytearray, a fork bomb and a 5 GB file write under DEFAULT_LIMITS.

Every job runs in a fresh sandbox with its own workdir; the machine is shared and noisy, so
compare numbers from one run only.
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from autograder.engine import sandbox  # noqa: E402

GiB = 2**30
ENV = {"LANG": "C.UTF-8", "PYTHONUNBUFFERED": "1", "TF_CPP_MIN_LOG_LEVEL": "2",
       "JUPYTER_RUNTIME_DIR": "/tmp/jupyter", "IPYTHONDIR": "/tmp/ipython",
       "MPLCONFIGDIR": "/tmp/matplotlib"}
MEASURE = dataclasses.replace(sandbox.DEFAULT_LIMITS, memory_bytes=64 * GiB, processes=4096,
                              wall_seconds=900)

# Samples /proc (inside the sandbox: only its own processes) every 20 ms.
SAMPLER = r"""
import json, os, threading, time
PEAK = {"sandbox_threads": 0, "sandbox_processes": 0, "process_threads": 0}
def _status(pid):
    try:
        text = open(f"/proc/{pid}/status").read()
    except OSError:
        return {}
    return dict(l.split(":", 1) for l in text.splitlines() if ":" in l)
def _sample():
    while True:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
        threads = sum(int(_status(p).get("Threads", 0)) for p in pids)
        PEAK["sandbox_threads"] = max(PEAK["sandbox_threads"], threads)
        PEAK["sandbox_processes"] = max(PEAK["sandbox_processes"], len(pids))
        own = int(_status("self").get("Threads", 0))
        PEAK["process_threads"] = max(PEAK["process_threads"], own)
        time.sleep(0.02)
threading.Thread(target=_sample, daemon=True).start()
def peaks():
    s = _status("self")
    kib = lambda k: int(s[k].split()[0]) * 1024
    return {**PEAK, "VmPeak": kib("VmPeak"), "VmHWM": kib("VmHWM")}
"""

RESNET = SAMPLER + r"""
t0 = time.time()
import numpy as np
import keras
model = keras.applications.ResNet50(weights=None, input_shape=(64, 64, 3), classes=6)
model.compile(optimizer="adam", loss="categorical_crossentropy")
rng = np.random.default_rng(0)
x = rng.random((32 * 5, 64, 64, 3), dtype=np.float32)
y = np.eye(6, dtype=np.float32)[rng.integers(0, 6, 32 * 5)]
model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # 5 steps
time.sleep(0.1)
print("RESULT", json.dumps({**peaks(), "seconds": round(time.time() - t0, 1)}), flush=True)
"""

KERNEL = SAMPLER + r"""
import nbformat
from nbclient import NotebookClient
cell = '''import json, time, threading
import tensorflow as tf
x = tf.keras.layers.Conv2D(8, 3)(tf.ones((32, 64, 64, 3)))
s = dict(l.split(":", 1) for l in open("/proc/self/status").read().splitlines() if ":" in l)
print(json.dumps({k: s[k].strip() for k in ("VmPeak", "VmHWM", "Threads")}))'''
nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
NotebookClient(nb, timeout=600, kernel_name="python3").execute()
out = "".join(o.get("text", "") for o in nb.cells[0].outputs if o.get("name") == "stdout")
print("RESULT", json.dumps({"kernel": json.loads(out), "sandbox": peaks()}), flush=True)
"""


def in_sandbox(code: str, limits: sandbox.Limits, env=ENV) -> tuple[sandbox.SandboxResult, str]:
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        log = Path(tmp) / "log"
        result = sandbox.run([sys.executable, "-c", code], workdir=work, env=env,
                             limits=limits, log=log)
        return result, log.read_text(errors="replace")


def parse(log: str) -> dict | None:
    for line in log.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    return None


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def last_error(log: str) -> str:
    log = re.sub(r"\x1b\[[0-9;]*m", "", log)  # the kernel's colored tracebacks
    lines = [ln for ln in log.strip().splitlines() if ln.strip()]
    return " | ".join(lines[-3:])[-400:] if lines else "(no output)"


def startup(runs: int = 10) -> None:
    inside, bare = [], []
    for _ in range(runs):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - t)
        t = time.perf_counter()
        result, log = in_sandbox("pass", sandbox.DEFAULT_LIMITS)
        inside.append(time.perf_counter() - t)
        assert result.returncode == 0, log
    print(f"startup  python -c pass, median of {runs}: bare {statistics.median(bare)*1e3:.0f} ms"
          f", in sandbox {statistics.median(inside)*1e3:.0f} ms "
          f"(+{(statistics.median(inside) - statistics.median(bare))*1e3:.0f} ms)")


def resnet() -> None:
    for label, extra in (("default threads", {}),
                         ("16 TF threads", {"TF_NUM_INTRAOP_THREADS": "16",
                                            "TF_NUM_INTEROP_THREADS": "16"})):
        result, log = in_sandbox(RESNET, MEASURE, env={**ENV, **extra})
        peak = parse(log)
        if peak is None:
            print(f"resnet   {label}: failed: {result} {last_error(log)}")
            continue
        print(f"resnet   {label}: VmPeak {gib(peak['VmPeak'])}, VmHWM {gib(peak['VmHWM'])}, "
              f"threads {peak['process_threads']} (whole sandbox {peak['sandbox_threads']} in "
              f"{peak['sandbox_processes']} processes), {peak['seconds']} s")
        if extra:
            continue
        limit = -(-peak["VmPeak"] // GiB)  # ceil
        ok = None
        while limit >= 1:
            limits = dataclasses.replace(MEASURE, memory_bytes=limit * GiB)
            result, log = in_sandbox(RESNET, limits)
            if parse(log) is None:
                print(f"resnet   RLIMIT_AS {limit} GiB: fails (exit {result.returncode}): "
                      f"{last_error(log)}")
                break
            ok = limit
            print(f"resnet   RLIMIT_AS {limit} GiB: runs")
            limit -= 1
        print(f"resnet   smallest RLIMIT_AS that runs: {ok} GiB")


def kernel() -> None:
    print(f"kernel   DEFAULT_LIMITS {sandbox.DEFAULT_LIMITS}")
    for label, limits in (("DEFAULT_LIMITS", sandbox.DEFAULT_LIMITS),
                          ("RLIMIT_AS 2 GiB", dataclasses.replace(sandbox.DEFAULT_LIMITS,
                                                                  memory_bytes=2 * GiB))):
        result, log = in_sandbox(KERNEL, limits)
        found = parse(log)
        if found is None:
            print(f"kernel   {label}: fails (exit {result.returncode}, {result.seconds} s): "
                  f"{last_error(log)}")
            continue
        print(f"kernel   {label}: import tensorflow in an ipykernel via nbclient: ok in "
              f"{result.seconds} s; kernel {found['kernel']}; sandbox peak "
              f"{found['sandbox']['sandbox_threads']} threads in "
              f"{found['sandbox']['sandbox_processes']} processes")


BOMBS = {
    "memory bomb": "bytearray(20 * 2**30)",
    "fork bomb": textwrap.dedent("""
        import os, time
        n = 0
        while True:
            try:
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                n += 1
            except OSError as exc:
                print("forks", n, exc)
                break
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
    """),
    "5 GB file": textwrap.dedent("""
        with open("big", "wb") as f:
            for _ in range(5000):
                f.write(bytes(2**20))
    """),
    "5 x 1 GB files": textwrap.dedent("""
        for i in range(5):
            with open(f"big{i}", "wb") as f:
                for _ in range(1000):
                    f.write(bytes(2**20))
        """),
}


def bombs() -> None:
    limits = dataclasses.replace(sandbox.DEFAULT_LIMITS, wall_seconds=30)
    for name, code in BOMBS.items():
        done: list = []
        job = threading.Thread(target=lambda: done.append(in_sandbox(code, limits)))
        job.start()
        time.sleep(2)  # the bomb is going off: can the host still start a process?
        started = time.perf_counter()
        subprocess.run(["true"], check=True)
        host_ms = (time.perf_counter() - started) * 1e3
        available = int(Path("/proc/meminfo").read_text().split("MemAvailable:")[1].split()[0])
        job.join()
        result, log = done[0]
        print(f"bombs    {name}: exit {result.returncode}, killed: {result.killed_reason}, "
              f"{result.seconds} s; says: {last_error(log)}; host during it: `true` in "
              f"{host_ms:.0f} ms, MemAvailable {available / 2**20:.1f} GiB")


def main(argv: list[str]) -> int:
    sandbox.preflight()
    wanted = argv or ["startup", "resnet", "kernel", "bombs"]
    print(f"bwrap {sandbox.bwrap_path()}; python {sys.version.split()[0]}")
    for name in wanted:
        {"startup": startup, "resnet": resnet, "kernel": kernel, "bombs": bombs}[name]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
