"""Shared test set-up.

Importing resnet_kit first sets TensorFlow's import-time environment (oneDNN on, C++ logs
off) before any test module imports TensorFlow.
"""

from pathlib import Path

import pytest

import resnet_kit  # noqa: F401  (import for its environment side effect; must come first)

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
