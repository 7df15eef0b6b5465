"""Tests for resnet_kit.own_photo: any photo file becomes the 64x64 image the network reads."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from resnet_kit.own_photo import (  # noqa: E402
    OwnPhotoError,
    center_square,
    load_own_photo,
    predict_own_photo,
    show_own_photo,
    try_own_photo,
)

pytestmark = pytest.mark.filterwarnings("error")


def _landscape(w=300, h=200):
    """A wide photo: red bands left and right, a green centre square, a blue dot in its
    top-left corner (to see the orientation)."""
    a = np.zeros((h, w, 3), np.uint8)
    a[:] = (200, 30, 30)
    left = (w - h) // 2
    a[:, left : left + h] = (30, 200, 30)
    a[:20, left : left + 20] = (30, 30, 220)
    return a


class FakeModel:
    """A stand-in for a Keras model: remembers its input, returns fixed probabilities."""

    def __init__(self, p):
        self.p = np.asarray(p, np.float32)
        self.seen = None

    def predict(self, x, verbose=0):
        self.seen = x
        return self.p[None]


@pytest.mark.parametrize("suffix", ["jpg", "png"])
def test_a_wide_photo_is_cropped_to_its_centre_square_and_resized(tmp_path, suffix):
    path = tmp_path / f"hand.{suffix}"
    Image.fromarray(_landscape()).save(path, quality=95)
    img = load_own_photo(path)
    assert img.shape == (64, 64, 3) and img.dtype == np.uint8
    # Only the green centre square is left (no red band), its blue mark top left.
    assert img[20:44, 20:44, 1].mean() > 170 and img[20:44, 20:44, 0].mean() < 60
    assert img[:, :, 0].max() < 120
    assert img[1, 1, 2] > 150 and img[60, 60, 2] < 80


def test_a_tall_photo_and_a_transparent_png(tmp_path):
    tall = np.transpose(_landscape(), (1, 0, 2)).copy()
    Image.fromarray(tall).save(tmp_path / "tall.png")
    assert load_own_photo(tmp_path / "tall.png")[32, 32, 1] > 170
    rgba = np.zeros((100, 100, 4), np.uint8)  # fully transparent: white, not black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "clear.png")
    assert load_own_photo(tmp_path / "clear.png").min() == 255


def test_a_phone_photo_is_turned_as_the_camera_recorded(tmp_path):
    a = _landscape()
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    im.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    img = load_own_photo(tmp_path / "phone.jpg")
    # The blue mark (top left in the stored pixels) ends top right once turned.
    assert img[1, 62, 2] > 150 and img[1, 1, 2] < 80


def test_center_square():
    a = np.arange(5 * 3).reshape(5, 3)
    assert center_square(a).shape == (3, 3) and center_square(a)[0, 0] == 3


def _write(path, data):
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda d: d / "nowhere.jpg", "No photo at"),
        (lambda d: d, "is a folder"),
        (lambda d: _write(d / "empty.jpg", b""), "is empty"),
        (lambda d: _write(d / "notes.jpg", b"not a photo"), "not a readable image"),
    ],
)
def test_a_missing_or_unreadable_file_gets_a_clear_message(tmp_path, make, words):
    path = make(tmp_path)
    with pytest.raises(OwnPhotoError, match=words) as err:
        load_own_photo(path)
    assert str(path) in str(err.value)


def test_prediction_scales_pixels_and_returns_six_probabilities():
    model = FakeModel([0.1, 0.6, 0.1, 0.1, 0.05, 0.05])
    img = np.full((64, 64, 3), 255, np.uint8)
    p = predict_own_photo(model, img)
    assert p.shape == (6,) and abs(p[1] - 0.6) < 1e-6
    assert model.seen.shape == (1, 64, 64, 3) and model.seen.max() == pytest.approx(1.0)
    with pytest.raises(OwnPhotoError, match="64, 64, 3"):
        predict_own_photo(model, np.zeros((32, 32, 3), np.uint8))


def test_the_figure_shows_the_image_and_one_bar_per_class(tmp_path):
    p = [0.05, 0.05, 0.1, 0.7, 0.05, 0.05]
    Image.fromarray(_landscape()).save(tmp_path / "hand.jpg")
    image, probabilities, fig = try_own_photo(FakeModel(p), tmp_path / "hand.jpg")
    ax_img, ax_bar = fig.axes
    assert ax_img.images[0].get_array().shape == (64, 64, 3)
    heights = [bar.get_height() for bar in ax_bar.patches]
    np.testing.assert_allclose(heights, p, atol=1e-6)
    assert "says 3" in ax_bar.get_title() and "70%" in ax_bar.get_title()
    fig2 = show_own_photo(image, probabilities, classes=np.arange(6))
    assert [t.get_text() for t in fig2.axes[1].get_xticklabels()] == list("012345")
