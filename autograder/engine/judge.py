"""The trusted judge: runs the graded cells' test code on captured data, never on student code.

``python -m autograder.engine.judge SPEC.json`` reads, for one student:

* the source notebooks (the instructor's own, hidden tests included),
* the records :mod:`resnet_kit.capture` wrote in the sandbox for each graded cell,
* the grader's settings (training budget, seed),

and writes ``verdicts.json``: for every graded cell, the outputs its test produced here (a
stream with what it printed, and an error when it failed). Points are given from those by
nbgrader's own rule (an error scores 0, anything else full points) in the coordinator.

Training results are shared between students through a cache
(:mod:`autograder.engine.trainingcache`): the spec's ``training_cache`` ({key: entry}, the
cache so far; null or absent: caching off) is installed for the assignment's code, and the
entries this judge adds are written to ``training_cache_out`` (default
``training_cache.json``, next to ``verdicts.json``) after each test and at the end.

Passing verdicts are shared the same way (:class:`VerdictCache`, spec keys ``verdict_cache``
and ``verdict_cache_out``): a test's outputs depend only on its code, the captured records of
the names it reads, the grader's code, data and settings, and the numerics; a test whose key
passed before passes again without running (students who submit the same code capture the
same records). Failures are always judged afresh. A judge whose tests all hit never imports
TensorFlow.

How a test cell runs here: its code is executed in a namespace where every name it uses from
the student's notebook is replaced by what was captured: a number stays a number, a model is
rebuilt from its architecture with Keras' safe mode (fresh weights from the grader's seed), a
function becomes a :class:`ReplayedFunction` that answers the check's calls with the recorded
results. The assignment's judging package (``autograder.<assignment>``) may pin names to the
grader's settings (``GRADER_VALUES``, e.g. the training budget), so nothing a student sets
changes how they are judged.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import importlib
import io
import json
import os
import sys
import time
import traceback
from importlib import metadata
from pathlib import Path

from . import _fastimport  # noqa: F401  (before nbformat)
from . import kerasconfig, trainingcache

# Captured modules the test code may use: the grader imports its own copy.
ALLOWED_MODULES = ("resnet_kit", "numpy", "keras", "math")
# Captured records larger than this are refused unread.
MAX_RECORD_BYTES = 32 * 2**20
GRADER_SEED = 1234


class GraderError(RuntimeError):
    """The grader itself is wrong (e.g. a check made a call its plan did not record)."""


class NotSupported(AssertionError):
    """The captured object cannot be judged (custom layers, Lambda, unknown types)."""


# --- which names a test cell takes from the notebook ------------------------------------------

def free_names(code: str) -> list[str]:
    """Names the code reads but never binds itself (and that are not builtins), in order."""
    tree = ast.parse(code)
    bound, loaded = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.append((node.lineno, node.col_offset, node.id))
            else:
                bound.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    out = []
    for _line, _col, name in sorted(loaded):  # in source order
        if name not in bound and not hasattr(builtins, name) and name not in out:
            out.append(name)
    return out


# --- rebuilding architectures safely ----------------------------------------------------------

def _keras():
    from resnet_kit.device import import_tensorflow

    import_tensorflow()
    import keras

    return keras


def rebuild(config):
    """A Keras model from a captured architecture: validated, safe mode, fresh weights."""
    keras = _keras()
    from resnet_kit import selfcheck

    selfcheck.ConstantInitializer()  # registers the kit's initializer under its fixed name
    problems = kerasconfig.validate_model_config(config)
    if not problems:
        _params, problems = kerasconfig.estimate_params(config)
    if problems:
        raise NotSupported(
            "the grader rebuilds your network from its Keras configuration and accepts only "
            "standard keras.layers (Conv2D, BatchNormalization, Activation/ReLU, Add or +, "
            "ZeroPadding2D, pooling, Flatten, Dense) with plain settings; it refused: "
            + "; ".join(problems[:3]))
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except NotSupported:
        raise
    except Exception as exc:  # noqa: BLE001 - anything Keras refuses
        raise NotSupported(f"the grader could not rebuild your network from its Keras "
                           f"configuration: {type(exc).__name__}: {str(exc)[:300]}") from None
    if not isinstance(model, keras.Model):
        raise NotSupported(f"the captured object is a {type(model).__name__}, not a keras.Model")
    return model


def inline(model, inputs):
    """The model's layers applied to new symbolic ``inputs`` node by node (not as one nested
    model), with each call's arguments (``training=...``) as recorded."""
    keras = _keras()
    import keras.src.tree as tree

    flat = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    structured = tree.pack_sequence_as(model.input, flat)  # a rebuilt model keeps [X] as [X]
    clone = keras.models.clone_model(model, input_tensors=structured, clone_function=lambda op: op)
    return clone.outputs


# --- calls of a captured function -------------------------------------------------------------

def call_spec(args, kwargs) -> dict:
    """A call as plan data: symbolic inputs by shape, kit objects by their factory."""
    keras = sys.modules.get("keras")

    def spec(value):
        if keras is not None and isinstance(value, keras.KerasTensor):
            return {"$input": [int(d) for d in value.shape[1:]]}
        if hasattr(value, "_capture_spec"):
            return value._capture_spec
        if isinstance(value, (list, tuple)):
            return [spec(v) for v in value]
        if isinstance(value, dict):
            return {str(k): spec(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        raise GraderError(f"a check passed a {type(value).__name__}, which a capture plan "
                          "cannot describe")

    return {"args": spec(list(args)), "kwargs": spec(dict(kwargs))}


def call_key(call: dict) -> str:
    """A call's identity: its arguments (not the plan's notes on it)."""
    return json.dumps({"args": call.get("args", []), "kwargs": call.get("kwargs", {})},
                      sort_keys=True)


def _exception_class(name: str) -> type:
    builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin
    safe = name if name.isidentifier() else "Error"
    return type(safe, (Exception,), {})


class ReplayedFunction:
    """Stands in for a student's function: each call returns what the same call returned in
    the sandbox, rebuilt here."""

    def __init__(self, name: str, plan: list[dict], records: list[dict]):
        self.__name__ = name
        self._results: dict[str, list[dict]] = {}
        for call, record in zip(plan, records):
            self._results.setdefault(call_key(call), []).append(record)
        self._used: dict[str, int] = {}

    def __call__(self, *args, **kwargs):
        key = call_key(call_spec(args, kwargs))
        if key not in self._results:
            raise GraderError(f"{self.__name__}{key} was not captured (the capture plan does "
                              "not cover this check)")
        n = self._used.get(key, 0)
        self._used[key] = n + 1
        candidates = self._results[key]
        record = candidates[min(n, len(candidates) - 1)]
        outcome = record.get("outcome")
        if outcome == "value":
            return record.get("value")
        keras = sys.modules.get("keras")  # a check that passes Keras tensors has imported it
        inputs = [a for a in list(args) + list(kwargs.values())
                  if keras is not None and isinstance(a, keras.KerasTensor)]
        if outcome == "tensor":
            outputs = inline(rebuild(record["config"]), inputs[0] if len(inputs) == 1 else inputs)
            out = outputs[0] if len(outputs) == 1 else outputs
            if record.get("wrapped") == "list":
                return [out]
            if record.get("wrapped") == "tuple":
                return (out,)
            return out
        if outcome == "model":
            return rebuild(record["config"])
        if outcome == "raised":
            exc = _exception_class(str(record.get("type", "Exception")))(record.get("message", ""))
            if record.get("partial"):
                try:
                    exc.partial_outputs = rebuild(record["partial"]).outputs
                except Exception:  # noqa: BLE001 - a diagnosis aid only
                    pass
            raise exc
        if outcome == "returned":
            return type(str(record.get("type", "object"))[:80] or "object", (), {})()
        if outcome == "unconnected":
            return _keras().Input(shape=tuple(inputs[0].shape[1:])) if inputs else None
        if outcome == "unsupported":
            raise NotSupported(record.get("message", "not supported by the grader"))
        raise GraderError(f"capture of {self.__name__} failed: {record.get('message', outcome)}")


class Unsupported:
    """A captured name the grader cannot judge: any use fails with the reason."""

    def __init__(self, name: str, reason: str):
        self._name, self._reason = name, reason

    def _fail(self, *args, **kwargs):
        raise NotSupported(f"{self._name}: {self._reason}")

    __call__ = _fail

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        self._fail()


# --- one test cell ----------------------------------------------------------------------------

PRISTINE_LOST = ("the grader's own run of {name} (your definitions only, in a fresh process) "
                 "did not return: it crashed, ran out of time or was stopped")


def split_plan(plan: dict) -> tuple[dict, dict]:
    """(calls the kernel makes, calls only a pristine run of the definitions makes)."""
    kernel = {name: [c for c in calls if not c.get("pristine")] for name, calls in plan.items()}
    pristine = {name: [c for c in calls if c.get("pristine")] for name, calls in plan.items()}
    return ({n: c for n, c in kernel.items() if c}, {n: c for n, c in pristine.items() if c})


def namespace_for(records: dict, plan: dict, grader_values: dict,
                  pristine: dict | None = None, names=None) -> dict:
    """The test's namespace: only the names it reads (``names``; all recorded ones when None).

    A function's calls that return plain data are answered from ``pristine``
    ({name: {index: record}}, made by a process that ran only the student's definitions),
    never from the kernel's record, which student code could have written."""
    kernel_plan, pristine_plan = split_plan(plan)
    pristine = pristine or {}
    ns: dict = {"__name__": "__judge__"}
    for name, record in records.items():
        if names is not None and name not in names:
            continue  # bound only what the test reads: a record's extras cost nothing
        kind = record.get("kind")
        if name in grader_values:
            ns[name] = grader_values[name]
        elif kind == "module":
            module = str(record.get("name", ""))
            if module.split(".")[0] in ALLOWED_MODULES:
                ns[name] = importlib.import_module(module)
            else:
                ns[name] = Unsupported(name, f"module {module} is not available to the grader")
        elif kind == "value":
            ns[name] = record.get("value")
        elif kind == "model":
            try:
                ns[name] = rebuild(record["config"])
            except NotSupported as exc:
                ns[name] = Unsupported(name, str(exc))
        elif kind == "function":
            kernel_calls = kernel_plan.get(name, [])
            calls = list(record.get("calls", []))[:len(kernel_calls)]
            calls += [{"outcome": "raised", "type": "RuntimeError",
                       "message": f"{name}: the notebook's run recorded no result for this call"}
                      ] * (len(kernel_calls) - len(calls))
            own = pristine.get(name, {})
            lost = {"outcome": "raised", "type": "RuntimeError",
                    "message": PRISTINE_LOST.format(name=name)}
            pristine_calls = pristine_plan.get(name, [])
            calls += [own.get(i, lost) for i in range(len(pristine_calls))]
            ns[name] = ReplayedFunction(name, kernel_calls + pristine_calls, calls)
        elif kind == "unsupported":
            reason = record.get("message") or f"a {record.get('type')} cannot be graded"
            ns[name] = Unsupported(name, reason)
        # "missing": left out, so the test fails with NameError as it would in the notebook
    for name, value in grader_values.items():
        if names is None or name in names:
            ns.setdefault(name, value)
    return ns


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _error(exc: BaseException) -> dict:
    ename = type(exc).__name__
    evalue = str(exc)
    return {"output_type": "error", "ename": ename, "evalue": evalue,
            "traceback": [f"\x1b[0;31m{ename}\x1b[0m: {evalue}"]}


def run_test(code: str, namespace: dict, seed: int = GRADER_SEED) -> list[dict]:
    """Execute one test cell's code; its outputs as a notebook would show them."""
    if "keras" in sys.modules:  # tests of Keras models: same initial weights every time
        sys.modules["keras"].utils.set_random_seed(seed)
    tree = ast.parse(code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    out = io.StringIO()
    outputs: list[dict] = []
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(tree, "<test>", "exec"), namespace)  # noqa: S102 - instructor code
            value = None
            if last is not None:
                value = eval(compile(ast.Expression(last.value), "<test>", "eval"), namespace)  # noqa: S307
        text = out.getvalue()
        if value is not None:
            text += ("" if not text or text.endswith("\n") else "\n") + str(value) + "\n"
        if text:
            outputs.append(_stream(text))
    except GraderError:
        raise
    except Exception as exc:  # noqa: BLE001 - a failing test
        if out.getvalue():
            outputs.append(_stream(out.getvalue()))
        outputs.append(_error(exc))
    return outputs


# --- a whole student --------------------------------------------------------------------------

def graded_cells(notebook_path: Path) -> list[tuple[str, str]]:
    """(grade_id, source) of every graded code cell of a source notebook, in order."""
    import nbformat

    nb = nbformat.read(notebook_path, as_version=4)
    cells = []
    for cell in nb.cells:
        nbg = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and nbg.get("grade") and nbg.get("grade_id"):
            cells.append((nbg["grade_id"], cell.source))
    return cells


def read_record(path: Path) -> dict | None:
    if not path.is_file() or path.is_symlink():
        return None
    if path.stat().st_size > MAX_RECORD_BYTES:
        raise NotSupported(f"the captured record is larger than {MAX_RECORD_BYTES // 2**20} MB")
    data = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    names = data.get("names") if isinstance(data, dict) else None
    if not isinstance(names, dict):
        raise NotSupported("the captured record is malformed")
    return {str(k): v if isinstance(v, dict) else {"kind": "unsupported", "type": "?"}
            for k, v in names.items()}


def read_pristine(path: Path) -> dict:
    """The pristine run's results: {notebook: {grade_id: {name: {call index: record}}}}.
    Lines that do not parse are skipped (their calls then count as lost): the file comes out
    of a sandbox that ran student definitions, so any of it may be forged."""
    found: dict = {}
    if not path.is_file() or path.is_symlink() or path.stat().st_size > MAX_RECORD_BYTES:
        return found
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            item = json.loads(line)
            where = found.setdefault(str(item["notebook"]), {}).setdefault(str(item["grade_id"]), {})
            where.setdefault(str(item["name"]), {})[int(item["call"])] = dict(item["record"])
        except (ValueError, KeyError, TypeError, OverflowError):  # int(1e999): Overflow
            continue
    return found


class TestTimeout(AssertionError):
    """A test ran past the judge's budget for one test."""


class BudgetState:
    expired = False  # the budget ran out during the test (whatever the test made of that)


@contextlib.contextmanager
def time_budget(seconds: int | None):
    """At most ``seconds`` for one test: a record built to keep the judge busy (thousands of
    calls, huge models) costs one test, not the job's wall clock. Yields a BudgetState."""
    import signal

    state = BudgetState()
    if not seconds:
        yield state
        return

    def stop(_signum, _frame):
        state.expired = True
        raise TestTimeout(f"the grader stopped this test after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield state
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


NOT_CAPTURED = ("this test's cell was not reached while your notebook ran (an error, timeout "
                "or crash above it, see the cells before it), so there was nothing to grade")


def grader_values_for(judging, settings: dict) -> dict:
    """The names the assignment pins to the grader's settings (``GRADER_VALUES``), valued."""
    return {name: settings[key] for name, key in getattr(judging, "GRADER_VALUES", {}).items()
            if settings.get(key) is not None}


def training_cache_for(spec: dict) -> trainingcache.TrainingCache:
    """The spec's training cache (off when ``training_cache`` is null or absent), carrying
    the grader's seed."""
    entries = spec.get("training_cache")
    seed = int(spec.get("settings", {}).get("seed", GRADER_SEED))
    return trainingcache.TrainingCache(entries if isinstance(entries, dict) else None, seed=seed)


def write_training_cache(spec: dict, cache: trainingcache.TrainingCache) -> None:
    """The entries this judge added, for the coordinator to merge (nothing when caching is
    off)."""
    if cache.enabled:
        path = Path(spec.get("training_cache_out") or "training_cache.json")
        path.write_text(json.dumps(cache.new_entries, indent=1, sort_keys=True))


# --- verdicts judged once per identical capture ------------------------------------------------

# Only passes are reused. A failure may be the machine's (a timeout, memory, a lost GPU) even
# when the checks report it as the student's mistake, and a failed verdict cached under a
# correct network's key would fail every later student with it; failures are judged afresh.
# A pass cannot come from the machine running short, and passing outputs are short.
MAX_CACHED_OUTPUT_BYTES = 64 * 1024
VERDICT_CACHE_OUT = "verdict_cache.json"
_REPO = Path(__file__).resolve().parents[2]
# Besides trainingcache.NUMERICS_ENVIRONMENT: what else picks Keras' backend or BLAS threads.
VERDICT_ENVIRONMENT = ("KERAS_BACKEND", "KERAS_HOME", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def judging_fingerprint() -> str:
    """Everything besides a test's own inputs that decides its verdict: the grader's code and
    data (autograder/, resnet_kit/, the shipped data), Python and every installed package,
    Keras' configuration file, the GPU driver, and the numerics (CPU, usable cores, the
    environment that sets threads, oneDNN and the backend)."""
    import platform

    from resnet_kit import data

    digest = hashlib.sha256()
    roots = [_REPO / "autograder", _REPO / "resnet_kit", data.default_data_dir()]
    for root in roots:
        files = sorted(p for p in root.rglob("*") if p.is_file()
                       and p.suffix in (".py", ".json", ".h5") and "__pycache__" not in p.parts)
        for path in files:
            digest.update(str(path.relative_to(root.parent)).encode() + b"\0")
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    packages = sorted(f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions())
    keras_home = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras")
    extra_files = [keras_home / "keras.json", Path("/proc/driver/nvidia/version"),
                   *sorted(Path("/proc/driver/nvidia/gpus").glob("*/information"))]
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count()
    names = trainingcache.NUMERICS_ENVIRONMENT + VERDICT_ENVIRONMENT
    return trainingcache.sha256_json({
        "files": digest.hexdigest(), "python": platform.python_version(), "packages": packages,
        "config": {str(p): p.read_text(errors="replace") for p in extra_files if p.is_file()},
        "numerics": {"cpu": trainingcache.cpu_description(), "cpus_usable": cpus,
                     "environment": {name: os.environ.get(name) for name in names}},
    })


class VerdictCache:
    """Test outputs by key. ``entries`` None: caching off. New entries are kept apart for the
    coordinator, which alone writes the cache file."""

    def __init__(self, entries: dict | None):
        self.enabled = isinstance(entries, dict)
        self.entries = dict(entries) if self.enabled else {}
        self.new_entries: dict = {}
        self._fingerprint: str | None = None

    def key(self, *, notebook: str, grade_id: str, code: str, records: dict, names: set,
            plan: dict, pristine: dict, grader_values: dict, settings: dict) -> str:
        if self._fingerprint is None:
            self._fingerprint = judging_fingerprint()
        return trainingcache.sha256_json({
            "format": 1, "judging": self._fingerprint, "notebook": notebook,
            "grade_id": grade_id, "code": code,
            "records": {n: records[n] for n in sorted(names) if n in records},
            "plan": {n: plan[n] for n in sorted(names) if n in plan},
            "pristine": pristine, "grader_values": grader_values, "settings": settings,
        })

    def key_or_none(self, **parts) -> str | None:
        """The key, or None (judge afresh) when caching is off or the parts cannot be keyed: a
        cache must never fail a test."""
        if not self.enabled:
            return None
        try:
            return self.key(**parts)
        except Exception:  # noqa: BLE001 - e.g. a record JSON cannot sort
            return None

    def get(self, key: str | None, training: trainingcache.TrainingCache) -> list[dict] | None:
        """The cached outputs, or None. A verdict that used trained results is reused only while
        they are all in the training cache (delete one, and the test trains and is judged
        again)."""
        entry = self.entries.get(key) if key is not None else None
        if not isinstance(entry, dict) or not isinstance(entry.get("outputs"), list):
            return None
        if not all(isinstance(k, str) and training.has(k) for k in entry.get("training", [])):
            return None
        return entry["outputs"]

    def add(self, key: str | None, outputs: list[dict], training_keys=(),
            machine_trouble: bool = False) -> None:
        """Keep a verdict for reuse: passes only (no error output), not when the test's time
        budget ran out (its checks may have turned that into a pass-or-fail of their own), and
        not when large."""
        if not self.enabled or key is None or machine_trouble:
            return
        if any(o.get("output_type") == "error" for o in outputs):
            return
        entry = {"outputs": outputs, "training": sorted(training_keys)}
        if len(json.dumps(entry)) <= MAX_CACHED_OUTPUT_BYTES:
            self.entries[key] = self.new_entries[key] = entry


def write_verdict_cache(spec: dict, cache: VerdictCache) -> None:
    if cache.enabled:
        path = Path(spec.get("verdict_cache_out") or VERDICT_CACHE_OUT)
        path.write_text(json.dumps(cache.new_entries, indent=1, sort_keys=True))


def judge(spec: dict) -> dict:
    """Verdicts for every graded cell of every notebook: {notebook: {grade_id: outputs}}."""
    cache = training_cache_for(spec)
    verdict_cache = VerdictCache(spec.get("verdict_cache"))
    previous = trainingcache.install(cache)
    try:
        return _judge(spec, cache, verdict_cache)
    finally:
        trainingcache.install(previous)
        write_training_cache(spec, cache)
        write_verdict_cache(spec, verdict_cache)


def _judge(spec: dict, cache: trainingcache.TrainingCache,
           verdict_cache: VerdictCache | None = None) -> dict:
    verdict_cache = verdict_cache or VerdictCache(None)
    assignment = spec["assignment"]
    try:
        judging = importlib.import_module(f"autograder.{assignment}")
    except ModuleNotFoundError:
        judging = None
    settings = spec.get("settings", {})
    grader_values = grader_values_for(judging, settings)
    plan = spec.get("plan", {})
    pristine = read_pristine(Path(spec["pristine"])) if spec.get("pristine") else {}
    budget = int(settings.get("training_timeout") or 0) or None
    verdicts: dict = {}
    captures = Path(spec["captures"])
    for nb_path in map(Path, spec["notebooks"]):
        nb_verdicts = verdicts.setdefault(nb_path.stem, {})
        for grade_id, code in graded_cells(nb_path):
            started = time.monotonic()
            reused = False
            try:
                records = read_record(captures / nb_path.stem / f"{grade_id}.json")
                if records is None:
                    outputs = [_error(AssertionError(NOT_CAPTURED))]
                else:
                    names = set(free_names(code))
                    own_pristine = pristine.get(nb_path.stem, {}).get(grade_id, {})
                    key = verdict_cache.key_or_none(
                        notebook=nb_path.stem, grade_id=grade_id, code=code, records=records,
                        names=names, plan=plan,
                        pristine={n: {str(i): r for i, r in calls.items()}
                                  for n, calls in own_pristine.items()},
                        grader_values=grader_values, settings=settings)
                    outputs = verdict_cache.get(key, cache)
                    reused = outputs is not None
                    if outputs is None:
                        ns = namespace_for(records, plan, grader_values, own_pristine,
                                           names=names)
                        cache.used.clear()
                        with time_budget(budget) as budget_state:
                            outputs = run_test(code, ns,
                                               seed=int(settings.get("seed", GRADER_SEED)))
                        verdict_cache.add(key, outputs, cache.used,
                                          machine_trouble=budget_state.expired)
            except GraderError as exc:
                outputs = [{"output_type": "error", "ename": "GraderError", "evalue": str(exc),
                            "traceback": [f"GraderError: {exc}"]}]
            except Exception as exc:  # noqa: BLE001 - a malformed record fails that test only
                outputs = [_error(exc)]
            nb_verdicts[grade_id] = {"outputs": outputs,
                                     "seconds": round(time.monotonic() - started, 2)}
            if reused:
                nb_verdicts[grade_id]["reused"] = True  # from the verdict cache
            # Written after each test, so a judge stopped by its limits keeps what it judged.
            Path(spec["verdicts"]).write_text(json.dumps(verdicts, indent=1))
            if cache.new_entries:
                write_training_cache(spec, cache)
            if verdict_cache.new_entries:
                write_verdict_cache(spec, verdict_cache)
    return verdicts


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(argv[0]).read_text())
    try:
        verdicts = judge(spec)
    except Exception:  # noqa: BLE001 - say why; the coordinator marks the student
        traceback.print_exc()
        return 1
    Path(spec["verdicts"]).write_text(json.dumps(verdicts, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
