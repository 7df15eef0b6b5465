"""Plain-data answers come from a run of the student's definitions only (autograder.engine.pristine)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from autograder.engine import judge, pristine
from autograder.engine.plan import plan_for
from autograder.engine.toy import make_toy_course

RUNNER = pristine.RUNNER


def test_definitions_keep_imports_defs_and_constants_only():
    source = (
        "import os\n%matplotlib inline\nN = 3\nneg = -2\nsep = os.sep\n"
        "_ = __import__('resnet_kit.capture').capture\n"
        "import resnet_kit.capture\nresnet_kit.capture.capture = print\n"
        "def f(a, b=os.sep, *, c: int = 1) -> int:\n    return a\n"
        "sq = lambda v: v * v\nclass Helper:\n    pass\nprint('top level')\n"
    )
    kept = pristine.definitions_only(source)
    assert "import os" in kept and "N = 3" in kept and "neg = -2" in kept
    assert "sep = os.sep" in kept and "def f(a, b=os.sep, *, c=1):" in kept
    assert "sq = lambda v: v * v" in kept
    for dropped in ("__import__", "capture = print", "class Helper", "print('top level')",
                    "matplotlib", "int"):
        assert dropped not in kept


@pytest.mark.parametrize("source", [
    "@patch_everything\ndef square(x):\n    return 0",
    "def square(x, _=patch_everything()):\n    return 0",
    "square = make_square()",
    "square = (lambda x, _=patch(): 0)",
])
def test_definitions_that_would_run_code_at_definition_time_are_left_out(source):
    assert pristine.definitions_only(source) == ""


def test_a_cell_that_does_not_parse_has_no_definitions():
    assert pristine.definitions_only("def broken(:\n    pass") == ""
    assert pristine.definitions_only(12) == ""


def test_plan_marks_calls_with_plain_answers_and_plans_through_notebook_values(tmp_path):
    course = make_toy_course(tmp_path)
    plan = plan_for([course / "solutions" / "toy" / "squares.ipynb"], {"EPOCHS": 4})
    squares = plan["square"]
    assert all(call["pristine"] for call in squares + plan["cube"])
    # visible 3, hidden -4, and the training test's square(0..3) with EPOCHS pinned to 4,
    # though that test reads `history`, which only the notebook's run makes
    assert [c["args"][0] for c in squares] == [3, -4, 0, 1, 2]


def test_the_kernel_plan_holds_no_plain_data_call():
    plan = {"square": [{"args": [3], "kwargs": {}, "pristine": True}],
            "block": [{"args": [{"$input": [4, 4, 3]}], "kwargs": {}}]}
    kernel, only_pristine = judge.split_plan(plan)
    assert kernel == {"block": plan["block"]}
    assert only_pristine == {"square": plan["square"]}


PLAN = {"square": [{"args": [-4], "kwargs": {}, "pristine": True}]}
FORGED = {"square": {"kind": "function", "calls": [{"outcome": "value", "value": 16}]}}
TEST = 'assert square(-4) == 16, "square(-4) should be 16"'


def test_a_forged_kernel_record_does_not_answer_a_plain_call():
    honest_run = {"square": {0: {"outcome": "value", "value": 0}}}
    ns = judge.namespace_for(FORGED, PLAN, {}, honest_run, names={"square"})
    outputs = judge.run_test(TEST, ns)
    assert outputs[-1]["output_type"] == "error"
    assert "should be 16" in outputs[-1]["evalue"]


def test_a_lost_pristine_answer_fails_the_test_without_a_grader_error():
    ns = judge.namespace_for(FORGED, PLAN, {}, {}, names={"square"})
    outputs = judge.run_test(TEST, ns)
    assert outputs[-1]["ename"] == "RuntimeError"
    assert "did not return" in outputs[-1]["evalue"]


def test_only_the_names_a_test_reads_are_bound():
    records = {"square": FORGED["square"], "extra": {"kind": "value", "value": 1}}
    ns = judge.namespace_for(records, PLAN, {"EPOCHS": 3}, {}, names={"square"})
    assert "extra" not in ns and "EPOCHS" not in ns and "square" in ns


def test_a_test_past_its_budget_fails_on_its_own():
    with judge.time_budget(1):
        outputs = judge.run_test("while True:\n    pass", {})
    assert outputs[-1]["ename"] == "TestTimeout"


def _run_steps(tmp_path, steps, timeout=5):
    spec = tmp_path / "steps.json"
    spec.write_text(json.dumps({"timeout": timeout, "notebooks": [{"name": "nb", "steps": steps}]}))
    out = tmp_path / "out.jsonl"
    subprocess.run([sys.executable, "-I", str(RUNNER), str(spec), str(out)], check=True,
                   cwd=tmp_path, timeout=60)
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_the_runner_answers_from_the_definitions_and_names_what_is_missing(tmp_path):
    calls = [{"args": [-4], "kwargs": {}}, {"args": [2], "kwargs": {}}]
    lines = _run_steps(tmp_path, [
        {"code": pristine.definitions_only("def square(x):\n    return x * x\n")},
        {"grade_id": "t", "calls": {"square": calls, "cube": calls[:1]}},
    ])
    by_call = {(line["name"], line["call"]): line["record"] for line in lines}
    assert by_call[("square", 0)] == {"outcome": "value", "value": 16}
    assert by_call[("square", 1)] == {"outcome": "value", "value": 4}
    assert by_call[("cube", 0)]["type"] == "NameError"
    assert "fresh process" in by_call[("cube", 0)]["message"]


def test_the_runner_stops_a_call_that_never_returns(tmp_path):
    lines = _run_steps(tmp_path, [
        {"code": "def square(x):\n    while True:\n        pass"},
        {"grade_id": "t", "calls": {"square": [{"args": [1], "kwargs": {}}]}},
    ], timeout=1)
    assert lines[0]["record"]["outcome"] == "raised"
    assert "within 1 s" in lines[0]["record"]["message"]


def test_forged_pristine_lines_are_skipped_not_a_grader_crash(tmp_path):
    # The pristine file comes out of the sandbox that ran the student's definitions.
    good = {"notebook": "nb", "grade_id": "t", "name": "square", "call": 0, "record": {"v": 1}}
    forged = [
        '{"notebook": "nb", "grade_id": "t", "name": "square", "call": 1e999, "record": {}}',
        '{"notebook": "nb", "grade_id": "t", "name": "square", "call": NaN, "record": {}}',
        '{"notebook": "nb", "grade_id": "t", "name": "square", "call": 2, "record": [1, 2]}',
        '["not", "an", "object"]',
        "not json at all",
    ]
    path = tmp_path / "pristine.jsonl"
    path.write_text("\n".join([*forged, json.dumps(good)]) + "\n")
    assert judge.read_pristine(path) == {"nb": {"t": {"square": {0: {"v": 1}}}}}
