"""Load the hand-signs (SIGNS) data set, prepare it for Keras, and import real SIGNS data.

The SIGNS data set holds 64x64 RGB photos of a hand showing 0 to 5 fingers; the label of a
photo is the number of fingers (classes 0..5). The kit ships two HDF5 files in ``data/signs``
with exactly the layout of the Coursera course files:

=====================  =====================================  ==========================
file                   dataset                                content
=====================  =====================================  ==========================
``train_signs.h5``     ``train_set_x``                        uint8, shape (m, 64, 64, 3)
                       ``train_set_y``                        int64, shape (m,), 0..5
                       ``list_classes``                       int64, ``[0 1 2 3 4 5]``
``test_signs.h5``      ``test_set_x``, ``test_set_y``,        the same, for the test set
                       ``list_classes``
=====================  =====================================  ==========================

Typical notebook use::

    from resnet_kit.data import load_signs, preprocess

    X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes = load_signs()
    X_train, Y_train = preprocess(X_train_orig, Y_train_orig)   # floats in [0, 1], one-hot
    X_test, Y_test = preprocess(X_test_orig, Y_test_orig)

Where the files are looked for: the ``data_dir`` argument if given, else the folder in the
environment variable ``RESNET_KIT_DATA``, else the kit's own ``data/signs``.

Instructors who have the real SIGNS photos can use them instead:

* Coursera's ``train_signs.h5`` / ``test_signs.h5``: put them in a folder and call
  ``load_signs(that_folder)`` (or set ``RESNET_KIT_DATA``); ``python -m resnet_kit.data check
  FOLDER`` validates them.
* CS230's folders of images (``train_signs/0_IMG_5864.jpg`` ...): convert them once with
  ``python -m resnet_kit.data import-cs230 SRC DEST_DIR``, which writes ``train_signs.h5`` and
  ``test_signs.h5`` into ``DEST_DIR``.

Every problem with the data raises :class:`SignsDataError`, whose message names the file and
says what is wrong and what was expected.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

#: Side of the square images, in pixels.
IMAGE_SIZE = 64
#: Number of classes (0 to 5 fingers).
NUM_CLASSES = 6
#: Names of the two shipped files.
TRAIN_FILE = "train_signs.h5"
TEST_FILE = "test_signs.h5"
#: Environment variable that overrides the default data folder.
DATA_ENV_VAR = "RESNET_KIT_DATA"
#: Image file suffixes read from CS230-style folders (other files there are ignored).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
#: Sub-folders of a CS230-style root; ``dev_signs`` is optional.
CS230_SPLITS = ("train_signs", "dev_signs", "test_signs")

_HOW_TO_GET = (
    "The kit's hand-signs files are generated: run `make demo` or "
    "`python -m resnet_kit.handsigns generate` in the repository root. To use the real SIGNS "
    "data instead, put Coursera's train_signs.h5 and test_signs.h5 in a folder and pass it as "
    f"data_dir (or set {DATA_ENV_VAR}), or convert CS230's image folders with "
    "`python -m resnet_kit.data import-cs230 SRC DEST_DIR`."
)


class SignsDataError(ValueError):
    """The hand-signs data is missing or not in the expected layout.

    The message names the file (or folder) and says what is wrong.
    """


# --------------------------------------------------------------------------------------------
# Where the data lives
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The folder :func:`load_signs` reads when no ``data_dir`` is given.

    ``$RESNET_KIT_DATA`` if set (and not empty), else ``data/signs`` in the kit's repository.
    """
    from_env = os.environ.get(DATA_ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return Path(__file__).resolve().parents[1] / "data" / "signs"


def _resolve_dir(data_dir: str | os.PathLike | None) -> Path:
    return default_data_dir() if data_dir is None else Path(data_dir).expanduser()


# --------------------------------------------------------------------------------------------
# Checking arrays
# --------------------------------------------------------------------------------------------


def _check_images(x: np.ndarray, where: str, what: str = "images") -> None:
    """Raise SignsDataError unless ``x`` is uint8 with shape (m, 64, 64, 3)."""
    expected = f"(m, {IMAGE_SIZE}, {IMAGE_SIZE}, 3)"
    if x.ndim != 4 or x.shape[1:] != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise SignsDataError(
            f"{where}: {what} have shape {x.shape}, expected {expected} "
            f"(m RGB images of {IMAGE_SIZE}x{IMAGE_SIZE} pixels)."
        )
    if x.dtype != np.uint8:
        raise SignsDataError(
            f"{where}: {what} have dtype {x.dtype}, expected uint8 (pixel values 0..255). "
            "Do not store images scaled to [0, 1]; the notebooks divide by 255 themselves."
        )


def _check_labels(y: np.ndarray, m: int | None, where: str, what: str = "labels") -> np.ndarray:
    """Return the labels as int64 of shape (m,); raise SignsDataError if they are not valid.

    Accepts shape (m,) (the file layout) or (1, m) (the Coursera in-memory layout).
    """
    if y.ndim == 2 and y.shape[0] == 1:
        y = y.reshape(-1)
    if y.ndim != 1:
        raise SignsDataError(
            f"{where}: {what} have shape {y.shape}, expected (m,): one integer label per image."
        )
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and y.size and np.all(np.mod(y, 1) == 0):
            pass  # whole numbers stored as floats are accepted and converted
        else:
            raise SignsDataError(
                f"{where}: {what} have dtype {y.dtype}, expected integers 0..{NUM_CLASSES - 1}."
            )
    if m is not None and y.shape[0] != m:
        raise SignsDataError(
            f"{where}: there are {m} images but {y.shape[0]} {what}; "
            "every image needs exactly one label."
        )
    if y.size:
        low, high = y.min(), y.max()
        if low < 0 or high >= NUM_CLASSES:
            bad = np.unique(y[(y < 0) | (y >= NUM_CLASSES)])
            shown = ", ".join(str(v) for v in bad[:10]) + (" ..." if bad.size > 10 else "")
            raise SignsDataError(
                f"{where}: {what} must be 0..{NUM_CLASSES - 1} (the number of fingers), "
                f"found {shown}."
            )
    return y.astype(np.int64)


# --------------------------------------------------------------------------------------------
# HDF5 files (Coursera layout)
# --------------------------------------------------------------------------------------------


def load_signs_split(path: str | os.PathLike, split: str | None = None):
    """Read ONE hand-signs HDF5 file (a train, test or hidden split) and check it.

    The file may use either key set of the Coursera schema: ``train_set_x``/``train_set_y``
    or ``test_set_x``/``test_set_y``, plus ``list_classes``.

    Args:
        path: the ``.h5`` file.
        split: ``"train"`` or ``"test"`` to insist on that key set; ``None`` accepts either.

    Returns:
        ``(x, y, classes)`` in the same layout as :func:`load_signs`: ``x`` uint8 of shape
        (m, 64, 64, 3), ``y`` int64 of shape **(1, m)**, ``classes`` int64 ``[0 1 2 3 4 5]``.
        Use ``y.ravel()`` (or :func:`one_hot`) for a flat vector of labels.

    Raises:
        SignsDataError: the file is missing, is not HDF5, or does not follow the schema.
    """
    import h5py

    path = Path(path).expanduser()
    if split not in (None, "train", "test"):
        raise ValueError(f"split must be 'train', 'test' or None, not {split!r}.")
    if not path.exists():
        raise SignsDataError(f"{path}: file not found. {_HOW_TO_GET}")
    if path.is_dir():
        raise SignsDataError(
            f"{path}: is a folder, expected an HDF5 file such as {TRAIN_FILE}. "
            "To read both files of a folder use load_signs(folder)."
        )
    if not h5py.is_hdf5(path):
        raise SignsDataError(
            f"{path}: not an HDF5 file (the kit's data files are HDF5, written with h5py). "
            "It may be truncated or something else renamed to .h5; regenerate or re-copy it."
        )
    try:
        with h5py.File(path, "r") as f:
            found = sorted(f.keys())
            splits = [s for s in (split,) if s] or ["train", "test"]
            prefix = next(
                (s for s in splits if f"{s}_set_x" in f and f"{s}_set_y" in f), None
            )
            if prefix is None or "list_classes" not in f:
                expected = " or ".join(
                    f"{s}_set_x, {s}_set_y, list_classes" for s in splits
                )
                raise SignsDataError(
                    f"{path}: missing datasets. Found {found or 'no datasets'}; "
                    f"expected {expected}."
                )
            x = f[f"{prefix}_set_x"][()]
            y = f[f"{prefix}_set_y"][()]
            classes = f["list_classes"][()]
    except SignsDataError:
        raise
    except (OSError, KeyError, TypeError, AttributeError) as err:
        raise SignsDataError(f"{path}: could not be read as a hand-signs file ({err}).") from err

    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise SignsDataError(f"{path}: {prefix}_set_x and {prefix}_set_y must be arrays.")
    _check_images(x, str(path), f"images ({prefix}_set_x)")
    if x.shape[0] == 0:
        raise SignsDataError(f"{path}: {prefix}_set_x holds no images (m = 0).")
    y = _check_labels(y, x.shape[0], str(path), f"labels ({prefix}_set_y)")
    classes = np.asarray(classes)
    if classes.shape != (NUM_CLASSES,) or not np.array_equal(classes, np.arange(NUM_CLASSES)):
        raise SignsDataError(
            f"{path}: list_classes is {classes.tolist()!r}, "
            f"expected {list(range(NUM_CLASSES))} (the number of fingers)."
        )
    return x, y.reshape(1, -1), classes.astype(np.int64)


def load_signs(data_dir: str | os.PathLike | None = None):
    """Load the hand-signs training and test sets, exactly like Coursera's ``load_dataset()``.

    Args:
        data_dir: folder holding ``train_signs.h5`` and ``test_signs.h5``. Default:
            ``$RESNET_KIT_DATA`` if set, else the kit's ``data/signs``.

    Returns:
        ``X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes`` where the images are
        uint8 arrays of shape (m, 64, 64, 3), the labels int64 arrays of shape **(1, m)**
        (one row, as in the Coursera notebooks) and ``classes`` is ``[0 1 2 3 4 5]``.

    Raises:
        SignsDataError: a file is missing or not in the expected layout; the message says
            which file and what is wrong.
    """
    folder = _resolve_dir(data_dir)
    if not folder.is_dir():
        raise SignsDataError(f"{folder}: data folder not found. {_HOW_TO_GET}")
    X_train_orig, Y_train_orig, _ = load_signs_split(folder / TRAIN_FILE, split="train")
    X_test_orig, Y_test_orig, classes = load_signs_split(folder / TEST_FILE, split="test")
    return X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes


def write_signs_h5(path: str | os.PathLike, x, y, split: str) -> Path:
    """Write images and labels as one hand-signs HDF5 file in the Coursera schema.

    Args:
        path: the file to write (its folder is created; an existing file is replaced).
        x: uint8 images of shape (m, 64, 64, 3).
        y: integer labels 0..5 of shape (m,) or (1, m).
        split: ``"train"`` (keys ``train_set_x``/``train_set_y``) or ``"test"``
            (``test_set_x``/``test_set_y``); ``list_classes`` is always written.

    Returns:
        The path written. The file is written to a temporary name first and then renamed, so
        an interrupted run never leaves a half-written file behind.
    """
    import h5py

    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', not {split!r}.")
    path = Path(path).expanduser()
    x = np.asarray(x)
    _check_images(x, f"write_signs_h5({path.name})", "images")
    y = _check_labels(np.asarray(y), x.shape[0], f"write_signs_h5({path.name})", "labels")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        # track_times=False: the same arrays give the same bytes (no noise in git diffs).
        with h5py.File(tmp, "w") as f:
            f.create_dataset(f"{split}_set_x", data=x, track_times=False)
            f.create_dataset(f"{split}_set_y", data=y, track_times=False)
            f.create_dataset(
                "list_classes", data=np.arange(NUM_CLASSES, dtype=np.int64), track_times=False
            )
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


# --------------------------------------------------------------------------------------------
# Preparing arrays for Keras
# --------------------------------------------------------------------------------------------


def normalize_images(X_orig) -> np.ndarray:
    """Scale uint8 pixels 0..255 to float32 values in [0, 1] (``X_orig / 255``)."""
    return (np.asarray(X_orig) / 255.0).astype(np.float32)


def one_hot(Y, C: int = NUM_CLASSES) -> np.ndarray:
    """One-hot encode integer labels: shape (m,) or (1, m) in, float32 (m, C) out.

    Row ``i`` is all zeros except a 1 in column ``Y[i]``. This is the layout Keras'
    ``categorical_crossentropy`` expects, and the same as Coursera's
    ``convert_to_one_hot(Y, C).T``. (With ``sparse_categorical_crossentropy`` you can train on
    the integer labels directly and skip this step.)
    """
    labels = np.asarray(Y)
    if labels.ndim == 2 and 1 in labels.shape:
        labels = labels.reshape(-1)
    if labels.ndim != 1:
        raise SignsDataError(
            f"one_hot: labels have shape {labels.shape}, expected (m,) or (1, m) integers."
        )
    if labels.size and (not np.issubdtype(labels.dtype, np.integer)):
        if not (np.issubdtype(labels.dtype, np.floating) and np.all(np.mod(labels, 1) == 0)):
            raise SignsDataError(f"one_hot: labels have dtype {labels.dtype}, expected integers.")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= C):
        raise SignsDataError(
            f"one_hot: labels must be 0..{C - 1} for C={C}, "
            f"found values from {labels.min()} to {labels.max()}."
        )
    return np.eye(C, dtype=np.float32)[labels]


def convert_to_one_hot(Y, C: int) -> np.ndarray:
    """Coursera's helper, kept for ported notebooks: returns shape **(C, m)**.

    ``convert_to_one_hot(Y, 6).T`` equals ``one_hot(Y, 6)``; prefer :func:`one_hot`.
    """
    return one_hot(Y, C).T


def preprocess(X_orig, Y_orig, C: int = NUM_CLASSES):
    """Turn loaded arrays into what a Keras model trains on.

    Returns:
        ``(X, Y)``: ``X`` float32 of shape (m, 64, 64, 3) with values in [0, 1], and ``Y``
        float32 one-hot labels of shape (m, C).
    """
    X = normalize_images(X_orig)
    Y = one_hot(Y_orig, C)
    if X.shape[0] != Y.shape[0]:
        raise SignsDataError(
            f"preprocess: {X.shape[0]} images but {Y.shape[0]} labels; "
            "pass the labels that belong to these images."
        )
    return X, Y


# --------------------------------------------------------------------------------------------
# CS230 image folders
# --------------------------------------------------------------------------------------------


def _label_from_name(image: Path) -> int:
    prefix, sep, _ = image.name.partition("_")
    if not sep or not (prefix.isascii() and prefix.isdigit()):
        raise SignsDataError(
            f"{image}: the file name has no label prefix. CS230 SIGNS images are named "
            "'<label>_<anything>', e.g. '3_IMG_5864.jpg' for a hand showing 3 fingers."
        )
    label = int(prefix)
    if label >= NUM_CLASSES:
        raise SignsDataError(
            f"{image}: label {label} (from the file name) is out of range; "
            f"labels must be 0..{NUM_CLASSES - 1} (the number of fingers)."
        )
    return label


def _read_image(image: Path) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(image) as im:
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos: honour the camera's rotation
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                # Put transparent pixels on white (a plain convert would make them black).
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            if im.mode != "RGB":
                im = im.convert("RGB")  # greyscale, palette, CMYK, 16-bit ...
            if im.size != (IMAGE_SIZE, IMAGE_SIZE):
                im = im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.LANCZOS)
            return np.asarray(im, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise SignsDataError(
            f"{image}: unreadable or corrupt image ({type(err).__name__}: {err}). "
            "Delete or replace this file and run the import again."
        ) from err


def read_cs230_folder(folder: str | os.PathLike):
    """Read one CS230-style folder of hand-sign images, e.g. ``train_signs/``.

    Every image file (``.jpg``, ``.jpeg``, ``.png``, ...) must be named
    ``<label>_<anything>``, e.g. ``0_IMG_5864.jpg``; the label is the integer before the first
    underscore. Images of any size and colour mode are converted to RGB and resized to 64x64
    with a high-quality (Lanczos) filter; non-square images are stretched, not cropped. Hidden
    files and files that are not images (``.DS_Store``, ``README.txt``) are ignored. Files are
    read in sorted name order, so the result does not depend on the file system.

    Returns:
        ``(x, y)``: uint8 images (m, 64, 64, 3) and int64 labels of shape (m,).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise SignsDataError(f"{folder}: folder not found (expected a folder of images).")
    images = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not images:
        raise SignsDataError(
            f"{folder}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} files "
            "named like '0_IMG_5864.jpg')."
        )
    labels = [_label_from_name(p) for p in images]  # check every name before decoding any
    x = np.stack([_read_image(p) for p in images])
    return x, np.asarray(labels, dtype=np.int64)


def load_cs230_signs(root: str | os.PathLike):
    """Load CS230's SIGNS image folders in the same layout as :func:`load_signs`.

    ``root`` must contain ``train_signs/`` and ``test_signs/`` (CS230's ``SIGNS`` download),
    optionally with ``dev_signs/`` (the ``64x64_SIGNS`` folders made by CS230's
    ``build_dataset.py``). ``dev_signs`` is the part of the original training set held out
    for validation, so it is added to the training set; if there is no ``test_signs``,
    ``dev_signs`` is used as the test set instead.

    Returns:
        ``X_train_orig, Y_train_orig, X_test_orig, Y_test_orig, classes`` exactly as
        :func:`load_signs`.
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise SignsDataError(f"{root}: folder not found (expected the CS230 SIGNS folder).")
    present = {name for name in CS230_SPLITS if (root / name).is_dir()}
    test_name = "test_signs" if "test_signs" in present else "dev_signs"
    if "train_signs" not in present or test_name not in present:
        found = sorted(p.name + ("/" if p.is_dir() else "") for p in root.iterdir())
        raise SignsDataError(
            f"{root}: expected sub-folders train_signs/ and test_signs/ (or dev_signs/), "
            f"found {found or 'an empty folder'}."
        )
    x_train, y_train = read_cs230_folder(root / "train_signs")
    if test_name == "test_signs" and "dev_signs" in present:
        x_dev, y_dev = read_cs230_folder(root / "dev_signs")
        x_train = np.concatenate([x_train, x_dev])
        y_train = np.concatenate([y_train, y_dev])
    x_test, y_test = read_cs230_folder(root / test_name)
    classes = np.arange(NUM_CLASSES, dtype=np.int64)
    return x_train, y_train.reshape(1, -1), x_test, y_test.reshape(1, -1), classes


def import_cs230(src: str | os.PathLike, dest_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Convert CS230's SIGNS image folders into ``train_signs.h5`` and ``test_signs.h5``.

    The written files follow the Coursera schema, so :func:`load_signs(dest_dir)` reads them.
    Returns the two paths written.
    """
    X_train, Y_train, X_test, Y_test, _ = load_cs230_signs(src)
    dest = Path(dest_dir).expanduser()
    train = write_signs_h5(dest / TRAIN_FILE, X_train, Y_train, "train")
    test = write_signs_h5(dest / TEST_FILE, X_test, Y_test, "test")
    return train, test


def describe(x, y) -> str:
    """One line about a split: number of images and images per class."""
    labels = np.asarray(y).reshape(-1)
    counts = np.bincount(labels, minlength=NUM_CLASSES)
    per_class = ", ".join(f"{c}: {n}" for c, n in enumerate(counts))
    return f"{len(labels)} images of {x.shape[1]}x{x.shape[2]} (per class {per_class})"


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m resnet_kit.data import-cs230 SRC DEST_DIR`` or ``... check [PATH ...]``."""
    parser = argparse.ArgumentParser(
        prog="python -m resnet_kit.data",
        description="Check hand-signs data files, or import real SIGNS data.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    imp = commands.add_parser(
        "import-cs230",
        help="convert CS230 image folders into train_signs.h5 / test_signs.h5",
        description="Read SRC/train_signs/ and SRC/test_signs/ (and SRC/dev_signs/ if present; "
        "see load_cs230_signs) and write DEST_DIR/train_signs.h5 and DEST_DIR/test_signs.h5.",
    )
    imp.add_argument("src", type=Path, help="folder holding train_signs/ and test_signs/")
    imp.add_argument("dest_dir", type=Path, help="folder to write the .h5 files into")
    check = commands.add_parser(
        "check",
        help="validate .h5 files or a data folder",
        description="Validate hand-signs files; with no PATH, the folder load_signs() reads.",
    )
    check.add_argument("paths", type=Path, nargs="*", help=".h5 files or data folders")
    args = parser.parse_args(argv)

    try:
        if args.command == "import-cs230":
            for written in import_cs230(args.src, args.dest_dir):
                x, y, _ = load_signs_split(written)
                print(f"wrote {written}: {describe(x, y)}")
        else:
            for path in args.paths or [default_data_dir()]:
                if path.is_dir():
                    x_tr, y_tr, x_te, y_te, _ = load_signs(path)
                    print(f"{path / TRAIN_FILE}: OK, {describe(x_tr, y_tr)}")
                    print(f"{path / TEST_FILE}: OK, {describe(x_te, y_te)}")
                else:
                    x, y, _ = load_signs_split(path)
                    print(f"{path}: OK, {describe(x, y)}")
    except SignsDataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
