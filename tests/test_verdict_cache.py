"""A test judged once for identical captures: the judge reuses a verdict only for the same test,
the same captured inputs, the same grader code, settings and numerics, and only verdicts that
are the test's own (passed, or failed by the test); a judge whose tests all hit never imports
TensorFlow. The coordinator alone writes the cache file."""

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.engine import judge
from autograder.engine.grading import ResultCache

REPO = Path(__file__).resolve().parents[1]

VALUE_TEST = """\
assert answer == 42, f"answer is {answer}, expected 42"
print("answer is right:", answer)
"""


def judge_spec(tmp_path, answer, verdict_cache, code=VALUE_TEST, settings=None):
    notebook = tmp_path / "toy.ipynb"
    cell = nbformat.v4.new_code_cell(code, metadata={"nbgrader": {
        "grade": True, "grade_id": "test_answer", "points": 1, "locked": True,
        "solution": False, "schema_version": 3}})
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), notebook)
    captured = tmp_path / "captures" / "toy"
    captured.mkdir(parents=True, exist_ok=True)
    (captured / "test_answer.json").write_text(
        json.dumps({"names": {"answer": {"kind": "value", "value": answer}}}))
    return {"assignment": "no_such_assignment", "notebooks": [str(notebook)],
            "captures": str(tmp_path / "captures"), "plan": {},
            "settings": settings or {"seed": 1, "epochs": 3},
            "verdicts": str(tmp_path / "verdicts.json"), "training_cache": None,
            "verdict_cache": verdict_cache,
            "verdict_cache_out": str(tmp_path / "verdict_cache.json")}


def outputs_of(verdicts):
    return verdicts["toy"]["test_answer"]["outputs"]


def new_entries(spec):
    return json.loads(Path(spec["verdict_cache_out"]).read_text())


def test_a_second_student_with_the_same_capture_gets_the_verdict_without_running_it(
        tmp_path, monkeypatch):
    spec = judge_spec(tmp_path, 42, verdict_cache={})
    first = outputs_of(judge.judge(spec))
    added = new_entries(spec)
    assert first[0]["text"] == "answer is right: 42\n" and len(added) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("the test ran although its verdict was cached")

    monkeypatch.setattr(judge, "run_test", must_not_run)
    spec = judge_spec(tmp_path, 42, verdict_cache=added)
    verdicts = judge.judge(spec)
    assert outputs_of(verdicts) == first and verdicts["toy"]["test_answer"]["reused"]
    assert new_entries(spec) == {}


def test_another_capture_another_test_or_other_settings_are_judged_afresh(tmp_path):
    spec = judge_spec(tmp_path, 42, verdict_cache={})
    judge.judge(spec)
    cached = new_entries(spec)

    wrong = judge_spec(tmp_path, 41, verdict_cache=cached)
    failed = outputs_of(judge.judge(wrong))
    assert failed[-1]["ename"] == "AssertionError" and "answer is 41" in failed[-1]["evalue"]
    assert len(new_entries(wrong)) == 1  # a test's own failure is reusable too

    other_code = judge_spec(tmp_path, 42, verdict_cache=cached, code=VALUE_TEST + "print('more')\n")
    assert "more" in outputs_of(judge.judge(other_code))[0]["text"]
    other_budget = judge_spec(tmp_path, 42, verdict_cache=cached, settings={"seed": 1, "epochs": 10})
    judge.judge(other_budget)
    assert len(new_entries(other_budget)) == 1 and new_entries(other_budget) != cached


def test_the_numerics_environment_is_part_of_the_key(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    one = judge.judging_fingerprint()
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert judge.judging_fingerprint() != one


@pytest.mark.parametrize("code, ename", [
    ("raise MemoryError('the machine ran out')", "MemoryError"),
    ("import time\ntime.sleep(3)", "TestTimeout"),
])
def test_verdicts_that_depend_on_the_machine_are_not_cached(tmp_path, code, ename):
    spec = judge_spec(tmp_path, 42, verdict_cache={}, code=code,
                      settings={"seed": 1, "training_timeout": 1})
    outputs = outputs_of(judge.judge(spec))
    assert outputs[-1]["ename"] == ename
    assert new_entries(spec) == {}


def test_without_a_cache_the_judge_writes_none(tmp_path):
    spec = judge_spec(tmp_path, 42, verdict_cache=None)
    judge.judge(spec)
    assert not Path(spec["verdict_cache_out"]).exists()


def test_a_judge_whose_tests_all_hit_never_imports_tensorflow(tmp_path):
    spec = judge_spec(tmp_path, 42, verdict_cache={})
    judge.judge(spec)
    spec = judge_spec(tmp_path, 42, verdict_cache=new_entries(spec))
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    script = ("import json, sys\nfrom autograder.engine import judge\n"
              f"judge.main([{str(tmp_path / 'spec.json')!r}])\n"
              "print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                          text=True, check=True)
    assert json.loads(done.stdout.splitlines()[-1]) == []
    assert outputs_of(json.loads(Path(spec["verdicts"]).read_text()))[0]["text"].startswith(
        "answer is right")


def test_the_coordinators_cache_file_keeps_every_entry_and_is_replaced_whole(tmp_path):
    path = tmp_path / "reports" / "a" / "verdict-cache.json"
    cache = ResultCache(path, "judged test(s)")
    cache.add({"k1": {"outputs": []}})
    cache.add({"k2": {"outputs": []}, "junk": "not an entry"})
    assert sorted(json.loads(path.read_text())) == ["k1", "k2"]
    assert not path.with_suffix(".json.partial").exists()
    assert ResultCache(path, "judged test(s)").entries == cache.entries
    off = ResultCache(path, "judged test(s)", enabled=False)
    assert off.for_job() is None and off.entries == {}
    off.add({"k3": {"outputs": []}})
    assert "k3" not in json.loads(path.read_text())


def test_a_key_that_cannot_be_made_judges_the_test_instead_of_failing_it(tmp_path, monkeypatch):
    def broken_key(self, **parts):
        raise TypeError("cannot key this")

    monkeypatch.setattr(judge.VerdictCache, "key", broken_key)
    spec = judge_spec(tmp_path, 42, verdict_cache={})
    assert outputs_of(judge.judge(spec))[0]["text"] == "answer is right: 42\n"
    assert new_entries(spec) == {}
