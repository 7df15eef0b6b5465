"""The hidden hand-signs split the accuracy test scores on (instructor-only).

It is rendered by the kit's own generator (``resnet_kit.handsigns``) like the train and test
data, 50 images per class, under split id 2, so its images never repeat a public one. What
keeps it hidden is its seed. The kit ships a *public default*: seed 20240603, recorded here
and in the repository, so anyone with the kit can render it bit for bit. Before grading a real
class, make a private one with a seed you keep to yourself::

    python -m autograder.resnets.hidden_split --random-seed   # a fresh secret seed
    python -m autograder.resnets.hidden_split --seed N        # a seed you choose
    python -m autograder.resnets.hidden_split --status        # which split is in use
    python -m autograder.resnets.hidden_split --default       # back to the public default

Each writes ``autograder/resnets/data/signs_hidden.h5`` (the file the grader reads) with the
seed in the file's attributes (``base_seed``, ``split_id``), so ``python -m resnet_kit.handsigns
verify`` can still check it. Do not commit a private split (or its seed) to a public repository.
The thresholds in ``thresholds.json`` were measured on the default split; a private split comes
from the same renderer and scores within sampling noise of it (300 images: about ±3 points);
``benchmarks/resnet50_training.py thresholds --write`` re-measures them on the split in use.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HIDDEN_PATH = HERE / "data" / "signs_hidden.h5"

SPLIT_ID = 2
PER_CLASS = 50
PREFIX = "test_set"
FILENAME = "signs_hidden.h5"
# The public default: published with the kit, so it hides nothing from a determined student.
DEFAULT_SEED = 20240603

COMMAND = "python -m autograder.resnets.hidden_split --random-seed"


def split_for(seed: int):
    """The hidden split rendered from ``seed``."""
    from resnet_kit.handsigns import Split

    seed = int(seed)
    if seed < 0:
        raise ValueError(f"the seed must be a non-negative integer, got {seed}")
    return Split("hidden", SPLIT_ID, seed, PER_CLASS, PREFIX, FILENAME)


def file_attrs(split) -> dict:
    """The attributes recorded in the h5 file: how to render it again."""
    return {"base_seed": int(split.base_seed), "split_id": int(split.split_id),
            "renderer": "resnet_kit.handsigns"}


def recorded_seed(path: Path | None = None) -> int | None:
    """The seed recorded in the hidden h5 (None: no file, or a file without one)."""
    path = Path(path) if path is not None else HIDDEN_PATH
    if not path.is_file():
        return None
    import h5py

    with h5py.File(path, "r") as f:
        seed = f.attrs.get("base_seed")
    return None if seed is None else int(seed)


def current_split(path: Path | None = None):
    """The split in the hidden h5: its recorded seed, else the public default (older files)."""
    seed = recorded_seed(path)
    return split_for(DEFAULT_SEED if seed is None else seed)


def is_public_default(path: Path | None = None) -> bool | None:
    """Whether the hidden h5 holds the public default split (None: there is no file).

    Judged by the labels (their order is a seeded permutation of 300), so a file made
    without recorded attributes is recognised too."""
    import h5py
    import numpy as np

    from resnet_kit.handsigns import split_labels

    path = Path(path) if path is not None else HIDDEN_PATH
    if not path.is_file():
        return None
    with h5py.File(path, "r") as f:
        key = f"{PREFIX}_y"
        if key not in f:
            return False
        labels = np.asarray(f[key]).ravel()
    default = split_labels(split_for(DEFAULT_SEED))
    return labels.shape == default.shape and bool(np.array_equal(labels, default))


def notes(path: Path | None = None) -> list[str]:
    """What an instructor should know about the hidden split before trusting grades."""
    path = Path(path) if path is not None else HIDDEN_PATH
    try:
        default = is_public_default(path)
    except OSError as e:
        return [f"the hidden split {path} cannot be read ({e}); make one with `{COMMAND}`"]
    if default is None:
        return [f"the hidden split {path} is missing; make a private one with `{COMMAND}`"]
    if default:
        return [
            f"the hidden split is the public default one (seed {DEFAULT_SEED}, published in "
            "the kit's repository: anyone with the kit's source can render it); make a private "
            f"one with `{COMMAND}`"
        ]
    return []


def write(seed: int, path: Path | None = None) -> tuple[Path, float]:
    """Render the hidden split from ``seed`` and write it where the grader reads it."""
    from resnet_kit.handsigns import render_split, write_h5

    path = Path(path) if path is not None else HIDDEN_PATH
    split = split_for(seed)
    t0 = time.perf_counter()
    x, y = render_split(split)
    # Write next to the target, then replace it: a failure never leaves half a file.
    tmp = path.with_name(path.name + ".tmp")
    write_h5(tmp, split, x, y, attrs=file_attrs(split))
    tmp.replace(path)
    return path, time.perf_counter() - t0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m autograder.resnets.hidden_split",
        description="Make the hidden hand-signs split the accuracy test scores on "
        "(300 images, 50 per class) from a seed only you know.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int, metavar="N", help="render from this seed (keep it private)")
    which.add_argument("--random-seed", action="store_true",
                       help="draw a fresh 63-bit seed with the `secrets` module")
    which.add_argument("--default", action="store_true",
                       help=f"restore the public default split (seed {DEFAULT_SEED})")
    which.add_argument("--status", action="store_true", help="say which split is in use; write nothing")
    parser.add_argument("--out", type=Path, default=None, help=f"h5 to write (default {HIDDEN_PATH})")
    parser.add_argument("--show-seed", action="store_true",
                        help="with --random-seed: print the seed (it is also recorded in the h5)")
    args = parser.parse_args(argv)
    path = args.out if args.out is not None else HIDDEN_PATH

    if args.status:
        lines = notes(path)
        if lines:
            for line in lines:
                print(line)
        else:
            print(f"the hidden split {path} is a private one (its seed is recorded in the file)")
        return 0

    if args.default:
        seed = DEFAULT_SEED
    elif args.random_seed:
        seed = secrets.randbits(63)
    else:
        seed = args.seed
        if seed == DEFAULT_SEED:
            print(f"note: {DEFAULT_SEED} is the public default seed; it hides nothing",
                  file=sys.stderr)
    try:
        path, seconds = write(seed, path)
    except ValueError as e:
        parser.error(str(e))
    if seed == DEFAULT_SEED:
        print(f"wrote the public default hidden split -> {path} ({seconds:.1f} s)")
    else:
        shown = f"seed {seed}" if (args.seed is not None or args.show_seed) else "a fresh secret seed"
        print(f"wrote a private hidden split ({shown}, 300 images) -> {path} ({seconds:.1f} s)")
        print("Keep it out of public repositories; `python -m resnet_kit.handsigns verify "
              "--split hidden` checks it against the seed recorded in the file.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
