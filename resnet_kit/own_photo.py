"""Try the trained network on your own hand: read any photo, crop, resize, predict, show.

The classic assignment ends with "test on your own image". With this module a notebook cell
does it in one line::

    from resnet_kit.own_photo import try_own_photo

    image, probabilities, fig = try_own_photo(model, "my_hand.jpg")
    fig

:func:`load_own_photo` reads any JPEG or PNG (any size, phone photos rotated as the camera
recorded, transparent pixels put on white), crops the largest square around the centre and
resizes it to 64x64 like the training images. :func:`predict_own_photo` scales the pixels to
[0, 1] as ``resnet_kit.data.normalize_images`` does and returns the six class probabilities.
:func:`show_own_photo` draws the 64x64 image next to a bar chart of the probabilities.

A missing, empty or unreadable file raises :class:`OwnPhotoError` with a message that says
which file and what to do; nothing is written to stderr (nbgrader scores a cell with stderr
output as failed).

Works best like the training images: one hand, filling about half of the frame, in front of
a plain light wall, the wrist at the bottom edge.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

IMAGE_SIZE = 64
NUM_CLASSES = 6


class OwnPhotoError(ValueError):
    """The photo could not be read; the message names the file and says what to do."""


def center_square(image: np.ndarray) -> np.ndarray:
    """The largest square around the centre of an (H, W, ...) image."""
    h, w = image.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return image[top : top + side, left : left + side]


def load_own_photo(path: str | os.PathLike, size: int = IMAGE_SIZE) -> np.ndarray:
    """A photo file as a (size, size, 3) uint8 RGB array: centre square crop, then resize.

    Raises :class:`OwnPhotoError` if the file is missing, a folder, empty or not an image.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path).expanduser()
    if not path.exists():
        raise OwnPhotoError(
            f"No photo at {path}. Put a JPEG or PNG of your hand there (or change the path "
            "in this cell) and run the cell again."
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
            im = im.convert("RGB")
            w, h = im.size
            side = min(w, h)
            left, top = (w - side) // 2, (h - side) // 2
            im = im.crop((left, top, left + side, top + side))
            im = im.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(im, dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
        raise OwnPhotoError(
            f"{path} is not a readable image ({type(err).__name__}: {err}). Save the photo as "
            "JPEG or PNG and try again."
        ) from err


def predict_own_photo(model, image: np.ndarray) -> np.ndarray:
    """The model's six class probabilities for one (64, 64, 3) uint8 image (pixels / 255)."""
    image = np.asarray(image)
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE, 3):
        raise OwnPhotoError(
            f"expected a ({IMAGE_SIZE}, {IMAGE_SIZE}, 3) image, got shape {image.shape}; "
            "read the photo with load_own_photo first."
        )
    x = image[None].astype(np.float32) / 255.0
    p = np.asarray(model.predict(x, verbose=0), dtype=np.float64).reshape(-1)
    if p.shape != (NUM_CLASSES,):
        raise OwnPhotoError(f"the model gave {p.size} outputs, expected {NUM_CLASSES} classes")
    return p


def show_own_photo(image: np.ndarray, probabilities, classes=None, title: str | None = None):
    """A figure: the 64x64 image and a bar chart of the class probabilities (the most likely
    class highlighted). Returns the figure (closed in pyplot: the cell shows it once)."""
    from resnet_kit.plotting import _class_name, _new_figure

    p = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    names = [_class_name(classes, c) for c in range(len(p))]
    best = int(np.argmax(p))
    fig, axes = _new_figure((8.0, 3.4), 1, 2)
    ax_img, ax_bar = axes[0]
    ax_img.imshow(np.asarray(image, dtype=np.uint8), interpolation="nearest")
    ax_img.set_axis_off()
    ax_img.set_title("your photo, as the network sees it (64x64)", fontsize=9)
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
