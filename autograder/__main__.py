"""``python -m autograder``: see :mod:`autograder.engine.cli`."""

import sys

from autograder.engine.cli import main

sys.exit(main())
