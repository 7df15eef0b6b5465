"""The student-facing self-checks: their literals come from the reference; verdicts are right."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import importlib.util  # noqa: E402

from resnet_kit import architecture as arch  # noqa: E402
from resnet_kit import reference as ref  # noqa: E402
from resnet_kit import selfcheck  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"
if str(CORPUS) not in sys.path:
    sys.path.insert(0, str(CORPUS))

_spec = importlib.util.spec_from_file_location("resnet_corpus_index", CORPUS / "index.py")
INDEX = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INDEX)


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


def _visible_check(function, fn):
    if function == "ResNet50":
        return selfcheck.check_resnet50(fn())
    return getattr(selfcheck, f"check_{function}")(fn)


@pytest.mark.parametrize(
    "module, function, expected",
    [(m, f, e) for (m, f), e in INDEX.VISIBLE.items()],
    ids=[f"{m}.{f}" for m, f in INDEX.VISIBLE],
)
def test_corpus_entry_gets_the_expected_verdict_from_the_selfcheck(module, function, expected,
                                                                   capsys):
    fn = _fn(module, function)
    if expected is None:
        assert _visible_check(function, fn) is None
        assert "look right" in capsys.readouterr().out or function == "ResNet50"
    else:
        with pytest.raises(AssertionError) as info:
            _visible_check(function, fn)
        message = str(info.value)
        assert expected in message, message
        assert message.startswith(expected.split()[0]) or not message.startswith(function), (
            "messages start with the reason, not the case: " + message)


def test_initializer_works_as_instance_too(capsys):
    """A notebook may pass `initializer` straight to kernel_initializer."""
    fn = _fn("correct_functional_ops", "identity_block")
    selfcheck.check_identity_block_values(fn)
    assert "values match" in capsys.readouterr().out


def test_a_check_returns_nothing_and_prints_every_part(capsys):
    assert selfcheck.check_basic_block(_fn("correct_layers_add", "basic_block")) is None
    out = capsys.readouterr().out
    assert "look right" in out and "values match" in out


def test_a_failing_check_raises_from_its_public_function():
    with pytest.raises(AssertionError) as info:
        selfcheck.check_identity_block(_fn("mutant_id_no_shortcut", "identity_block"))
    frames = [tb.tb_frame.f_code.co_name for tb in _frames(info.value.__traceback__)]
    assert frames[-1] == "_verdict", frames
    assert "_check_shapes" not in frames and "find_roles" not in frames


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_selfcheck_warns_about_a_batchnorm_momentum_other_than_bn_momentum(capsys):
    selfcheck.check_identity_block_shapes(_pytorch_momentum_block())
    out = capsys.readouterr().out
    assert "momentum=0.1" in out and "PyTorch" in out


def _pytorch_momentum_block():
    from keras import layers

    def identity_block(X, f, filters, training=None, initializer=None):
        F1, F2, F3 = filters
        h = X
        for F, k in ((F1, 1), (F2, f), (F3, 1)):
            h = layers.Conv2D(F, k, padding="same")(h)
            h = layers.BatchNormalization(axis=3, momentum=0.1)(h, training=training)
            if F is not F3:
                h = layers.ReLU()(h)
        return layers.ReLU()(h + X)

    return identity_block


def test_selfcheck_does_not_import_the_autograder():
    for module in (selfcheck, arch, ref, importlib.import_module("resnet_kit.diagnosis")):
        assert "import autograder" not in Path(module.__file__).read_text()
        assert "from autograder" not in Path(module.__file__).read_text()


def test_parameter_formula_matches_a_hand_count():
    # identity block, C=4, f=3, [2, 3, 4]: convs (4*2+2) + (9*2*3+3) + (3*4+4), BNs 4*(2+3+4)
    assert arch.block_params(ref.identity_spec(3, [2, 3, 4]), 4) == (10 + 57 + 16 + 36, 18)


def test_resnet50_selfcheck_does_not_change_the_models_weights():
    model = _fn("correct_layers_add", "ResNet50")()
    before = [np.asarray(w).copy() for w in model.weights]
    selfcheck.check_resnet50(model)
    assert all(np.array_equal(b, np.asarray(w)) for b, w in zip(before, model.weights))
    with pytest.raises(AssertionError, match="built model"):
        selfcheck.check_resnet50(_fn("correct_layers_add", "ResNet50"))
