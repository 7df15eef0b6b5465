"""The judge trusts no captured data: it rebuilds only allowlisted Keras configs, replays only
planned calls, pins the grader's own settings, and a forged record earns nothing."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import copy  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402

from resnet_kit.device import import_tensorflow  # noqa: E402

import_tensorflow()

import keras  # noqa: E402

from autograder.engine import judge, kerasconfig  # noqa: E402
from resnet_kit import capture, selfcheck  # noqa: E402

L = keras.layers


def block(x, add="layer", relu="layer", training=None):
    shortcut = x
    y = L.Conv2D(4, 1)(x)
    y = L.BatchNormalization(axis=3)(y, training=training)
    y = L.Activation("relu")(y) if relu == "layer" else keras.ops.relu(y)
    y = L.Conv2D(4, 3, padding="same")(y)
    y = L.BatchNormalization(axis=3)(y, training=training)
    y = L.Add()([y, shortcut]) if add == "layer" else y + shortcut
    return L.ReLU()(y)


def config_of(fn=block, shape=(5, 5, 4), **kwargs):
    x = keras.Input(shape)
    return json.loads(json.dumps(keras.saving.serialize_keras_object(keras.Model(x, fn(x, **kwargs)))))


@pytest.mark.parametrize("add", ["layer", "plus"])
@pytest.mark.parametrize("relu", ["layer", "ops"])
@pytest.mark.parametrize("training", [None, True, False])
def test_standard_blocks_are_accepted_and_rebuilt_with_their_training_arguments(add, relu, training):
    cfg = config_of(add=add, relu=relu, training=training)
    assert kerasconfig.validate_model_config(cfg) == []
    model = judge.rebuild(cfg)
    bns = [layer for layer in model.layers if isinstance(layer, L.BatchNormalization)]
    kwargs = [layer._inbound_nodes[0].arguments.kwargs.get("training") for layer in bns]
    assert kwargs == [training, training]


def test_kit_constant_initializer_is_accepted():
    init = selfcheck.ConstantInitializer()
    cfg = config_of(lambda x: L.Conv2D(2, 1, kernel_initializer=init)(x))
    model = judge.rebuild(cfg)
    assert float(model.layers[1].kernel.numpy().min()) == selfcheck.KERNEL_VALUE


def test_a_lambda_layer_is_refused_with_a_message_a_student_can_act_on():
    cfg = config_of(lambda x: L.Lambda(lambda t: t * 2)(x))
    with pytest.raises(judge.NotSupported, match="keras.layers"):
        judge.rebuild(cfg)


def test_a_custom_layer_class_is_refused():
    class Doubler(L.Layer):
        def call(self, x):
            return x * 2

    cfg = config_of(lambda x: Doubler()(x))
    with pytest.raises(judge.NotSupported, match="not allowed"):
        judge.rebuild(cfg)


@pytest.mark.parametrize("payload", [
    "keras.config.set_max_epochs",
    {"module": "keras.config", "class_name": "function", "config": "enable_unsafe_deserialization",
     "registered_name": "function"},
    {"module": "os", "class_name": "system", "config": {"command": "touch /tmp/pwned"}},
    {"module": "keras_nlp", "class_name": "Anything", "config": {}},
])
def test_a_forged_config_naming_anything_else_is_refused_before_keras_reads_it(payload):
    cfg = config_of()
    forged = copy.deepcopy(cfg)
    conv = [layer for layer in forged["config"]["layers"] if layer["class_name"] == "Conv2D"][0]
    conv["config"]["activation"] = payload
    assert kerasconfig.validate_model_config(forged)
    with pytest.raises(judge.NotSupported):
        judge.rebuild(forged)


def test_a_network_too_large_to_build_is_refused_before_its_weights_exist():
    cfg = config_of(lambda x: L.Dense(8)(L.Flatten()(L.Conv2D(8, 3)(x))), shape=(64, 64, 3))
    for layer in cfg["config"]["layers"]:  # as a student could forge it: never built here
        if layer["class_name"] == "Conv2D":
            layer["config"]["filters"] = 4096
        if layer["class_name"] == "Dense":
            layer["config"]["units"] = 4096
    assert kerasconfig.validate_model_config(cfg) == []
    _params, problems = kerasconfig.estimate_params(cfg)
    assert any("parameters" in p or "too large" in p for p in problems), problems


def test_free_names_are_what_a_test_cell_reads_from_the_notebook():
    code = ("from autograder.resnets import checks\n"
            "checks.check_identity_block(identity_block)\n"
            "assert len(history) == EPOCHS\nfor i in range(3):\n    print(i, square(i))")
    assert judge.free_names(code) == ["identity_block", "history", "EPOCHS", "square"]


def test_the_graders_values_override_what_the_notebook_set():
    records = {"EPOCHS": {"kind": "value", "value": 1}}
    ns = judge.namespace_for(records, {}, {"EPOCHS": 3})
    assert ns["EPOCHS"] == 3


def test_a_forged_value_record_for_a_function_cannot_pass_a_check_that_needs_a_tensor():
    plan = {"identity_block": [{"args": [{"$input": [5, 5, 4]}],
                                "kwargs": {"f": 3, "filters": [2, 3, 4]}}]}
    forged = {"identity_block": {"kind": "function", "calls": [{"outcome": "value", "value": 1}]}}
    ns = judge.namespace_for(forged, plan, {})
    outputs = judge.run_test("selfcheck.check_identity_block_shapes(identity_block)",
                             {**ns, "selfcheck": selfcheck})
    assert outputs[-1]["output_type"] == "error"


def test_an_unplanned_call_is_a_grader_error_not_a_student_failure():
    replay = judge.ReplayedFunction("f", [], [])
    with pytest.raises(judge.GraderError):
        replay(1)


def test_capture_records_a_correct_block_that_the_judge_passes():
    def identity_block(X, f, filters, training=None, initializer=None):
        return block(X, training=training) if filters[-1] == 4 else None

    plan = [{"args": [{"$input": [5, 5, 4]}], "kwargs": {"f": 3, "filters": [4, 4, 4]}}]
    record = json.loads(json.dumps(capture.record_value(identity_block, plan)))
    assert record["kind"] == "function" and record["calls"][0]["outcome"] == "tensor"
    replay = judge.ReplayedFunction("identity_block", plan, record["calls"])
    x = keras.Input((5, 5, 4))
    out = replay(x, f=3, filters=[4, 4, 4])
    assert tuple(out.shape) == (None, 5, 5, 4)
    assert any(isinstance(layer, L.Add) for layer in keras.Model(x, out).layers)


def test_planning_records_the_calls_a_training_test_makes_and_trains_nothing():
    """Planning runs each test on the solution: a test that trains (the accuracy test) stops
    where it would train, after the calls it makes of the student's functions."""
    from autograder.engine import plan, trainingcache

    def train(_fresh):
        raise AssertionError("planning trained")

    code = ("net = build(3)\n"
            "trainingcache.train_or_reuse(net, train, lambda m: 1.0, {})\n"
            "build(4)\n")
    calls: list = []
    ns = {"build": plan.Recorder(lambda n: n, calls), "trainingcache": trainingcache,
          "train": train}
    previous = trainingcache.install(trainingcache.TrainingCache(None, planning=True))
    try:
        plan._run_statements(code, ns, "<test>", set())
    finally:
        trainingcache.install(previous)
    assert [c["args"] for c in calls] == [[3], [4]]
    with pytest.raises(AssertionError, match="planning trained"):  # only while planning
        trainingcache.train_or_reuse(keras.Sequential([keras.Input((2,)), L.Dense(1)]), train,
                                     lambda m: 1.0, {})
