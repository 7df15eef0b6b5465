"""A test judged once for identical captures: the judge reuses a verdict only for the same test,
the same captured inputs, the same grader code, settings and numerics, and only passes (a
failure may be the machine's, so it is judged afresh every time); a judge whose tests all hit
never imports TensorFlow. The coordinator alone writes the cache file, first writer wins."""

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


def judge_spec(tmp_path, answer, verdict_cache, code=VALUE_TEST, settings=None, plan=None,
               extra_records=None, training_cache=None):
    notebook = tmp_path / "toy.ipynb"
    cell = nbformat.v4.new_code_cell(code, metadata={"nbgrader": {
        "grade": True, "grade_id": "test_answer", "points": 1, "locked": True,
        "solution": False, "schema_version": 3}})
    nbformat.write(nbformat.v4.new_notebook(cells=[cell]), notebook)
    captured = tmp_path / "captures" / "toy"
    captured.mkdir(parents=True, exist_ok=True)
    records = {"answer": {"kind": "value", "value": answer}, **(extra_records or {})}
    (captured / "test_answer.json").write_text(json.dumps({"names": records}))
    return {"assignment": "no_such_assignment", "notebooks": [str(notebook)],
            "captures": str(tmp_path / "captures"), "plan": plan or {},
            "settings": settings or {"seed": 1, "epochs": 3},
            "verdicts": str(tmp_path / "verdicts.json"), "training_cache": training_cache,
            "training_cache_out": str(tmp_path / "training_cache.json"),
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


def key_of(**changes):
    parts = dict(notebook="toy", grade_id="test_answer", code=VALUE_TEST,
                 records={"answer": {"kind": "value", "value": 42}}, names={"answer"},
                 plan={}, pristine={}, grader_values={}, settings={"seed": 1, "epochs": 3})
    parts.update(changes)
    return judge.VerdictCache({}).key(**parts)


def test_everything_a_verdict_depends_on_is_in_its_key_and_nothing_else():
    base = key_of()
    changed = [
        key_of(code=VALUE_TEST + "print('more')\n"),
        key_of(records={"answer": {"kind": "value", "value": 41}}),
        key_of(plan={"answer": [{"args": [1], "kwargs": {}}]}),
        key_of(pristine={"answer": {"0": {"outcome": "value", "value": 1}}}),
        key_of(grader_values={"EPOCHS": 10}),
        key_of(settings={"seed": 1, "epochs": 10}),
        key_of(settings={"seed": 2, "epochs": 3}),
        key_of(grade_id="test_other"),
    ]
    assert len({base, *changed}) == len(changed) + 1
    # What the test does not read is not part of it: a student's other variables do not matter.
    assert key_of(records={"answer": {"kind": "value", "value": 42},
                                 "unrelated": {"kind": "value", "value": 7}}) == base
    assert key_of(plan={"unrelated": [{"args": [], "kwargs": {}}]}) == base


def test_failures_are_judged_afresh_every_time(tmp_path):
    spec = judge_spec(tmp_path, 41, verdict_cache={})
    failed = outputs_of(judge.judge(spec))
    assert failed[-1]["ename"] == "AssertionError" and "answer is 41" in failed[-1]["evalue"]
    assert new_entries(spec) == {}


def test_the_numerics_environment_is_part_of_the_key(monkeypatch):
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    one = judge.judging_fingerprint()
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    assert judge.judging_fingerprint() != one


SWALLOWS_THE_TIMEOUT = """\
import time
try:
    time.sleep(3)
except AssertionError:  # a check that turns any trouble into a verdict of its own
    pass
print("looks fine")
"""


@pytest.mark.parametrize("code, ename", [
    ("raise MemoryError('the machine ran out')", "MemoryError"),
    ("import time\ntime.sleep(3)", "TestTimeout"),
    (SWALLOWS_THE_TIMEOUT, None),
])
def test_verdicts_the_machine_may_have_decided_are_not_cached(tmp_path, code, ename):
    spec = judge_spec(tmp_path, 42, verdict_cache={}, code=code,
                      settings={"seed": 1, "training_timeout": 1})
    outputs = outputs_of(judge.judge(spec))
    assert (outputs[-1].get("ename")) == ename
    assert new_entries(spec) == {}


def test_a_large_output_is_not_cached(tmp_path):
    code = f"print('x' * {judge.MAX_CACHED_OUTPUT_BYTES + 1})"
    spec = judge_spec(tmp_path, 42, verdict_cache={}, code=code)
    assert len(outputs_of(judge.judge(spec))[0]["text"]) > judge.MAX_CACHED_OUTPUT_BYTES
    assert new_entries(spec) == {}


TRAINS = """\
from autograder.engine import trainingcache
cache = trainingcache.current()
key = "ab" * 32
if cache.get(key) is None:
    cache.put(key, {"accuracy": 0.5})
print("accuracy", cache.get(key)["accuracy"], answer)
"""


def test_a_verdict_that_used_a_trained_result_is_reused_only_while_that_result_is_cached(
        tmp_path):
    spec = judge_spec(tmp_path, 42, verdict_cache={}, code=TRAINS, training_cache={})
    judge.judge(spec)
    verdicts = new_entries(spec)
    trained = json.loads((tmp_path / "training_cache.json").read_text())
    assert list(verdicts.values())[0]["training"] == ["ab" * 32] and list(trained) == ["ab" * 32]

    again = judge_spec(tmp_path, 42, verdict_cache=verdicts, code=TRAINS, training_cache=trained)
    assert judge.judge(again)["toy"]["test_answer"].get("reused")
    # The instructor deleted the trained result: the test trains and is judged again.
    forgotten = judge_spec(tmp_path, 42, verdict_cache=verdicts, code=TRAINS, training_cache={})
    assert not judge.judge(forgotten)["toy"]["test_answer"].get("reused")


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


def test_the_coordinators_cache_file_keeps_the_first_writer_and_only_well_formed_entries(
        tmp_path):
    k1, k2, k3 = ("1" * 64), ("2" * 64), ("3" * 64)
    path = tmp_path / "reports" / "a" / "verdict-cache.json"
    cache = ResultCache(path, "judged test(s)")
    cache.add({k1: {"outputs": ["first"]}})
    cache.add({k1: {"outputs": ["overwritten?"]}, k2: {"outputs": []}, k3: "not an entry",
               "not-a-sha256": {"outputs": []}})
    on_disk = json.loads(path.read_text())
    assert sorted(on_disk) == [k1, k2] and on_disk[k1] == {"outputs": ["first"]}
    assert not path.with_suffix(".json.partial").exists()
    assert ResultCache(path, "judged test(s)").entries == cache.entries
    off = ResultCache(path, "judged test(s)", enabled=False)
    assert off.for_job() is None and off.entries == {}
    off.add({k3: {"outputs": []}})
    assert k3 not in json.loads(path.read_text())


def test_a_key_that_cannot_be_made_judges_the_test_instead_of_failing_it(tmp_path, monkeypatch):
    def broken_key(self, **parts):
        raise TypeError("cannot key this")

    monkeypatch.setattr(judge.VerdictCache, "key", broken_key)
    spec = judge_spec(tmp_path, 42, verdict_cache={})
    assert outputs_of(judge.judge(spec))[0]["text"] == "answer is right: 42\n"
    assert new_entries(spec) == {}
