"""The solution notebooks' own block definitions pass the self-checks and the hidden checks.

The functions are taken from the source notebooks' code cells (the ``def`` cells only) and run
in a namespace holding what the notebooks import, so the graders are tested against the code
that ships, not only against tests/corpus.
"""

import resnet_kit  # noqa: F401  (before TensorFlow: sets its import-time environment)

import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from autograder.resnets import checks  # noqa: E402  (imports TensorFlow quietly)
from resnet_kit import selfcheck  # noqa: E402

NOTEBOOKS = Path(__file__).resolve().parent.parent / "solutions" / "resnets"
BLOCKS = ["identity_block", "convolutional_block", "basic_block"]


def _namespace(notebook):
    path = NOTEBOOKS / notebook
    assert path.exists(), f"{path} not found"
    import keras
    from keras import layers
    from keras.initializers import glorot_uniform, random_uniform

    ns = {"keras": keras, "layers": layers, "glorot_uniform": glorot_uniform,
          "random_uniform": random_uniform, "BN_MOMENTUM": 0.9, "np": __import__("numpy")}
    for cell in json.loads(path.read_text())["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and re.search(
                r"^def (identity_block|convolutional_block|basic_block|ResNet50)\(", source, re.M):
            exec(compile(source, f"{notebook}:cell", "exec"), ns)  # noqa: S102 - our notebook
    return ns


@pytest.mark.parametrize("name", BLOCKS)
def test_solution_block_passes_selfcheck_and_hidden_check(name, capsys):
    ns = _namespace("1_residual_blocks.ipynb")
    assert name in ns, f"{name} not defined in the solution notebook"
    assert getattr(selfcheck, f"check_{name}")(ns[name]) is None  # prints, returns nothing
    assert getattr(checks, f"check_{name}")(ns[name]) is None
    out = capsys.readouterr().out
    assert "look right" in out and "values match" in out and "match the reference" in out
    assert "Note:" not in out  # the solution uses BN_MOMENTUM everywhere


def test_solution_resnet50_passes_selfcheck_and_hidden_check(capsys):
    ns = _namespace("2_resnet50_signs.ipynb")
    assert "ResNet50" in ns, "ResNet50 not defined in the solution notebook"
    assert checks.check_resnet50(ns["ResNet50"]) is None
    assert selfcheck.check_resnet50(ns["ResNet50"]()) is None
    out = capsys.readouterr().out
    assert "ResNet50:" in out and "Note:" not in out
