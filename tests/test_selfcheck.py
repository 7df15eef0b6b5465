"""The student-facing self-checks: their literals come from the reference; verdicts are right."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from autograder.resnets import reference as ref  # noqa: E402
from resnet_kit import selfcheck  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"
if str(CORPUS) not in sys.path:
    sys.path.insert(0, str(CORPUS))


def _constant_conv(k, c_in, c_out):
    return ref.Conv(np.full((k, k, c_in, c_out), np.float32(selfcheck.KERNEL_VALUE)),
                    np.zeros(c_out))


def reference_output(name, training):
    """What a correct block outputs on selfcheck's value case, by the NumPy reference."""
    shape, kw = selfcheck.VALUE_CASES[name]
    x = selfcheck.ramp(shape)
    c = shape[-1]
    if name == "basic_block":
        F, s = kw["filters"], kw["s"]
        projection = s != 1 or c != F
        args = [_constant_conv(3, c, F), ref.BatchNorm.fresh(F),
                _constant_conv(3, F, F), ref.BatchNorm.fresh(F)]
        if projection:
            args += [_constant_conv(1, c, F), ref.BatchNorm.fresh(F)]
        return ref.basic_block_ref(x, *args, s=s, training=training)
    f, (F1, F2, F3) = kw["f"], kw["filters"]
    args = [_constant_conv(1, c, F1), ref.BatchNorm.fresh(F1),
            _constant_conv(f, F1, F2), ref.BatchNorm.fresh(F2),
            _constant_conv(1, F2, F3), ref.BatchNorm.fresh(F3)]
    if name == "identity_block":
        return ref.identity_block_ref(x, *args, training=training)
    args += [_constant_conv(1, c, F3), ref.BatchNorm.fresh(F3)]
    return ref.convolutional_block_ref(x, *args, s=kw["s"], training=training)


def expected_literals():
    """The EXPECTED dict that selfcheck.py holds, recomputed (also used to write it)."""
    result = {}
    for name in selfcheck.VALUE_CASES:
        result[name] = {}
        for mode in ("inference", "training"):
            out = reference_output(name, training=mode == "training")
            result[name][mode] = {
                "channel0": np.round(out[0, :, :, 0], 6).tolist(),
                "channel_sums": np.round(out.sum(axis=(0, 1, 2)), 6).tolist(),
            }
    return result


@pytest.mark.parametrize("name", list(selfcheck.VALUE_CASES))
@pytest.mark.parametrize("mode", ["inference", "training"])
def test_selfcheck_literals_equal_the_reference_output(name, mode):
    computed = expected_literals()[name][mode]
    written = selfcheck.EXPECTED[name][mode]
    for key in ("channel0", "channel_sums"):
        np.testing.assert_allclose(np.asarray(written[key]), np.asarray(computed[key]),
                                   rtol=0, atol=2e-6)


def test_value_cases_exercise_both_signs():
    """The ramp crosses zero, so a misplaced ReLU changes the numbers."""
    for name in selfcheck.VALUE_CASES:
        x = selfcheck.ramp(selfcheck.VALUE_CASES[name][0])
        assert x.min() == -1 and x.max() == 1


BLOCKS = ["identity_block", "convolutional_block", "basic_block"]


def _fn(module, name):
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module", ["correct_layers_add", "correct_tf_keras_ops"])
@pytest.mark.parametrize("name", BLOCKS)
def test_correct_blocks_pass_the_selfchecks(module, name):
    fn = _fn(module, name)
    assert "look right" in getattr(selfcheck, f"check_{name}_shapes")(fn)
    assert "values match" in getattr(selfcheck, f"check_{name}_values")(fn)


def test_initializer_works_as_instance_too():
    """A notebook may pass `initializer` straight to kernel_initializer."""
    fn = _fn("correct_functional_ops", "identity_block")
    assert "values match" in selfcheck.check_identity_block_values(fn)


@pytest.mark.parametrize("module, name, check, message", [
    ("mutant_id_fxf_valid", "identity_block", "shapes", "padding of each conv"),
    ("mutant_id_add_after_relu", "identity_block", "values", "final ReLU comes after"),
    ("mutant_id_no_relu1", "identity_block", "values", "conv -> BatchNorm -> ReLU"),
    ("mutant_id_wrong_filters", "identity_block", "shapes", "parameters"),
    ("mutant_id_no_final_relu", "identity_block", "shapes", "negative values"),
    ("mutant_conv_stride_on_fxf", "convolutional_block", "values", "where the stride goes"),
    ("mutant_conv_no_shortcut_bn", "convolutional_block", "shapes", "parameters"),
    ("mutant_basic_stride_on_second", "basic_block", "values", "training=False"),
    ("mutant_basic_no_projection", "basic_block", "shapes", "raised"),
])
def test_mutants_fail_the_selfchecks_with_a_hint(module, name, check, message):
    with pytest.raises(AssertionError) as info:
        getattr(selfcheck, f"check_{name}_{check}")(_fn(module, name))
    assert message in str(info.value), str(info.value)


def test_selfcheck_does_not_import_the_autograder():
    source = Path(selfcheck.__file__).read_text()
    assert "autograder" not in source.replace("autograder/resnets/reference.py", "")


def test_parameter_formula_matches_a_hand_count():
    # identity block, C=4, f=3, [2, 3, 4]: convs (4*2+2) + (9*2*3+3) + (3*4+4), BNs 4*(2+3+4)
    assert selfcheck.identity_block_params(4, 3, [2, 3, 4]) == (10 + 57 + 16 + 36, 18)


@pytest.mark.parametrize("name", BLOCKS)
def test_combined_block_checks_run_shapes_and_values(name):
    summary = getattr(selfcheck, f"check_{name}")(_fn("correct_layers_add", name))
    assert "look right" in summary and "values match" in summary


def test_resnet50_selfcheck_passes_a_correct_model_and_names_a_missing_softmax():
    model = _fn("correct_layers_add", "ResNet50")()
    assert "23,600,006" in selfcheck.check_resnet50(model)
    broken = _fn("mutant_resnet_no_softmax", "ResNet50")()
    with pytest.raises(AssertionError, match="softmax"):
        selfcheck.check_resnet50(broken)
    with pytest.raises(AssertionError, match="built model"):
        selfcheck.check_resnet50(_fn("correct_layers_add", "ResNet50"))
