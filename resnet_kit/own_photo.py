"""Try the trained network on your own hand: read any photo, crop, resize, predict, show.

The classic assignment ends with "test on your own image". Notebook 2's optional last cell does
it in one line::

    from resnet_kit import own_photo

    PHOTO = own_photo.SAMPLE_PHOTO  # or "my_hand.jpg", a file next to the notebook
    own_photo.try_in_notebook(globals().get("model"), PHOTO)

:func:`try_in_notebook` prints what it did and the network's answer, and returns a figure: the
64x64 image the network reads beside a bar chart of its six class probabilities. It never
raises for the student's mistakes: a missing, empty or unreadable file, or no trained
``model`` yet, gets a message saying what to do instead of a traceback.

The parts, for use elsewhere: :func:`load_own_photo` reads any JPEG or PNG (any size, phone
photos rotated as the camera recorded, transparent pixels put on white), crops the largest
square around the centre and resizes it to 64x64 like the training images (it raises
:class:`OwnPhotoError`, whose message names the file and says what to do).
:func:`predict_own_photo` scales the pixels with the training images' own function
(``resnet_kit.data.normalize_images``) and returns the six class probabilities.
:func:`show_own_photo` draws the figure. :func:`try_own_photo` does all three and raises.

Nothing is written to stderr (nbgrader scores a cell with stderr output as failed).

Works best like the training images: one hand, filling about half of the frame, in front of
a plain light wall, the wrist at the bottom edge. The kit's images are rendered, not
photographed (``data/README.md``), and a network trained on them reads real hands poorly.

**The sample photo** ``data/signs/sample_hand.jpg`` (:data:`SAMPLE_PHOTO`) is not a photo of a
real hand: it is one image of the kit's own renderer (:func:`resnet_kit.handsigns.render_image`,
label 3, from its own random stream, see :func:`render_sample_photo`), upscaled 6x to 384x384
and widened to a 512x384 (4:3) frame by continuing its wall to the left and right, with fresh
sensor grain, saved as JPEG: the shape of a phone photo, so the notebook's cell really crops
and resizes. ``python -m resnet_kit.own_photo sample`` writes it again (a test checks the
shipped file against it).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
NUM_CLASSES = 6

#: The kit's sample photo (rendered, see the module docstring); the notebook's default.
SAMPLE_PHOTO = Path(__file__).resolve().parents[1] / "data" / "signs" / "sample_hand.jpg"
SAMPLE_LABEL = 3
# Its random stream: default_rng([SAMPLE_SEED, SAMPLE_STREAM, SAMPLE_INDEX]). The dataset's
# splits use stream ids 0-2 (train, test, hidden), so no image of theirs shares it. The index
# was picked by eye among the first ten: a clear 3 whose forearm leaves through the bottom
# edge only (the frame is widened left and right) and whose skin stands out from the wall.
SAMPLE_SEED = 20261207
SAMPLE_STREAM = 3
SAMPLE_INDEX = 3
SAMPLE_HEIGHT, SAMPLE_WIDTH = 384, 512  # 6x the 64x64 render, widened to 4:3
SAMPLE_JPEG_QUALITY = 90


class OwnPhotoError(ValueError):
    """The photo could not be read; the message names the file and says what to do."""


def _square_box(h: int, w: int) -> tuple[int, int, int]:
    """(top, left, side) of the largest square around the centre of an h x w image."""
    side = min(h, w)
    return (h - side) // 2, (w - side) // 2, side


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest square around the centre of an (H, W, ...) image."""
    top, left, side = _square_box(*image.shape[:2])
    return image[top : top + side, left : left + side]


def _open_rgb(path: Path):
    """The photo at ``path`` as a PIL RGB image, turned as the camera recorded it."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not path.exists():
        where = "" if path.is_absolute() else f" (in the folder {Path.cwd()})"
        raise OwnPhotoError(
            f"No photo at {path}{where}. Put a JPEG or PNG of your hand there (or change the "
            "path in this cell) and run the cell again."
        )
    if path.is_dir():
        raise OwnPhotoError(f"{path} is a folder; give the path of one photo file (JPEG or PNG).")
    if path.stat().st_size == 0:
        raise OwnPhotoError(f"{path} is empty (0 bytes); copy the photo again.")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)  # phone photos: as the camera held them
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                im = im.convert("RGBA")
                background = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, im)
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise OwnPhotoError(
            f"{path} is not a readable image ({type(err).__name__}: {err}). Save the photo as "
            "JPEG or PNG and try again."
        ) from err


def _to_square(im, size: int) -> np.ndarray:
    from PIL import Image

    top, left, side = _square_box(im.height, im.width)
    im = im.crop((left, top, left + side, top + side))
    return np.asarray(im.resize((size, size), Image.Resampling.LANCZOS), dtype=np.uint8).copy()


def load_own_photo(path: str | os.PathLike, size: int = IMAGE_SIZE) -> np.ndarray:
    """A photo file as a (size, size, 3) uint8 RGB array: centre square crop, then resize.

    Raises :class:`OwnPhotoError` if the file is missing, a folder, empty or not an image.
    """
    return _to_square(_open_rgb(Path(path).expanduser()), size)


def predict_own_photo(model, image: np.ndarray) -> np.ndarray:
    """The model's six class probabilities for one (64, 64, 3) uint8 image, scaled as the
    training images are (``resnet_kit.data.normalize_images``)."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise OwnPhotoError(
            f"expected a ({IMAGE_SIZE}, {IMAGE_SIZE}, 3) image, got shape {image.shape}; "
            "read the photo with load_own_photo first."
        )
    from resnet_kit.data import normalize_images  # the training images' own scaling

    x = normalize_images(image[None])
    p = np.asarray(model.predict(x, verbose=0), dtype=np.float64).reshape(-1)
    if p.shape != (NUM_CLASSES,):
        raise OwnPhotoError(f"the model gave {p.size} outputs, expected {NUM_CLASSES} classes")
    return p


def show_own_photo(image: np.ndarray, probabilities=None, classes=None, title: str | None = None):
    """A figure: the 64x64 image and a bar chart of the class probabilities (the most likely
    class highlighted); the image alone when ``probabilities`` is None. Returns the figure
    (closed in pyplot: the cell shows it once)."""
    from resnet_kit.plotting import _class_name, _new_figure

    if probabilities is None:
        fig, axes = _new_figure((3.4, 3.4))
        ax_img = axes[0][0]
    else:
        fig, axes = _new_figure((8.0, 3.4), 1, 2)
        ax_img, ax_bar = axes[0]
    ax_img.imshow(np.asarray(image, dtype=np.uint8), interpolation="nearest")
    ax_img.set_axis_off()
    ax_img.set_title("your photo, as the network sees it (64x64)", fontsize=9)
    if probabilities is not None:
        p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
        names = [_class_name(classes, c) for c in range(len(p))]
        best = int(np.argmax(p))
        colours = ["tab:orange" if c == best else "tab:blue" for c in range(len(p))]
        ax_bar.bar(range(len(p)), p, color=colours, tick_label=names)
        ax_bar.set_ylim(0, 1)
        ax_bar.set_xlabel("class (fingers)")
        ax_bar.set_ylabel("probability")
        ax_bar.set_title(f"the network says {names[best]} ({p[best]:.0%})", fontsize=10)
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def try_own_photo(model, path: str | os.PathLike, classes=None):
    """Read the photo at ``path``, predict it with ``model`` and draw both:
    returns (image (64, 64, 3) uint8, probabilities (6,), figure)."""
    image = load_own_photo(path)
    probabilities = predict_own_photo(model, image)
    return image, probabilities, show_own_photo(image, probabilities, classes)


def _untrained(model) -> bool:
    """True when a Keras model has no training step recorded (not compiled, or never fit)."""
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        return True
    try:
        return int(np.asarray(optimizer.iterations)) == 0
    except (AttributeError, TypeError, ValueError):
        return False  # not a Keras optimizer: trust the caller


def try_in_notebook(model, photo: str | os.PathLike = SAMPLE_PHOTO, classes=None):
    """The notebook's optional cell: read ``photo``, ask ``model`` and show both.

    Prints the photo's size, the network's answer and every class probability, and returns
    the figure of :func:`show_own_photo` (the cell's last line shows it). Never raises for a
    student's mistake: a photo that cannot be read prints why and returns None; ``model``
    None (not built) prints what to run first and shows the photo alone; a model with no
    training step recorded still answers, with a warning that its weights are untrained.
    """
    path = Path(photo).expanduser()
    try:
        im = _open_rgb(path)
    except OwnPhotoError as err:
        print(f"Could not use the photo: {err}")
        return None
    image = _to_square(im, IMAGE_SIZE)
    side = min(im.width, im.height)
    print(
        f"Photo: {path.name}, {im.width}x{im.height} pixels; the network reads its centre "
        f"{side}x{side} square, resized to {IMAGE_SIZE}x{IMAGE_SIZE}."
    )
    if model is None or not callable(getattr(model, "predict", None)):
        print(
            "No network to ask: `model` is not defined. Build and train it first (run the "
            "cells of sections 3 and 4), then run this cell again."
        )
        return show_own_photo(image)
    if _untrained(model):
        print(
            "Warning: `model` has no training step recorded (run the training cell of "
            "section 4 first): these are the guesses of untrained weights."
        )
    try:
        p = predict_own_photo(model, image)
    except OwnPhotoError as err:
        print(f"Could not ask the network: {err}")
        return show_own_photo(image)
    from resnet_kit.plotting import _class_name

    best = int(np.argmax(p))
    print(f"The network says {_class_name(classes, best)} (probability {p[best]:.2f}).")
    print(
        "Probabilities: "
        + ", ".join(f"{_class_name(classes, c)}: {p[c]:.2f}" for c in range(len(p)))
    )
    return show_own_photo(image, p, classes)


# --------------------------------------------------------------------------------------------
# The sample photo


def render_sample_photo() -> np.ndarray:
    """The sample photo as a (384, 512, 3) uint8 array, from its seed (module docstring).

    One 64x64 image of the kit's renderer (label :data:`SAMPLE_LABEL`, its forearm leaving
    through the bottom edge), upscaled bicubically to 384x384; the 64 columns added on each
    side continue the wall: each row the mean colour of the render's outer 24 columns on that
    side, smoothed up and down. Then fresh sensor grain over the whole frame. The centre
    384x384 square is the upscaled render itself.
    """
    from PIL import Image

    from resnet_kit import handsigns

    rng = np.random.default_rng([SAMPLE_SEED, SAMPLE_STREAM, SAMPLE_INDEX])
    small = handsigns.render_image(SAMPLE_LABEL, rng)
    h, w = SAMPLE_HEIGHT, SAMPLE_WIDTH
    big = Image.fromarray(small).resize((h, h), Image.Resampling.BICUBIC)
    big = np.asarray(big, dtype=np.float64)
    margin = (w - h) // 2
    frame = np.empty((h, w, 3), np.float64)
    frame[:, margin : margin + h] = big
    # A column one pixel wide: the renderer's blur smooths it up and down only.
    frame[:, :margin] = handsigns._blur(big[:, :24].mean(axis=1, keepdims=True), 8.0)
    frame[:, margin + h :] = handsigns._blur(big[:, -24:].mean(axis=1, keepdims=True), 8.0)
    frame += rng.normal(0, 1.5, (h, w, 1)) + rng.normal(0, 1.0, (h, w, 3))
    return np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def write_sample_photo(path: str | os.PathLike = SAMPLE_PHOTO) -> Path:
    """Write :func:`render_sample_photo` as a JPEG (quality 90) to ``path``; returns it."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_sample_photo()).save(
        path, format="JPEG", quality=SAMPLE_JPEG_QUALITY,
        comment=b"Rendered by resnet_kit.own_photo (the kit's hand-signs renderer); "
        b"not a photo of a real hand.",
    )
    return path


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m resnet_kit.own_photo",
        description="Try the network on your own hand: the kit's sample photo.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample", help=f"render the sample photo again (default {SAMPLE_PHOTO})")
    s.add_argument("--out", type=Path, default=SAMPLE_PHOTO, help="where to write the JPEG")
    args = parser.parse_args(argv)
    out = write_sample_photo(args.out)
    print(f"sample photo ({SAMPLE_WIDTH}x{SAMPLE_HEIGHT}, rendered, label {SAMPLE_LABEL}) -> {out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
