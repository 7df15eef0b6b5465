"""The student-facing self-checks: their literals come from the reference; verdicts are right."""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import importlib  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import importlib.util  # noqa: E402

from resnet_kit import architecture as arch  # noqa: E402
from resnet_kit import diagnosis  # noqa: E402
from resnet_kit import reference as ref  # noqa: E402
from resnet_kit import selfcheck  # noqa: E402

CORPUS = Path(__file__).parent / "corpus"
if str(CORPUS) not in sys.path:
    sys.path.insert(0, str(CORPUS))

_spec = importlib.util.spec_from_file_location("resnet_corpus_index", CORPUS / "index.py")
INDEX = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(INDEX)


def test_the_values_check_expects_what_the_reference_computes_for_a_keras_block():
    """The expected numbers come from resnet_kit.reference; Keras' own correct block (built
    from the solution notebook) must give them, in both modes."""
    from autograder.engine.notebook_code import SOLUTIONS_DIR, solution_namespace

    solution = solution_namespace(SOLUTIONS_DIR / "1_residual_blocks.ipynb")
    for name in selfcheck.VALUE_CASES:
        getattr(selfcheck, f"check_{name}_values")(solution[name])  # raises if they differ


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
        return selfcheck.check_resnet50(fn)  # as the notebook's visible test calls it
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
        assert diagnosis.kind_of(message).id == INDEX.KIND[(module, function)], message
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
    assert frames[-1] == "verdict", frames
    assert "_check_shapes" not in frames and "find_roles" not in frames


def test_an_unwritten_exercise_stays_not_implemented_without_the_checking_frames():
    def identity_block(X, f, filters, training=None, initializer=None):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError) as info:
        selfcheck.check_identity_block(identity_block)
    assert str(info.value).startswith("identity_block is not written yet")
    frames = [tb.tb_frame.f_code.co_name for tb in _frames(info.value.__traceback__)]
    assert frames[-1] == "verdict" and "build_block" not in frames, frames
    assert info.value.__context__ is None and info.value.__cause__ is None


def _frames(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def test_selfcheck_warns_about_a_batchnorm_momentum_other_than_bn_momentum(capsys):
    selfcheck.check_identity_block_shapes(_pytorch_momentum_block())
    out = capsys.readouterr().out
    assert "momentum=0.1" in out and "PyTorch" in out
    notes = [line for line in out.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and "3 BatchNormalization layers" in notes[0], notes  # one line


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
    with pytest.raises(AssertionError, match="takes your function ResNet50"):
        selfcheck.check_resnet50("model")


def test_a_visible_checks_own_failure_never_shows_its_exception():
    def crashing_check():
        np.zeros((2, 5, 5, 5)) + np.zeros((2, 4, 4, 5))  # the reference's broadcast error

    with pytest.raises(AssertionError) as info:
        diagnosis.verdict(crashing_check)
    message = str(info.value)
    assert message == diagnosis.CHECK_CRASHED and "broadcast" not in message
    assert diagnosis.kind_of(message).id == "check-crashed"
    assert info.value.__context__ is None and info.value.__cause__ is None
