"""Support package for the ResNet course kit: data, plotting and device set-up.

Everything here is for students too; instructor-only code lives in ``autograder``.

Importing this package sets TensorFlow's import-time environment defaults (oneDNN kernels on,
C++ logging off; see :mod:`resnet_kit.device`). They only count if TensorFlow is not yet
imported, so notebooks, scripts and tests import ``resnet_kit`` before TensorFlow.
"""

from resnet_kit.device import configure_environment as _configure_environment

_configure_environment()

__version__ = "0.1.0"
