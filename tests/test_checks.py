"""The hidden-test checks pass every correct corpus variant and name every mutant's mistake."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import functools  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder.resnets import checks  # noqa: E402  (imports TensorFlow quietly)
from resnet_kit import diagnosis  # noqa: E402
from resnet_kit import reference as ref  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"
if str(CORPUS) not in sys.path:
    sys.path.insert(0, str(CORPUS))  # corpus modules import each other by name

_spec = importlib.util.spec_from_file_location("resnet_corpus_index", CORPUS / "index.py")
INDEX = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INDEX)

from autograder.engine.notebook_code import SOLUTIONS_DIR, cells_by_grade_id  # noqa: E402

# The hidden test cells exactly as the grader runs them, from the source notebooks.
HIDDEN_TEST_CELLS = {
    **cells_by_grade_id(SOLUTIONS_DIR / "1_residual_blocks.ipynb"),
    **cells_by_grade_id(SOLUTIONS_DIR / "2_resnet50_signs.ipynb"),
}
HIDDEN_TEST_OF = {
    "identity_block": "test_identity_block_hidden",
    "convolutional_block": "test_convolutional_block_hidden",
    "basic_block": "test_basic_block_hidden",
    "ResNet50": "test_resnet50_hidden",
}


def run_hidden_test_cell(function, fn):
    """Execute the notebook's hidden test cell with the student's function in scope."""
    grade_id = HIDDEN_TEST_OF[function]
    source = HIDDEN_TEST_CELLS[grade_id]
    exec(compile(source, f"<hidden test cell {grade_id}>", "exec"), {function: fn})


def _student_function(module, function):
    return getattr(importlib.import_module(module), function)


@functools.lru_cache(maxsize=None)
def hidden_verdict(module, function) -> str | None:
    """The hidden test cell's message on a corpus entry (None: it passed), judged once for
    the tests that read it."""
    try:
        run_hidden_test_cell(function, _student_function(module, function))
    except AssertionError as exc:
        return str(exc)
    return None


@pytest.mark.parametrize(
    "module, function, expected",
    [(m, f, e) for (m, f), e in INDEX.EXPECTED.items()],
    ids=[f"{m}.{f}" for m, f in INDEX.EXPECTED],
)
def test_corpus_entry_gets_the_expected_verdict_from_the_hidden_test_cell(module, function, expected):
    message = hidden_verdict(module, function)
    if expected is None:
        assert message is None, message
    else:
        assert message is not None and expected in message, message
        kind = diagnosis.kind_of(message)
        assert kind is not None and kind.id == INDEX.KIND[(module, function)], message


def test_the_mistakes_summary_of_the_corpus_counts_each_kind_of_mistake():
    """The corpus as a class: a student per module, every hidden test in their results (the
    functions a module does not define pass). The summary's kinds and counts per exercise are
    the index's, whatever layer names and shapes the messages hold."""
    from collections import Counter

    from autograder.engine import report
    from autograder.resnets import mistake_kind

    tests = {function: f"nb/{cell}" for function, cell in HIDDEN_TEST_OF.items()
             if cell in HIDDEN_TEST_CELLS}
    results = []
    for module in sorted({m for m, _ in INDEX.EXPECTED}):
        cells = {}
        for function, key in tests.items():
            message = (hidden_verdict(module, function) if (module, function) in INDEX.EXPECTED
                       else None)
            cells[key] = {"score": 0.0 if message else 1.0, "max": 1.0,
                          "error": f"AssertionError: {message}" if message else None}
        results.append({"student": module, "cells": cells, "flags": [], "total": 0, "max": 4})
    summary = report.mistakes_summary(results, mistake_kind)
    found = {e.name: {k.id: len(who) for k, who in e.kinds} for e in summary.exercises}
    expected = {report.exercise_of(HIDDEN_TEST_OF[function]): Counter(kind for (_, f), kind in INDEX.KIND.items()
                                                 if f == function)
                for function, key in tests.items()}
    assert found == {name: dict(counts) for name, counts in expected.items()}
    assert all(k.named for e in summary.exercises for k, _ in e.kinds)
    mutants = {m for m, _ in INDEX.KIND}
    for e in summary.exercises:
        assert e.judged == len(results)
        assert e.judged - e.passed == sum(len(who) for _, who in e.kinds) <= len(mutants)


def test_every_corpus_module_is_in_the_index():
    indexed = {m for m, _ in INDEX.EXPECTED}
    on_disk = {p.stem for p in CORPUS.glob("*.py")} - {"index"}
    assert on_disk == indexed


def test_every_mutant_fails_and_every_correct_variant_passes_in_the_index():
    for (module, _), expected in INDEX.EXPECTED.items():
        assert (expected is None) == module.startswith("correct_"), module


def test_every_mutant_has_a_known_kind_of_mistake_in_the_index():
    mutants = {key for key, expected in INDEX.EXPECTED.items() if expected is not None}
    assert set(INDEX.KIND) == mutants
    known = {kind.id for kind in diagnosis.MISTAKE_KINDS}
    assert set(INDEX.KIND.values()) <= known


def test_mistake_kinds_have_unique_ids_and_names():
    ids = [kind.id for kind in diagnosis.MISTAKE_KINDS]
    names = [kind.name for kind in diagnosis.MISTAKE_KINDS]
    assert len(set(ids)) == len(ids) and len(set(names)) == len(names)


def test_the_hidden_checks_own_failure_is_a_grader_error_never_its_exception():
    """A crash of the checking code (here: the reference fed shapes it cannot add) reaches
    no student as the grader's exception: the hidden check reports the grader's error."""
    from autograder.engine.judge import GraderError

    def crashing_check():
        np.zeros((2, 5, 5, 5)) + np.zeros((2, 4, 4, 5))

    with pytest.raises(GraderError) as info:
        checks._verdict(crashing_check)
    assert "grader's own code" in str(info.value) and "not the student's" in str(info.value)


def test_checks_write_nothing_to_stderr(capfd):
    fn = _student_function("correct_functional_ops", "identity_block")
    checks.check_identity_block(fn)
    with pytest.raises(AssertionError):
        checks.check_identity_block(_student_function("mutant_id_fxf_valid", "identity_block"))
    assert capfd.readouterr().err == ""


def test_check_rejects_a_non_function():
    with pytest.raises(AssertionError, match="must be a function"):
        checks.check_basic_block(None)


@pytest.mark.parametrize("case", [checks.IDENTITY_CASES[0], checks.CONVOLUTIONAL_CASES[0],
                                  checks.BASIC_CASES[1]], ids=lambda c: c.name)
def test_every_mistake_made_on_purpose_changes_the_output(case):
    """Each mistake the diagnosis can name is a different function from the reference block."""
    spec = case.spec
    rng = np.random.default_rng(0)
    cin = case.batch_shape[-1]
    convs, bns = [], []
    for conv_spec in spec.main:
        k = conv_spec.kernel
        convs.append(ref.Conv(rng.standard_normal((k, k, cin, conv_spec.filters))))
        bns.append(ref.BatchNorm(rng.uniform(0.5, 1.5, conv_spec.filters),
                                 rng.standard_normal(conv_spec.filters),
                                 rng.standard_normal(conv_spec.filters),
                                 rng.uniform(0.5, 2, conv_spec.filters)))
        cin = conv_spec.filters
    w = ref.BlockWeights(convs, bns)
    if spec.shortcut is not None:
        w.shortcut_conv = ref.Conv(rng.standard_normal((1, 1, case.batch_shape[-1], cin)))
        w.shortcut_bn = ref.BatchNorm.fresh(cin)
    x = rng.standard_normal(case.batch_shape)
    right = ref.block_forward(x, w, spec, training=True)
    for name, changes in diagnosis.mistakes(spec, w):
        try:
            wrong = ref.block_forward(x, w, spec, training=True, **changes)
        except ValueError:
            continue  # shapes do not fit: the mistake fails to build
        assert not diagnosis.matches(wrong, right), name


def test_a_failing_check_says_the_reason_first_and_returns_nothing_on_success(capsys):
    with pytest.raises(AssertionError) as info:
        checks.check_identity_block(_student_function("mutant_id_no_shortcut", "identity_block"))
    assert str(info.value).startswith("the shortcut is not added")
    assert checks.check_basic_block(_student_function("correct_layers_add", "basic_block")) is None
    assert "match the reference" in capsys.readouterr().out


def test_a_resnet50_build_failure_names_the_stage_and_the_shape():
    from keras import layers

    import correct_layers_add as good

    def ResNet50(input_shape=(64, 64, 3), classes=6, training=None):  # noqa: N802
        X_input = keras.Input(input_shape)
        X = layers.Conv2D(64, (7, 7), strides=(2, 2))(layers.ZeroPadding2D((3, 3))(X_input))
        X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)
        for blocks, filters, s in [(3, [64, 64, 256], 1), (4, [128, 128, 512], 2),
                                   (6, [256, 256, 1024], 2), (3, [512, 512, 2048], 2)]:
            X = good.convolutional_block(X, f=3, filters=filters, s=s, training=training)
            for _ in range(blocks - 1):
                X = good.identity_block(X, 3, filters, training=training)
            X = layers.MaxPooling2D((3, 3), strides=(2, 2))(X)  # the mistake: one per stage
        return keras.Model(X_input, layers.Dense(classes)(layers.Flatten()(X)))

    import keras

    with pytest.raises(AssertionError) as info:
        checks.check_resnet50(ResNet50)
    message = str(info.value)
    assert message.startswith("stage 5: output size would be negative"), message
    assert "reads (None, 1, 1, 1024), expected (None, 4, 4, 1024)" in message, message


def test_rel_error_floor_ignores_float32_rounding_near_zero():
    expected = np.array([10.0, 1e-7])
    actual = np.array([10.0, 1.3e-7])  # float32-sized error on a value that is almost 0
    assert ref.rel_error(actual, expected) > 0.1  # the classic formula would fail it
    assert diagnosis.rel_error(actual, expected) < diagnosis.TOLERANCE


# --- the same verdicts when judged the trusted way: captured as data, replayed in the judge ---

@pytest.fixture(scope="module")
def capture_plan():
    from autograder.engine.plan import plan_for

    return plan_for(sorted(SOLUTIONS_DIR.glob("*.ipynb")))


def judge_from_capture(function, fn, plan):
    """What the grader does: record ``fn`` as JSON (sandbox side), judge the test cell on it."""
    import json

    from autograder.engine import judge
    from resnet_kit import capture

    records = json.loads(json.dumps({function: capture.record_value(fn, plan.get(function, []))}))
    namespace = judge.namespace_for(records, plan, {})
    return judge.run_test(HIDDEN_TEST_CELLS[HIDDEN_TEST_OF[function]], namespace)


@pytest.mark.parametrize(
    "module, function, expected",
    [(m, f, e) for (m, f), e in INDEX.EXPECTED.items()],
    ids=[f"{m}.{f}" for m, f in INDEX.EXPECTED],
)
def test_corpus_entry_gets_the_same_verdict_when_judged_from_its_capture(
        module, function, expected, capture_plan):
    outputs = judge_from_capture(function, _student_function(module, function), capture_plan)
    errors = [o for o in outputs if o["output_type"] == "error"]
    if expected is None:
        assert not errors, errors
    else:
        assert errors and errors[-1]["ename"] == "AssertionError", outputs
        assert expected in errors[-1]["evalue"], errors[-1]["evalue"]
        assert diagnosis.kind_of(errors[-1]["evalue"]).id == INDEX.KIND[(module, function)]


# --- the accuracy test trains the network ResNet50 builds, never the notebook's `model` -------

ACCURACY_CELL = "test_trained_model_hidden"


def small_cnn(input_shape=(64, 64, 3), classes=6, training=None):
    """A 4-layer CNN: reaches 0.97 on the hidden split in 3 epochs, and is not a ResNet-50."""
    from keras import layers

    import keras

    x_in = keras.Input(input_shape)
    x = layers.MaxPooling2D(2)(layers.Conv2D(16, 3, activation="relu")(x_in))
    x = layers.MaxPooling2D(2)(layers.Conv2D(32, 3, activation="relu")(x))
    x = layers.Dense(32, activation="relu")(layers.Flatten()(x))
    return keras.Model(x_in, layers.Dense(classes, activation="softmax")(x))


def unwritten_resnet50(input_shape=(64, 64, 3), classes=6, training=None):
    raise NotImplementedError()


@pytest.fixture
def trained(monkeypatch):
    """Stands in for training (minutes): records the architecture the test would train."""
    from autograder.engine import trainingcache
    from autograder.resnets import accuracy

    seen = []

    def fake(model, epochs, batch_size=accuracy.BATCH_SIZE):
        seen.append(trainingcache.architecture_fingerprint(model))
        return trainingcache.Outcome(0.9, False, None, None, True)

    monkeypatch.setattr(accuracy, "trained_accuracy", fake)
    return seen


def judge_accuracy_cell(records_of: dict, plan) -> list[dict]:
    """The accuracy test judged as the grader judges it: every name captured as data (a
    function as its planned calls' results, ``model`` as its architecture)."""
    import json

    from autograder.engine import judge
    from resnet_kit import capture

    records = {}
    for name, value in records_of.items():
        records[name] = capture.record_value(value, plan.get(name, []))
    records = json.loads(json.dumps(records))
    code = HIDDEN_TEST_CELLS[ACCURACY_CELL]
    ns = judge.namespace_for(records, plan, {"EPOCHS": 3}, names=set(judge.free_names(code)))
    return judge.run_test(code, ns)


def test_the_accuracy_test_reads_ResNet50_and_never_model():  # noqa: N802
    from autograder.engine.judge import free_names

    assert free_names(HIDDEN_TEST_CELLS[ACCURACY_CELL]) == ["ResNet50", "EPOCHS"]


def test_the_plan_makes_one_ResNet50_call_for_both_tests_and_trains_nothing(capture_plan):  # noqa: N802
    # The capture_plan fixture ran the accuracy test on the solution: it would have trained
    # ResNet-50 for minutes without the planning stop.
    assert capture_plan["ResNet50"] == [
        {"args": [], "kwargs": {"classes": 6, "input_shape": [64, 64, 3]}}]


def test_unwritten_ResNet50_earns_no_accuracy_points_whatever_model_is(capture_plan, trained):  # noqa: N802
    outputs = judge_accuracy_cell({"ResNet50": unwritten_resnet50, "model": small_cnn()},
                                  capture_plan)
    error = outputs[-1]
    assert error["output_type"] == "error" and error["ename"] == "NotImplementedError", outputs
    assert error["evalue"].startswith("ResNet50 is not written yet"), error["evalue"]
    assert "never the notebook's `model`" in error["evalue"], error["evalue"]
    assert trained == []


def test_a_ResNet50_that_returns_a_small_cnn_earns_no_accuracy_points(capture_plan, trained):  # noqa: N802
    outputs = judge_accuracy_cell({"ResNet50": small_cnn}, capture_plan)
    error = outputs[-1]
    assert error["output_type"] == "error" and error["ename"] == "AssertionError", outputs
    assert error["evalue"].startswith("ResNet50() does not build a ResNet-50"), error["evalue"]
    assert "expected 53 Conv2D" in error["evalue"], error["evalue"]
    assert trained == []


def test_the_judge_trains_what_ResNet50_builds_not_model(capture_plan, trained):  # noqa: N802
    from autograder.engine import trainingcache

    import correct_layers_add

    outputs = judge_accuracy_cell({"ResNet50": correct_layers_add.ResNet50,
                                   "model": small_cnn()}, capture_plan)
    assert [o["output_type"] for o in outputs] == ["stream"], outputs
    assert "the network ResNet50() builds trained for 3 epoch(s)" in outputs[0]["text"]
    resnet = trainingcache.architecture_fingerprint(correct_layers_add.ResNet50())
    assert resnet is not None and trained == [resnet]
    assert trainingcache.architecture_fingerprint(small_cnn()) != resnet


def test_a_grader_error_in_the_accuracy_test_is_not_the_students_failure():
    from autograder.engine import judge
    from autograder.resnets import accuracy

    with pytest.raises(judge.GraderError):
        accuracy.network_to_train(judge.ReplayedFunction("ResNet50", [], []))


# Which corpus networks the accuracy test trains: every ResNet-50 by its layers and parameters,
# mistakes in what it computes or in its spatial shapes included (the ResNet-50 tests take
# those points; the network still trains). None: trained; text: the start of the refusal.
TRAINED_OR_REFUSED = {
    "correct_layers_add": None, "correct_tf_keras_ops": None, "correct_no_bias": None,
    "correct_head_global_pool": None, "correct_head_pool7_same": None,
    "mutant_resnet_bn_training_true": None, "mutant_resnet_no_softmax": None,
    "mutant_resnet_no_zero_padding": None, "mutant_resnet_wrong_strides": None,
    "mutant_resnet_block_relu_before_add": None, "mutant_resnet_block_stride_on_fxf": None,
    "mutant_resnet_wrong_stages": "ResNet50() does not build a ResNet-50",
    "mutant_resnet_block_no_projection": "ResNet50() did not build a network",
    "mutant_resnet_maxpool_stride1": "ResNet50() does not build a ResNet-50",  # its parameters
    "mutant_resnet_no_flatten": "ResNet50() does not build a ResNet-50",
    "mutant_resnet_stage2_stride2": "ResNet50() did not build a network",
    "mutant_resnet_avgpool7_valid": "ResNet50() did not build a network",
}


def test_every_corpus_ResNet50_is_listed_for_the_accuracy_test():  # noqa: N802
    assert set(TRAINED_OR_REFUSED) == {m for m, f in INDEX.EXPECTED if f == "ResNet50"}


@pytest.mark.parametrize("module", sorted(TRAINED_OR_REFUSED))
def test_the_accuracy_test_trains_every_ResNet50_and_nothing_else(module, trained):  # noqa: N802
    from autograder.resnets import accuracy

    fn = _student_function(module, "ResNet50")
    refusal = TRAINED_OR_REFUSED[module]
    if refusal is None:
        assert accuracy.check_training(fn, epochs=3).startswith("hidden-split accuracy 0.900")
        assert len(trained) == 1
    else:
        with pytest.raises(AssertionError) as info:
            accuracy.check_training(fn, epochs=3)
        assert str(info.value).startswith(refusal), str(info.value)
        assert trained == []
        # The refusal says why, as the ResNet-50 test does: the layer at fault, no Keras error.
        if module in ("mutant_resnet_no_flatten", "mutant_resnet_stage2_stride2",
                      "mutant_resnet_avgpool7_valid"):
            assert INDEX.EXPECTED[(module, "ResNet50")] in str(info.value), str(info.value)
